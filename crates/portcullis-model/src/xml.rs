//! Model-driven XML responses of the AWS query protocol (IAM, STS).
//!
//! [`query_response`] walks an operation's output shape and writes the JSON output value as
//! the document botocore's `QueryParser` reads:
//! `<OpResponse xmlns="..."><OpResult>...</OpResult><ResponseMetadata><RequestId>...`.
//! Handlers therefore return plain values keyed by the model's member names and never write
//! XML themselves. The rules, from botocore's `parsers.py` (`QueryParser`,
//! `BaseXMLResponseParser`):
//! - structure members in the shape's order, each element named by its `locationName` or its
//!   member name; members absent from the value (or `null`) are left out;
//! - lists as `<Name><member>...</member></Name>` (the element name can be renamed by the
//!   list's member `locationName`);
//! - maps as `<Name><entry><key>...</key><value>...</value></entry></Name>`;
//! - timestamps as ISO 8601 in UTC (`2026-11-28T19:29:39Z`): a string is written as given, a
//!   number is read as seconds since the epoch;
//! - booleans `true`/`false`; numbers in decimal; blobs as base64 (a string value is taken to
//!   be base64 already, as the query decoder keeps blobs);
//! - the result wrapper element from the model; an operation without an output shape answers
//!   with `ResponseMetadata` alone.

use serde_json::Value;

use crate::model::{OperationModel, ShapeKind, ShapeRef};

/// Deeper than any AWS output shape nests; guards against a cyclic model.
const MAX_DEPTH: usize = 64;

/// The query protocol response of `op` for `output`, as UTF-8 XML bytes.
#[must_use]
pub fn query_response(
    op: &OperationModel<'_>,
    request_id: &str,
    xmlns: &str,
    output: &Value,
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    let response = format!("{}Response", op.name());
    out.push('<');
    out.push_str(&response);
    out.push_str(" xmlns=\"");
    escape_into(&mut out, xmlns);
    out.push_str("\">");
    if let Some(shape) = op.output() {
        let wrapper = op
            .result_wrapper()
            .map_or_else(|| format!("{}Result", op.name()), str::to_owned);
        open(&mut out, &wrapper);
        structure_members(&mut out, shape, output, 0);
        close(&mut out, &wrapper);
    }
    out.push_str("<ResponseMetadata><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestId></ResponseMetadata>");
    close(&mut out, &response);
    out.into_bytes()
}

fn structure_members(out: &mut String, shape: ShapeRef<'_>, value: &Value, depth: usize) {
    let Value::Object(obj) = value else {
        return;
    };
    for member in shape.members() {
        let Some(v) = obj.get(member.name) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let Some(member_shape) = shape.member_shape(member) else {
            continue;
        };
        let name = member.location_name.unwrap_or(member.name);
        element(out, name, member_shape, v, depth + 1);
    }
}

/// Writes `<name>value</name>` for a value of `shape`.
fn element(out: &mut String, name: &str, shape: ShapeRef<'_>, value: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match shape.shape.kind {
        ShapeKind::Structure { .. } => {
            open(out, name);
            structure_members(out, shape, value, depth);
            close(out, name);
        }
        ShapeKind::List {
            member,
            member_name,
        } => {
            let Some(member_shape) = shape.resolve(member) else {
                return;
            };
            let item_name = member_name.unwrap_or("member");
            open(out, name);
            if let Value::Array(items) = value {
                for item in items.iter().filter(|i| !i.is_null()) {
                    element(out, item_name, member_shape, item, depth + 1);
                }
            }
            close(out, name);
        }
        ShapeKind::Map {
            key,
            value: value_index,
            key_name,
            value_name,
        } => {
            let (Some(key_shape), Some(value_shape)) =
                (shape.resolve(key), shape.resolve(value_index))
            else {
                return;
            };
            open(out, name);
            if let Value::Object(entries) = value {
                for (k, v) in entries.iter().filter(|(_, v)| !v.is_null()) {
                    open(out, "entry");
                    element(
                        out,
                        key_name.unwrap_or("key"),
                        key_shape,
                        &Value::String(k.clone()),
                        depth + 1,
                    );
                    element(
                        out,
                        value_name.unwrap_or("value"),
                        value_shape,
                        v,
                        depth + 1,
                    );
                    close(out, "entry");
                }
            }
            close(out, name);
        }
        ShapeKind::Timestamp => {
            let text = match value {
                Value::Number(n) => n.as_f64().map_or_else(String::new, epoch_to_iso8601),
                other => scalar_text(other),
            };
            text_element(out, name, &text);
        }
        ShapeKind::Boolean => {
            let text = match value {
                Value::Bool(b) => b.to_string(),
                Value::String(s) => s.to_ascii_lowercase(),
                other => scalar_text(other),
            };
            text_element(out, name, &text);
        }
        ShapeKind::String { .. }
        | ShapeKind::Integer
        | ShapeKind::Long
        | ShapeKind::Float
        | ShapeKind::Double
        | ShapeKind::Blob => text_element(out, name, &scalar_text(value)),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC).
fn epoch_to_iso8601(secs: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "timestamps are far inside i64; fractions are dropped as AWS does"
    )]
    let secs = secs.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn text_element(out: &mut String, name: &str, text: &str) {
    open(out, name);
    escape_into(out, text);
    close(out, name);
}

