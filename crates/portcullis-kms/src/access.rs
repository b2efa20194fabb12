//! Authorization of KMS calls. A call is allowed when [`KeyAccess`] allows it under the key
//! policy (with IAM policies where the key policy delegates to the account), or when a grant
//! for the caller covers the operation and its encryption context (as in AWS, a grant needs no
//! policy). Also here: the condition keys KMS passes, AWS managed keys' fixed refusals, and the
//! key policy lockout safety check.
//!
//! The condition keys are built only when the [`KeyAccess`] asks for them
//! ([`AccessRequest::conditions`]): an implementation that looks only at accounts costs a
//! cryptographic call no allocation.

use std::collections::BTreeMap;
use std::time::Instant;

use portcullis_aws::{AwsError, Protocol};
use portcullis_core::RequestContext;
use portcullis_store::BoxFuture;

use crate::record::KeyRecord;
use crate::{Caller, Kms, KmsError, Resolved, grants, managed, usage_str};

/// Authorization of a call against the key policy. The server implements this with the IAM
/// authorizer and the policy engine: it evaluates the key policy, and IAM policies where the
/// key policy delegates to the account.
///
/// Actions that have no key (CreateKey, ListKeys, ListAliases, GenerateRandom,
/// ListRetirableGrants) are asked with the resource `arn:aws:kms:<region>:<account>:*` and an
/// empty key policy: only IAM policies decide those, as in AWS.
pub trait KeyAccess: Send + Sync + 'static {
    /// Ok(()) when the caller may make `request`; Err: the AccessDeniedException to return.
    fn authorize<'a>(
        &'a self,
        request: &'a AccessRequest<'a>,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// What a call asks of [`KeyAccess`]: who, which action on which key under which key policy,
/// and the request's condition keys.
pub struct AccessRequest<'a> {
    kms: &'a Kms,
    caller: &'a Caller<'a>,
    operation: &'a str,
    resource: &'a str,
    resource_account: &'a str,
    key_policy: &'a str,
    key: Option<KeyFacts<'a>>,
    context: Option<&'a BTreeMap<String, String>>,
    extra: Extra<'a>,
}

/// An operation's own condition keys (`kms:EncryptionAlgorithm`, `aws:TagKeys`, ...), as
/// borrowed (name, values) pairs: turned into owned strings only if [`KeyAccess`] asks.
pub(crate) type Extra<'a> = &'a [(&'a str, &'a [&'a str])];

/// The key-derived condition keys of a call on a key.
struct KeyFacts<'a> {
    key: &'a KeyRecord,
    request_alias: Option<&'a str>,
}

impl AccessRequest<'_> {
    /// The authenticated request (principal, region, source address, ...).
    pub fn request_context(&self) -> &RequestContext {
        self.caller.request
    }

    /// The IAM action, `kms:Encrypt`.
    pub fn action(&self) -> String {
        format!("kms:{}", self.operation)
    }

    /// The key's ARN, or `arn:aws:kms:<region>:<account>:*` for an action without a key.
    pub fn resource(&self) -> &str {
        self.resource
    }

    /// The account that owns the resource.
    pub fn resource_account(&self) -> &str {
        self.resource_account
    }

    /// The key policy document; empty for an action without a key.
    pub fn key_policy(&self) -> &str {
        self.key_policy
    }

    /// The request's condition keys: `kms:CallerAccount`; for a key (AWS: "KMS key resource
    /// operations") `kms:KeySpec`, `kms:KeyUsage`, `kms:KeyOrigin`, `kms:MultiRegion`,
    /// `kms:ResourceAliases` (the key's aliases, a set), `kms:RequestAlias` (when the request
    /// named the key by an alias); `kms:ViaService` when a service calls on the principal's
    /// behalf; `kms:EncryptionContext:*` and `kms:EncryptionContextKeys`; and the operation's
    /// own keys (`kms:EncryptionAlgorithm`, `kms:GrantOperations`, ...). The key's aliases may
    /// need a store read, hence async; Err is the error the call should return.
    pub async fn conditions(&self) -> Result<Vec<(String, Vec<String>)>, AwsError> {
        let one = |k: &str, v: &str| (k.to_owned(), vec![v.to_owned()]);
        let mut out = vec![one(
            "kms:CallerAccount",
            self.caller.principal.account.as_str(),
        )];
        if let Some(facts) = &self.key {
            let key = facts.key;
            out.push(one("kms:KeySpec", key.key_spec.as_str()));
            out.push(one("kms:KeyUsage", usage_str(key.key_usage)));
            out.push(one("kms:KeyOrigin", &key.origin));
            out.push(one("kms:MultiRegion", "false"));
            let aliases = self
                .kms
                .alias_map(&key.account, &key.region, Instant::now())
                .await
                .map_err(|e| e.to_aws())?;
            out.push((
                "kms:ResourceAliases".to_owned(),
                aliases.by_key.get(&key.key_id).cloned().unwrap_or_default(),
            ));
            if let Some(alias) = facts.request_alias {
                out.push(one("kms:RequestAlias", alias));
            }
        }
        if let Some(service) = self.caller.via_service {
            out.push(one("kms:ViaService", service));
        }
        if let Some(context) = self.context {
            for (k, v) in context {
                out.push((format!("kms:EncryptionContext:{k}"), vec![v.clone()]));
            }
            out.push((
                "kms:EncryptionContextKeys".to_owned(),
                context.keys().cloned().collect(),
            ));
        }
        out.extend(self.extra.iter().map(|(k, values)| {
            (
                (*k).to_owned(),
                values.iter().map(|v| (*v).to_owned()).collect(),
            )
        }));
        Ok(out)
    }
}

/// Any principal of the key's own account is allowed, every other principal is denied with
/// AWS's AccessDeniedException message (tests and embedding without IAM).
#[derive(Debug, Default, Clone, Copy)]
pub struct AccountOnlyAccess;

impl KeyAccess for AccountOnlyAccess {
    fn authorize<'a>(
        &'a self,
        request: &'a AccessRequest<'a>,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        let ctx = request.request_context();
        if request.resource_account() == ctx.principal.account.as_str() {
            return Box::pin(Allowed);
        }
        let denied = access_denied(ctx, &request.action(), request.resource());
        Box::pin(async move { Err(denied) })
    }
}

