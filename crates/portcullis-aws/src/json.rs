//! AWS JSON 1.1 (KMS, Organizations, WAFv2, Shield, CloudTrail): `X-Amz-Target` dispatch,
//! JSON bodies in and out.
//!
//! Every request is a POST to `/` whose `X-Amz-Target` header is `Prefix.Operation`, where the
//! prefix is the service's `targetPrefix` from its model (`TrentService` for KMS,
//! `AWSWAF_20190729` for WAFv2, `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101` for
//! CloudTrail, which itself contains dots: the operation is what follows the last dot).

use bytes::Bytes;
use http::StatusCode;

use crate::error::{AMZ_JSON_1_1, AwsError, Protocol, build_response};

/// The dispatch header of the JSON protocols.
pub const TARGET_HEADER: http::HeaderName = http::HeaderName::from_static("x-amz-target");

/// Reads `X-Amz-Target` as `(prefix, operation)`. `Ok(None)` when the header is absent; a
/// header that is not `Prefix.Operation` is `UnknownOperationException`.
pub fn parse_target(headers: &http::HeaderMap) -> Result<Option<(String, String)>, AwsError> {
    let Some(value) = headers.get(&TARGET_HEADER) else {
        return Ok(None);
    };
    let target = value
        .to_str()
        .map_err(|_| AwsError::unknown_operation(Protocol::AwsJson1_1))?;
    match target.trim().rsplit_once('.') {
        Some((prefix, operation)) if !prefix.is_empty() && !operation.is_empty() => {
            Ok(Some((prefix.to_owned(), operation.to_owned())))
        }
        _ => Err(AwsError::unknown_operation(Protocol::AwsJson1_1)),
    }
}

/// Parses a request body. An empty (or all-whitespace) body is `{}`, as SDKs send no body for
/// operations without input; anything that is not a JSON object is `SerializationException`.
pub fn parse_body(body: &[u8]) -> Result<serde_json::Value, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        AwsError::serialization(format!(
            "Unable to parse the request body as JSON: {} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                serde_json::error::Category::Io | serde_json::error::Category::Syntax =>
                    "syntax error",
                serde_json::error::Category::Data => "unexpected value",
            },
            e.line(),
            e.column()
        ))
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(AwsError::serialization(
            "Start of structure or map found where not expected.",
        ))
    }
}

/// A successful JSON 1.1 response with `body`.
pub fn response(request_id: &str, body: &serde_json::Value) -> http::Response<Bytes> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    build_response(StatusCode::OK, AMZ_JSON_1_1, request_id, None, None, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(target: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("X-Amz-Target", HeaderValue::from_str(target).unwrap());
        h
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target(&headers("TrentService.CreateKey")).unwrap(),
            Some(("TrentService".into(), "CreateKey".into()))
        );
        assert_eq!(
            parse_target(&headers(
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
            ))
            .unwrap(),
            Some((
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101".into(),
                "LookupEvents".into()
            ))
        );
        assert_eq!(parse_target(&http::HeaderMap::new()).unwrap(), None);
        for bad in ["TrentService", "TrentService.", ".CreateKey", ""] {
            let err = parse_target(&headers(bad)).unwrap_err();
            assert_eq!(err.code, "UnknownOperationException", "{bad}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_body(b"").unwrap(), serde_json::json!({}));
        assert_eq!(parse_body(b" \n").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_body(br#"{"KeyId":"k"}"#).unwrap(),
            serde_json::json!({"KeyId":"k"})
        );
        let err = parse_body(b"{\"KeyId\":").unwrap_err();
        assert_eq!(
            (err.code.as_ref(), err.status),
            ("SerializationException", StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            parse_body(b"[1]").unwrap_err().code,
            "SerializationException"
        );
    }

    #[test]
    fn response_shape() {
        let r = response("rid", &serde_json::json!({"KeyMetadata": {"KeyId": "k"}}));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], AMZ_JSON_1_1);
        assert_eq!(r.headers()["x-amzn-requestid"], "rid");
        insta::assert_snapshot!(String::from_utf8(r.body().to_vec()).unwrap());
    }
}
