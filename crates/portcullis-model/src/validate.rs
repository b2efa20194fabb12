//! Input validation against an operation's input shape, and the AWS rendering of failures.
//!
//! The checks are the model's constraint traits, in the order AWS front ends report them
//! per member: required (`Member must not be null`), type, length (`min`/`max` on strings,
//! blobs, lists and maps; strings measured in Unicode code points), value range (`min`/`max`
//! on numbers), `pattern` (whole-value match, see [`crate::regex`]) and `enum`. Members are
//! visited in model order so messages come out in a stable order. Unknown members are
//! ignored, as AWS ignores them.

use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::model::{OperationModel, ProtocolKind, ShapeKind, ShapeRef};

/// JSON nesting beyond which validation stops descending (serde_json parses at most 128).
const MAX_DEPTH: usize = 100;

/// Which constraint a value failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A required member is absent or null.
    Missing,
    /// The value has the wrong type (a string where a number belongs, bad base64, ...).
    Type,
    /// A length constraint (`min`/`max` on strings, blobs, lists, maps).
    Length,
    /// A value range (`min`/`max` on numbers).
    Range,
    /// A `pattern` constraint.
    Pattern,
    /// An `enum` constraint.
    Enum,
}

/// One failed constraint, as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which constraint failed.
    pub kind: ViolationKind,
    /// Where, in AWS's notation: lowerCamelCase members, `name.N.member` for list
    /// elements (1-based), e.g. `tags.1.member.key`.
    pub path: String,
    /// The constraint text (`Member must have length less than or equal to 64`).
    pub constraint: String,
    /// The offending value as AWS echoes it; `None` for a missing value or a sensitive one.
    pub value: Option<String>,
    /// The value is sensitive: the message leaves it out (`Value at 'password' ...`).
    pub sensitive: bool,
    /// The whole sentence: `Value 'x' at 'userName' failed to satisfy constraint: ...`.
    pub message: String,
}

impl Violation {
    /// Builds a violation and its message.
    #[must_use]
    pub fn new(
        kind: ViolationKind,
        path: String,
        value: Option<String>,
        sensitive: bool,
        constraint: String,
    ) -> Self {
        let shown = match (&value, sensitive, kind) {
            (_, _, ViolationKind::Missing) | (None, false, _) => "Value null at".to_owned(),
            (_, true, _) => "Value at".to_owned(),
            (Some(v), false, _) => format!("Value '{v}' at"),
        };
        let message = format!("{shown} '{path}' failed to satisfy constraint: {constraint}");
        Self {
            kind,
            path,
            constraint,
            value,
            sensitive,
            message,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message AWS returns for a set of violations:
/// `1 validation error detected: ...` or `N validation errors detected: ...; ...`.
#[must_use]
pub fn violations_message(v: &[Violation]) -> String {
    let mut out = match v.len() {
        1 => "1 validation error detected: ".to_owned(),
        n => format!("{n} validation errors detected: "),
    };
    for (i, violation) in v.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&violation.message);
    }
    out
}

/// The AWS error code for a set of violations under `protocol`.
///
/// Query services answer `ValidationError` (IAM, STS); JSON and REST services answer
/// `ValidationException`, except that a value of the wrong JSON type fails
/// deserialisation before validation and is answered `SerializationException`. For a
/// service whose model names another validation code (GuardDuty's `BadRequestException`)
/// use [`crate::ServiceModel::validation_error_code`] for constraint failures.
#[must_use]
pub fn error_code(protocol: ProtocolKind, v: &[Violation]) -> &'static str {
    let type_error = v.iter().any(|x| x.kind == ViolationKind::Type);
    match protocol {
        ProtocolKind::Query => "ValidationError",
        ProtocolKind::Json | ProtocolKind::RestJson | ProtocolKind::RestXml if type_error => {
            "SerializationException"
        }
        ProtocolKind::Json | ProtocolKind::RestJson | ProtocolKind::RestXml => {
            "ValidationException"
        }
    }
}

