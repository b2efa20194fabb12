//! Reading a policy document: JSON grammar, the elements of each policy type, and validation
//! findings worded as AWS words them (IAM `MalformedPolicyDocument`, `LimitExceeded`,
//! Organizations' policy-type messages).
//!
//! [`parse`] returns the document and every finding; a document with an error finding is not
//! compiled. The grammar is the IAM User Guide's "Grammar of the IAM JSON policy language".

use serde_json::Value;

use crate::condition::{Operator, OperatorName, value_is_valid};

/// The kinds of policy document, each with its own required and forbidden elements and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyType {
    /// An identity-based policy (managed or inline) attached to a user, group or role.
    Identity,
    /// A resource-based policy (bucket, queue, topic, secret, ...): needs a Principal.
    Resource,
    /// A role trust policy (`AssumeRolePolicyDocument`).
    Trust,
    /// An Organizations service control policy.
    Scp,
    /// An Organizations resource control policy.
    Rcp,
    /// A session policy passed to AssumeRole / GetFederationToken.
    Session,
    /// A managed policy used as a permissions boundary.
    Boundary,
    /// A KMS key policy.
    Key,
}

impl PolicyType {
    /// The CLI name (`identity`, `resource`, `trust`, `scp`, `rcp`, `session`, `boundary`, `key`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Resource => "resource",
            Self::Trust => "trust",
            Self::Scp => "scp",
            Self::Rcp => "rcp",
            Self::Session => "session",
            Self::Boundary => "boundary",
            Self::Key => "key",
        }
    }

    /// Parses a CLI name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "identity" => Self::Identity,
            "resource" => Self::Resource,
            "trust" => Self::Trust,
            "scp" => Self::Scp,
            "rcp" => Self::Rcp,
            "session" => Self::Session,
            "boundary" => Self::Boundary,
            "key" => Self::Key,
            _ => return None,
        })
    }

    fn requires_principal(self) -> bool {
        matches!(self, Self::Resource | Self::Trust | Self::Key | Self::Rcp)
    }

    fn forbids_principal(self) -> bool {
        matches!(
            self,
            Self::Identity | Self::Boundary | Self::Session | Self::Scp
        )
    }
}

/// The owner of inline policies, whose inline policies share one size quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineOwner {
    /// 2,048 characters for all of a user's inline policies.
    User,
    /// 5,120 characters for all of a group's inline policies.
    Group,
    /// 10,240 characters for all of a role's inline policies.
    Role,
}

impl InlineOwner {
    /// The aggregate inline quota (IAM and STS quotas page), whitespace not counted.
    pub fn quota(self) -> usize {
        match self {
            Self::User => 2048,
            Self::Group => 5120,
            Self::Role => 10240,
        }
    }
}

/// Checks the total size of an entity's inline policies, as PutUserPolicy / PutGroupPolicy /
/// PutRolePolicy do; `documents` are all inline policy texts of the entity after the change.
pub fn check_inline_total<'a>(
    owner: InlineOwner,
    name: &str,
    documents: impl IntoIterator<Item = &'a str>,
) -> Option<Finding> {
    let total: usize = documents.into_iter().map(policy_size).sum();
    let kind = match owner {
        InlineOwner::User => "user",
        InlineOwner::Group => "group",
        InlineOwner::Role => "role",
    };
    (total > owner.quota()).then(|| Finding {
        code: FindingCode::LimitExceeded,
        message: format!(
            "Maximum policy size of {} bytes exceeded for {kind} {name}",
            owner.quota()
        ),
        path: String::new(),
    })
}

/// The size IAM counts against quotas: characters, whitespace not counted.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// The AWS error code a finding maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum FindingCode {
    /// IAM / KMS / Organizations `MalformedPolicyDocument(Exception)`.
    MalformedPolicyDocument,
    /// IAM `LimitExceeded`.
    LimitExceeded,
    /// Organizations `ConstraintViolationException` (policy content too large).
    ConstraintViolation,
    /// The API-level `ValidationError` (characters outside the allowed set, length).
    ValidationError,
}

impl FindingCode {
    /// The AWS error code string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedPolicyDocument => "MalformedPolicyDocument",
            Self::LimitExceeded => "LimitExceeded",
            Self::ConstraintViolation => "ConstraintViolationException",
            Self::ValidationError => "ValidationError",
        }
    }
}

