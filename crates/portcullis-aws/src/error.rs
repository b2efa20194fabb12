//! One error value for every protocol, and its rendering per protocol.
//!
//! An [`AwsError`] carries AWS's error code, HTTP status, message and fault. The same failure
//! has different codes in different protocols (an unknown access key is `InvalidClientTokenId`
//! over the query protocol and `UnrecognizedClientException` over JSON), so every constructor
//! that differs takes the [`Protocol`] the request arrived in.
//!
//! The rendered shapes are the ones botocore's `parsers.py` reads:
//! - query (`QueryParser._do_error_parse`): `<ErrorResponse><Error><Type/><Code/><Message/></Error>
//!   <RequestId/></ErrorResponse>`;
//! - json 1.1 (`BaseJSONParser._do_error_parse`): `{"__type": code, "message": ...}` with the
//!   request id in the `x-amzn-RequestId` header;
//! - rest-json (`RestJSONParser._inject_error_code`): the code in the `x-amzn-ErrorType`
//!   header (which wins over the body), and the same JSON body.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::query::XmlWriter;

/// The header every AWS response carries its request id in.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";
/// The rest-json header that names the error code.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";
/// [`REQUEST_ID_HEADER`] as a header name: built once, where a name from a `&str` outside the
/// standard set is lowercased into a new allocation for every response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
/// [`ERROR_TYPE_HEADER`] as a header name.
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
/// Content type of AWS JSON 1.1 bodies.
pub const AMZ_JSON_1_1: &str = "application/x-amz-json-1.1";

/// Who is at fault, as the query protocol's `<Type>` element says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The caller sent something wrong (4xx).
    Sender,
    /// The service failed (5xx).
    Receiver,
}

impl Fault {
    /// The text of the query protocol's `<Type>` element.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        }
    }
}

/// The wire protocol of a service, which decides how errors and responses are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The query protocol (IAM, STS) with the service's XML namespace, e.g.
    /// `https://sts.amazonaws.com/doc/2011-06-15/`.
    Query {
        /// The `xmlns` of responses and errors.
        xmlns: &'static str,
    },
    /// AWS JSON 1.1 (KMS, Organizations, WAFv2, Shield, CloudTrail).
    AwsJson1_1,
    /// rest-json (GuardDuty, Inspector2, Artifact).
    RestJson,
}

impl Protocol {
    /// IAM's query protocol.
    pub const IAM: Protocol = Protocol::Query {
        xmlns: "https://iam.amazonaws.com/doc/2010-05-08/",
    };
    /// STS's query protocol.
    pub const STS: Protocol = Protocol::Query {
        xmlns: "https://sts.amazonaws.com/doc/2011-06-15/",
    };

    fn is_query(self) -> bool {
        matches!(self, Protocol::Query { .. })
    }

