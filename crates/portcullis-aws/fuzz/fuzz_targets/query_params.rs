//! Arbitrary query strings and form bodies: decoding and list/map access must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_aws::query;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (q, body) = data.split_at(split);
    let q = String::from_utf8_lossy(q);
    if let Ok(p) = query::parse_params(Some(&q), Some("application/x-www-form-urlencoded"), body) {
        let _ = p.list("Names");
        let _ = p.map("Attributes");
        let _ = p.structs("Tags");
        let _ = p.to_form();
    }
});
