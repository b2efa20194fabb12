//! Decoding of the AWS query protocol's flat parameters into a value shaped like the input.
//!
//! The query protocol (IAM, STS) sends every input member as a form or query-string
//! parameter named by its path, as botocore's query serializer writes it:
//! structures `Parent.Member`, lists `Name.member.N` (N from 1; the element name can be
//! renamed by the model's `locationName`; `Name=` alone is an empty list), maps
//! `Name.entry.N.key` / `Name.entry.N.value`. Scalars arrive as text and are coerced to
//! the member's type: integers and floats parsed, booleans `true`/`false`, timestamps kept
//! as their text, blobs kept as their base64 text. Parameters that name no member (such as
//! `Action` and `Version`) are ignored, as AWS ignores them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Number, Value};

use crate::model::{OperationModel, ShapeKind, ShapeRef};
use crate::validate::{Violation, join, type_violation};

/// Nesting beyond which decoding refuses the request (no query input nests this deep).
const MAX_DEPTH: usize = 32;

/// Turns query parameters into a JSON value shaped like the operation's input, keyed by
/// member names; the first occurrence of a repeated parameter wins.
///
/// # Errors
/// A [`Violation`] of kind `Type` when a parameter cannot be coerced to its member's type.
pub fn query_input(op: &OperationModel<'_>, params: &[(&str, &str)]) -> Result<Value, Violation> {
    let mut index: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in params {
        index.entry(k).or_insert(v);
    }
    let Some(shape) = op.input() else {
        return Ok(Value::Object(Map::new()));
    };
    let decoder = Decoder { params: &index };
    let mut obj = Map::new();
    decoder.members(shape, "", "", &mut obj, 0)?;
    Ok(Value::Object(obj))
}

struct Decoder<'p> {
    params: &'p BTreeMap<&'p str, &'p str>,
}

impl Decoder<'_> {
    /// Whether a parameter is `name` itself or lies under `name.`: the parameters that start
    /// with `name` are together in the index, from `name` on.
    fn mentions(&self, name: &str) -> bool {
        self.params
            .range(name..)
            .take_while(|(k, _)| k.starts_with(name))
            .any(|(k, _)| k.len() == name.len() || k.as_bytes().get(name.len()) == Some(&b'.'))
    }

    /// Whether any parameter lies under `prefix.`.
    fn has_children(&self, prefix: &str) -> bool {
        let dotted = format!("{prefix}.");
        self.params
            .range(dotted.as_str()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&dotted))
    }

    /// The distinct positive indices N of parameters named `prefix.N...`, ascending.
    fn indices(&self, prefix: &str) -> BTreeSet<u32> {
        let dotted = format!("{prefix}.");
        let mut out = BTreeSet::new();
        for (k, _) in self.params.range(dotted.as_str()..) {
            let Some(rest) = k.strip_prefix(&dotted) else {
                break;
            };
            let segment = rest.split('.').next().unwrap_or_default();
            if let Ok(n) = segment.parse::<u32>()
                && n >= 1
                && n.to_string() == segment
            {
                out.insert(n);
            }
        }
        out
    }

    fn members(
        &self,
        shape: ShapeRef<'_>,
        prefix: &str,
        path: &str,
        obj: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(), Violation> {
        for member in shape.members() {
            let key = member.key();
            let name: Cow<'_, str> = if prefix.is_empty() {
                Cow::Borrowed(key)
            } else {
                Cow::Owned(format!("{prefix}.{key}"))
            };
            // Most members of an input are absent: skip them before making their paths.
            if !self.mentions(&name) {
                continue;
            }
            let Some(member_shape) = shape.member_shape(member) else {
                continue;
            };
            let member_path = join(path, member.name);
            if let Some(v) = self.value(member_shape, &name, &member_path, depth + 1)? {
                obj.insert(key.to_owned(), v);
            }
        }
        Ok(())
    }

    fn value(
        &self,
        shape: ShapeRef<'_>,
        name: &str,
        path: &str,
        depth: usize,
    ) -> Result<Option<Value>, Violation> {
        if depth > MAX_DEPTH {
            return Err(type_violation(shape, path, None));
        }
        match shape.shape.kind {
            ShapeKind::Structure { .. } => {
                if !self.has_children(name) {
                    return Ok(None);
                }
                let mut obj = Map::new();
                self.members(shape, name, path, &mut obj, depth)?;
                Ok(Some(Value::Object(obj)))
            }
            ShapeKind::List {
                member,
                member_name,
            } => {
                let item = format!("{name}.{}", member_name.unwrap_or("member"));
                let Some(member_shape) = shape.resolve(member) else {
                    return Ok(None);
                };
                let indices = self.indices(&item);
                if indices.is_empty() {
                    // botocore sends `Name=` for an empty list.
                    return Ok(self.params.get(name).map(|_| Value::Array(Vec::new())));
                }
                let mut items = Vec::with_capacity(indices.len());
                for (pos, n) in indices.iter().enumerate() {
                    let item_path = format!("{path}.{}.member", pos + 1);
                    if let Some(v) =
                        self.value(member_shape, &format!("{item}.{n}"), &item_path, depth + 1)?
                    {
                        items.push(v);
                    }
                }
                Ok(Some(Value::Array(items)))
            }
            ShapeKind::Map {
                key,
                value,
                key_name,
                value_name,
            } => {
                let entry = format!("{name}.entry");
                let (Some(key_shape), Some(value_shape)) =
                    (shape.resolve(key), shape.resolve(value))
                else {
                    return Ok(None);
                };
                let indices = self.indices(&entry);
                if indices.is_empty() {
                    return Ok(self.params.get(name).map(|_| Value::Object(Map::new())));
                }
                let mut obj = Map::new();
                for n in indices {
                    let base = format!("{entry}.{n}");
                    let key_param = format!("{base}.{}", key_name.unwrap_or("key"));
                    let Some(Value::String(k)) =
                        self.value(key_shape, &key_param, path, depth + 1)?
                    else {
                        continue;
                    };
                    let value_param = format!("{base}.{}", value_name.unwrap_or("value"));
                    let v =
                        self.value(value_shape, &value_param, &format!("{path}.{k}"), depth + 1)?;
                    if let Some(v) = v {
                        obj.entry(k).or_insert(v);
                    }
                }
                Ok(Some(Value::Object(obj)))
            }
            _ => {
                let Some(text) = self.params.get(name) else {
                    return Ok(None);
                };
                scalar(shape, text, path).map(Some)
            }
        }
    }
}

pub(crate) fn scalar(shape: ShapeRef<'_>, text: &str, path: &str) -> Result<Value, Violation> {
    let bad = || type_violation(shape, path, Some(text.to_owned()));
    Ok(match shape.shape.kind {
        ShapeKind::Integer => {
            let n: i32 = text.trim().parse().map_err(|_| bad())?;
            Value::from(n)
        }
        ShapeKind::Long => {
            let n: i64 = text.trim().parse().map_err(|_| bad())?;
            Value::from(n)
        }
        ShapeKind::Float | ShapeKind::Double => {
            let n: f64 = text.trim().parse().map_err(|_| bad())?;
            Value::Number(Number::from_f64(n).ok_or_else(bad)?)
        }
        ShapeKind::Boolean => match text.trim() {
            t if t.eq_ignore_ascii_case("true") => Value::Bool(true),
            t if t.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(bad()),
        },
        // Strings, timestamps (ISO 8601 text) and blobs (base64 text) stay text.
        _ => Value::String(text.to_owned()),
    })
}
