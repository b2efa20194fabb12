//! The IAM API (query protocol, `2010-05-08`): users, groups, roles, policies, credentials.
//!
//! Entry point: [`Iam::call`], one IAM action with its input already decoded and validated
//! against the botocore model by the server front, and already authorized. Each handler
//! returns a JSON value keyed by the output shape's member names; [`Iam::call`] URL-encodes
//! the policy documents in it (IAM returns every `policyDocumentType` URL-encoded, and
//! botocore decodes them) and serialises it with [`portcullis_model::xml::query_response`].
//!
//! The handlers live by area: [`identities`] (users, groups, roles, instance profiles, tags,
//! inline and attached policies, boundaries), [`policies`] (managed policies and versions),
//! [`credentials`] (access keys, passwords, MFA, SSH keys, certificates, service-specific
//! credentials) and [`account`] (alias, password policy, summary, authorization details,
//! credential report, SAML and OIDC providers). Stored shapes are in [`records`].

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Value, json};

use portcullis_aws::AwsError;
use portcullis_core::{AccountId, Clock, RequestContext, iso8601};
use portcullis_model::{ShapeKind, ShapeRef};
use portcullis_store::{MasterKey, Precondition, Store, StoreError, WriteOp};

use crate::{Authenticator, IamError};

mod account;
mod advisor;
mod credentials;
pub use credentials::{PBKDF2_ITERATIONS, hash_password, totp, verify_mfa_code, verify_password};
mod identities;
mod policies;
mod quotas;
pub mod records;
pub use quotas::Quotas;
mod root_access;

use records::{Entity, Tag};

/// IAM's XML namespace.
pub const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The IAM service.
pub struct Iam {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    auth: Arc<Authenticator>,
    clock: Arc<dyn Clock>,
    quotas: Quotas,
}

/// What every handler knows of the call.
pub(crate) struct Cx<'a> {
    /// The caller's account: every entity read or written belongs to it.
    pub account: &'a AccountId,
    /// Now, as AWS's ISO 8601.
    pub now: String,
    /// Now.
    pub at: std::time::SystemTime,
    /// The request.
    pub ctx: &'a RequestContext,
}

impl Cx<'_> {
    pub(crate) fn acct(&self) -> &str {
        self.account.as_str()
    }

    /// `arn:aws:iam::ACCOUNT:{resource}`.
    pub(crate) fn arn(&self, resource: &str) -> String {
        format!("arn:aws:iam::{}:{resource}", self.account.as_str())
    }
}

/// A handler's result: the output value, or the AWS error.
pub(crate) type Out = Result<Value, AwsError>;