/// Validates `input` (from [`crate::query_input`], or a JSON body keyed by wire names)
/// against the operation's input shape. An operation without input accepts anything.
///
/// # Errors
/// Every violation found, in model order.
pub fn validate(op: &OperationModel<'_>, input: &Value) -> Result<(), Vec<Violation>> {
    let Some(shape) = op.input() else {
        return Ok(());
    };
    let mut out = Vec::new();
    let empty = Value::Object(serde_json::Map::new());
    let input = if input.is_null() { &empty } else { input };
    check(shape, input, "", &mut out, 0);
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// AWS names members in paths with the first letter lowered (`UserName` -> `userName`).
pub(crate) fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(crate) fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        lower_camel(member)
    } else {
        format!("{path}.{}", lower_camel(member))
    }
}

fn type_name(kind: &ShapeKind) -> &'static str {
    match kind {
        ShapeKind::Structure { .. } => "structure",
        ShapeKind::List { .. } => "list",
        ShapeKind::Map { .. } => "map",
        ShapeKind::String { .. } => "string",
        ShapeKind::Integer => "integer",
        ShapeKind::Long => "long",
        ShapeKind::Float => "float",
        ShapeKind::Double => "double",
        ShapeKind::Boolean => "boolean",
        ShapeKind::Timestamp => "timestamp",
        ShapeKind::Blob => "blob",
    }
}

pub(crate) fn type_violation(shape: ShapeRef<'_>, path: &str, value: Option<String>) -> Violation {
    let constraint = format!("Member must be of type {}", type_name(&shape.shape.kind));
    Violation::new(
        ViolationKind::Type,
        path.to_owned(),
        value,
        shape.shape.sensitive,
        constraint,
    )
}