/// A validation error: the code and message AWS returns, and where in the document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The AWS error code.
    pub code: FindingCode,
    /// AWS's message.
    pub message: String,
    /// JSON path of the offending element (`Statement[1].Action[0]`), empty for the document.
    pub path: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.code.as_str(), self.message)
        } else {
            write!(
                f,
                "{}: {} ({})",
                self.code.as_str(),
                self.message,
                self.path
            )
        }
    }
}

/// `Version`: 2012-10-17 enables policy variables; 2008-10-17 (or none) reads `${...}` as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    /// `2012-10-17`.
    V2012_10_17,
    /// `2008-10-17`, or no `Version` element.
    V2008_10_17,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum StatementEffect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// A principal element: `"*"` or `{ "AWS" | "Service" | "Federated" | "CanonicalUser": ... }`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum PrincipalSpec {
    /// `"Principal": "*"` or `{"AWS": "*"}`: everyone.
    Any,
    /// Typed principal values, in document order.
    Values(Vec<(PrincipalType, String)>),
}

/// The key of a principal value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PrincipalType {
    /// `AWS`: accounts, users, roles, role sessions, federated users.
    Aws,
    /// `Service`: service principals.
    Service,
    /// `Federated`: identity providers.
    Federated,
    /// `CanonicalUser`: S3 canonical user ids.
    CanonicalUser,
}

/// One statement, as written.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatementDoc {
    /// `Sid`.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: StatementEffect,
    /// `Action` values, or `NotAction` values when `not_action`.
    pub actions: Vec<String>,
    /// True for `NotAction`.
    pub not_action: bool,
    /// `Resource` / `NotResource` values; `None` when the element is absent (trust policies).
    pub resources: Option<Vec<String>>,
    /// True for `NotResource`.
    pub not_resource: bool,
    /// `Principal` / `NotPrincipal`.
    pub principal: Option<PrincipalSpec>,
    /// True for `NotPrincipal`.
    pub not_principal: bool,
    /// `Condition`: (operator, key, values), values converted to text.
    pub conditions: Vec<(String, String, Vec<String>)>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Document {
    /// `Version`.
    pub version: Version,
    /// `Id`.
    pub id: Option<String>,
    /// The statements, in document order.
    pub statements: Vec<StatementDoc>,
}

/// The result of [`parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The document when it could be read (even if it has findings).
    pub document: Option<Document>,
    /// Everything wrong with it, in document order.
    pub findings: Vec<Finding>,
}

const SYNTAX: &str = "Syntax errors in policy.";
const VENDOR: &str = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
const ONE_COLON: &str = "Actions/Condition can contain only one colon.";
const ORG_TYPE: &str =
    "The provided policy document does not meet the requirements of the specified policy type.";
const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];
/// Services that resource control policies support (Organizations User Guide, RCPs).
const RCP_SERVICES: [&str; 10] = [
    "s3",
    "sts",
    "kms",
    "sqs",
    "secretsmanager",
    "cognito-identity",
    "logs",
    "dynamodb",
    "ecr",
    "aoss",
];

struct Ctx {
    ty: PolicyType,
    findings: Vec<Finding>,
}

impl Ctx {
    fn err(&mut self, code: FindingCode, message: impl Into<String>, path: impl Into<String>) {
        self.findings.push(Finding {
            code,
            message: message.into(),
            path: path.into(),
        });
    }

    fn malformed(&mut self, message: impl Into<String>, path: impl Into<String>) {
        // Organizations reports every content problem of an SCP or RCP with one message.
        let message = match self.ty {
            PolicyType::Scp | PolicyType::Rcp => ORG_TYPE.to_owned(),
            _ => message.into(),
        };
        self.err(FindingCode::MalformedPolicyDocument, message, path);
    }
}

