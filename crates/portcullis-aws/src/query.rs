//! The query protocol of IAM and STS: request parameters in, XML out.
//!
//! Requests carry `Action`, `Version` and the operation's parameters as
//! `application/x-www-form-urlencoded` pairs, in a POST body or in the URL's query string (AWS
//! accepts both; presigned STS URLs use GET). Lists are flattened as `Name.member.N`, maps as
//! `Name.entry.N.key` / `Name.entry.N.value`, structures as `Name.Field`. Responses are
//! `<ActionResponse xmlns=..><ActionResult>..</ActionResult><ResponseMetadata><RequestId>`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;
use http::StatusCode;

use crate::error::{AwsError, build_response};

/// The parameters of a query request, in the order they arrived (URL query first, then the
/// form body). Names and values are form-decoded (`+` is a space, `%XX` a byte); one that
/// needs no decoding is borrowed from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// Parses the URL query and, when the content type is form-encoded, the body.
///
/// A body with another content type is not read: AWS's query services take parameters only
/// from `application/x-www-form-urlencoded` bodies. Bytes that do not decode to UTF-8 are a
/// `MalformedQueryString` error (400), never a panic.
pub fn parse_params<'a>(
    uri_query: Option<&'a str>,
    content_type: Option<&str>,
    body: &'a [u8],
) -> Result<QueryParams<'a>, AwsError> {
    let mut pairs = Vec::new();
    if let Some(q) = uri_query {
        decode_form(q.as_bytes(), &mut pairs)?;
    }
    if is_form(content_type) {
        decode_form(body, &mut pairs)?;
    }
    Ok(QueryParams { pairs })
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    })
}

fn decode_form<'a>(
    input: &'a [u8],
    out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
) -> Result<(), AwsError> {
    for part in input.split(|b| *b == b'&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (
                part.get(..i).unwrap_or_default(),
                part.get(i + 1..).unwrap_or_default(),
            ),
            None => (part, &b""[..]),
        };
        out.push((form_decode(k)?, form_decode(v)?));
    }
    Ok(())
}

/// Decodes one form-encoded name or value: `+` is a space, `%XX` a byte, and a `%` without
/// two hex digits after it stands for itself (as `percent_decode` treats it). Borrowed when
/// there is nothing to decode (`Action=GetCallerIdentity`); otherwise one pass, one
/// allocation.
fn form_decode(raw: &[u8]) -> Result<Cow<'_, str>, AwsError> {
    if !raw.iter().any(|b| matches!(b, b'%' | b'+')) {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| malformed());
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    while let Some(&byte) = raw.get(at) {
        let escaped = (byte == b'%')
            .then(|| Some((hex_value(*raw.get(at + 1)?)?, hex_value(*raw.get(at + 2)?)?)))
            .flatten();
        match (byte, escaped) {
            (_, Some((hi, lo))) => {
                out.push(hi << 4 | lo);
                at += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                at += 1;
            }
            (other, None) => {
                out.push(other);
                at += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| malformed())
}

fn malformed() -> AwsError {
    AwsError::new(
        "MalformedQueryString",
        StatusCode::BAD_REQUEST,
        "The query string or form body is not valid UTF-8 after decoding.",
    )
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Form-encodes one name or value the way AWS SDKs do (RFC 3986 unreserved characters kept,
/// everything else `%XX`), for building requests in tests and clients.
pub fn form_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, crate::sigv4::URI_ENCODE_SET).to_string()
}

impl<'a> QueryParams<'a> {
    /// Parameters from pairs, for tests and for callers that decoded them elsewhere.
    pub fn from_pairs<K: Into<Cow<'a, str>>, V: Into<Cow<'a, str>>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The `Action` parameter.
    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// The `Version` parameter.
    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    /// All pairs in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Whether there are no parameters at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Form-encodes the parameters back into `a=b&c=d` (the inverse of [`parse_params`]).
    pub fn to_form(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(&form_encode(k));
            out.push('=');
            out.push_str(&form_encode(v));
        }
        out
    }

    /// The list `Name.member.N`, in N order (N = 1, 2, ...; gaps are skipped, non-numeric
    /// indexes ignored). An empty list is sent by SDKs as `Name=` and yields no items.
    pub fn list(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}.member.");
        let mut items: BTreeMap<u32, &str> = BTreeMap::new();
        for (k, v) in self.iter() {
            if let Some(n) = k.strip_prefix(&prefix).and_then(|n| n.parse::<u32>().ok()) {
                items.entry(n).or_insert(v);
            }
        }
        items.into_values().collect()
    }

    /// A list of structures `Name.member.N.Field`, in N order: each item maps its field names
    /// to values (IAM's `Tags.member.1.Key` / `.Value`).
    pub fn structs(&self, name: &str) -> Vec<BTreeMap<&str, &str>> {
        let prefix = format!("{name}.member.");
        let mut items: BTreeMap<u32, BTreeMap<&str, &str>> = BTreeMap::new();
        for (k, v) in self.iter() {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            items.entry(n).or_default().entry(field).or_insert(v);
        }
        items.into_values().collect()
    }

    /// The map `Name.entry.N.key` / `Name.entry.N.value`, in N order. An entry without a
    /// value has the empty string as its value.
    pub fn map(&self, name: &str) -> Vec<(&str, &str)> {
        let prefix = format!("{name}.entry.");
        let mut entries: BTreeMap<u32, (Option<&str>, &str)> = BTreeMap::new();
        for (k, v) in self.iter() {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((n, part)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            let entry = entries.entry(n).or_insert((None, ""));
            match part {
                "key" => entry.0 = entry.0.or(Some(v)),
                "value" => entry.1 = v,
                _ => {}
            }
        }
        entries
            .into_values()
            .filter_map(|(k, v)| k.map(|k| (k, v)))
            .collect()
    }
}

