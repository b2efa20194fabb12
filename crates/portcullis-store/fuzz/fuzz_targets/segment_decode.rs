//! Arbitrary bytes as an audit segment's `records`: decoding must return records or
//! `StoreError::Corrupt`, never panic; whatever decodes encodes to a segment of the same
//! records, and encoding those again gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_store::segment::{decode_segment, encode_records};

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let first_seq = i64::from(first) - 8;
    if let Ok(records) = decode_segment(first_seq, bytes)
        && !records.is_empty()
        && let Ok(again) = encode_records(first_seq, &records)
    {
        assert_eq!(decode_segment(first_seq, &again.records).unwrap(), records);
        assert_eq!(encode_records(first_seq, &records).unwrap(), again);
    }
});