impl Iam {
    /// IAM over `store`; secrets sealed under `master`; `auth`'s key cache is told of key changes.
    pub fn new(
        store: Arc<dyn Store>,
        master: Arc<MasterKey>,
        auth: Arc<Authenticator>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            master,
            auth,
            clock,
            quotas: Quotas::default(),
        }
    }

    /// Replaces AWS's default quotas (the server's `[iam.quotas]` configuration).
    #[must_use]
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Serves one IAM action.
    pub async fn call(
        &self,
        ctx: &RequestContext,
        action: &str,
        input: &Value,
    ) -> Result<Response<Bytes>, AwsError> {
        let model = portcullis_model::service("iam").ok_or_else(AwsError::internal_failure)?;
        let op = model
            .operation(action)
            .ok_or_else(|| AwsError::invalid_action(portcullis_aws::Protocol::IAM, action))?;
        let mut output = self.output(ctx, action, input).await?;
        if let Some(shape) = op.output() {
            encode_policy_documents(shape, &mut output, 0);
        }
        let body = portcullis_model::xml::query_response(&op, &ctx.request_id, XMLNS, &output);
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml"),
        );
        if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
            response.headers_mut().insert("x-amzn-RequestId", id);
        }
        Ok(response)
    }

    /// The output value of one action, before serialisation (also what unit tests drive).
    pub async fn output(&self, ctx: &RequestContext, action: &str, input: &Value) -> Out {
        let at = self.clock.now();
        let cx = Cx {
            account: &ctx.principal.account,
            now: iso8601(at),
            at,
            ctx,
        };
        if let Some(out) = self.identities(&cx, action, input).await {
            return out;
        }
        if let Some(out) = self.policies(&cx, action, input).await {
            return out;
        }
        if let Some(out) = self.credentials(&cx, action, input).await {
            return out;
        }
        if let Some(out) = self.account(&cx, action, input).await {
            return out;
        }
        if let Some(out) = self.advisor(&cx, action, input).await {
            return out;
        }
        if let Some(out) = self.root_access(&cx, action).await {
            return out;
        }
        Err(AwsError::not_implemented(&format!("iam:{action}")))
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Applies `ops` atomically; a lost race answers `ConcurrentModification`, as IAM does.
    pub(crate) async fn write(&self, ops: Vec<WriteOp>) -> Result<(), AwsError> {
        match self.store.write(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(concurrent_modification()),
            Err(e) => Err(internal(IamError::Store(e))),
        }
    }

    /// Reads one entity with its version.
    pub(crate) async fn get<T: Entity>(
        &self,
        cx: &Cx<'_>,
        id: &str,
    ) -> Result<Option<(T, i64)>, AwsError> {
        records::load_versioned(&*self.store, cx.acct(), id)
            .await
            .map_err(internal)
    }

    /// Reads one entity or answers `NoSuchEntity` with `missing`'s message.
    pub(crate) async fn must<T: Entity>(
        &self,
        cx: &Cx<'_>,
        id: &str,
        missing: impl FnOnce() -> String,
    ) -> Result<(T, i64), AwsError> {
        self.get(cx, id)
            .await?
            .ok_or_else(|| no_such_entity(missing()))
    }

    /// Every entity of kind `T` in the caller's account under `id_prefix`.
    pub(crate) async fn all<T: Entity>(
        &self,
        cx: &Cx<'_>,
        id_prefix: &str,
    ) -> Result<Vec<T>, AwsError> {
        Ok(records::list_all::<T>(&*self.store, cx.acct(), id_prefix)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    /// Loads, changes and writes back one entity under a version check.
    pub(crate) async fn update<T: Entity>(
        &self,
        cx: &Cx<'_>,
        id: &str,
        missing: impl FnOnce() -> String,
        change: impl FnOnce(&mut T) -> Result<(), AwsError>,
    ) -> Result<T, AwsError> {
        let (mut record, version) = self.must::<T>(cx, id, missing).await?;
        change(&mut record)?;
        self.write(vec![put(cx, &record, Precondition::Version(version))?])
            .await?;
        Ok(record)
    }

    /// Refuses to create a `T` called `name` when the name is taken in the account
    /// (`EntityAlreadyExists`, worded by `taken`). The account's quota for `T` is checked when
    /// the create is written ([`Iam::create_counted`]).
    pub(crate) async fn ensure_creatable<T: Entity>(
        &self,
        cx: &Cx<'_>,
        name: &str,
        taken: impl FnOnce() -> String,
    ) -> Result<(), AwsError> {
        if self.get::<T>(cx, &records::name_key(name)).await?.is_some() {
            return Err(already_exists(taken()));
        }
        Ok(())
    }
}

/// A put of `record` in the caller's account.
pub(crate) fn put<T: Entity>(
    cx: &Cx<'_>,
    record: &T,
    precondition: Precondition,
) -> Result<WriteOp, AwsError> {
    let value = serde_json::to_value(record)
        .map_err(|e| internal(IamError::corrupt(T::KIND, &record.store_id(), e)))?;
    Ok(WriteOp::put(
        T::KIND,
        cx.acct(),
        record.store_id(),
        value,
        precondition,
    ))
}

/// A delete of `T` `id` in the caller's account at `version`.
pub(crate) fn delete<T: Entity>(cx: &Cx<'_>, id: &str, version: i64) -> WriteOp {
    WriteOp::delete(T::KIND, cx.acct(), id, Precondition::Version(version))
}

/// An IAM error (query protocol, `Sender` fault for 4xx).
pub(crate) fn err(code: &'static str, status: u16, message: impl Into<String>) -> AwsError {
    AwsError::new(
        code,
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        message,
    )
}

/// `ConcurrentModification` (409): another request changed the same object first.
pub(crate) fn concurrent_modification() -> AwsError {
    err(
        "ConcurrentModification",
        409,
        "The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again.",
    )
}

/// `NoSuchEntity` (404).
pub(crate) fn no_such_entity(message: impl Into<String>) -> AwsError {
    err("NoSuchEntity", 404, message)
}

/// `EntityAlreadyExists` (409).
pub(crate) fn already_exists(message: impl Into<String>) -> AwsError {
    err("EntityAlreadyExists", 409, message)
}

/// `DeleteConflict` (409).
pub(crate) fn delete_conflict(message: impl Into<String>) -> AwsError {
    err("DeleteConflict", 409, message)
}

/// `LimitExceeded` (409).
pub(crate) fn limit_exceeded(message: impl Into<String>) -> AwsError {
    err("LimitExceeded", 409, message)
}

/// `InvalidInput` (400).
pub(crate) fn invalid_input(message: impl Into<String>) -> AwsError {
    err("InvalidInput", 400, message)
}

/// `LimitExceeded` for an AWS quota, worded as IAM words it.
pub(crate) fn quota(name: &str, limit: usize) -> AwsError {
    limit_exceeded(format!("Cannot exceed quota for {name}: {limit}"))
}

/// An internal failure; the cause goes to the log, never to the caller.
pub(crate) fn internal(e: IamError) -> AwsError {
    tracing::error!(error = %e, "iam: internal failure");
    AwsError::internal_failure()
}

/// A required string member (the front has checked presence; a missing one is still an error,
/// never a panic).
pub(crate) fn req<'a>(input: &'a Value, name: &str) -> Result<&'a str, AwsError> {
    input.get(name).and_then(Value::as_str).ok_or_else(|| {
        AwsError::validation(
            portcullis_aws::Protocol::IAM,
            format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name)),
        )
    })
}

