//! JSON string literals for text written by hand (the audit trail's records), escaped exactly
//! as serde_json escapes them.

/// Appends `text` to `out` as a JSON string literal, quotes included.
///
/// Most text (ids, ARNs, names, dates) has nothing to escape: that is found in one pass
/// without an early exit, which the compiler turns into vector compares, and the text is
/// copied whole. Otherwise it is copied in runs between the bytes that need an escape (all
/// ASCII, so the runs end on character boundaries).
pub fn push_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let anything = bytes.iter().fold(false, |seen, &b| {
        seen | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !anything {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run..at).unwrap_or_default());
        run = at + 1;
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(crate::id::hex_digit(byte >> 4));
            out.push(crate::id::hex_digit(byte & 0x0f));
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(bytes.get(run..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn literal(text: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_as_serde_json_does() {
        for text in [
            "",
            "plain",
            "quote \" and backslash \\",
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "naïve 日本 \u{2028}",
        ] {
            assert_eq!(literal(text), serde_json::to_string(text).unwrap());
        }
    }

    proptest! {
        #[test]
        fn any_text_escapes_as_serde_json_does(text in any::<String>()) {
            prop_assert_eq!(literal(&text), serde_json::to_string(&text).unwrap());
        }

        #[test]
        fn control_heavy_text_escapes_as_serde_json_does(text in "[\\x00-\\x20\"\\\\a-z\u{e9}]{0,40}") {
            prop_assert_eq!(literal(&text), serde_json::to_string(&text).unwrap());
        }
    }
}
