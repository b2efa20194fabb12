//! The `Condition` element: the 27 operators, the `IfExists` suffix, the `ForAllValues` and
//! `ForAnyValue` set qualifiers, and how IAM combines them (IAM User Guide, "IAM JSON policy
//! elements: Condition operators" and "Multivalued context keys").
//!
//! Rules implemented here, in one place:
//! - values of one key are ORed; keys of one operator and operators of one block are ANDed;
//! - a missing key makes a positive operator false and a negated one (`...Not...`,
//!   `NotIpAddress`) true; `...IfExists` makes any operator true on a missing key;
//! - `ForAnyValue` is false on a missing or empty set, `ForAllValues` is true on one;
//! - key names are case-insensitive, values case-sensitive unless the operator says otherwise.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::pattern::{ArnPattern, Pattern, Resolve, Syntax};
#[cfg(test)]
use crate::request::ContextValue;
use crate::request::{Request, Scalar, parse_date, parse_number};

/// A condition operator's base comparison (without `IfExists` and set qualifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

/// Every operator with its policy name.
pub const OPERATORS: [(&str, Operator); 27] = [
    ("StringEquals", Operator::StringEquals),
    ("StringNotEquals", Operator::StringNotEquals),
    ("StringEqualsIgnoreCase", Operator::StringEqualsIgnoreCase),
    (
        "StringNotEqualsIgnoreCase",
        Operator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", Operator::StringLike),
    ("StringNotLike", Operator::StringNotLike),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericNotEquals", Operator::NumericNotEquals),
    ("NumericLessThan", Operator::NumericLessThan),
    ("NumericLessThanEquals", Operator::NumericLessThanEquals),
    ("NumericGreaterThan", Operator::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        Operator::NumericGreaterThanEquals,
    ),
    ("DateEquals", Operator::DateEquals),
    ("DateNotEquals", Operator::DateNotEquals),
    ("DateLessThan", Operator::DateLessThan),
    ("DateLessThanEquals", Operator::DateLessThanEquals),
    ("DateGreaterThan", Operator::DateGreaterThan),
    ("DateGreaterThanEquals", Operator::DateGreaterThanEquals),
    ("Bool", Operator::Bool),
    ("BinaryEquals", Operator::BinaryEquals),
    ("IpAddress", Operator::IpAddress),
    ("NotIpAddress", Operator::NotIpAddress),
    ("ArnEquals", Operator::ArnEquals),
    ("ArnLike", Operator::ArnLike),
    ("ArnNotEquals", Operator::ArnNotEquals),
    ("ArnNotLike", Operator::ArnNotLike),
    ("Null", Operator::Null),
];

impl Operator {
    /// Negated operators are true when the key is missing and invert the match of a value.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::NumericNotEquals
                | Self::DateNotEquals
                | Self::NotIpAddress
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    /// Whether policy variables may appear in this operator's values (String, Arn and Bool
    /// families, per the IAM User Guide "Where you can use policy variables").
    pub fn allows_variables(self) -> bool {
        matches!(
            self,
            Self::StringEquals
                | Self::StringNotEquals
                | Self::StringEqualsIgnoreCase
                | Self::StringNotEqualsIgnoreCase
                | Self::StringLike
                | Self::StringNotLike
                | Self::ArnEquals
                | Self::ArnLike
                | Self::ArnNotEquals
                | Self::ArnNotLike
                | Self::Bool
        )
    }
}

/// A parsed operator name: qualifier, base operator, `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorName {
    /// `ForAllValues:` / `ForAnyValue:` prefix.
    pub qualifier: Option<SetQualifier>,
    /// The operator.
    pub operator: Operator,
    /// The `IfExists` suffix.
    pub if_exists: bool,
}

/// The set qualifiers for multivalued keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// `ForAllValues:`: every request value must match; true for a missing or empty set.
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must match; false for a missing or empty set.
    ForAnyValue,
}

impl OperatorName {
    /// Parses `ForAnyValue:StringLikeIfExists` and friends. Operator names are case-sensitive
    /// in IAM; `Null` takes no `IfExists`.
    pub fn parse(name: &str) -> Option<Self> {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let operator = OPERATORS
            .iter()
            .find(|(n, _)| *n == base)
            .map(|(_, o)| *o)?;
        if if_exists && operator == Operator::Null {
            return None;
        }
        Some(Self {
            qualifier,
            operator,
            if_exists,
        })
    }
}

/// A compiled policy value for one operator.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Text(Pattern),
    Arn(ArnPattern),
    Number(f64),
    Date(i128),
    Net(IpNet),
    Bool(Pattern),
    Binary(Vec<u8>),
    Null(bool),
    /// A value that cannot be read as the operator's type: matches nothing.
    Invalid,
}

/// One `operator: { key: values }` entry, compiled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    pub name: OperatorName,
    /// The key as written in the policy (reported as a missing key).
    pub key: Box<str>,
    key_lc: Box<str>,
    expected: Vec<Expected>,
}

