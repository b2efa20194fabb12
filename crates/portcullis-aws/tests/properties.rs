//! Property tests: parsing and verification never panic on arbitrary input, and query
//! parameters survive a round trip through form encoding.

use std::time::{Duration, SystemTime};

use portcullis_aws::sigv4::{self, HttpRequestParts};
use portcullis_aws::{json, query};
use portcullis_core::Secret;
use proptest::prelude::*;

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        Just("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00".to_owned()),
        "AWS4-HMAC-SHA256 [ -~]{0,120}",
        "2026112[0-9]T[0-9]{6}Z",
    ]
}

fn query_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9%&=+._~-]{0,120}",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[a-zA-Z0-9%/_-]{0,40}&X-Amz-Date=[0-9TZ]{0,16}&X-Amz-Expires=[0-9]{0,8}&X-Amz-SignedHeaders=[a-z;-]{0,20}&X-Amz-Signature=[0-9a-f]{0,64}",
    ]
}

proptest! {
    #[test]
    fn sigv4_never_panics(
        auth in proptest::option::of(header_value()),
        date in proptest::option::of(header_value()),
        extra in proptest::collection::vec(("[a-z-]{1,12}", header_value()), 0..4),
        path in "/[a-zA-Z0-9%./_-]{0,40}",
        q in proptest::option::of(query_string()),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        offset in 0u64..4_000_000_000,
    ) {
        let target = match &q { Some(q) => format!("{path}?{q}"), None => path.clone() };
        let Ok(uri) = target.parse::<http::Uri>() else { return Ok(()) };
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "localhost".parse().unwrap());
        if let Some(v) = auth.as_deref().and_then(|v| http::HeaderValue::from_str(v).ok()) {
            headers.insert("authorization", v);
        }
        if let Some(v) = date.as_deref().and_then(|v| http::HeaderValue::from_str(v).ok()) {
            headers.insert("x-amz-date", v);
        }
        for (k, v) in &extra {
            if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
                headers.append(k, v);
            }
        }
        let parts = HttpRequestParts { method: &http::Method::POST, uri: &uri, headers: &headers, body: &body };
        if let Ok(Some(parsed)) = sigv4::parse(&parts) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(offset);
            let _ = sigv4::verify(&parts, &parsed, &Secret::new("s".to_owned()), now);
        }
    }

    #[test]
    fn query_and_json_parsers_never_panic(
        q in "[ -~]{0,100}",
        body in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let _ = query::parse_params(Some(&q), Some("application/x-www-form-urlencoded"), &body);
        let _ = json::parse_body(&body);
    }

    #[test]
    fn query_params_round_trip(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,12}"), 0..8)) {
        let params = query::QueryParams::from_pairs(pairs.clone());
        let encoded = params.to_form();
        let decoded = query::parse_params(None, Some("application/x-www-form-urlencoded"), encoded.as_bytes()).unwrap();
        let back: Vec<(String, String)> = decoded.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn lists_come_back_in_order(items in proptest::collection::vec("\\PC{0,8}", 0..12)) {
        // Send the members in reverse order: list() must order them by index.
        let pairs: Vec<(String, String)> =
            items.iter().enumerate().rev().map(|(i, v)| (format!("Ids.member.{}", i + 1), v.clone())).collect();
        let encoded = query::QueryParams::from_pairs(pairs).to_form();
        let parsed = query::parse_params(Some(&encoded), None, b"").unwrap();
        let expected: Vec<&str> = items.iter().map(String::as_str).collect();
        prop_assert_eq!(parsed.list("Ids"), expected);
    }
}
