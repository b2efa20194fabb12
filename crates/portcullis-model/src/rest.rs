//! REST routing and input assembly (rest-json services: GuardDuty, Inspector2, Artifact).
//!
//! A REST operation is chosen by HTTP method and by matching the path against the model's
//! `requestUri` template (`/detector/{DetectorId}/findings`, greedy labels `{Key+}`); the
//! input is then gathered from URI labels, query-string parameters, headers and the JSON
//! body, each member from the place its `location` names. The assembled value uses the
//! same keys as [`crate::validate`] expects: wire names for body members, member names for
//! the others.

use serde_json::{Map, Value};

use crate::model::{Location, OperationModel, ServiceModel, ShapeKind};
use crate::query::scalar;
use crate::validate::{Violation, join};

/// URI label values by label name, percent-decoded.
pub type UriLabels = Vec<(String, String)>;

impl ServiceModel {
    /// The operation a REST request addresses, with its URI label values (percent-decoded).
    /// When several templates match, the one with the most literal text wins, as a literal
    /// segment is more specific than a label.
    #[must_use]
    pub fn route(&self, method: &str, path: &str) -> Option<(OperationModel<'_>, UriLabels)> {
        let mut best: Option<(usize, OperationModel<'_>, UriLabels)> = None;
        for op in self.operations() {
            if !op.http_method().eq_ignore_ascii_case(method) {
                continue;
            }
            let Some((score, labels)) = match_uri(op.request_uri(), path) else {
                continue;
            };
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, op, labels));
            }
        }
        best.map(|(_, op, labels)| (op, labels))
    }
}

/// Matches `path` (without query string) against a `requestUri` template. Returns the
/// number of literal characters matched (the template's specificity) and the labels.
#[must_use]
pub fn match_uri(template: &str, path: &str) -> Option<(usize, UriLabels)> {
    let template = template.split_once('?').map_or(template, |(p, _)| p);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let mut labels = Vec::new();
    let mut score = 0;
    let mut t_segs = template.split('/').peekable();
    let mut p_segs = path.split('/');
    while let Some(t) = t_segs.next() {
        if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            if let Some(greedy) = name.strip_suffix('+') {
                // A greedy label takes the rest of the path and must be last.
                if t_segs.peek().is_some() {
                    return None;
                }
                let rest: Vec<&str> = p_segs.by_ref().collect();
                if rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                labels.push((greedy.to_owned(), percent_decode(&rest.join("/"))));
                return Some((score, labels));
            }
            let seg = p_segs.next()?;
            if seg.is_empty() {
                return None;
            }
            labels.push((name.to_owned(), percent_decode(seg)));
        } else {
            let seg = p_segs.next()?;
            if seg != t {
                return None;
            }
            score += t.len() + 1;
        }
    }
    // A trailing slash on the request is tolerated; anything else left over is not a match.
    match (p_segs.next(), p_segs.next()) {
        (None, _) | (Some(""), None) => Some((score, labels)),
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16))
            && let Ok(byte) = u8::try_from(h * 16 + l)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Assembles a REST operation's input from its URI labels, query string, headers (names