/// Parses and validates `text` as a policy of type `ty`.
pub fn parse(text: &str, ty: PolicyType) -> Parsed {
    let mut cx = Ctx {
        ty,
        findings: Vec::new(),
    };
    check_size_and_characters(text, &mut cx);
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            cx.err(FindingCode::MalformedPolicyDocument, SYNTAX, "");
            return Parsed {
                document: None,
                findings: cx.findings,
            };
        }
    };
    let Value::Object(top) = value else {
        cx.err(FindingCode::MalformedPolicyDocument, SYNTAX, "");
        return Parsed {
            document: None,
            findings: cx.findings,
        };
    };
    for key in top.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            cx.malformed(SYNTAX, key.clone());
        }
    }
    let version = match top.get("Version") {
        None => Version::V2008_10_17,
        Some(Value::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
        Some(Value::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
        Some(_) => {
            // IAM answers an unknown Version with this message.
            cx.malformed("The policy failed legacy parsing", "Version");
            Version::V2008_10_17
        }
    };
    let id = match top.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            cx.malformed(SYNTAX, "Id");
            None
        }
    };
    let raw_statements: Vec<&Value> = match top.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(obj @ Value::Object(_)) => vec![obj],
        _ => {
            cx.malformed(SYNTAX, "Statement");
            Vec::new()
        }
    };
    let mut statements = Vec::with_capacity(raw_statements.len());
    let mut sids: Vec<&str> = Vec::new();
    for (i, raw) in raw_statements.iter().enumerate() {
        let path = format!("Statement[{i}]");
        if let Some(st) = statement(raw, &path, &mut cx) {
            statements.push(st);
        }
        if let Some(sid) = raw.get("Sid").and_then(Value::as_str) {
            if sids.contains(&sid) {
                cx.malformed(
                    "Statement IDs (SID) in a single policy must be unique.",
                    format!("{path}.Sid"),
                );
            }
            sids.push(sid);
        }
    }
    Parsed {
        document: Some(Document {
            version,
            id,
            statements,
        }),
        findings: cx.findings,
    }
}

fn check_size_and_characters(text: &str, cx: &mut Ctx) {
    // IAM's PolicyDocument pattern: [\u0009\u000A\u000D\u0020-\u00FF]+ (IAM API reference).
    let iam_api = !matches!(cx.ty, PolicyType::Resource | PolicyType::Key);
    if iam_api
        && text
            .chars()
            .any(|c| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
    {
        cx.err(
            FindingCode::ValidationError,
            "1 validation error detected: Value at 'policyDocument' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            "",
        );
    }
    let size = policy_size(text);
    let (limit, code, message) = match cx.ty {
        PolicyType::Identity | PolicyType::Boundary => {
            (6144, FindingCode::LimitExceeded, "Cannot exceed quota for PolicySize: 6144".to_owned())
        }
        PolicyType::Trust => (2048, FindingCode::LimitExceeded, "Cannot exceed quota for ACLSizePerRole: 2048".to_owned()),
        PolicyType::Scp | PolicyType::Rcp => (
            5120,
            FindingCode::ConstraintViolation,
            "POLICY_CONTENT_LIMIT_EXCEEDED: the policy exceeds the 5,120 character limit".to_owned(),
        ),
        PolicyType::Session => (
            2048,
            FindingCode::ValidationError,
            "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048".to_owned(),
        ),
        PolicyType::Key => (32768, FindingCode::LimitExceeded, "Cannot exceed quota for PolicySize: 32768".to_owned()),
        PolicyType::Resource => return,
    };
    // The session policy limit is an API length constraint: whitespace counts there.
    let measured = if cx.ty == PolicyType::Session {
        text.chars().count()
    } else {
        size
    };
    if measured > limit {
        cx.err(code, message, "");
    }
}

/// Reads a string or array of strings.
fn strings(v: &Value, path: &str, cx: &mut Ctx) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Value::String(s) => Some(s.clone()),
                _ => {
                    cx.malformed(SYNTAX, format!("{path}[{i}]"));
                    None
                }
            })
            .collect(),
        _ => {
            cx.malformed(SYNTAX, path);
            Vec::new()
        }
    }
}

/// Condition values may be strings, booleans or numbers (AWS converts them to text).
fn condition_values(v: &Value, path: &str, cx: &mut Ctx) -> Vec<String> {
    let one = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                let r = one(x);
                if r.is_none() {
                    cx.malformed(SYNTAX, format!("{path}[{i}]"));
                }
                r
            })
            .collect(),
        x => match one(x) {
            Some(s) => vec![s],
            None => {
                cx.malformed(SYNTAX, path);
                Vec::new()
            }
        },
    }
}

