//! The request being authorized: who ([`RequestPrincipal`]), what ([`Request::action`]), on
//! what ([`Request::resource`]) and the request context ([`Context`]).
//!
//! Context values are parsed once, when the request is built, into every form a condition
//! operator may ask for (text, number, date, IP, bool, bytes), so evaluating conditions never
//! parses or allocates.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::pattern::Resolve;

/// What kind of principal made the request (`aws:PrincipalType` and CloudTrail's
/// `userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PrincipalKind {
    /// The account's root user: `arn:aws:iam::111122223333:root`.
    Root,
    /// An IAM user: `arn:aws:iam::111122223333:user/path/name`.
    User,
    /// A role session: `arn:aws:sts::111122223333:assumed-role/RoleName/session`.
    AssumedRole,
    /// A federated user session from GetFederationToken: `arn:aws:sts::...:federated-user/name`.
    FederatedUser,
    /// A web-identity or SAML federated principal (before it assumes a role); `arn` is the
    /// provider (`cognito-identity.amazonaws.com`, `arn:aws:iam::...:saml-provider/X`).
    Federated,
    /// An AWS service principal; `arn` is the service name (`ec2.amazonaws.com`).
    Service,
}

impl PrincipalKind {
    /// The value IAM puts in `aws:PrincipalType`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "Account",
            Self::User => "User",
            Self::AssumedRole => "AssumedRole",
            Self::FederatedUser => "FederatedUser",
            Self::Federated => "WebIdentityUser",
            Self::Service => "Service",
        }
    }
}

/// The principal making the request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestPrincipal {
    /// The caller's ARN (for [`PrincipalKind::Service`] and [`PrincipalKind::Federated`], the
    /// service or provider name).
    pub arn: String,
    /// The 12-digit account the principal belongs to (empty for service principals).
    pub account: String,
    /// Root, user, role session, ...
    pub kind: PrincipalKind,
    /// For a role session: the role's ARN (`arn:aws:iam::111122223333:role/path/RoleName`), so
    /// that a resource-based policy naming the role matches its sessions.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The role is a service-linked role: service control policies do not restrict it.
    #[serde(default)]
    pub service_linked_role: bool,
}

impl RequestPrincipal {
    /// A principal from its ARN, deriving account and kind (`:root`, `:user/`,
    /// `:assumed-role/`, `:federated-user/`). Returns `None` for text that is not one of those.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(_region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return None;
        };
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (kind, role_arn) = match (service, resource) {
            ("iam", "root") => (PrincipalKind::Root, None),
            ("iam", r) if r.starts_with("user/") => (PrincipalKind::User, None),
            ("sts", r) if r.starts_with("assumed-role/") => {
                let role = r
                    .strip_prefix("assumed-role/")
                    .and_then(|x| x.split('/').next())
                    .unwrap_or("");
                (
                    PrincipalKind::AssumedRole,
                    Some(format!("arn:{partition}:iam::{account}:role/{role}")),
                )
            }
            ("sts", r) if r.starts_with("federated-user/") => (PrincipalKind::FederatedUser, None),
            _ => return None,
        };
        Some(Self {
            arn: arn.to_owned(),
            account: account.to_owned(),
            kind,
            role_arn,
            service_linked_role: false,
        })
    }

    /// The ARN a resource-based policy uses for the principal's identity: the role ARN for a
    /// role session, the caller's ARN otherwise.
    pub fn identity_arn(&self) -> &str {
        self.role_arn.as_deref().unwrap_or(&self.arn)
    }

    /// The name after the last `/` of a user ARN (`aws:username`).
    fn user_name(&self) -> Option<&str> {
        (self.kind == PrincipalKind::User)
            .then(|| self.arn.rsplit('/').next())
            .flatten()
    }
}

/// One value of a context key, pre-parsed into every type a condition operator can compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    text: String,
    number: Option<f64>,
    date: Option<i128>,
    ip: Option<IpAddr>,
    binary: Option<Vec<u8>>,
}

impl Scalar {
    /// A value given as text; numbers, dates (ISO 8601 or epoch seconds), IPs and booleans
    /// written as text are recognised, as IAM does.
    pub fn text(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            number: parse_number(&text),
            date: parse_date(&text),
            ip: text.parse().ok(),
            binary: None,
            text,
        }
    }

    /// The text form (what `String*` operators and policy variables see).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn number(&self) -> Option<f64> {
        self.number
    }

    pub(crate) fn date(&self) -> Option<i128> {
        self.date
    }

    pub(crate) fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    pub(crate) fn binary(&self) -> Option<&[u8]> {
        self.binary.as_deref()
    }
}