fn check(shape: ShapeRef<'_>, value: &Value, path: &str, out: &mut Vec<Violation>, depth: usize) {
    if depth > MAX_DEPTH {
        out.push(type_violation(shape, path, None));
        return;
    }
    match shape.shape.kind {
        ShapeKind::Structure { members, .. } => {
            let Value::Object(obj) = value else {
                out.push(type_violation(shape, path, Some(render(value))));
                return;
            };
            for member in members {
                // The path is written only where it may be needed: most optional members of a
                // request are absent, and their paths would be made for nothing.
                let child = obj.get(member.key()).filter(|v| !v.is_null());
                let Some(child) = child else {
                    if member.is_required() {
                        out.push(Violation::new(
                            ViolationKind::Missing,
                            join(path, member.name),
                            None,
                            false,
                            "Member must not be null".to_owned(),
                        ));
                    }
                    continue;
                };
                if let Some(child_shape) = shape.member_shape(member) {
                    check(child_shape, child, &join(path, member.name), out, depth + 1);
                }
            }
        }
        ShapeKind::List { member, .. } => {
            let Value::Array(items) = value else {
                out.push(type_violation(shape, path, Some(render(value))));
                return;
            };
            length(shape, items.len(), value, path, out);
            let Some(member_shape) = shape.resolve(member) else {
                return;
            };
            if is_aggregate(member_shape) {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}.{}.member", i + 1);
                    check(member_shape, item, &item_path, out, depth + 1);
                }
            } else {
                // AWS reports constrained scalar elements once, at the list:
                // `Member must satisfy constraint: [Member must satisfy enum value set: ...]`.
                let mut failed = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if item.is_null() || !type_matches(member_shape, item) {
                        let item_path = format!("{path}.{}.member", i + 1);
                        out.push(type_violation(member_shape, &item_path, Some(render(item))));
                        continue;
                    }
                    scalar_constraints(member_shape, item, &mut failed);
                }
                if !failed.is_empty() {
                    out.push(Violation::new(
                        ViolationKind::from_constraints(&failed),
                        path.to_owned(),
                        Some(render(value)),
                        shape.shape.sensitive || member_shape.shape.sensitive,
                        format!("Member must satisfy constraint: [{}]", list_text(&failed)),
                    ));
                }
            }
        }
        ShapeKind::Map {
            key,
            value: value_index,
            ..
        } => {
            let Value::Object(obj) = value else {
                out.push(type_violation(shape, path, Some(render(value))));
                return;
            };
            length(shape, obj.len(), value, path, out);
            let sensitive = shape.shape.sensitive;
            if let Some(key_shape) = shape.resolve(key) {
                let mut failed = Vec::new();
                for k in obj.keys() {
                    scalar_constraints(key_shape, &Value::String(k.clone()), &mut failed);
                }
                if !failed.is_empty() {
                    out.push(Violation::new(
                        ViolationKind::from_constraints(&failed),
                        path.to_owned(),
                        Some(render(value)),
                        sensitive,
                        format!("Map keys must satisfy constraint: [{}]", list_text(&failed)),
                    ));
                }
            }
            let Some(value_shape) = shape.resolve(value_index) else {
                return;
            };
            if is_aggregate(value_shape) {
                for (k, v) in obj {
                    if v.is_null() {
                        continue;
                    }
                    check(value_shape, v, &format!("{path}.{k}"), out, depth + 1);
                }
            } else {
                let mut failed = Vec::new();
                for (k, v) in obj {
                    if v.is_null() || !type_matches(value_shape, v) {
                        out.push(type_violation(
                            value_shape,
                            &format!("{path}.{k}"),
                            Some(render(v)),
                        ));
                        continue;
                    }
                    scalar_constraints(value_shape, v, &mut failed);
                }
                if !failed.is_empty() {
                    out.push(Violation::new(
                        ViolationKind::from_constraints(&failed),
                        path.to_owned(),
                        Some(render(value)),
                        sensitive || value_shape.shape.sensitive,
                        format!(
                            "Map value must satisfy constraint: [{}]",
                            list_text(&failed)
                        ),
                    ));
                }
            }
        }
        _ => {
            if !type_matches(shape, value) {
                out.push(type_violation(shape, path, Some(render(value))));
                return;
            }
            let mut failed = Vec::new();
            scalar_constraints(shape, value, &mut failed);
            for (kind, constraint) in failed {
                out.push(Violation::new(
                    kind,
                    path.to_owned(),
                    Some(render(value)),
                    shape.shape.sensitive,
                    constraint,
                ));
            }
        }
    }
}

impl ViolationKind {
    /// The kind of a grouped violation: its first constraint's.
    fn from_constraints(failed: &[(ViolationKind, String)]) -> Self {
        failed.first().map_or(Self::Type, |(k, _)| *k)
    }
}

fn list_text(failed: &[(ViolationKind, String)]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for (_, c) in failed {
        if !seen.contains(&c.as_str()) {
            seen.push(c);
        }
    }
    seen.join(", ")
}

fn is_aggregate(shape: ShapeRef<'_>) -> bool {
    matches!(
        shape.shape.kind,
        ShapeKind::Structure { .. } | ShapeKind::List { .. } | ShapeKind::Map { .. }
    )
}

fn length(shape: ShapeRef<'_>, len: usize, value: &Value, path: &str, out: &mut Vec<Violation>) {
    if let Some((kind, constraint)) = length_failure(shape, len) {
        out.push(Violation::new(
            kind,
            path.to_owned(),
            Some(render(value)),
            shape.shape.sensitive,
            constraint,
        ));
    }
}