/// An optional string member.
pub(crate) fn opt<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

/// An optional integer member.
pub(crate) fn opt_i64(input: &Value, name: &str) -> Option<i64> {
    input.get(name).and_then(Value::as_i64)
}

/// An optional boolean member.
pub(crate) fn opt_bool(input: &Value, name: &str) -> Option<bool> {
    input.get(name).and_then(Value::as_bool)
}

/// A list of strings member (empty when absent).
pub(crate) fn strings(input: &Value, name: &str) -> Vec<String> {
    input
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// The `Path` member, `/` by default.
pub(crate) fn path_of(input: &Value) -> String {
    opt(input, "Path").unwrap_or("/").to_owned()
}

/// A path prefix filter (`PathPrefix`, `/` by default).
pub(crate) fn path_matches(path: &str, input: &Value) -> bool {
    path.starts_with(opt(input, "PathPrefix").unwrap_or("/"))
}

/// One page of `items` (each with its sort key, already in order) after `Marker`, at most
/// `MaxItems` (100 by default), as `{list_name: [...], IsTruncated, Marker}`.
pub(crate) fn paginate(list_name: &str, items: Vec<(String, Value)>, input: &Value) -> Value {
    let max = opt_i64(input, "MaxItems")
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m > 0)
        .unwrap_or(100);
    let marker = opt(input, "Marker");
    let mut rest = items
        .into_iter()
        .filter(|(key, _)| marker.is_none_or(|m| key.as_str() > m))
        .peekable();
    let mut page = Vec::new();
    let mut last = None;
    while page.len() < max {
        let Some((key, value)) = rest.next() else {
            break;
        };
        last = Some(key);
        page.push(value);
    }
    let truncated = rest.peek().is_some();
    let mut out = Map::new();
    out.insert(list_name.to_owned(), Value::Array(page));
    out.insert("IsTruncated".to_owned(), Value::Bool(truncated));
    if truncated && let Some(last) = last {
        out.insert("Marker".to_owned(), Value::String(last));
    }
    Value::Object(out)
}