/// A small XML writer that escapes every text and attribute value.
///
/// Elements are written as they are opened and closed; the caller keeps them balanced (every
/// helper that opens an element also closes it).
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// An empty document.
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(512),
        }
    }

    /// Opens `<name>`.
    pub fn start(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Opens `<name xmlns="...">`.
    pub fn start_with_xmlns(&mut self, name: &str, xmlns: &str) -> &mut Self {
        self.start_tag_with_xmlns(&[name], xmlns)
    }

    /// Closes `</name>`.
    pub fn end(&mut self, name: &str) -> &mut Self {
        self.end_tag(&[name])
    }

    /// Opens the element whose name is `parts` joined (`["GetUser", "Result"]`), without
    /// building the name first.
    fn start_tag(&mut self, parts: &[&str]) -> &mut Self {
        self.out.push('<');
        self.out.extend(parts.iter().copied());
        self.out.push('>');
        self
    }

    /// [`XmlWriter::start_tag`] with an `xmlns` attribute.
    fn start_tag_with_xmlns(&mut self, parts: &[&str], xmlns: &str) -> &mut Self {
        self.out.push('<');
        self.out.extend(parts.iter().copied());
        self.out.push_str(" xmlns=\"");
        portcullis_core::xml::escape_into(&mut self.out, xmlns);
        self.out.push_str("\">");
        self
    }

    /// Closes the element [`XmlWriter::start_tag`] opened.
    fn end_tag(&mut self, parts: &[&str]) -> &mut Self {
        self.out.push_str("</");
        self.out.extend(parts.iter().copied());
        self.out.push('>');
        self
    }

    /// `<RequestId>id</RequestId>`, returning where the id's text starts in the document (for
    /// the response header to share the bytes).
    pub(crate) fn request_id_element(&mut self, request_id: &str) -> usize {
        self.start("RequestId");
        let at = self.out.len();
        self.text(request_id).end("RequestId");
        at
    }

    /// Escaped text inside the current element.
    pub fn text(&mut self, text: &str) -> &mut Self {
        portcullis_core::xml::escape_into(&mut self.out, text);
        self
    }

    /// `<name>text</name>`.
    pub fn text_element(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name).text(text).end(name)
    }

    /// `<name>text</name>` when `text` is `Some`; nothing otherwise (botocore reads an absent
    /// element as an absent member).
    pub fn opt_element(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.text_element(name, text);
        }
        self
    }

    /// `<name>` with one `<member>` per item, each written by `item`.
    pub fn list<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut item: impl FnMut(&mut XmlWriter, T),
    ) -> &mut Self {
        self.start(name);
        for it in items {
            self.start("member");
            item(self, it);
            self.end("member");
        }
        self.end(name)
    }

    /// `<name><member>s</member>...</name>` for a list of strings.
    pub fn string_list<'a>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        self.list(name, items, |w, s| {
            w.text(s);
        })
    }

    /// `<name><entry><key>k</key><value>v</value></entry>...</name>` for a map.
    pub fn map<'a>(
        &mut self,
        name: &str,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> &mut Self {
        self.start(name);
        for (k, v) in entries {
            self.start("entry")
                .text_element("key", k)
                .text_element("value", v)
                .end("entry");
        }
        self.end(name)
    }

    /// The document written so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The document's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out.into_bytes()
    }
}