/// The value of a context key: one value or a set (`aws:TagKeys`, `aws:CalledVia`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextValue {
    values: Vec<Scalar>,
    multi: bool,
}

impl ContextValue {
    /// A string.
    pub fn string(s: impl Into<String>) -> Self {
        Self {
            values: vec![Scalar::text(s)],
            multi: false,
        }
    }

    /// A set of strings (a multivalued key).
    pub fn strings<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            values: items.into_iter().map(Scalar::text).collect(),
            multi: true,
        }
    }

    /// A boolean (`aws:SecureTransport`, `aws:MultiFactorAuthPresent`).
    pub fn bool(b: bool) -> Self {
        Self::string(if b { "true" } else { "false" })
    }

    /// A number.
    pub fn number(n: f64) -> Self {
        let mut s = Scalar::text(format_number(n));
        s.number = Some(n);
        Self {
            values: vec![s],
            multi: false,
        }
    }

    /// A date and time (`aws:CurrentTime`, `aws:TokenIssueTime`).
    pub fn date(t: OffsetDateTime) -> Self {
        let text = t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut s = Scalar::text(text);
        s.date = Some(t.unix_timestamp_nanos());
        Self {
            values: vec![s],
            multi: false,
        }
    }

    /// An IP address (`aws:SourceIp`).
    pub fn ip(ip: IpAddr) -> Self {
        Self::string(ip.to_string())
    }

    /// Binary data, compared by `BinaryEquals` with the policy's base64 value.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        let mut s = Scalar::text(crate::condition::base64_encode(&bytes));
        s.binary = Some(bytes);
        Self {
            values: vec![s],
            multi: false,
        }
    }

    /// The values (one for a single-valued key).
    pub fn values(&self) -> &[Scalar] {
        &self.values
    }

    /// Whether the key is multivalued (a set, possibly of one or zero values).
    pub fn is_multivalued(&self) -> bool {
        self.multi
    }

    /// A single-valued key's value, for policy variables (AWS does not substitute sets).
    fn single(&self) -> Option<&str> {
        match (self.multi, self.values.as_slice()) {
            (false, [v]) => Some(v.as_str()),
            _ => None,
        }
    }
}

/// The request context: condition keys to values. Key names are case-insensitive (stored
/// lower-cased, sorted, looked up by binary search).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    entries: Vec<(String, ContextValue)>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (any case) to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: &str, value: ContextValue) {
        let key = key.to_ascii_lowercase();
        match self.entries.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.entries.insert(i, (key, value)),
        }
    }

    /// Builder form of [`Context::insert`].
    #[must_use]
    pub fn with(mut self, key: &str, value: ContextValue) -> Self {
        self.insert(key, value);
        self
    }

    /// The value of `key`, case-insensitively.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            return self
                .entries
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v);
        }
        self.get_lc(key)
    }

    /// Lookup with an already lower-cased key (compiled policies store keys that way).
    pub(crate) fn get_lc(&self, key_lc: &str) -> Option<&ContextValue> {
        self.entries
            .binary_search_by(|(k, _)| k.as_str().cmp(key_lc))
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    /// Whether the context holds `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// All entries, keys lower-cased.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// A request to authorize.
///
/// ```
/// use portcullis_policy::{ContextValue, Request, RequestPrincipal};
///
/// let principal = RequestPrincipal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
/// let request = Request::new(principal, "s3:GetObject", "arn:aws:s3:::bucket/key")
///     .with_context("aws:SourceIp", ContextValue::string("203.0.113.7"));
/// assert_eq!(request.context().get("AWS:USERNAME").unwrap().values()[0].as_str(), "alice");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    principal: RequestPrincipal,
    action: String,
    /// The action lower-cased once, so action patterns compare bytes (IAM actions are
    /// case-insensitive).
    action_lc: String,
    resource: String,
    /// Byte ranges of the six ARN parts of `resource`, split once per request.
    resource_parts: Option<[(usize, usize); 6]>,
    resource_account: Option<String>,
    context: Context,
}