fn statement(raw: &Value, path: &str, cx: &mut Ctx) -> Option<StatementDoc> {
    let Value::Object(map) = raw else {
        cx.malformed(SYNTAX, path);
        return None;
    };
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Principal"
                | "NotPrincipal"
                | "Condition"
        ) {
            cx.malformed(SYNTAX, format!("{path}.{key}"));
        }
    }
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => {
            // IAM-managed documents need alphanumeric Sids; resource policies of other services
            // (S3, SQS, KMS) accept spaces and punctuation.
            let strict = !matches!(cx.ty, PolicyType::Resource | PolicyType::Key);
            if strict && !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                cx.malformed(
                    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                    format!("{path}.Sid"),
                );
            }
            Some(s.clone())
        }
        Some(_) => {
            cx.malformed(SYNTAX, format!("{path}.Sid"));
            None
        }
    };
    let effect = match map.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => StatementEffect::Allow,
        Some(Value::String(e)) if e == "Deny" => StatementEffect::Deny,
        Some(Value::String(e)) => {
            cx.malformed(format!("Invalid effect: {e}"), format!("{path}.Effect"));
            StatementEffect::Deny
        }
        _ => {
            cx.malformed(SYNTAX, format!("{path}.Effect"));
            StatementEffect::Deny
        }
    };

    // Action / NotAction: exactly one.
    let (actions, not_action) = match (map.get("Action"), map.get("NotAction")) {
        (Some(a), None) => (strings(a, &format!("{path}.Action"), cx), false),
        (None, Some(a)) => (strings(a, &format!("{path}.NotAction"), cx), true),
        (Some(_), Some(_)) => {
            cx.malformed(SYNTAX, path);
            (Vec::new(), false)
        }
        (None, None) => {
            cx.malformed("Policy statement must contain actions.", path);
            (Vec::new(), false)
        }
    };
    let action_el = if not_action { "NotAction" } else { "Action" };
    for (i, a) in actions.iter().enumerate() {
        check_action(a, &format!("{path}.{action_el}[{i}]"), cx);
    }

    // Resource / NotResource.
    let (resources, not_resource) = match (map.get("Resource"), map.get("NotResource")) {
        (Some(r), None) => (Some(strings(r, &format!("{path}.Resource"), cx)), false),
        (None, Some(r)) => (Some(strings(r, &format!("{path}.NotResource"), cx)), true),
        (Some(_), Some(_)) => {
            cx.malformed(SYNTAX, path);
            (None, false)
        }
        (None, None) => (None, false),
    };
    match (cx.ty, &resources) {
        // Trust policies name no resource: the role is the resource.
        (PolicyType::Trust, Some(_)) => {
            let el = if not_resource {
                "NotResource"
            } else {
                "Resource"
            };
            cx.malformed(format!("Has prohibited field {el}"), path);
        }
        (PolicyType::Trust, None) => {}
        (_, None) => cx.malformed("Policy statement must contain resources.", path),
        (_, Some(list)) => {
            let el = if not_resource {
                "NotResource"
            } else {
                "Resource"
            };
            for (i, r) in list.iter().enumerate() {
                check_resource(r, &format!("{path}.{el}[{i}]"), cx);
            }
        }
    }

    // Principal / NotPrincipal.
    let (principal, not_principal) = match (map.get("Principal"), map.get("NotPrincipal")) {
        (Some(p), None) => (principal_spec(p, &format!("{path}.Principal"), cx), false),
        (None, Some(p)) => (principal_spec(p, &format!("{path}.NotPrincipal"), cx), true),
        (Some(_), Some(_)) => {
            cx.malformed(SYNTAX, path);
            (None, false)
        }
        (None, None) => (None, false),
    };
    let has_principal = map.contains_key("Principal") || map.contains_key("NotPrincipal");
    match cx.ty {
        PolicyType::Identity | PolicyType::Boundary if map.contains_key("Principal") => {
            cx.malformed(
                "Policy document should not specify a principal.",
                format!("{path}.Principal"),
            );
        }
        ty if ty.forbids_principal() && has_principal => {
            let el = if not_principal {
                "NotPrincipal"
            } else {
                "Principal"
            };
            cx.malformed(format!("Has prohibited field {el}"), format!("{path}.{el}"));
        }
        ty if ty.requires_principal() && !has_principal => {
            cx.malformed("Missing required field Principal", path);
        }
        _ => {}
    }
    if cx.ty == PolicyType::Rcp {
        // RCPs: the principal must be "*" (conditions narrow it), NotPrincipal is unsupported,
        // and only the supported services may appear.
        if not_principal || (has_principal && principal != Some(PrincipalSpec::Any)) {
            cx.malformed(ORG_TYPE, format!("{path}.Principal"));
        }
        for a in &actions {
            let vendor = a.split(':').next().unwrap_or("");
            if a != "*" && !RCP_SERVICES.iter().any(|s| s.eq_ignore_ascii_case(vendor)) {
                cx.malformed(ORG_TYPE, format!("{path}.{action_el}"));
            }
        }
    }
    if cx.ty == PolicyType::Trust && !not_action {
        for a in &actions {
            let l = a.to_ascii_lowercase();
            if !(l.starts_with("sts:") || l == "*") {
                cx.malformed(
                    "AssumeRole policy may only specify STS AssumeRole actions.",
                    format!("{path}.Action"),
                );
            }
        }
    }

    let conditions = match map.get("Condition") {
        None => Vec::new(),
        Some(c) => conditions(c, &format!("{path}.Condition"), cx),
    };

    Some(StatementDoc {
        sid,
        effect,
        actions,
        not_action,
        resources,
        not_resource,
        principal,
        not_principal,
        conditions,
    })
}