use portcullis_core::xml::escape_into;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(op: &str, output: &Value) -> String {
        let iam = crate::service("iam").unwrap();
        let op = iam.operation(op).unwrap();
        String::from_utf8(query_response(
            &op,
            "01234567-89ab-cdef-0123-456789abcdef",
            "https://iam.amazonaws.com/doc/2010-05-08/",
            output,
        ))
        .unwrap()
    }

    #[test]
    fn structure_with_tags_list_and_timestamp() {
        let xml = render(
            "CreateUser",
            &json!({"User": {
                "UserName": "bob", "UserId": "AIDAEXAMPLE", "Path": "/", "Arn": "arn:aws:iam::123456789012:user/bob",
                "CreateDate": 1_795_000_000, "Tags": [{"Key": "team", "Value": "a&b"}],
                "Unknown": "ignored", "PermissionsBoundary": null
            }}),
        );
        insta::assert_snapshot!(xml);
        assert!(
            xml.contains("<Path>/</Path><UserName>bob</UserName>"),
            "shape order"
        );
    }

    #[test]
    fn no_output_shape_is_metadata_only() {
        let xml = render("DeleteUser", &json!({}));
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn maps_booleans_and_integers() {
        let xml = render(
            "GetAccountSummary",
            &json!({"SummaryMap": {"Users": 3, "UsersQuota": 5000}}),
        );
        insta::assert_snapshot!(xml);
        let xml = render(
            "ListUsers",
            &json!({"Users": [], "IsTruncated": true, "Marker": "m"}),
        );
        assert!(xml.contains("<Users></Users><IsTruncated>true</IsTruncated><Marker>m</Marker>"));
    }

    #[test]
    fn epoch_seconds_format_as_aws_timestamps() {
        assert_eq!(epoch_to_iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(epoch_to_iso8601(1_700_000_000.5), "2023-11-14T22:13:20Z");
        assert_eq!(epoch_to_iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn text_is_escaped() {
        let mut s = String::new();
        escape_into(&mut s, "<a & 'b'>\u{1}\r");
        assert_eq!(s, "&lt;a &amp; &apos;b&apos;&gt;\u{FFFD}&#xD;");
    }

    /// A value for `shape` with every member filled, lists and maps of two, down to `depth`.
    fn sample(shape: ShapeRef<'_>, depth: usize) -> Option<Value> {
        Some(match shape.shape.kind {
            ShapeKind::Structure { .. } => {
                if depth == 0 {
                    return None;
                }
                let mut obj = serde_json::Map::new();
                for m in shape.members() {
                    if let Some(v) = shape.member_shape(m).and_then(|s| sample(s, depth - 1)) {
                        obj.insert(m.name.to_owned(), v);
                    }
                }
                Value::Object(obj)
            }
            ShapeKind::List { member, .. } => {
                let item = sample(shape.resolve(member)?, depth.saturating_sub(1))?;
                Value::Array(vec![item.clone(), item])
            }
            ShapeKind::Map { value, .. } => {
                let v = sample(shape.resolve(value)?, depth.saturating_sub(1))?;
                json!({"k1": v.clone(), "k2": v})
            }
            ShapeKind::String { enums, .. } => {
                json!(enums.first().map_or_else(
                    || format!("<{}> & 'text'", shape.name()),
                    |e| (*e).to_owned()
                ))
            }
            ShapeKind::Integer | ShapeKind::Long => json!(42),
            ShapeKind::Float | ShapeKind::Double => json!(1.5),
            ShapeKind::Boolean => json!(true),
            ShapeKind::Timestamp => json!("2026-11-28T19:29:39Z"),
            ShapeKind::Blob => json!("YmxvYg=="),
        })
    }

    /// Every output of IAM and STS, filled completely, parses back in botocore's own query
    /// parser to the value it was written from (skipped when botocore is not installed).
    /// botocore reads list items whatever their element name, so the `<member>` names are
    /// pinned by the snapshots above instead.
    #[test]
    fn botocore_reads_every_iam_and_sts_output_back() {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        if !Command::new("python3")
            .args(["-c", "import botocore"])
            .status()
            .is_ok_and(|s| s.success())
        {
            eprintln!("SKIPPED: botocore is not installed");
            return;
        }
        let mut cases = Vec::new();
        for name in ["iam", "sts"] {
            let service = crate::service(name).unwrap();
            for op in service.operations() {
                let Some(shape) = op.output() else { continue };
                let value = sample(shape, 6).unwrap();
                let xml = query_response(&op, "rid", service.xmlns.unwrap(), &value);
                cases.push(json!({"service": name, "op": op.name(),
                    "xml": String::from_utf8(xml).unwrap(), "expected": value}));
            }
        }
        assert!(cases.len() > 100, "{}", cases.len());
        let script = r#"
import base64, datetime, json, sys
import botocore.parsers, botocore.session
session = botocore.session.get_session()
def norm(v):
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return v
bad = []
for case in json.load(sys.stdin):
    model = session.get_service_model(case["service"]).operation_model(case["op"])
    parsed = botocore.parsers.QueryParser().parse(
        {"body": case["xml"].encode(), "headers": {}, "status_code": 200}, model.output_shape)
    if norm(parsed) != case["expected"]:
        bad.append({"op": case["op"], "parsed": norm(parsed), "expected": case["expected"]})
print(json.dumps(bad)[:4000])
sys.exit(1 if bad else 0)
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "botocore disagrees: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