impl Request {
    /// A request; the principal-derived global keys (`aws:PrincipalArn`, `aws:PrincipalAccount`,
    /// `aws:PrincipalType`, `aws:username` for users, `aws:PrincipalServiceName`,
    /// `aws:PrincipalIsAWSService`) are put in the context unless the caller sets them.
    /// The resource account defaults to the account in the resource ARN, if it has one.
    /// Keys that need state the engine does not have (`aws:userid`, `aws:PrincipalTag/*`,
    /// `aws:SourceIp`, `aws:CurrentTime`, `aws:MultiFactorAuthPresent`, ...) are the
    /// caller's to add with [`Request::with_context`].
    pub fn new(
        principal: RequestPrincipal,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self::with_whole_context(principal, action, resource, Context::new())
    }

    /// A request whose context is `context` from the start: [`Request::new`] followed by
    /// [`Request::with_full_context`], with the principal-derived keys added once, and only
    /// those `context` lacks.
    pub fn with_whole_context(
        principal: RequestPrincipal,
        action: impl Into<String>,
        resource: impl Into<String>,
        context: Context,
    ) -> Self {
        let resource = resource.into();
        let resource_account = resource
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned);
        let action: String = action.into();
        let mut r = Self {
            principal,
            action_lc: action.to_lowercase(),
            action,
            resource_parts: split_arn(&resource),
            resource,
            resource_account,
            context,
        };
        r.derive_principal_keys();
        r
    }

    fn derive_principal_keys(&mut self) {
        let p = &self.principal;
        let context = &mut self.context;
        // A value is built only when its key is missing: callers often set them all.
        let mut derive = |key: &str, value: &dyn Fn() -> ContextValue| {
            if context.get_lc(key).is_none() {
                context.insert(key, value());
            }
        };
        derive("aws:principaltype", &|| {
            ContextValue::string(p.kind.as_str())
        });
        let is_service = p.kind == PrincipalKind::Service;
        derive("aws:principalisawsservice", &|| {
            ContextValue::bool(is_service)
        });
        if is_service {
            derive("aws:principalservicename", &|| {
                ContextValue::string(p.arn.clone())
            });
        } else if p.kind != PrincipalKind::Federated {
            derive("aws:principalarn", &|| {
                ContextValue::string(p.identity_arn().to_owned())
            });
            derive("aws:principalaccount", &|| {
                ContextValue::string(p.account.clone())
            });
        }
        if let Some(name) = p.user_name() {
            derive("aws:username", &|| ContextValue::string(name.to_owned()));
        }
    }

    /// Adds a context key.
    #[must_use]
    pub fn with_context(mut self, key: &str, value: ContextValue) -> Self {
        self.context.insert(key, value);
        self
    }

    /// Replaces the whole context (principal-derived keys are added again).
    #[must_use]
    pub fn with_full_context(mut self, context: Context) -> Self {
        self.context = context;
        self.derive_principal_keys();
        self
    }

    /// Sets the account that owns the resource (needed when the ARN has no account, as for S3).
    #[must_use]
    pub fn with_resource_account(mut self, account: impl Into<String>) -> Self {
        self.resource_account = Some(account.into());
        self
    }

    /// The principal.
    pub fn principal(&self) -> &RequestPrincipal {
        &self.principal
    }

    /// `service:Action`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The resource ARN, or `*`.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The action, lower-cased.
    pub(crate) fn action_lc(&self) -> &str {
        &self.action_lc
    }

    /// The service prefix of the lower-cased action (`s3` of `s3:getobject`).
    pub(crate) fn service_lc(&self) -> &str {
        self.action_lc.split(':').next().unwrap_or("")
    }

    /// The six parts of the resource ARN, `None` when it is not ARN-shaped.
    pub(crate) fn resource_parts(&self) -> Option<[&str; 6]> {
        let ranges = self.resource_parts?;
        let mut out = [""; 6];
        for (slot, (start, end)) in out.iter_mut().zip(ranges) {
            *slot = self.resource.get(start..end)?;
        }
        Some(out)
    }

    /// The account that owns the resource, when known.
    pub fn resource_account(&self) -> Option<&str> {
        self.resource_account.as_deref()
    }

    /// The request context.
    pub fn context(&self) -> &Context {
        &self.context
    }
}

impl Resolve for Request {
    fn resolve(&self, key_lc: &str) -> Option<&str> {
        self.context.get_lc(key_lc).and_then(ContextValue::single)
    }
}