fn length_failure(shape: ShapeRef<'_>, len: usize) -> Option<(ViolationKind, String)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    if let Some(min) = shape.shape.min
        && len < min
    {
        return Some((
            ViolationKind::Length,
            format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if let Some(max) = shape.shape.max
        && len > max
    {
        return Some((
            ViolationKind::Length,
            format!("Member must have length less than or equal to {max}"),
        ));
    }
    None
}

/// Whether a JSON value has the type a scalar shape needs. Timestamps travel as epoch
/// seconds in JSON protocols and as strings in the query protocol: both are accepted.
fn type_matches(shape: ShapeRef<'_>, value: &Value) -> bool {
    match shape.shape.kind {
        ShapeKind::String { .. } => value.is_string(),
        ShapeKind::Integer => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ShapeKind::Long => value.is_i64(),
        ShapeKind::Float | ShapeKind::Double => value.is_number(),
        ShapeKind::Boolean => value.is_boolean(),
        ShapeKind::Timestamp => value.is_number() || value.is_string(),
        ShapeKind::Blob => value.as_str().is_some_and(|s| base64_len(s).is_some()),
        ShapeKind::Structure { .. } => value.is_object(),
        ShapeKind::List { .. } => value.is_array(),
        ShapeKind::Map { .. } => value.is_object(),
    }
}

/// Collects the failed constraints of a scalar value whose type already matches.
fn scalar_constraints(
    shape: ShapeRef<'_>,
    value: &Value,
    failed: &mut Vec<(ViolationKind, String)>,
) {
    match shape.shape.kind {
        ShapeKind::String { pattern, enums } => {
            let Some(s) = value.as_str() else { return };
            if let Some(f) = length_failure(shape, s.chars().count()) {
                failed.push(f);
            }
            if let Some(p) = pattern {
                let matched = shape
                    .service
                    .pattern(p)
                    .is_none_or(|re| re.is_full_match(s));
                if !matched {
                    let source = shape.service.pattern_source(p).unwrap_or_default();
                    failed.push((
                        ViolationKind::Pattern,
                        format!("Member must satisfy regular expression pattern: {source}"),
                    ));
                }
            }
            if !enums.is_empty() && !enums.contains(&s) {
                failed.push((
                    ViolationKind::Enum,
                    format!("Member must satisfy enum value set: [{}]", enums.join(", ")),
                ));
            }
        }
        ShapeKind::Blob => {
            if let Some(len) = value.as_str().and_then(base64_len)
                && let Some(f) = length_failure(shape, len)
            {
                failed.push(f);
            }
        }
        ShapeKind::Integer | ShapeKind::Long | ShapeKind::Float | ShapeKind::Double => {
            let Some(n) = value.as_f64() else { return };
            let exact = value.as_i64();
            if let Some(min) = shape.shape.min {
                let below = match exact {
                    Some(i) => i < min,
                    None => n < min as f64,
                };
                if below {
                    failed.push((
                        ViolationKind::Range,
                        format!("Member must have value greater than or equal to {min}"),
                    ));
                }
            }
            if let Some(max) = shape.shape.max {
                let above = match exact {
                    Some(i) => i > max,
                    None => n > max as f64 || value.is_u64(),
                };
                if above {
                    failed.push((
                        ViolationKind::Range,
                        format!("Member must have value less than or equal to {max}"),
                    ));
                }
            }
        }
        _ => {}
    }
}

/// The decoded length of standard base64 text, or `None` when it is not valid base64.
pub(crate) fn base64_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = bytes.get(..bytes.len() - pad)?;
    // Branch-free over every byte (no early exit), which the compiler vectorises: blobs are the
    // largest members requests carry (4 KiB of KMS plaintext is 5.5 KiB here).
    let valid = body.iter().fold(true, |ok, &b| {
        ok & ((b.wrapping_sub(b'A') < 26)
            | (b.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'+')
            | (b == b'/'))
    });
    valid.then(|| bytes.len() / 4 * 3 - pad)
}

/// A value as AWS echoes it in messages (Java's `toString` of the deserialised value):
/// strings bare, lists `[a, b]`, maps `{k=v}`.
pub(crate) fn render(value: &Value) -> String {
    let mut out = String::new();
    render_into(value, &mut out, 0);
    out
}

fn render_into(value: &Value, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("...");
        return;
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_into(item, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                render_into(v, out, depth + 1);
            }
            out.push('}');
        }
    }
}
