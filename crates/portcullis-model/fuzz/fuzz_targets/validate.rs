//! Feeds arbitrary bytes to the validator twice: as a JSON body for a chosen operation, and
//! as query parameters (`k=v&k=v`) decoded with `query_input` and then validated. Neither
//! may panic. Run with `cargo fuzz run validate` from `crates/portcullis-model`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_model::{SERVICES, OperationModel, query_input, validate, violations_message};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let ops: Vec<OperationModel<'static>> = SERVICES.iter().flat_map(|s| s.operations()).collect();
    let Some(op) = ops.get(usize::from(selector) * ops.len() / 256) else { return };

    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) {
        if let Err(v) = validate(op, &value) {
            let _ = violations_message(&v);
        }
    }

    let text = String::from_utf8_lossy(rest);
    let params: Vec<(&str, &str)> = text
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    if let Ok(value) = query_input(op, &params) {
        let _ = validate(op, &value);
    }
});