/// The result of a clause, with the key when it was missing from the request.
pub(crate) struct ClauseOutcome {
    pub holds: bool,
    pub missing: bool,
}

impl Clause {
    /// Compiles one key of an operator block. `variables` is false under Version 2008-10-17.
    pub(crate) fn compile(
        name: OperatorName,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Self {
        let vars = variables && name.operator.allows_variables();
        let expected = values
            .iter()
            .map(|v| compile_value(name.operator, v, vars))
            .collect();
        Self {
            name,
            key: key.into(),
            key_lc: key.to_ascii_lowercase().into(),
            expected,
        }
    }

    /// Evaluates the clause against the request.
    pub(crate) fn evaluate(&self, request: &Request) -> ClauseOutcome {
        let op = self.name.operator;
        let value = request.context().get_lc(&self.key_lc);
        if op == Operator::Null {
            // `Null: true` asks "is the key absent?"; an empty set counts as absent.
            let absent = value.is_none_or(|v| v.values().is_empty());
            let holds = self
                .expected
                .iter()
                .any(|e| matches!(e, Expected::Null(want) if *want == absent));
            return ClauseOutcome {
                holds,
                missing: false,
            };
        }
        let negated = op.is_negated();
        let Some(value) = value.filter(|v| !v.values().is_empty() || self.name.qualifier.is_some())
        else {
            let holds = match self.name.qualifier {
                _ if self.name.if_exists => true,
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => negated,
            };
            return ClauseOutcome {
                holds,
                missing: true,
            };
        };
        let values = value.values();
        let holds = match self.name.qualifier {
            // AWS: ForAnyValue on an empty set is false, ForAllValues on an empty set is true.
            Some(SetQualifier::ForAnyValue) => values
                .iter()
                .any(|v| self.matches_any(v, request) != negated),
            Some(SetQualifier::ForAllValues) => values
                .iter()
                .all(|v| self.matches_any(v, request) != negated),
            None => values.iter().any(|v| self.matches_any(v, request)) != negated,
        };
        ClauseOutcome {
            holds,
            missing: false,
        }
    }

    /// Whether one request value matches at least one policy value (values are ORed).
    fn matches_any(&self, v: &Scalar, request: &Request) -> bool {
        self.expected
            .iter()
            .any(|e| compare(self.name.operator, e, v, request))
    }
}

fn compile_value(op: Operator, v: &str, variables: bool) -> Expected {
    use Operator as O;
    let exact = Syntax {
        wildcards: false,
        variables,
    };
    let glob = Syntax {
        wildcards: true,
        variables,
    };
    match op {
        O::StringEquals | O::StringNotEquals => Expected::Text(Pattern::compile(v, exact, false)),
        O::StringEqualsIgnoreCase | O::StringNotEqualsIgnoreCase => {
            Expected::Text(Pattern::compile(v, exact, true))
        }
        O::StringLike | O::StringNotLike => Expected::Text(Pattern::compile(v, glob, false)),
        O::NumericEquals
        | O::NumericNotEquals
        | O::NumericLessThan
        | O::NumericLessThanEquals
        | O::NumericGreaterThan
        | O::NumericGreaterThanEquals => {
            parse_number(v).map_or(Expected::Invalid, Expected::Number)
        }
        O::DateEquals
        | O::DateNotEquals
        | O::DateLessThan
        | O::DateLessThanEquals
        | O::DateGreaterThan
        | O::DateGreaterThanEquals => parse_date(v).map_or(Expected::Invalid, Expected::Date),
        O::Bool => Expected::Bool(Pattern::compile(v, exact, true)),
        O::BinaryEquals => base64_decode(v).map_or(Expected::Invalid, Expected::Binary),
        O::IpAddress | O::NotIpAddress => parse_net(v).map_or(Expected::Invalid, Expected::Net),
        // ArnEquals and ArnLike behave the same: both take wildcards, matched per ARN part.
        O::ArnEquals | O::ArnLike | O::ArnNotEquals | O::ArnNotLike => {
            Expected::Arn(ArnPattern::compile(v, variables, true))
        }
        O::Null => match v.to_ascii_lowercase().as_str() {
            "true" => Expected::Null(true),
            "false" => Expected::Null(false),
            _ => Expected::Invalid,
        },
    }
}

/// Whether `v` could be compiled for `op` (validation).
pub(crate) fn value_is_valid(op: Operator, v: &str) -> bool {
    !matches!(compile_value(op, v, false), Expected::Invalid)
}

/// An IP address or CIDR block; a bare address is a /32 (or /128).
pub(crate) fn parse_net(v: &str) -> Option<IpNet> {
    let t = v.trim();
    t.parse::<IpNet>()
        .ok()
        .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
}

fn compare(op: Operator, expected: &Expected, v: &Scalar, request: &Request) -> bool {
    use Operator as O;
    let vars: &dyn Resolve = request;
    match expected {
        Expected::Text(p) => p.matches(v.as_str(), vars),
        Expected::Arn(p) => p.matches(v.as_str(), vars),
        Expected::Bool(p) => {
            let s = v.as_str();
            (s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"))
                && p.matches(s, vars)
        }
        Expected::Number(want) => v.number().is_some_and(|n| match op {
            O::NumericLessThan => n < *want,
            O::NumericLessThanEquals => n <= *want,
            O::NumericGreaterThan => n > *want,
            O::NumericGreaterThanEquals => n >= *want,
            _ => n == *want,
        }),
        Expected::Date(want) => v.date().is_some_and(|d| match op {
            O::DateLessThan => d < *want,
            O::DateLessThanEquals => d <= *want,
            O::DateGreaterThan => d > *want,
            O::DateGreaterThanEquals => d >= *want,
            _ => d == *want,
        }),
        Expected::Net(net) => v.ip().is_some_and(|ip| net.contains(&ip)),
        Expected::Binary(want) => v.binary().map_or_else(
            || base64_decode(v.as_str()).is_some_and(|b| b == *want),
            |b| b == want.as_slice(),
        ),
        Expected::Null(_) | Expected::Invalid => false,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (the form `BinaryEquals` values are written in).
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(B64.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64; `None` for anything else.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)?;
        acc = (acc << 6) | u32::try_from(v).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestPrincipal;

    fn req(ctx: &[(&str, ContextValue)]) -> Request {
        let p = RequestPrincipal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let mut r = Request::new(p, "s3:GetObject", "*");
        for (k, v) in ctx {
            r = r.with_context(k, v.clone());
        }
        r
    }

    fn holds(op: &str, key: &str, values: &[&str], r: &Request) -> bool {
        let name = OperatorName::parse(op).unwrap();
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        Clause::compile(name, key, &values, true).evaluate(r).holds
    }

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"abcd", b"\xff\x00\x10"] {
            assert_eq!(base64_decode(&base64_encode(data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert!(base64_decode("not*base64").is_none());
    }

    #[test]
    fn operator_names() {
        assert_eq!(
            OperatorName::parse("ForAnyValue:StringLikeIfExists")
                .unwrap()
                .operator,
            Operator::StringLike
        );
        assert!(OperatorName::parse("NullIfExists").is_none());
        assert!(OperatorName::parse("stringequals").is_none());
        assert!(OperatorName::parse("StringEqualz").is_none());
    }

    #[test]
    fn missing_keys_and_negation() {
        let r = req(&[]);
        assert!(!holds("StringEquals", "aws:PrincipalTag/team", &["a"], &r));
        assert!(holds(
            "StringNotEquals",
            "aws:PrincipalTag/team",
            &["a"],
            &r
        ));
        assert!(holds(
            "StringEqualsIfExists",
            "aws:PrincipalTag/team",
            &["a"],
            &r
        ));
        assert!(holds("Null", "aws:PrincipalTag/team", &["true"], &r));
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["a"],
            &r
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["a"],
            &r
        ));
    }

    #[test]
    fn sets() {
        let r = req(&[("aws:TagKeys", ContextValue::strings(["a", "b"]))]);
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:tagkeys",
            &["a", "b", "c"],
            &r
        ));
        assert!(!holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["a"],
            &r
        ));
        assert!(holds("ForAnyValue:StringEquals", "aws:TagKeys", &["b"], &r));
        assert!(holds(
            "ForAnyValue:StringNotEquals",
            "aws:TagKeys",
            &["a"],
            &r
        ));
        assert!(!holds(
            "ForAllValues:StringNotEquals",
            "aws:TagKeys",
            &["a"],
            &r
        ));
    }

    #[test]
    fn typed_operators() {
        let r = req(&[
            ("n", ContextValue::number(5.0)),
            ("ip", ContextValue::string("2001:db8::1")),
            ("d", ContextValue::string("2020-06-01T00:00:00Z")),
            ("b", ContextValue::binary(b"hello".to_vec())),
        ]);
        assert!(holds("NumericLessThan", "n", &["6"], &r));
        assert!(!holds("NumericGreaterThan", "n", &["5"], &r));
        assert!(holds("NumericGreaterThanEquals", "n", &["5.0"], &r));
        assert!(holds("IpAddress", "ip", &["2001:db8::/32"], &r));
        assert!(holds("NotIpAddress", "ip", &["203.0.113.0/24"], &r));
        assert!(holds("DateLessThan", "d", &["2021-01-01T00:00:00Z"], &r));
        assert!(holds("DateGreaterThan", "d", &["1577836800"], &r));
        assert!(holds("BinaryEquals", "b", &["aGVsbG8="], &r));
        assert!(!holds("NumericEquals", "n", &["abc"], &r));
    }
}
