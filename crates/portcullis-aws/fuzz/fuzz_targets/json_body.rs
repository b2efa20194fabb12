//! Arbitrary JSON 1.1 bodies and targets: parsing must return a value or a
//! SerializationException, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_aws::json;

fuzz_target!(|data: &[u8]| {
    let _ = json::parse_body(data);
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        let mut h = http::HeaderMap::new();
        h.insert("x-amz-target", v);
        let _ = json::parse_target(&h);
    }
});
