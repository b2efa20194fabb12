//! rest-json routing (GuardDuty, Inspector2, Artifact): method and path template to operation.
//!
//! A rest-json operation is named by its HTTP method and a `requestUri` template from the
//! service model, such as `POST /detector/{DetectorId}/findings/get`. A `{Label}` matches one
//! path segment and `{Label+}` the rest of the path; labels are percent-decoded after the path
//! is split, so an ARN sent as one segment (`arn%3Aaws%3A...%2Fid`) stays one value. When two
//! templates match, the one with more literal segments wins (`/findings/get` over
//! `/findings/{Id}`), as the model's routing intends.
//!
//! Errors use the rest-json shape of [`crate::error::error_response`]: the code in the
//! `x-amzn-ErrorType` header and a JSON body.

use std::borrow::Cow;

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::error::{AwsError, Protocol, build_response};

/// One route: HTTP method, `requestUri` template, operation name.
pub type RouteSpec = (&'static str, &'static str, &'static str);

/// Routes of a few GuardDuty operations (botocore model `guardduty/2017-11-28`).
pub const GUARDDUTY_ROUTES: &[RouteSpec] = &[
    ("POST", "/detector", "CreateDetector"),
    ("GET", "/detector", "ListDetectors"),
    ("GET", "/detector/{DetectorId}", "GetDetector"),
    ("DELETE", "/detector/{DetectorId}", "DeleteDetector"),
    ("POST", "/detector/{DetectorId}/findings", "ListFindings"),
    ("POST", "/detector/{DetectorId}/findings/get", "GetFindings"),
    (
        "POST",
        "/detector/{DetectorId}/findings/archive",
        "ArchiveFindings",
    ),
    (
        "POST",
        "/detector/{DetectorId}/findings/feedback",
        "UpdateFindingsFeedback",
    ),
    ("POST", "/detector/{DetectorId}/ipset", "CreateIPSet"),
    ("GET", "/detector/{DetectorId}/ipset", "ListIPSets"),
    ("GET", "/detector/{DetectorId}/ipset/{IpSetId}", "GetIPSet"),
    (
        "POST",
        "/detector/{DetectorId}/ipset/{IpSetId}",
        "UpdateIPSet",
    ),
    (
        "DELETE",
        "/detector/{DetectorId}/ipset/{IpSetId}",
        "DeleteIPSet",
    ),
    ("POST", "/detector/{DetectorId}/filter", "CreateFilter"),
    ("GET", "/detector/{DetectorId}/filter", "ListFilters"),
    (
        "GET",
        "/detector/{DetectorId}/filter/{FilterName}",
        "GetFilter",
    ),
    ("GET", "/tags/{ResourceArn}", "ListTagsForResource"),
    ("POST", "/tags/{ResourceArn}", "TagResource"),
];

/// Routes of a few Inspector2 operations (botocore model `inspector2/2020-06-08`).
pub const INSPECTOR2_ROUTES: &[RouteSpec] = &[
    ("POST", "/enable", "Enable"),
    ("POST", "/disable", "Disable"),
    ("POST", "/status/batch/get", "BatchGetAccountStatus"),
    ("POST", "/findings/list", "ListFindings"),
    ("POST", "/coverage/list", "ListCoverage"),
    ("POST", "/filters/create", "CreateFilter"),
    ("POST", "/filters/list", "ListFilters"),
    ("GET", "/tags/{resourceArn}", "ListTagsForResource"),
    ("POST", "/tags/{resourceArn}", "TagResource"),
];

/// Routes of Artifact's operations (botocore model `artifact/2018-05-10`).
pub const ARTIFACT_ROUTES: &[RouteSpec] = &[
    ("GET", "/v1/account-settings/get", "GetAccountSettings"),
    ("PUT", "/v1/account-settings/put", "PutAccountSettings"),
    ("GET", "/v1/report/list", "ListReports"),
    ("GET", "/v1/report/get", "GetReport"),
    ("GET", "/v1/report/getMetadata", "GetReportMetadata"),
    ("GET", "/v1/report/getTermForReport", "GetTermForReport"),
    (
        "GET",
        "/v1/customer-agreement/list",
        "ListCustomerAgreements",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Label(&'static str),
    Greedy(&'static str),
}

#[derive(Debug, Clone)]
struct Route {
    method: Method,
    segments: Vec<Segment>,
    literals: usize,
    operation: &'static str,
}

/// A table of rest-json routes for one service.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// The operation a request names and its path parameters (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The operation name, e.g. `GetFindings`.
    pub operation: &'static str,
    /// `(label, value)` for each label in the template, in template order.
    pub params: Vec<(&'static str, String)>,
}

impl RouteMatch {
    /// The value of the path label `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl RouteTable {
    /// Builds a table. A template's query part (`/path?x-id=Op`) is ignored; a method that is
    /// not a valid HTTP token leaves the route out.
    pub fn new(specs: &[RouteSpec]) -> Self {
        let routes = specs
            .iter()
            .filter_map(|(method, template, operation)| {
                let method = Method::from_bytes(method.as_bytes()).ok()?;
                let path = template.split('?').next().unwrap_or_default();
                let segments: Vec<Segment> = split_path(path)
                    .map(|s| {
                        if let Some(label) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            match label.strip_suffix('+') {
                                Some(greedy) => Segment::Greedy(greedy),
                                None => Segment::Label(label),
                            }
                        } else {
                            Segment::Literal(s)
                        }
                    })
                    .collect();
                let literals = segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count();
                Some(Route {
                    method,
                    segments,
                    literals,
                    operation,
                })
            })
            .collect();
        Self { routes }
    }

    /// The route for `method` and `path` (the URI path, still percent-encoded), if any.
    pub fn resolve(&self, method: &Method, path: &str) -> Option<RouteMatch> {
        let segments: Vec<&str> = split_path(path).collect();
        self.routes
            .iter()
            .filter(|r| r.method == *method)
            .filter_map(|r| match_route(r, &segments).map(|params| (r, params)))
            .max_by_key(|(r, _)| r.literals)
            .map(|(r, params)| RouteMatch {
                operation: r.operation,
                params,
            })
    }

    /// Like [`RouteTable::resolve`], with an unknown route as the rest-json
    /// `UnknownOperationException`.
    pub fn resolve_or_error(&self, method: &Method, path: &str) -> Result<RouteMatch, AwsError> {
        self.resolve(method, path)
            .ok_or_else(|| AwsError::unknown_operation(Protocol::RestJson))
    }
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn match_route(route: &Route, path: &[&str]) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut rest = path;
    for (i, seg) in route.segments.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                // A greedy label must be last and match at least one segment.
                if i + 1 != route.segments.len() || rest.is_empty() {
                    return None;
                }
                let joined: Vec<Cow<'_, str>> = rest.iter().map(|s| decode(s)).collect();
                params.push((*name, joined.join("/")));
                return Some(params);
            }
            Segment::Literal(lit) => {
                let (first, tail) = rest.split_first()?;
                if first != lit {
                    return None;
                }
                rest = tail;
            }
            Segment::Label(name) => {
                let (first, tail) = rest.split_first()?;
                params.push((*name, decode(first).into_owned()));
                rest = tail;
            }
        }
    }
    rest.is_empty().then_some(params)
}