/// matched case-insensitively) and JSON body. Unknown parameters are ignored.
///
/// # Errors
/// A [`Violation`] of kind `Type` when a label, query parameter or header cannot be
/// coerced to its member's type, or the body is not a JSON object.
pub fn rest_input(
    op: &OperationModel<'_>,
    labels: &[(String, String)],
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Value, Violation> {
    let Some(shape) = op.input() else {
        return Ok(Value::Object(Map::new()));
    };
    let mut obj = match body {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(crate::validate::type_violation(
                shape,
                "",
                Some(crate::validate::render(other)),
            ));
        }
    };
    for member in shape.members() {
        let Some(member_shape) = shape.member_shape(member) else {
            continue;
        };
        let wire = member.location_name.unwrap_or(member.name);
        let path = join("", member.name);
        let value = match member.location {
            Location::Body | Location::StatusCode | Location::Headers => continue,
            Location::Uri => match labels.iter().find(|(k, _)| k == wire) {
                Some((_, v)) => Some(scalar(member_shape, v, &path)?),
                None => None,
            },
            Location::Header => match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(wire)) {
                Some((_, v)) => Some(scalar(member_shape, v, &path)?),
                None => None,
            },
            Location::Querystring => {
                let values: Vec<&str> = query
                    .iter()
                    .filter(|(k, _)| *k == wire)
                    .map(|(_, v)| *v)
                    .collect();
                match member_shape.shape.kind {
                    ShapeKind::List { member: item, .. } => {
                        if values.is_empty() {
                            None
                        } else {
                            let item_shape = shape.resolve(item);
                            let mut items = Vec::with_capacity(values.len());
                            for v in values {
                                match item_shape {
                                    Some(s) => items.push(scalar(s, v, &path)?),
                                    None => items.push(Value::String(v.to_owned())),
                                }
                            }
                            Some(Value::Array(items))
                        }
                    }
                    _ => match values.first() {
                        Some(v) => Some(scalar(member_shape, v, &path)?),
                        None => None,
                    },
                }
            }
        };
        if let Some(v) = value {
            obj.insert(member.key().to_owned(), v);
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{service, validate};

    #[test]
    fn routes_guardduty_by_method_and_template() {
        let gd = service("guardduty").unwrap();
        let (op, labels) = gd.route("GET", "/detector/abc123").unwrap();
        assert_eq!(op.name(), "GetDetector");
        assert_eq!(labels, [("DetectorId".to_owned(), "abc123".to_owned())]);
        let (op, _) = gd.route("POST", "/detector/abc123/findings/get").unwrap();
        assert_eq!(op.name(), "GetFindings");
        let (op, _) = gd.route("POST", "/detector").unwrap();
        assert_eq!(op.name(), "CreateDetector");
        assert!(gd.route("GET", "/nothing/here").is_none());
        assert!(gd.route("PUT", "/detector/abc123").is_none());
    }

    #[test]
    fn assembles_and_validates_rest_input() {
        let gd = service("guardduty").unwrap();
        let (op, labels) = gd.route("POST", "/detector/abc123/findings/get").unwrap();
        let body = json!({"findingIds": ["f1"]});
        let input = rest_input(&op, &labels, &[], &[], Some(&body)).unwrap();
        assert_eq!(input["DetectorId"], "abc123");
        assert_eq!(validate(&op, &input), Ok(()));
        let (op, labels) = gd.route("GET", "/detector/x").unwrap();
        let input = rest_input(&op, &labels, &[], &[], None).unwrap();
        assert_eq!(input, json!({"DetectorId": "x"}));
        let (list, labels) = gd.route("GET", "/detector").unwrap();
        let input = rest_input(
            &list,
            &labels,
            &[("maxResults", "500"), ("other", "1")],
            &[],
            None,
        )
        .unwrap();
        let v = validate(&list, &input).unwrap_err();
        assert_eq!(v[0].path, "maxResults");
        assert!(rest_input(&list, &labels, &[("maxResults", "many")], &[], None).is_err());
    }

    #[test]
    fn greedy_labels_and_decoding() {
        let (score, labels) = match_uri("/objects/{Key+}", "/objects/a/b%20c").unwrap();
        assert_eq!(
            score,
            "/objects/".len(),
            "literal segments count with their slash"
        );
        assert_eq!(labels, [("Key".to_owned(), "a/b c".to_owned())]);
        assert!(match_uri("/a/{B}", "/a/").is_none());
        assert!(match_uri("/a/{B}", "/a/b/c").is_none());
        assert!(match_uri("/a/{B}", "/a/b/").is_some());
        assert!(match_uri("/a/{B}?x=1", "/a/b?y=2").is_some());
    }
}