/// A successful query response:
/// `<{action}Response xmlns><{action}Result>…</{action}Result><ResponseMetadata><RequestId>`.
pub fn response(
    action: &str,
    xmlns: &str,
    request_id: &str,
    result: impl FnOnce(&mut XmlWriter),
) -> http::Response<Bytes> {
    let mut w = XmlWriter::new();
    w.start_tag_with_xmlns(&[action, "Response"], xmlns);
    w.start_tag(&[action, "Result"]);
    result(&mut w);
    w.end_tag(&[action, "Result"]);
    w.start("ResponseMetadata");
    let id_at = w.request_id_element(request_id);
    w.end("ResponseMetadata");
    w.end_tag(&[action, "Response"]);
    build_response(
        StatusCode::OK,
        "text/xml",
        request_id,
        Some(id_at),
        None,
        w.finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition `form_decode` must agree with: `+` to space first, then percent-decoding.
    fn form_decode_plain(raw: &[u8]) -> Option<String> {
        let plus_as_space: Vec<u8> = raw
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        String::from_utf8(percent_encoding::percent_decode(&plus_as_space).collect()).ok()
    }

    /// The parser before borrowing: every name and value decoded into a String of its own.
    fn owned_pairs(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<Vec<(String, String)>> {
        let mut inputs = vec![query.unwrap_or_default().as_bytes()];
        if is_form(content_type) {
            inputs.push(body);
        }
        let mut pairs = Vec::new();
        for part in inputs.into_iter().flat_map(|i| i.split(|b| *b == b'&')) {
            if part.is_empty() {
                continue;
            }
            let (k, v) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            pairs.push((form_decode_plain(k)?, form_decode_plain(v)?));
        }
        Some(pairs)
    }

    proptest! {
        #[test]
        fn form_decoding_in_one_pass_agrees_with_the_plain_definition(
            raw in proptest::collection::vec(
                prop_oneof![
                    Just(b'%'), Just(b'+'), Just(b'2'), Just(b'B'), Just(b'f'), Just(b'g'),
                    Just(b'c'), Just(b'3'), Just(0xc3), Just(0xa9), any::<u8>()
                ],
                0..24,
            )
        ) {
            prop_assert_eq!(form_decode(&raw).ok().map(Cow::into_owned), form_decode_plain(&raw));
        }

        /// Borrowing what needs no decoding changes no parameter: the same pairs (or the same
        /// failure) as decoding every name and value into a String of its own.
        #[test]
        fn borrowed_parameters_equal_owned_decoding(
            query in proptest::option::of("[a-zA-Z0-9=&%+. \u{e9}-]{0,40}"),
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'%'), Just(b'+'), Just(b'&'), Just(b'='), Just(b'2'), Just(b'B'),
                    Just(b'a'), Just(0xc3), Just(0xa9), any::<u8>()
                ],
                0..40,
            ),
            form in any::<bool>(),
        ) {
            let content_type = form.then_some("application/x-www-form-urlencoded");
            let ours = parse_params(query.as_deref(), content_type, &body)
                .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<Vec<_>>())
                .ok();
            prop_assert_eq!(ours, owned_pairs(query.as_deref(), content_type, &body));
        }

    }

    #[test]
    fn form_body_and_query_string() {
        let p = parse_params(
            Some("Action=GetUser&Version=2010-05-08"),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"UserName=bob+smith&Path=%2Fdiv%2F",
        )
        .unwrap();
        assert_eq!(p.action(), Some("GetUser"));
        assert_eq!(p.version(), Some("2010-05-08"));
        assert_eq!(p.get("UserName"), Some("bob smith"));
        assert_eq!(p.get("Path"), Some("/div/"));
    }

    #[test]
    fn body_ignored_without_form_content_type() {
        let p = parse_params(None, Some("application/json"), b"Action=GetUser").unwrap();
        assert!(p.is_empty());
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let err = parse_params(Some("A=%FF"), None, b"").unwrap_err();
        assert_eq!(err.code, "MalformedQueryString");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn lists_in_index_order() {
        let p = QueryParams::from_pairs([
            ("ClientIDList.member.10", "j"),
            ("ClientIDList.member.2", "b"),
            ("ClientIDList.member.1", "a"),
            ("ClientIDList.member.x", "ignored"),
            ("Other.member.1", "o"),
        ]);
        assert_eq!(p.list("ClientIDList"), vec!["a", "b", "j"]);
        assert!(p.list("Missing").is_empty());
    }

    #[test]
    fn maps_and_structs() {
        let p = QueryParams::from_pairs([
            ("Attributes.entry.2.key", "k2"),
            ("Attributes.entry.2.value", "v2"),
            ("Attributes.entry.1.key", "k1"),
            ("Attributes.entry.1.value", "v1"),
            ("Attributes.entry.3.value", "orphan"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "sec"),
        ]);
        assert_eq!(p.map("Attributes"), vec![("k1", "v1"), ("k2", "v2")]);
        let tags = p.structs("Tags");
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0]["Key"], "team");
        assert_eq!(tags[0]["Value"], "sec");
    }

    #[test]
    fn xml_response_shape() {
        let r = response(
            "GetCallerIdentity",
            "https://sts.amazonaws.com/doc/2011-06-15/",
            "01234567-89ab-cdef-0123-456789abcdef",
            |w| {
                w.text_element("Arn", "arn:aws:iam::123456789012:root")
                    .text_element("UserId", "123456789012")
                    .text_element("Account", "123456789012")
                    .opt_element("Absent", None)
                    .string_list("Ids", ["a&b", "<c>"])
                    .map("Attrs", [("k", "v")]);
            },
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["x-amzn-requestid"],
            "01234567-89ab-cdef-0123-456789abcdef"
        );
        insta::assert_snapshot!(String::from_utf8(r.body().to_vec()).unwrap());
    }

    #[test]
    fn request_id_header_whether_or_not_the_body_escapes_it() {
        for (id, header) in [
            ("req-1", Some("req-1")),
            ("a&b<c>", Some("a&b<c>")),
            ("bad\u{1}id", None),
        ] {
            let r = response("GetCallerIdentity", "urn:x", id, |_| {});
            assert_eq!(
                r.headers()
                    .get("x-amzn-requestid")
                    .map(|v| v.to_str().unwrap()),
                header,
                "{id}"
            );
            let e = crate::error_response(crate::Protocol::STS, &AwsError::internal_failure(), id);
            assert_eq!(
                e.headers()
                    .get("x-amzn-requestid")
                    .map(|v| v.to_str().unwrap()),
                header,
                "{id}"
            );
        }
    }

    #[test]
    fn control_characters_never_reach_the_document() {
        let mut w = XmlWriter::new();
        w.text_element("a", "x\u{1}y\r\n");
        assert_eq!(w.as_str(), "<a>x\u{FFFD}y&#xD;\n</a>");
    }
}