/// A future that is ready with `Ok(())`. It has no size, so boxing it allocates nothing: an
/// allowed call through [`AccountOnlyAccess`] costs no heap allocation.
struct Allowed;

impl Future for Allowed {
    type Output = Result<(), AwsError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// AWS's denial for a principal that no policy allows.
pub fn access_denied(ctx: &RequestContext, action: &str, resource: &str) -> AwsError {
    AwsError::access_denied(
        Protocol::AwsJson1_1,
        format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} because no resource-based policy allows the {action} action",
            ctx.principal.arn
        ),
    )
}

impl Kms {
    /// Authorizes `action` (`"Encrypt"`) on `key`: [`KeyAccess`] allows it, or a grant for the
    /// caller covers the operation and the encryption context.
    pub(crate) async fn authorize(
        &self,
        ctx: &Caller<'_>,
        action: &str,
        resolved: &Resolved,
        context: Option<&BTreeMap<String, String>>,
        extra: Extra<'_>,
        grant_tokens: &[String],
    ) -> Result<(), KmsError> {
        self.authorize_with(ctx, action, resolved, context, extra, grant_tokens, true)
            .await
    }

    /// [`Kms::authorize`], where `use_grants` false asks the key policy alone (CreateGrant
    /// beyond what the caller's own grant may pass on).
    #[expect(
        clippy::too_many_arguments,
        reason = "authorize's arguments and the one switch; a struct would only rename them"
    )]
    pub(crate) async fn authorize_with(
        &self,
        ctx: &Caller<'_>,
        action: &str,
        resolved: &Resolved,
        context: Option<&BTreeMap<String, String>>,
        extra: Extra<'_>,
        grant_tokens: &[String],
        use_grants: bool,
    ) -> Result<(), KmsError> {
        grants::check_tokens(grant_tokens)?;
        let key = &resolved.key;
        if key.key_manager == "AWS" && managed::forbidden(action) {
            return Err(KmsError::Denied(access_denied(
                ctx,
                &format!("kms:{action}"),
                &key.arn,
            )));
        }
        let request = AccessRequest {
            kms: self,
            caller: ctx,
            operation: action,
            resource: &key.arn,
            resource_account: &key.account,
            key_policy: &key.policy,
            key: Some(KeyFacts {
                key,
                request_alias: resolved.alias.as_deref(),
            }),
            context,
            extra,
        };
        // A call is allowed when the key policy (with IAM) or a grant allows it; neither can
        // take away what the other gives, so the order only decides the cost. The policy is
        // asked first (in memory); grants are read from the store only for a caller the policy
        // does not allow.
        let denied = match self.access.authorize(&request).await {
            Ok(()) => return Ok(()),
            Err(denied) => denied,
        };
        if use_grants
            && grants::GRANT_OPERATIONS.contains(&action)
            && self.grant_allows(ctx, key, action, context).await?
        {
            return Ok(());
        }
        Err(KmsError::Denied(denied))
    }

    /// Authorizes an action that has no key resource (IAM policies alone decide).
    pub(crate) async fn authorize_account(
        &self,
        ctx: &Caller<'_>,
        action: &str,
        extra: Extra<'_>,
    ) -> Result<(), KmsError> {
        let account = ctx.principal.account.as_str();
        let resource = crate::key_arn(&ctx.region, account, "*");
        let request = AccessRequest {
            kms: self,
            caller: ctx,
            operation: action,
            resource: &resource,
            resource_account: account,
            key_policy: "",
            key: None,
            context: None,
            extra,
        };
        self.access
            .authorize(&request)
            .await
            .map_err(KmsError::Denied)
    }

    /// The key policy lockout safety check of CreateKey and PutKeyPolicy: unless the request
    /// sets `BypassPolicyLockoutSafetyCheck`, `key` with its new policy must allow the caller
    /// to call PutKeyPolicy on it afterwards. The caller is evaluated as for a real request,
    /// so an IAM user or role also needs its IAM policy to allow that where the new key policy
    /// delegates to the account (AWS: "The key policy must allow the calling principal to make
    /// a subsequent PutKeyPolicy request on the KMS key").
    pub(crate) async fn check_policy_lockout(
        &self,
        ctx: &Caller<'_>,
        key: &KeyRecord,
        request_alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let request = AccessRequest {
            kms: self,
            caller: ctx,
            operation: "PutKeyPolicy",
            resource: &key.arn,
            resource_account: &key.account,
            key_policy: &key.policy,
            key: Some(KeyFacts { key, request_alias }),
            context: None,
            extra: &[],
        };
        self.access.authorize(&request).await.map_err(|_| {
            KmsError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future."
                    .to_owned(),
            )
        })
    }
}