/// Byte ranges of an ARN's six colon-separated parts (the last keeps its colons).
fn split_arn(arn: &str) -> Option<[(usize, usize); 6]> {
    let mut out = [(0, 0); 6];
    let mut start = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        let end = if i == 5 {
            arn.len()
        } else {
            start + arn.get(start..)?.find(':')?
        };
        *slot = (start, end);
        start = end + 1;
    }
    Some(out)
}

/// Numbers as IAM reads them: integers and decimals.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Dates as IAM reads them: ISO 8601 (`2020-01-01T00:00:00Z`, with or without fractional
/// seconds or offset, or a bare `2020-01-01`) or epoch seconds. Unix nanoseconds.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .map(|secs| i128::from(secs) * 1_000_000_000);
    }
    if let Ok(d) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(d.unix_timestamp_nanos());
    }
    if let Ok(d) = OffsetDateTime::parse(t, &Iso8601::DEFAULT) {
        return Some(d.unix_timestamp_nanos());
    }
    if let Ok(d) = time::PrimitiveDateTime::parse(t, &Iso8601::DEFAULT) {
        return Some(d.assume_utc().unix_timestamp_nanos());
    }
    let date_only = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(t, &date_only)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp_nanos())
}

impl Request {
    /// Reads a request from JSON (the CLI's `--request FILE.json` and the test corpus):
    ///
    /// ```json
    /// { "principal": "arn:aws:iam::111122223333:user/alice",
    ///   "action": "s3:GetObject", "resource": "arn:aws:s3:::bucket/key",
    ///   "resource_account": "111122223333",
    ///   "context": { "aws:SourceIp": "203.0.113.7", "aws:TagKeys": ["a", "b"],
    ///                "aws:SecureTransport": true, "s3:max-keys": 10,
    ///                "kms:Blob": { "binary": "aGVsbG8=" } } }
    /// ```
    ///
    /// `principal` is an IAM/STS ARN, a service name (`ec2.amazonaws.com`), or an object with
    /// the fields of [`RequestPrincipal`].
    ///
    /// # Errors
    /// [`crate::Error::Request`] naming the field that could not be read.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, crate::Error> {
        use serde_json::Value;
        let bad = |what: &str| crate::Error::Request(what.to_owned());
        let principal = match v.get("principal") {
            Some(Value::String(s)) => principal_from_text(s).ok_or_else(|| bad("principal"))?,
            Some(obj @ Value::Object(_)) => serde_json::from_value(obj.clone())
                .map_err(|e| crate::Error::Request(format!("principal: {e}")))?,
            _ => return Err(bad("principal")),
        };
        let action = v
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("action"))?;
        let resource = v.get("resource").and_then(Value::as_str).unwrap_or("*");
        let mut r = Self::new(principal, action, resource);
        if let Some(acct) = v.get("resource_account").and_then(Value::as_str) {
            r = r.with_resource_account(acct);
        }
        if let Some(ctx) = v.get("context") {
            let Value::Object(map) = ctx else {
                return Err(bad("context"));
            };
            for (k, val) in map {
                let value = context_value_from_json(val)
                    .ok_or_else(|| crate::Error::Request(format!("context key {k}")))?;
                r = r.with_context(k, value);
            }
        }
        Ok(r)
    }
}

/// A principal from its text: an IAM/STS ARN, or a service principal name.
pub fn principal_from_text(s: &str) -> Option<RequestPrincipal> {
    if s.starts_with("arn:") {
        return RequestPrincipal::from_arn(s);
    }
    // Service principals are DNS-style names (`ec2.amazonaws.com`).
    (s.contains('.') && !s.contains(char::is_whitespace)).then(|| RequestPrincipal {
        arn: s.to_owned(),
        account: String::new(),
        kind: PrincipalKind::Service,
        role_arn: None,
        service_linked_role: false,
    })
}

fn context_value_from_json(v: &serde_json::Value) -> Option<ContextValue> {
    use serde_json::Value;
    Some(match v {
        Value::String(s) => ContextValue::string(s.clone()),
        Value::Bool(b) => ContextValue::bool(*b),
        Value::Number(n) => ContextValue::number(n.as_f64()?),
        Value::Array(items) => {
            let texts: Option<Vec<String>> = items
                .iter()
                .map(|x| match x {
                    Value::String(s) => Some(s.clone()),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect();
            ContextValue::strings(texts?)
        }
        Value::Object(map) => {
            let b64 = map.get("binary")?.as_str()?;
            ContextValue::binary(crate::condition::base64_decode(b64)?)
        }
        Value::Null => return None,
    })
}
