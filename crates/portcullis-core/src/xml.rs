//! XML text escaping, shared by the query protocol's writer and the model-driven responses.

/// Escapes XML's five special characters. Characters XML 1.0 cannot carry at all (control
/// characters other than tab, newline and carriage return) become U+FFFD, so that a stored
/// value can never make a response unparseable.
///
/// Text is copied in runs between the bytes that need a replacement: every replaced
/// character is ASCII except U+FFFE and U+FFFF (`EF BF BE`, `EF BF BF` in UTF-8), so the runs
/// end on character boundaries.
pub fn escape_into(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    // Most text (ids, ARNs, names, base64 tokens) has nothing to replace: find that out in
    // one pass without an early exit, which the compiler turns into vector compares, and
    // copy it whole. Tab, newline and bytes of characters from U+F000 up take the careful way.
    let anything = bytes.iter().fold(false, |seen, &b| {
        seen | (b < 0x20)
            | (b == b'&')
            | (b == b'<')
            | (b == b'>')
            | (b == b'"')
            | (b == b'\'')
            | (b == 0xef)
    });
    if !anything {
        out.push_str(text);
        return;
    }
    let mut run = 0;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let (replacement, width) = match byte {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\'' => ("&apos;", 1),
            b'\r' => ("&#xD;", 1),
            b'\t' | b'\n' => {
                at += 1;
                continue;
            }
            0..=0x1f => ("\u{FFFD}", 1),
            0xef if matches!(bytes.get(at + 1..at + 3), Some([0xbf, 0xbe | 0xbf])) => {
                ("\u{FFFD}", 3)
            }
            _ => {
                at += 1;
                continue;
            }
        };
        out.push_str(text.get(run..at).unwrap_or_default());
        out.push_str(replacement);
        at += width;
        run = at;
    }
    out.push_str(text.get(run..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition `escape_into` must agree with, one character at a time.
    fn escape_by_char(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                '\r' => out.push_str("&#xD;"),
                '\t' | '\n' => out.push(c),
                c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                    out.push('\u{FFFD}')
                }
                c => out.push(c),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn escaping_in_runs_agrees_with_escaping_by_character(
            text in "(\\PC|[&<>\"'\r\t\n\u{0}-\u{1f}\u{fffe}\u{ffff}\u{fffd}\u{efbf}])*"
        ) {
            let mut out = String::from("prefix");
            escape_into(&mut out, &text);
            prop_assert_eq!(out, format!("prefix{}", escape_by_char(&text)));
        }
    }

    #[test]
    fn escaping_replaces_what_xml_cannot_carry() {
        let mut out = String::new();
        escape_into(&mut out, "a&b<c>\"'\r\t\n\u{1}\u{FFFE}\u{FFFF}\u{FFFD}é");
        assert_eq!(
            out,
            "a&amp;b&lt;c&gt;&quot;&apos;&#xD;\t\n\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}é"
        );
    }
}