    /// Picks the query or the JSON variant of a code/status pair. rest-json services answer
    /// with the JSON code but with the HTTP status that API-Gateway-fronted services use.
    fn pick(
        self,
        query: (&'static str, StatusCode),
        json: (&'static str, StatusCode),
        rest: StatusCode,
    ) -> (&'static str, StatusCode) {
        match self {
            Protocol::Query { .. } => query,
            Protocol::AwsJson1_1 => json,
            Protocol::RestJson => (json.0, rest),
        }
    }
}

/// An AWS error: code, message, HTTP status and fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// AWS's error code, e.g. `InvalidClientTokenId`.
    pub code: Cow<'static, str>,
    /// The human-readable message.
    pub message: String,
    /// The HTTP status of the response.
    pub status: StatusCode,
    /// Sender for 4xx, Receiver for 5xx.
    pub fault: Fault,
    /// Modeled members of the error shape beyond code and message, such as Organizations'
    /// `Reason` on `ConstraintViolationException`; written into the error body.
    pub fields: Vec<(&'static str, String)>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    /// An error with the given code, status and message; the fault follows from the status.
    pub fn new(
        code: impl Into<Cow<'static, str>>,
        status: StatusCode,
        message: impl Into<String>,
    ) -> Self {
        let fault = if status.is_server_error() {
            Fault::Receiver
        } else {
            Fault::Sender
        };
        Self {
            code: code.into(),
            message: message.into(),
            status,
            fault,
            fields: Vec::new(),
        }
    }

    /// The same error with one more modeled member (`Reason`, ...) in its body.
    #[must_use]
    pub fn with_field(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    fn pick(
        protocol: Protocol,
        query: (&'static str, StatusCode),
        json: (&'static str, StatusCode),
        rest: StatusCode,
        message: impl Into<String>,
    ) -> Self {
        let (code, status) = protocol.pick(query, json, rest);
        Self::new(code, status, message)
    }

    /// `InternalFailure` (500): the service failed; never carries the cause to the caller.
    pub fn internal_failure() -> Self {
        Self::new(
            "InternalFailure",
            StatusCode::INTERNAL_SERVER_ERROR,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    /// `ServiceUnavailable` (503): the service cannot answer now (e.g. the store is down).
    pub fn service_unavailable() -> Self {
        Self::new(
            "ServiceUnavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "The request has failed due to a temporary failure of the server.",
        )
    }

    /// An authorization denial: query `AccessDenied` 403, json `AccessDeniedException` 400,
    /// rest-json `AccessDeniedException` 403.
    pub fn access_denied(protocol: Protocol, message: impl Into<String>) -> Self {
        Self::pick(
            protocol,
            ("AccessDenied", StatusCode::FORBIDDEN),
            ("AccessDeniedException", StatusCode::BAD_REQUEST),
            StatusCode::FORBIDDEN,
            message,
        )
    }

    /// A request whose `Action` names no operation of the service. Query: `InvalidAction`
    /// 400; JSON: `UnknownOperationException` (see [`AwsError::unknown_operation`]).
    pub fn invalid_action(protocol: Protocol, action: &str) -> Self {
        if protocol.is_query() {
            Self::new(
                "InvalidAction",
                StatusCode::BAD_REQUEST,
                format!("The action {action} is not valid for this web service."),
            )
        } else {
            Self::unknown_operation(protocol)
        }
    }

    /// A query request whose `Version` does not offer `Action`, in AWS's words:
    /// `InvalidAction` 400, "Could not find operation X for version Y".
    pub fn invalid_action_for_version(protocol: Protocol, action: &str, version: &str) -> Self {
        if protocol.is_query() {
            Self::new(
                "InvalidAction",
                StatusCode::BAD_REQUEST,
                format!("Could not find operation {action} for version {version}"),
            )
        } else {
            Self::unknown_operation(protocol)
        }
    }

    /// A query request without an `Action` parameter: `MissingAction` 400 (JSON protocols have
    /// no `Action`; there it is an unknown operation).
    pub fn missing_action(protocol: Protocol) -> Self {
        if protocol.is_query() {
            Self::new("MissingAction", StatusCode::BAD_REQUEST, "Missing Action")
        } else {
            Self::unknown_operation(protocol)
        }
    }

    /// A JSON request whose `X-Amz-Target` (or rest-json route) names no operation:
    /// `UnknownOperationException` 400 (rest-json: 404, as API Gateway answers an unknown route).
    pub fn unknown_operation(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Query { .. } => Self::new(
                "InvalidAction",
                StatusCode::BAD_REQUEST,
                "The action or operation requested is invalid. Verify that the action is typed correctly.",
            ),
            Protocol::AwsJson1_1 => {
                Self::new("UnknownOperationException", StatusCode::BAD_REQUEST, "")
            }
            Protocol::RestJson => Self::new("UnknownOperationException", StatusCode::NOT_FOUND, ""),
        }
    }

    /// One or more constraint violations, joined as AWS joins them:
    /// `2 validation errors detected: A; B`. Query: `ValidationError`; JSON:
    /// `ValidationException`; all 400.
    pub fn validation_errors(protocol: Protocol, violations: &[String]) -> Self {
        let n = violations.len();
        let noun = if n == 1 { "error" } else { "errors" };
        let message = format!("{n} validation {noun} detected: {}", violations.join("; "));
        Self::validation(protocol, message)
    }

    /// A validation failure with a message of the caller's choosing. Query: `ValidationError`;
    /// JSON: `ValidationException`; all 400.
    pub fn validation(protocol: Protocol, message: impl Into<String>) -> Self {
        Self::pick(
            protocol,
            ("ValidationError", StatusCode::BAD_REQUEST),
            ("ValidationException", StatusCode::BAD_REQUEST),
            StatusCode::BAD_REQUEST,
            message,
        )
    }

    /// A required member that is absent, in the words of AWS's validation layer:
    /// `Value null at 'userName' failed to satisfy constraint: Member must not be null`.
    /// `name` is the member name as AWS prints it (lower camel case).
    pub fn missing_parameter(protocol: Protocol, name: &str) -> Self {
        Self::validation_errors(protocol, &[Self::null_violation(name)])
    }

    /// The text of one "must not be null" violation, for [`AwsError::validation_errors`].
    pub fn null_violation(name: &str) -> String {
        format!("Value null at '{name}' failed to satisfy constraint: Member must not be null")
    }

    /// A parameter with a value of the wrong kind (query: `InvalidParameterValue` 400).
    pub fn invalid_parameter_value(protocol: Protocol, message: impl Into<String>) -> Self {
        Self::pick(
            protocol,
            ("InvalidParameterValue", StatusCode::BAD_REQUEST),
            ("ValidationException", StatusCode::BAD_REQUEST),
            StatusCode::BAD_REQUEST,
            message,
        )
    }

    /// A JSON body that does not parse, or a member of the wrong JSON type:
    /// `SerializationException` 400.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", StatusCode::BAD_REQUEST, message)
    }

    /// A request body over the server's limit: `RequestEntityTooLarge` 413. The body is
    /// refused before the protocol is known, so the code is the same in every protocol.
    pub fn request_entity_too_large(limit: usize) -> Self {
        Self::new(
            "RequestEntityTooLarge",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body must be no larger than {limit} bytes."),
        )
    }

    /// A request without any authentication: query `MissingAuthenticationToken` 403, JSON
    /// `MissingAuthenticationTokenException` (400 json, 403 rest-json).
    pub fn missing_authentication_token(protocol: Protocol) -> Self {
        if protocol.is_query() {
            Self::new(
                "MissingAuthenticationToken",
                StatusCode::FORBIDDEN,
                "Request is missing Authentication Token",
            )
        } else {
            Self::pick(
                protocol,
                ("MissingAuthenticationToken", StatusCode::FORBIDDEN),
                (
                    "MissingAuthenticationTokenException",
                    StatusCode::BAD_REQUEST,
                ),
                StatusCode::FORBIDDEN,
                "Missing Authentication Token",
            )
        }
    }

    /// An access key id (or session token) that the service does not know: query
    /// `InvalidClientTokenId` 403, JSON `UnrecognizedClientException` (400; rest-json 403).
    pub fn invalid_client_token_id(protocol: Protocol) -> Self {
        Self::pick(
            protocol,
            ("InvalidClientTokenId", StatusCode::FORBIDDEN),
            ("UnrecognizedClientException", StatusCode::BAD_REQUEST),
            StatusCode::FORBIDDEN,
            "The security token included in the request is invalid.",
        )
    }

    /// Temporary credentials past their expiry: query `ExpiredToken` 400, JSON
    /// `ExpiredTokenException` (400; rest-json 403).
    pub fn expired_token(protocol: Protocol) -> Self {
        Self::pick(
            protocol,
            ("ExpiredToken", StatusCode::BAD_REQUEST),
            ("ExpiredTokenException", StatusCode::BAD_REQUEST),
            StatusCode::FORBIDDEN,
            "The security token included in the request is expired",
        )
    }

    /// A wrong signature, or a signature outside its time window: query
    /// `SignatureDoesNotMatch` 403, JSON `InvalidSignatureException` (400; rest-json 403).
    pub fn signature_does_not_match(protocol: Protocol, message: impl Into<String>) -> Self {
        Self::pick(
            protocol,
            ("SignatureDoesNotMatch", StatusCode::FORBIDDEN),
            ("InvalidSignatureException", StatusCode::BAD_REQUEST),
            StatusCode::FORBIDDEN,
            message,
        )
    }

    /// A malformed or partial `Authorization` header or presigned query: query
    /// `IncompleteSignature` 400, JSON `IncompleteSignatureException` (400; rest-json 403).
    pub fn incomplete_signature(protocol: Protocol, message: impl Into<String>) -> Self {
        Self::pick(
            protocol,
            ("IncompleteSignature", StatusCode::BAD_REQUEST),
            ("IncompleteSignatureException", StatusCode::BAD_REQUEST),
            StatusCode::FORBIDDEN,
            message,
        )
    }

    /// A presigned URL past its `X-Amz-Expires`: `RequestExpired` 400 in every protocol.
    pub fn request_expired(message: impl Into<String>) -> Self {
        Self::new("RequestExpired", StatusCode::BAD_REQUEST, message)
    }

    /// An operation Portcullis does not implement yet: `NotImplemented` 501 (a Receiver fault).
    pub fn not_implemented(operation: &str) -> Self {
        Self::new(
            "NotImplemented",
            StatusCode::NOT_IMPLEMENTED,
            format!("The operation {operation} is not implemented by Portcullis."),
        )
    }
}

/// Renders `err` as the error response of `protocol`, with the request id header (and, for the
/// query protocol, the request id in the body).
pub fn error_response(
    protocol: Protocol,
    err: &AwsError,
    request_id: &str,
) -> http::Response<Bytes> {
    match protocol {
        Protocol::Query { xmlns } => {
            let mut w = XmlWriter::new();
            w.start_with_xmlns("ErrorResponse", xmlns);
            w.start("Error");
            w.text_element("Type", err.fault.as_str());
            w.text_element("Code", &err.code);
            w.text_element("Message", &err.message);
            for (name, value) in &err.fields {
                w.text_element(name, value);
            }
            w.end("Error");
            let id_at = w.request_id_element(request_id);
            w.end("ErrorResponse");
            build_response(
                err.status,
                "text/xml",
                request_id,
                Some(id_at),
                None,
                w.finish(),
            )
        }
        Protocol::AwsJson1_1 => {
            let body = json_error_body(err);
            build_response(err.status, AMZ_JSON_1_1, request_id, None, None, body)
        }
        Protocol::RestJson => {
            let body = json_error_body(err);
            build_response(
                err.status,
                "application/json",
                request_id,
                None,
                Some(&err.code),
                body,
            )
        }
    }
}

fn json_error_body(err: &AwsError) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert(
        "__type".to_owned(),
        serde_json::Value::String(err.code.to_string()),
    );
    if !err.message.is_empty() {
        body.insert(
            "message".to_owned(),
            serde_json::Value::String(err.message.clone()),
        );
    }
    for (name, value) in &err.fields {
        body.insert((*name).to_owned(), serde_json::Value::String(value.clone()));
    }
    serde_json::to_vec(&serde_json::Value::Object(body)).unwrap_or_default()
}

/// Builds a response with the request id header. Header values that cannot be represented
/// (a request id or error code with control characters) are left out rather than failing.
///
/// `request_id_at` is where the body carries the request id (query responses do): the header
/// value then shares the body's buffer instead of copying the id into one of its own.
pub(crate) fn build_response(
    status: StatusCode,
    content_type: &'static str,
    request_id: &str,
    request_id_at: Option<usize>,
    error_type: Option<&str>,
    body: Vec<u8>,
) -> http::Response<Bytes> {
    let body = Bytes::from(body);
    let shared_id = request_id_at
        .and_then(|at| Some(at..at.checked_add(request_id.len())?))
        .filter(|range| body.get(range.clone()) == Some(request_id.as_bytes()))
        .map(|range| body.slice(range));
    // Both conversions accept exactly the same bytes, so the header is the same either way.
    let id = match shared_id {
        Some(shared) => HeaderValue::from_maybe_shared(shared),
        None => HeaderValue::from_str(request_id),
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(id) = id {
        headers.insert(REQUEST_ID, id);
    }
    if let Some(code) = error_type.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(ERROR_TYPE, code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &http::Response<Bytes>) -> String {
        String::from_utf8(r.body().to_vec()).unwrap()
    }

    #[test]
    fn query_error_shape() {
        let err = AwsError::invalid_client_token_id(Protocol::STS);
        let r = error_response(Protocol::STS, &err, "req-1");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()[REQUEST_ID_HEADER], "req-1");
        assert_eq!(r.headers()["content-type"], "text/xml");
        insta::assert_snapshot!(body(&r));
    }

    #[test]
    fn query_error_escapes_message() {
        let err = AwsError::validation(Protocol::IAM, "a <b> & \"c\"");
        let r = error_response(Protocol::IAM, &err, "r");
        assert!(body(&r).contains("<Message>a &lt;b&gt; &amp; &quot;c&quot;</Message>"));
    }

    #[test]
    fn json_error_shape() {
        let err = AwsError::invalid_client_token_id(Protocol::AwsJson1_1);
        let r = error_response(Protocol::AwsJson1_1, &err, "req-2");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[REQUEST_ID_HEADER], "req-2");
        assert_eq!(r.headers()["content-type"], AMZ_JSON_1_1);
        insta::assert_snapshot!(body(&r));
    }

    #[test]
    fn rest_json_error_shape() {
        let err = AwsError::access_denied(Protocol::RestJson, "no");
        let r = error_response(Protocol::RestJson, &err, "req-3");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()[ERROR_TYPE_HEADER], "AccessDeniedException");
        insta::assert_snapshot!(body(&r));
    }

    #[test]
    fn codes_differ_per_protocol() {
        let q = AwsError::access_denied(Protocol::IAM, "x");
        assert_eq!(
            (q.code.as_ref(), q.status),
            ("AccessDenied", StatusCode::FORBIDDEN)
        );
        let j = AwsError::access_denied(Protocol::AwsJson1_1, "x");
        assert_eq!(
            (j.code.as_ref(), j.status),
            ("AccessDeniedException", StatusCode::BAD_REQUEST)
        );
        let v = AwsError::missing_parameter(Protocol::IAM, "userName");
        assert_eq!(v.code, "ValidationError");
        assert_eq!(
            v.message,
            "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(AwsError::internal_failure().fault, Fault::Receiver);
        let a = AwsError::invalid_action_for_version(Protocol::STS, "Foo", "2011-06-15");
        assert_eq!(a.code, "InvalidAction");
        assert_eq!(
            a.message,
            "Could not find operation Foo for version 2011-06-15"
        );
        assert_eq!(
            AwsError::missing_action(Protocol::IAM).code,
            "MissingAction"
        );
        assert_eq!(
            AwsError::invalid_action(Protocol::AwsJson1_1, "X").code,
            "UnknownOperationException"
        );
        assert_eq!(
            AwsError::request_entity_too_large(10).status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
