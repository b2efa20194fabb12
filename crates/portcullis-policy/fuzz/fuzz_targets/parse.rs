//! The parser and validator must never panic, for every policy type, on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_policy::{PolicyType, parse};

const TYPES: [PolicyType; 8] = [
    PolicyType::Identity,
    PolicyType::Resource,
    PolicyType::Trust,
    PolicyType::Scp,
    PolicyType::Rcp,
    PolicyType::Session,
    PolicyType::Boundary,
    PolicyType::Key,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for ty in TYPES {
            let _ = parse(text, ty);
        }
    }
});