fn decode(segment: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy()
}

/// A successful rest-json response with a JSON body and the operation's status (200 for most,
/// 204 for some; a 204 carries no body).
pub fn response(
    request_id: &str,
    status: StatusCode,
    body: &serde_json::Value,
) -> http::Response<Bytes> {
    let bytes = if status == StatusCode::NO_CONTENT {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec())
    };
    build_response(status, "application/json", request_id, None, None, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardduty_routes() {
        let t = RouteTable::new(GUARDDUTY_ROUTES);
        let m = t
            .resolve(&Method::POST, "/detector/abc123/findings/get")
            .unwrap();
        assert_eq!(m.operation, "GetFindings");
        assert_eq!(m.param("DetectorId"), Some("abc123"));
        assert_eq!(
            t.resolve(&Method::POST, "/detector/abc/findings")
                .unwrap()
                .operation,
            "ListFindings"
        );
        assert_eq!(
            t.resolve(&Method::GET, "/detector").unwrap().operation,
            "ListDetectors"
        );
        assert_eq!(
            t.resolve(&Method::POST, "/detector/").unwrap().operation,
            "CreateDetector"
        );
        let m = t
            .resolve(&Method::DELETE, "/detector/d1/ipset/i%20d")
            .unwrap();
        assert_eq!(
            (m.operation, m.param("IpSetId")),
            ("DeleteIPSet", Some("i d"))
        );
        assert!(t.resolve(&Method::PUT, "/detector/d1").is_none());
        assert!(t.resolve(&Method::GET, "/detector/d1/unknown").is_none());
    }

    #[test]
    fn arn_labels_are_decoded_after_splitting() {
        let t = RouteTable::new(GUARDDUTY_ROUTES);
        let m = t
            .resolve(
                &Method::GET,
                "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2Fd1",
            )
            .unwrap();
        assert_eq!(m.operation, "ListTagsForResource");
        assert_eq!(
            m.param("ResourceArn"),
            Some("arn:aws:guardduty:us-east-1:123456789012:detector/d1")
        );
    }

    #[test]
    fn more_literal_segments_win() {
        let t = RouteTable::new(&[
            ("POST", "/a/{Id}/{Sub}", "Generic"),
            ("POST", "/a/{Id}/get", "Specific"),
            ("GET", "/files/{Key+}", "Greedy"),
        ]);
        assert_eq!(
            t.resolve(&Method::POST, "/a/1/get").unwrap().operation,
            "Specific"
        );
        assert_eq!(
            t.resolve(&Method::POST, "/a/1/other").unwrap().operation,
            "Generic"
        );
        let g = t.resolve(&Method::GET, "/files/x/y%2Fz").unwrap();
        assert_eq!(g.param("Key"), Some("x/y/z"));
        assert!(t.resolve(&Method::GET, "/files").is_none());
    }

    #[test]
    fn inspector_and_artifact() {
        let i = RouteTable::new(INSPECTOR2_ROUTES);
        assert_eq!(
            i.resolve(&Method::POST, "/findings/list")
                .unwrap()
                .operation,
            "ListFindings"
        );
        let a = RouteTable::new(ARTIFACT_ROUTES);
        assert_eq!(
            a.resolve(&Method::GET, "/v1/report/getMetadata")
                .unwrap()
                .operation,
            "GetReportMetadata"
        );
        let err = a.resolve_or_error(&Method::GET, "/v2/nothing").unwrap_err();
        assert_eq!(
            (err.code.as_ref(), err.status),
            ("UnknownOperationException", StatusCode::NOT_FOUND)
        );
    }

    #[test]
    fn response_204_has_no_body() {
        let r = response("rid", StatusCode::NO_CONTENT, &serde_json::json!({}));
        assert!(r.body().is_empty());
        assert_eq!(r.headers()["x-amzn-requestid"], "rid");
    }
}