fn check_action(a: &str, path: &str, cx: &mut Ctx) {
    if a == "*" {
        return;
    }
    match a.split_once(':') {
        None => cx.malformed(VENDOR, path),
        Some((vendor, rest)) => {
            if rest.contains(':') {
                cx.malformed(ONE_COLON, path);
            } else if vendor.is_empty()
                || !vendor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '?')
            {
                cx.malformed(VENDOR, path);
            }
        }
    }
}

fn check_resource(r: &str, path: &str, cx: &mut Ctx) {
    if r == "*" {
        return;
    }
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    if parts.len() < 6 || parts.first() != Some(&"arn") {
        cx.malformed(
            format!("Resource {r} must be in ARN format or \"*\"."),
            path,
        );
        return;
    }
    let partition = parts.get(1).copied().unwrap_or("");
    let wild = partition.contains('*') || partition.contains('?');
    if !wild && !PARTITIONS.contains(&partition) {
        cx.malformed(
            format!("Partition \"{partition}\" is not valid for resource \"{r}\"."),
            path,
        );
    }
}

fn principal_spec(v: &Value, path: &str, cx: &mut Ctx) -> Option<PrincipalSpec> {
    match v {
        Value::String(s) if s == "*" => Some(PrincipalSpec::Any),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (k, vals) in map {
                let ty = match k.as_str() {
                    "AWS" => PrincipalType::Aws,
                    "Service" => PrincipalType::Service,
                    "Federated" => PrincipalType::Federated,
                    "CanonicalUser" => PrincipalType::CanonicalUser,
                    _ => {
                        cx.malformed(format!("Invalid principal in policy: \"{k}\""), path);
                        continue;
                    }
                };
                for s in strings(vals, &format!("{path}.{k}"), cx) {
                    if ty == PrincipalType::Aws && s == "*" {
                        return Some(PrincipalSpec::Any);
                    }
                    if !principal_value_ok(ty, &s) {
                        cx.malformed(
                            format!("Invalid principal in policy: \"{k}\":\"{s}\""),
                            path,
                        );
                    }
                    out.push((ty, s));
                }
            }
            Some(PrincipalSpec::Values(out))
        }
        _ => {
            cx.malformed(SYNTAX, path);
            None
        }
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Principal values IAM accepts: no wildcards except the whole `*`; AWS values are account
/// ids or IAM / STS principal ARNs.
fn principal_value_ok(ty: PrincipalType, s: &str) -> bool {
    if s.is_empty() || s.contains('*') || s.contains('?') {
        return false;
    }
    match ty {
        PrincipalType::Aws => {
            if is_account(s) {
                return true;
            }
            let parts: Vec<&str> = s.splitn(6, ':').collect();
            let [arn, partition, service, region, account, resource] = parts.as_slice() else {
                return false;
            };
            *arn == "arn"
                && PARTITIONS.contains(partition)
                && region.is_empty()
                && is_account(account)
                && match *service {
                    "iam" => {
                        *resource == "root"
                            || resource.starts_with("user/")
                            || resource.starts_with("role/")
                    }
                    "sts" => {
                        resource.starts_with("assumed-role/")
                            || resource.starts_with("federated-user/")
                    }
                    _ => false,
                }
        }
        PrincipalType::CanonicalUser => s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        PrincipalType::Service | PrincipalType::Federated => !s.contains(char::is_whitespace),
    }
}

fn conditions(v: &Value, path: &str, cx: &mut Ctx) -> Vec<(String, String, Vec<String>)> {
    let Value::Object(ops) = v else {
        cx.malformed(SYNTAX, path);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (op, keys) in ops {
        let Some(name) = OperatorName::parse(op) else {
            cx.malformed(
                format!("Invalid Condition type : {op}"),
                format!("{path}.{op}"),
            );
            continue;
        };
        let Value::Object(keys) = keys else {
            cx.malformed(SYNTAX, format!("{path}.{op}"));
            continue;
        };
        for (key, vals) in keys {
            let kp = format!("{path}.{op}.{key}");
            match key.split_once(':') {
                None => cx.malformed(VENDOR, kp.clone()),
                Some(("", _)) => cx.malformed(VENDOR, kp.clone()),
                Some(_) => {}
            }
            let values = condition_values(vals, &kp, cx);
            for val in &values {
                let has_var = val.contains("${");
                if !has_var && !value_is_valid(name.operator, val) {
                    cx.malformed(SYNTAX, kp.clone());
                }
                if name.operator == Operator::Null && has_var {
                    cx.malformed(SYNTAX, kp.clone());
                }
            }
            out.push((op.clone(), key.clone(), values));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str, ty: PolicyType) -> Vec<String> {
        parse(text, ty)
            .findings
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn principal_rules_per_type() {
        let with_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
        assert_eq!(
            messages(with_principal, PolicyType::Identity),
            ["Policy document should not specify a principal."]
        );
        assert_eq!(
            messages(with_principal, PolicyType::Session),
            ["Has prohibited field Principal"]
        );
        assert!(messages(with_principal, PolicyType::Resource).is_empty());
        let without = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
        assert_eq!(
            messages(without, PolicyType::Resource),
            ["Missing required field Principal"]
        );
        assert!(messages(without, PolicyType::Identity).is_empty());
    }

    #[test]
    fn syntax_and_sids() {
        assert_eq!(
            messages("{", PolicyType::Identity),
            ["Syntax errors in policy."]
        );
        let dup = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#;
        assert_eq!(
            messages(dup, PolicyType::Identity),
            ["Statement IDs (SID) in a single policy must be unique."]
        );
        let bad = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a b","Effect":"Allow","Action":"s3","Resource":"bucket"}]}"#;
        let m = messages(bad, PolicyType::Identity);
        assert!(m[0].starts_with("Statement IDs (SID) must be alpha-numeric."));
        assert_eq!(m[1], VENDOR);
        assert_eq!(m[2], "Resource bucket must be in ARN format or \"*\".");
    }

    #[test]
    fn size_limits() {
        let pad = " ".repeat(7000);
        let ok = format!(
            r#"{{"Version":"2012-10-17",{pad}"Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"*"}}}}"#
        );
        assert!(
            messages(&ok, PolicyType::Identity).is_empty(),
            "whitespace is not counted"
        );
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::{}"}}}}"#,
            "a".repeat(6100)
        );
        assert_eq!(
            messages(&big, PolicyType::Identity),
            ["Cannot exceed quota for PolicySize: 6144"]
        );
        let f = check_inline_total(InlineOwner::User, "alice", [big.as_str()]).unwrap();
        assert_eq!(
            f.message,
            "Maximum policy size of 2048 bytes exceeded for user alice"
        );
    }
}