/// The `Tags` member, checked against IAM's tag rules.
pub(crate) fn input_tags(input: &Value) -> Result<Vec<Tag>, AwsError> {
    let tags: Vec<Tag> = input
        .get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| Tag {
                    key: opt(t, "Key").unwrap_or_default().to_owned(),
                    value: opt(t, "Value").unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    check_new_tags(&tags)?;
    Ok(tags)
}

/// IAM's tag rules for the tags of one request (IAM User Guide, "Tagging IAM resources"):
/// keys are unique without regard to case, and the `aws:` prefix is reserved.
fn check_new_tags(tags: &[Tag]) -> Result<(), AwsError> {
    for (i, t) in tags.iter().enumerate() {
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_input(
                "User is not authorized to tag or untag with the aws: prefix in the tag key.",
            ));
        }
        if tags
            .iter()
            .skip(i + 1)
            .any(|o| o.key.eq_ignore_ascii_case(&t.key))
        {
            return Err(invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(())
}

/// At most 50 tags per IAM resource.
pub(crate) const MAX_TAGS: usize = 50;

fn too_many_tags() -> AwsError {
    limit_exceeded("The number of tags has reached the maximum limit.")
}

/// Merges `new` into `tags` (a key equal without regard to case is replaced).
pub(crate) fn merge_tags(tags: &mut Vec<Tag>, new: Vec<Tag>) -> Result<(), AwsError> {
    for t in new {
        match tags.iter_mut().find(|o| o.key.eq_ignore_ascii_case(&t.key)) {
            Some(old) => *old = t,
            None => tags.push(t),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(())
}

/// Removes the tags named by `TagKeys`.
pub(crate) fn remove_tags(tags: &mut Vec<Tag>, input: &Value) -> Result<(), AwsError> {
    let keys = strings(input, "TagKeys");
    if keys
        .iter()
        .any(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(invalid_input(
            "User is not authorized to tag or untag with the aws: prefix in the tag key.",
        ));
    }
    tags.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
    Ok(())
}

/// Tags as IAM's `Tags` list value.
pub(crate) fn tags_value(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect(),
    )
}

/// `ListXTags` output over a resource's tags (paginated).
pub(crate) fn list_tags(tags: &[Tag], input: &Value) -> Value {
    let items = tags
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("{i:05}"), json!({"Key": t.key, "Value": t.value})))
        .collect();
    paginate("Tags", items, input)
}

/// Validates a policy document as IAM does for `ty`; `inline` skips the per-document managed
/// size quota (inline policies have an aggregate quota per entity instead).
pub(crate) fn check_policy(
    text: &str,
    ty: portcullis_policy::PolicyType,
    inline: bool,
) -> Result<(), AwsError> {
    let parsed = portcullis_policy::parse(text, ty);
    let finding = parsed
        .findings
        .into_iter()
        .find(|f| !(inline && f.code == portcullis_policy::FindingCode::LimitExceeded));
    match finding {
        None => Ok(()),
        Some(f) => Err(match f.code {
            portcullis_policy::FindingCode::LimitExceeded => limit_exceeded(f.message),
            portcullis_policy::FindingCode::ValidationError => {
                AwsError::validation(portcullis_aws::Protocol::IAM, f.message)
            }
            portcullis_policy::FindingCode::MalformedPolicyDocument
            | portcullis_policy::FindingCode::ConstraintViolation => {
                err("MalformedPolicyDocument", 400, f.message)
            }
        }),
    }
}

/// URL-encodes every `policyDocumentType` string of `value` (IAM's wire form of documents).
fn encode_policy_documents(shape: ShapeRef<'_>, value: &mut Value, depth: usize) {
    if depth > 32 {
        return;
    }
    match (shape.shape.kind, value) {
        (ShapeKind::Structure { .. }, Value::Object(obj)) => {
            for member in shape.members() {
                let Some(v) = obj.get_mut(member.name) else {
                    continue;
                };
                let Some(ms) = shape.member_shape(member) else {
                    continue;
                };
                if ms.name() == "policyDocumentType" {
                    if let Value::String(s) = v {
                        *s = url_encode(s);
                    }
                } else {
                    encode_policy_documents(ms, v, depth + 1);
                }
            }
        }
        (ShapeKind::List { member, .. }, Value::Array(items)) => {
            if let Some(ms) = shape.resolve(member) {
                for item in items {
                    encode_policy_documents(ms, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters, as IAM encodes
/// documents (Python's `urllib.parse.unquote` reverses it).
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sets `key` of the output object `v` (a no-op on a non-object, where indexing would panic).
pub(crate) fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(obj) = v.as_object_mut() {
        obj.insert(key.to_owned(), value);
    }
}

/// A unique id with `prefix`.
pub(crate) fn new_id(prefix: &str) -> String {
    portcullis_core::id::unique_id(prefix)
}

#[cfg(test)]
mod tests;
