//! Arbitrary bytes as a request (target line, headers, body): SigV4 parsing and verification
//! must return an error, never panic.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use portcullis_aws::sigv4::{self, HttpRequestParts};
use portcullis_core::Secret;

fuzz_target!(|data: &[u8]| {
    // Layout: target \n header lines ("name:value") \n\n body.
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &b""[..]),
    };
    let mut lines = head.split(|b| *b == b'\n');
    let Some(Ok(uri)) = lines.next().map(http::Uri::try_from) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let Some(i) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(&line[..i]),
            http::HeaderValue::from_bytes(&line[i + 1..]),
        ) {
            headers.append(k, v);
        }
    }
    let parts = HttpRequestParts {
        method: &http::Method::POST,
        uri: &uri,
        headers: &headers,
        body,
    };
    if let Ok(Some(parsed)) = sigv4::parse(&parts) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let _ = sigv4::verify(&parts, &parsed, &Secret::new("secret".to_owned()), now);
    }
});
