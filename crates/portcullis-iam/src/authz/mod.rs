//! Authorization of every API call: gathers the policies that apply to a request and asks the
//! policy engine (`portcullis-policy`) for AWS's decision.
//!
//! - [`table`]: per service, the declarative row of every operation (action, resource,
//!   context keys).
//! - [`Authorizer::authorize`]: the front's check before every dispatch. The root user is
//!   allowed everything in its own account; every other principal is decided by the engine
//!   over its identity policies (user + groups, or role), permissions boundary, session
//!   policies and the organization's service control policies ([`ServiceControlPolicies`]).
//! - [`Authorizer::authorize_with_resource_policy`]: the same with a resource-based policy
//!   (KMS key policies), for services that hold their own resource policies.
//! - [`Authorizer::invalidate`]: compiled policy sets are cached per principal and dropped
//!   when IAM changes anything (one generation counter shared with the [`Authenticator`]).
//!
//! Denials are AWS's `AccessDenied` (query, 403) / `AccessDeniedException` (JSON) with the
//! engine's message, followed by an encoded authorization message that principals allowed
//! `sts:DecodeAuthorizationMessage` in the same account can decode.

pub mod simulate;
pub mod table;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};
use time::OffsetDateTime;

use portcullis_aws::{AwsError, Protocol};
use portcullis_core::{AccountId, Clock, PrincipalKind as CoreKind, RequestContext};
use portcullis_policy::{
    Context, ContextValue, Decision, Policy, PolicyType, PrincipalPolicies, Request,
    RequestPrincipal, ResourcePolicies, ResourcePolicyKind, evaluate,
};
use portcullis_store::{BoxFuture, MasterKey, Store};

use crate::iam::records::{self, Tag};
use crate::sessions::{SessionKind, SessionRecord};
use crate::usage::Usage;
use crate::{Authenticator, IamError};
use table::{Key, Res, Rule};

/// Service control policies of an account's organization: the hook the Organizations service
/// implements. Today no organization exists, and [`NoOrganizations`] answers for every account.
pub trait ServiceControlPolicies: Send + Sync + 'static {
    /// The SCPs that apply to principals of `account`, one entry per level from the
    /// organization root down to the account; `None` when the account is in no organization.
    fn levels<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>>;

    /// The RCPs that apply to resources of `account`, one entry per level; `None` when the
    /// account is in no organization or RCPs are not enabled.
    fn rcp_levels<'a>(
        &'a self,
        _account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        Box::pin(async { Ok(None) })
    }

    /// Where `account` sits in its organization (`aws:PrincipalOrgID`, `aws:ResourceOrgPaths`,
    /// ...); `None` outside one.
    fn membership<'a>(
        &'a self,
        _account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<OrgMembership>, IamError>> {
        Box::pin(async { Ok(None) })
    }
}

/// An account's organization and its path there, for the org condition keys.
#[derive(Debug, Clone)]
pub struct OrgMembership {
    /// `o-...`.
    pub organization_id: String,
    /// `o-.../r-.../ou-.../`: the root and OUs above the account.
    pub path: String,
}

/// The SCP levels of an account.
#[derive(Debug, Clone, Default)]
pub struct ScpLevels {
    /// Levels from the organization root down to the account; every level must allow.
    pub levels: Vec<Vec<Policy>>,
    /// The account is the organization's management account: SCPs do not restrict it.
    pub management_account: bool,
}

/// No account is in an organization.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOrganizations;

impl ServiceControlPolicies for NoOrganizations {
    fn levels<'a>(
        &'a self,
        _account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        Box::pin(async { Ok(None) })
    }
}

/// The organization answers per account, kept until the next change: Organizations calls
/// [`Authorizer::invalidate`] after every change, so the generation counter that guards the
/// principals' policy sets guards these too, and the common path reads no storage.
struct CachedOrganizations {
    inner: Arc<dyn ServiceControlPolicies>,
    auth: Arc<Authenticator>,
    levels: OrgCache<ScpLevels>,
    rcp_levels: OrgCache<ScpLevels>,
    membership: OrgCache<OrgMembership>,
}

type OrgCache<T> = RwLock<HashMap<AccountId, (u64, Option<T>)>>;

impl CachedOrganizations {
    async fn cached<'a, T: Clone>(
        &'a self,
        cache: &OrgCache<T>,
        account: &'a AccountId,
        load: impl FnOnce() -> BoxFuture<'a, Result<Option<T>, IamError>>,
    ) -> Result<Option<T>, IamError> {
        let generation = self.auth.generation();
        if let Some((g, hit)) = cache.read().ok().and_then(|m| m.get(account).cloned())
            && g == generation
        {
            return Ok(hit);
        }
        let value = load().await?;
        if let Ok(mut map) = cache.write() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(account.clone(), (generation, value.clone()));
        }
        Ok(value)
    }
}

impl ServiceControlPolicies for CachedOrganizations {
    fn levels<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        Box::pin(self.cached(&self.levels, account, || self.inner.levels(account)))
    }

    fn rcp_levels<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        Box::pin(self.cached(&self.rcp_levels, account, || self.inner.rcp_levels(account)))
    }

    fn membership<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<OrgMembership>, IamError>> {
        Box::pin(self.cached(&self.membership, account, || self.inner.membership(account)))
    }
}

/// What a principal's policies compile to, cached per principal.
#[derive(Debug)]
pub(crate) struct Compiled {
    generation: u64,
    /// The ARN of the principal compiled (the cache key is its access key id).
    arn: String,
    /// The policy sets the engine evaluates.
    pub(crate) policies: PrincipalPolicies,
    /// The principal as the engine sees it (a role session carries its role's real ARN).
    pub(crate) principal: RequestPrincipal,
    /// The context keys that depend on the principal only.
    pub(crate) context: Context,
    /// `context` with the keys of the last request's second and origin
    /// ([`Authorizer::origin_context`]): requests of the same second, from the same address,
    /// transport and region, start from a clone of it.
    at: RwLock<Option<(Origin, Context)>>,
}

/// What the request-dependent but principal-independent keys derive from.
type Origin = (i64, std::net::IpAddr, bool, String);

impl Compiled {
    /// The principal's context with the keys of `ctx`'s moment and origin.
    fn context_at(&self, authz: &Authorizer, ctx: &RequestContext) -> Context {
        let second = epoch(ctx.received_at);
        let same = |(s, ip, tls, region): &Origin| {
            *s == second
                && *ip == ctx.source_ip
                && *tls == ctx.secure_transport
                && *region == ctx.region
        };
        if let Some(hit) = self.at.read().ok().and_then(|at| {
            at.as_ref()
                .filter(|(origin, _)| same(origin))
                .map(|(_, context)| context.clone())
        }) {
            return hit;
        }
        let context = authz.origin_context(&self.context, ctx);
        if let Ok(mut at) = self.at.write() {
            let origin = (
                second,
                ctx.source_ip,
                ctx.secure_transport,
                ctx.region.clone(),
            );
            *at = Some((origin, context.clone()));
        }
        context
    }
}

/// An IAM user or role whose policies principals act with.
#[derive(Debug, Clone, Copy)]
enum Holder {
    User,
    Role,
}

/// The compiled policies of one IAM user (with its groups') or role.
#[derive(Debug, Default)]
struct HeldPolicies {
    /// Inline and managed identity policies (cheap to clone: policies are shared).
    identity: Vec<Policy>,
    /// The permissions boundary.
    boundary: Option<Policy>,
    /// The entity's tags (`aws:PrincipalTag/*`).
    tags: Vec<Tag>,
    /// A role's ARN (with its path) and whether it is service-linked.
    role: Option<(String, bool)>,
}

impl HeldPolicies {
    /// Puts these policies and tags into a principal's set.
    fn apply(&self, policies: &mut PrincipalPolicies, tags: &mut BTreeMap<String, String>) {
        policies.identity.extend(self.identity.iter().cloned());
        policies.boundary.clone_from(&self.boundary);
        tags.extend(self.tags.iter().map(|t| (t.key.clone(), t.value.clone())));
    }
}

/// Facts about an IAM entity a request acts on, cached like principals.
#[derive(Debug, Clone, Default)]
struct EntityFacts {
    path: Option<String>,
    tags: Vec<Tag>,
    boundary: Option<String>,
}

/// The resource of one request, resolved from its row and input.
#[derive(Debug, Default)]
struct Resolved {
    arn: String,
    tags: Vec<Tag>,
    boundary: Option<String>,
}

/// Users' and roles' compiled policies by `Holder|account|name`, with the IAM generation.
type HeldCache = RwLock<HashMap<String, (u64, Option<Arc<HeldPolicies>>)>>;

/// Decides whether a principal may make a call.
pub struct Authorizer {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    auth: Arc<Authenticator>,
    clock: Arc<dyn Clock>,
    scps: Arc<dyn ServiceControlPolicies>,
    principals: RwLock<HashMap<String, Arc<Compiled>>>,
    held: HeldCache,
    entities: RwLock<HashMap<String, (u64, EntityFacts)>>,
    time: RwLock<Option<(i64, ContextValue, ContextValue)>>,
    usage: Arc<Usage>,
    /// Resource policies (KMS key policies) as last parsed, by resource ARN, with their text:
    /// a policy is parsed again only when its text changes.
    resource_policies: RwLock<HashMap<String, (String, Policy)>>,
}

/// How many parsed resource policies the authorizer keeps.
const MAX_RESOURCE_POLICIES: usize = 10_000;

impl Authorizer {
    /// An authorizer reading entities and policies from `store`; encoded authorization
    /// messages and session secrets are sealed under `master`; `auth` holds the generation
    /// counter that IAM changes bump ([`Authenticator::invalidate`]).
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
            scps: Arc::new(NoOrganizations),
            principals: RwLock::new(HashMap::new()),
            held: RwLock::new(HashMap::new()),
            entities: RwLock::new(HashMap::new()),
            resource_policies: RwLock::new(HashMap::new()),
            time: RwLock::new(None),
            usage: Arc::new(Usage::default()),
        }
    }

    /// Plugs in the organization's service control policies.
    #[must_use]
    pub fn with_service_control_policies(mut self, scps: Arc<dyn ServiceControlPolicies>) -> Self {
        self.scps = Arc::new(CachedOrganizations {
            inner: scps,
            auth: self.auth.clone(),
            levels: RwLock::new(HashMap::new()),
            rcp_levels: RwLock::new(HashMap::new()),
            membership: RwLock::new(HashMap::new()),
        });
        self
    }

    /// Drops every cached policy set, so that an IAM change (policy, attachment, membership,
    /// boundary, tags, role trust) takes effect on the next request. The same as
    /// [`Authenticator::invalidate`]; the account is accepted for a finer cache later.
    pub fn invalidate(&self, account: &AccountId) {
        self.auth.invalidate(account);
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn auth(&self) -> &Arc<Authenticator> {
        &self.auth
    }

    /// The usage data noted by authorization (attempts per user, role, service and action)
    /// and by the server (access key uses), which the server flushes to the store.
    pub fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }

    /// Ok when `ctx.principal` may call `service:operation` with `input` (decoded and validated);
    /// otherwise the AccessDenied error of the service's protocol.
    pub async fn authorize(
        &self,
        ctx: &RequestContext,
        service: &str,
        operation: &str,
        input: &Value,
    ) -> Result<(), AwsError> {
        let protocol = protocol_of(service);
        let fallback;
        let rule = match table::table(service) {
            // KMS authorizes every call itself, against the key policy.
            Some([]) => {
                let action = format!("{service}:{operation}");
                self.usage
                    .note_attempt(&ctx.principal, &action, &ctx.region, ctx.received_at);
                return Ok(());
            }
            Some(rows) => match rows.iter().find(|r| r.operation == operation) {
                Some(rule) => rule,
                None => return Err(AwsError::access_denied(protocol, "Unknown operation")),
            },
            None => {
                fallback = Rule {
                    operation: "",
                    action: "",
                    resource: Res::Any,
                    keys: &[],
                };
                &fallback
            }
        };
        let action: Cow<'static, str> = if rule.action.is_empty() {
            Cow::Owned(format!("{service}:{operation}"))
        } else {
            Cow::Borrowed(rule.action)
        };
        // Every authenticated attempt counts for the access advisor, allowed or not.
        self.usage
            .note_attempt(&ctx.principal, &action, &ctx.region, ctx.received_at);
        if matches!(rule.resource, Res::Free | Res::Deferred) {
            return Ok(());
        }
        // Boxed: resolving the resource and evaluating policies makes a future of kilobytes,
        // which would otherwise be part of every request's future (and copied with it), even
        // of the calls that need no decision.
        Box::pin(self.authorize_on_resource(ctx, protocol, rule, &action, input)).await
    }

    /// [`Self::authorize`] for a call whose rule names a resource: resolve it, decide, and
    /// check `iam:PassRole` for the roles the call passes.
    async fn authorize_on_resource(
        &self,
        ctx: &RequestContext,
        protocol: Protocol,
        rule: &Rule,
        action: &str,
        input: &Value,
    ) -> Result<(), AwsError> {
        let resolved = self.resolve(ctx, rule, input).await.map_err(internal)?;
        let mut extra = Vec::new();
        rule_context(rule, input, &resolved, &mut extra);
        self.decide(
            ctx,
            protocol,
            action,
            &resolved.arn,
            &resolved.tags,
            &extra,
            None,
        )
        .await?;
        // Passing a role to a service needs iam:PassRole on it (IAM User Guide, "Granting a
        // user permissions to pass a role to an AWS service").
        for key in rule.keys {
            if let Key::PassRole(member, to_service) = key
                && let Some(role_arn) = input.get(member).and_then(Value::as_str)
            {
                let extra = vec![(
                    "iam:PassedToService".to_owned(),
                    ContextValue::string(*to_service),
                )];
                self.decide(ctx, protocol, "iam:PassRole", role_arn, &[], &extra, None)
                    .await?;
            }
        }
        Ok(())
    }

    /// `text`, the resource policy of `arn` (a key policy, a role's trust policy), parsed
    /// (once for as long as it does not change).
    pub(crate) fn resource_policy(
        &self,
        arn: &str,
        text: &str,
        kind: PolicyType,
    ) -> Result<Policy, AwsError> {
        let cached = self.resource_policies.read().ok().and_then(|cache| {
            cache
                .get(arn)
                .filter(|(known, _)| known == text)
                .map(|(_, policy)| policy.clone())
        });
        if let Some(policy) = cached {
            return Ok(policy);
        }
        let policy = Policy::parse(arn, text, kind).map_err(|_| AwsError::internal_failure())?;
        if let Ok(mut cache) = self.resource_policies.write() {
            if cache.len() >= MAX_RESOURCE_POLICIES {
                cache.clear();
            }
            cache.insert(arn.to_owned(), (text.to_owned(), policy.clone()));
        }
        Ok(policy)
    }

    /// Authorizes `action` on a resource that has a resource-based policy: a KMS key and its
    /// key policy (empty: no key, IAM policies alone decide). IAM policies count only where
    /// the key policy delegates to the account, as AWS evaluates key policies. `extra_context`
    /// carries the service's condition keys (`kms:EncryptionContext:*`, ...).
    pub async fn authorize_with_resource_policy(
        &self,
        ctx: &RequestContext,
        action: &str,
        resource_arn: &str,
        resource_policy_json: &str,
        extra_context: &[(String, Vec<String>)],
    ) -> Result<(), AwsError> {
        let service = action.split(':').next().unwrap_or_default();
        let protocol = protocol_of(service);
        let extra: Vec<(String, ContextValue)> = extra_context
            .iter()
            .map(|(k, v)| {
                // Multivalued keys (kms:EncryptionContextKeys, kms:GrantOperations,
                // kms:ResourceAliases, aws:TagKeys) stay sets even with one value, so that
                // ForAnyValue/ForAllValues conditions see them as AWS sends them.
                let multivalued = ["Keys", "Operations", "Aliases"]
                    .iter()
                    .any(|suffix| k.ends_with(suffix));
                let value = if v.len() == 1 && !multivalued {
                    ContextValue::string(v.first().cloned().unwrap_or_default())
                } else {
                    ContextValue::strings(v.iter().cloned())
                };
                (k.clone(), value)
            })
            .collect();
        let owner = resource_arn
            .split(':')
            .nth(4)
            .unwrap_or_default()
            .to_owned();
        let resource = if resource_policy_json.trim().is_empty() {
            None
        } else {
            let kind = if service == "kms" {
                (ResourcePolicyKind::Key, PolicyType::Key)
            } else {
                (ResourcePolicyKind::Resource, PolicyType::Resource)
            };
            let policy = self.resource_policy(resource_arn, resource_policy_json, kind.1)?;
            Some(ResourcePolicies {
                owner_account: owner,
                policy: Some(policy),
                kind: kind.0,
                rcp_levels: Vec::new(),
                management_account: false,
            })
        };
        self.decide(
            ctx,
            protocol,
            action,
            resource_arn,
            &[],
            &extra,
            resource.as_ref(),
        )
        .await
    }

    /// The engine's decision for one request by `ctx.principal`, as an error when denied.
    #[expect(
        clippy::too_many_arguments,
        reason = "one request's facts, passed through once"
    )]
    pub(crate) async fn decide(
        &self,
        ctx: &RequestContext,
        protocol: Protocol,
        action: &str,
        resource: &str,
        resource_tags: &[Tag],
        extra: &[(String, ContextValue)],
        resource_policies: Option<&ResourcePolicies>,
    ) -> Result<(), AwsError> {
        let principal = &ctx.principal;
        let own_account = resource_in_account(resource, principal.account.as_str());
        let scps = self
            .scps
            .levels(&principal.account)
            .await
            .map_err(internal)?;
        // Organizations: the org context keys, and the RCPs of the resource's account.
        let org = crate::orgs::org_context(&*self.scps, &principal.account, resource);
        let org = org.await.map_err(internal)?;
        let joined;
        let extra = if org.is_empty() {
            extra
        } else {
            joined = [extra, &org].concat();
            &joined
        };
        let rcps = crate::orgs::with_rcps(
            &*self.scps,
            action,
            resource,
            &principal.account,
            resource_policies,
        );
        let rcps = rcps.await.map_err(internal)?;
        let resource_policies = rcps.as_ref().or(resource_policies);
        // The root user may do everything in its own account; only SCPs restrict a member
        // account's root (IAM User Guide, "AWS account root user"). Root sessions (temporary
        // credentials: AssumeRoot's task policy) go the general way, with their session policy.
        if principal.kind == CoreKind::Root
            && own_account
            && resource_policies.is_none()
            && principal.token_issued_at.is_none()
        {
            let Some(scps) = scps.filter(|s| !s.management_account) else {
                return Ok(());
            };
            let set = PrincipalPolicies {
                scp_levels: scps.levels,
                identity: allow_all().into_iter().collect(),
                ..Default::default()
            };
            let base =
                principal_context(&ctx.principal, &root_principal(ctx), &BTreeMap::new(), None);
            let request = self.request(
                &root_principal(ctx),
                self.origin_context(&base, ctx),
                action,
                resource,
                resource_tags,
                extra,
            );
            return self.verdict(ctx, protocol, &evaluate(&set, None, &request), &request);
        }
        let compiled = self.compiled(ctx).await.map_err(internal)?;
        let mut set_override;
        let set = match scps {
            Some(scps) => {
                set_override = PrincipalPolicies {
                    scp_levels: scps.levels,
                    management_account: scps.management_account,
                    ..compiled.policies.clone()
                };
                if principal.kind == CoreKind::Root {
                    set_override.identity = allow_all().into_iter().collect();
                }
                &set_override
            }
            None => &compiled.policies,
        };
        let request = self.request(
            &compiled.principal,
            compiled.context_at(self, ctx),
            action,
            resource,
            resource_tags,
            extra,
        );
        let decision = evaluate(set, resource_policies, &request);
        self.verdict(ctx, protocol, &decision, &request)
    }

    fn verdict(
        &self,
        ctx: &RequestContext,
        protocol: Protocol,
        decision: &Decision<'_>,
        request: &Request,
    ) -> Result<(), AwsError> {
        let Some(message) = decision.access_denied_message(request) else {
            return Ok(());
        };
        let encoded = self.encode_message(ctx, decision, request);
        Err(AwsError::access_denied(
            protocol,
            format!("{message}. Encoded authorization failure message: {encoded}"),
        ))
    }

    /// The engine request: principal, action, resource and every context key; `context`
    /// holds the keys of the principal and of the request's moment and origin
    /// ([`Authorizer::origin_context`]), to which the resource's tags and the row's keys are
    /// added.
    pub(crate) fn request(
        &self,
        principal: &RequestPrincipal,
        mut context: Context,
        action: &str,
        resource: &str,
        resource_tags: &[Tag],
        extra: &[(String, ContextValue)],
    ) -> Request {
        resource_context(&mut context, resource_tags, extra);
        Request::with_whole_context(principal.clone(), action, resource, context)
    }

    /// `base` (the keys that depend on the principal only, [`principal_context`]) with the
    /// keys of the request's moment and origin: `aws:CurrentTime`, `aws:EpochTime`,
    /// `aws:SourceIp`, `aws:SecureTransport`, `aws:RequestedRegion`, `aws:MultiFactorAuthAge`.
    pub(crate) fn origin_context(&self, base: &Context, ctx: &RequestContext) -> Context {
        let mut context = base.clone();
        let (current_time, epoch_time) = self.time_keys(ctx.received_at);
        context.insert("aws:CurrentTime", current_time);
        context.insert("aws:EpochTime", epoch_time);
        origin_keys(&mut context, ctx);
        context
    }

    /// `aws:CurrentTime` and `aws:EpochTime`, which change once a second: built once a second.
    fn time_keys(&self, at: SystemTime) -> (ContextValue, ContextValue) {
        let second = epoch(at);
        if let Some((s, current, epoch)) = self.time.read().ok().and_then(|t| t.clone())
            && s == second
        {
            return (current, epoch);
        }
        let current = ContextValue::date(odt(at));
        let epoch = ContextValue::number(second as f64);
        if let Ok(mut t) = self.time.write() {
            *t = Some((second, current.clone(), epoch.clone()));
        }
        (current, epoch)
    }

    /// The compiled policy set of the request's principal, from the cache when IAM has not
    /// changed since it was compiled.
    pub(crate) async fn compiled(&self, ctx: &RequestContext) -> Result<Arc<Compiled>, IamError> {
        let generation = self.auth.generation();
        // Access key ids are unique and never reused, so they key the cache; the ARN check
        // guards against a key whose owner changed under the same id.
        let key = ctx.principal.access_key_id.as_str();
        if let Some(hit) = self
            .principals
            .read()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .filter(|c| c.generation == generation && c.arn == ctx.principal.arn.as_str())
        {
            return Ok(hit);
        }
        let compiled = Arc::new(self.compile(ctx, generation).await?);
        if let Ok(mut map) = self.principals.write() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(key.to_owned(), compiled.clone());
        }
        Ok(compiled)
    }

    async fn compile(&self, ctx: &RequestContext, generation: u64) -> Result<Compiled, IamError> {
        let principal = &ctx.principal;
        let account = &principal.account;
        let session = if principal
            .access_key_id
            .starts_with(portcullis_core::id::prefix::TEMPORARY_ACCESS_KEY)
        {
            // Authentication has just verified the session; without it the session policies
            // would not apply, so its absence is an error, never a wider grant.
            let session = self.auth.session(&principal.access_key_id).await?;
            Some(session.ok_or_else(|| {
                IamError::corrupt(
                    crate::sessions::TOKEN_KIND,
                    &principal.access_key_id,
                    "the session is no longer known to this node",
                )
            })?)
        } else {
            None
        };
        let mut request_principal = RequestPrincipal::from_arn(principal.arn.as_str())
            .unwrap_or_else(|| RequestPrincipal {
                arn: principal.arn.as_str().to_owned(),
                account: account.as_str().to_owned(),
                kind: portcullis_policy::PrincipalKind::User,
                role_arn: None,
                service_linked_role: false,
            });
        let mut policies = PrincipalPolicies::default();
        let mut tags = BTreeMap::new();
        let base = session.as_ref().map(|s| &s.kind);
        match (principal.kind, base) {
            (CoreKind::AssumedRole, Some(SessionKind::Role { role_name, .. })) => {
                if let Some(held) = self
                    .held(Holder::Role, account, role_name, generation)
                    .await?
                {
                    request_principal.role_arn = held.role.as_ref().map(|(arn, _)| arn.clone());
                    request_principal.service_linked_role =
                        held.role.as_ref().is_some_and(|(_, linked)| *linked);
                    held.apply(&mut policies, &mut tags);
                }
            }
            (CoreKind::IamUser | CoreKind::FederatedUser, _) => {
                let name = match base {
                    Some(SessionKind::Federated {
                        user_name: Some(user),
                        ..
                    }) => Some(user.clone()),
                    Some(SessionKind::Federated {
                        user_name: None, ..
                    }) => None,
                    _ => principal.user_name().map(str::to_owned),
                };
                if let Some(name) = name {
                    if let Some(held) = self.held(Holder::User, account, &name, generation).await? {
                        held.apply(&mut policies, &mut tags);
                    }
                } else {
                    // A federated session of the root user: the root's permissions.
                    policies.identity.extend(allow_all());
                }
            }
            (CoreKind::Root, _) => policies.identity.extend(allow_all()),
            _ => {}
        }
        if let Some(session) = &session {
            if matches!(
                session.kind,
                SessionKind::Role { .. } | SessionKind::Federated { .. } | SessionKind::Root { .. }
            ) {
                if let Some(text) = &session.policy {
                    push(
                        &mut policies.session,
                        "session-policy",
                        text,
                        PolicyType::Session,
                    );
                }
                self.push_managed(
                    &mut policies.session,
                    account,
                    &session.policy_arns,
                    PolicyType::Session,
                )
                .await?;
                // A federated user session without a session policy has no permissions
                // (STS API Reference, GetFederationToken).
                if matches!(session.kind, SessionKind::Federated { .. })
                    && policies.session.is_empty()
                {
                    policies.session.extend(allow_nothing());
                }
            }
            tags.extend(session.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let context = principal_context(principal, &request_principal, &tags, session.as_ref());
        Ok(Compiled {
            at: RwLock::new(None),
            generation,
            context,
            arn: principal.arn.as_str().to_owned(),
            policies,
            principal: request_principal,
        })
    }

    /// The policies the user or role `name` holds, compiled once per IAM generation and
    /// shared by every principal acting as it: its access keys and all its sessions, so that
    /// a new session of a role costs no store read and no policy parsing.
    async fn held(
        &self,
        holder: Holder,
        account: &AccountId,
        name: &str,
        generation: u64,
    ) -> Result<Option<Arc<HeldPolicies>>, IamError> {
        let key = format!(
            "{holder:?}|{}|{}",
            account.as_str(),
            records::name_key(name)
        );
        if let Some((g, hit)) = self.held.read().ok().and_then(|m| m.get(&key).cloned())
            && g == generation
        {
            return Ok(hit);
        }
        let loaded = match holder {
            Holder::User => self.load_user_policies(account, name).await?,
            Holder::Role => self.load_role_policies(account, name).await?,
        }
        .map(Arc::new);
        if let Ok(mut map) = self.held.write() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(key, (generation, loaded.clone()));
        }
        Ok(loaded)
    }

    async fn load_role_policies(
        &self,
        account: &AccountId,
        name: &str,
    ) -> Result<Option<HeldPolicies>, IamError> {
        let Some(role) = records::load_role(&*self.store, account, name).await? else {
            return Ok(None);
        };
        let mut held = HeldPolicies {
            role: Some((role.arn.clone(), role.service_linked.is_some())),
            tags: role.tags,
            ..Default::default()
        };
        self.push_identity(
            &mut held.identity,
            account,
            &role.arn,
            &role.inline_policies,
            &role.attached_policies,
        )
        .await?;
        held.boundary = self
            .boundary(account, role.permissions_boundary.as_deref())
            .await?;
        Ok(Some(held))
    }

    async fn load_user_policies(
        &self,
        account: &AccountId,
        name: &str,
    ) -> Result<Option<HeldPolicies>, IamError> {
        let Some(user) = records::load_user(&*self.store, account, name).await? else {
            return Ok(None);
        };
        let mut held = HeldPolicies {
            tags: user.tags,
            ..Default::default()
        };
        self.push_identity(
            &mut held.identity,
            account,
            &user.arn,
            &user.inline_policies,
            &user.attached_policies,
        )
        .await?;
        for group in &user.groups {
            if let Some(group) = records::load_group(&*self.store, account, group).await? {
                self.push_identity(
                    &mut held.identity,
                    account,
                    &group.arn,
                    &group.inline_policies,
                    &group.attached_policies,
                )
                .await?;
            }
        }
        held.boundary = self
            .boundary(account, user.permissions_boundary.as_deref())
            .await?;
        Ok(Some(held))
    }

    /// The inline policies of the user, group or role `owner` (an ARN) and its attached
    /// managed policies, as identity policies.
    async fn push_identity(
        &self,
        into: &mut Vec<Policy>,
        account: &AccountId,
        owner: &str,
        inline: &BTreeMap<String, String>,
        attached: &[String],
    ) -> Result<(), IamError> {
        for (policy, doc) in inline {
            push(
                into,
                &format!("{owner}/{policy}"),
                doc,
                PolicyType::Identity,
            );
        }
        self.push_managed(into, account, attached, PolicyType::Identity)
            .await
    }

    async fn push_managed(
        &self,
        into: &mut Vec<Policy>,
        account: &AccountId,
        arns: &[String],
        ty: PolicyType,
    ) -> Result<(), IamError> {
        for arn in arns {
            if let Some(policy) = records::load_managed_policy(&*self.store, account, arn).await?
                && let Some(doc) = policy.document()
            {
                push(into, arn, doc, ty);
            }
        }
        Ok(())
    }

    async fn boundary(
        &self,
        account: &AccountId,
        arn: Option<&str>,
    ) -> Result<Option<Policy>, IamError> {
        let Some(arn) = arn else { return Ok(None) };
        let mut out = Vec::new();
        self.push_managed(&mut out, account, &[arn.to_owned()], PolicyType::Boundary)
            .await?;
        // A boundary that no longer resolves allows nothing, rather than lifting the cap.
        Ok(out.pop().or_else(allow_nothing))
    }

    /// The resource ARN, tags and boundary of a request, from its row and input.
    async fn resolve(
        &self,
        ctx: &RequestContext,
        rule: &Rule,
        input: &Value,
    ) -> Result<Resolved, IamError> {
        let account = &ctx.principal.account;
        let str_of = |m: &str| input.get(m).and_then(Value::as_str).map(str::to_owned);
        let iam_arn = |kind: &str, path: &str, name: &str| {
            format!("arn:aws:iam::{}:{kind}{path}{name}", account.as_str())
        };
        Ok(match rule.resource {
            Res::Any | Res::Free | Res::Deferred => Resolved {
                arn: "*".to_owned(),
                ..Default::default()
            },
            Res::User(member) => {
                let name = match str_of(member) {
                    Some(name) => name,
                    None => match ctx.principal.user_name() {
                        Some(name) => name.to_owned(),
                        None => {
                            return Ok(Resolved {
                                arn: ctx.principal.arn.as_str().to_owned(),
                                ..Default::default()
                            });
                        }
                    },
                };
                let facts = self.entity("user", account, &name, input).await?;
                let path = facts.path.clone().unwrap_or_else(|| "/".to_owned());
                Resolved {
                    arn: iam_arn("user", &path, &name),
                    tags: facts.tags,
                    boundary: facts.boundary,
                }
            }
            Res::Group(member) | Res::Role(member) | Res::InstanceProfile(member) => {
                let kind = match rule.resource {
                    Res::Group(_) => "group",
                    Res::Role(_) => "role",
                    _ => "instance-profile",
                };
                let name = str_of(member).unwrap_or_default();
                let facts = self.entity(kind, account, &name, input).await?;
                let path = facts.path.clone().unwrap_or_else(|| "/".to_owned());
                Resolved {
                    arn: iam_arn(kind, &path, &name),
                    tags: facts.tags,
                    boundary: facts.boundary,
                }
            }
            Res::AccessKeyOwner(member) => {
                let key_id = str_of(member).unwrap_or_default();
                let owner = self
                    .store
                    .get(crate::keys::KIND, "", &key_id)
                    .await?
                    .and_then(|item| {
                        serde_json::from_value::<crate::AccessKeyRecord>(item.value).ok()
                    });
                Resolved {
                    arn: owner
                        .map_or_else(|| "*".to_owned(), |k| k.principal().arn.as_str().to_owned()),
                    ..Default::default()
                }
            }
            Res::OidcUrl(member) => {
                let url = str_of(member).unwrap_or_default();
                Resolved {
                    arn: iam_arn("oidc-provider/", "", &records::oidc_key(&url)),
                    ..Default::default()
                }
            }
            Res::Arn(member) => Resolved {
                arn: str_of(member).unwrap_or_else(|| "*".to_owned()),
                ..Default::default()
            },
            Res::Tpl(template) => Resolved {
                arn: render(template, ctx, input),
                ..Default::default()
            },
            Res::NameOrArn(member, template) => Resolved {
                arn: match str_of(member) {
                    Some(v) if v.starts_with("arn:") => v,
                    _ => render(template, ctx, input),
                },
                ..Default::default()
            },
        })
    }

    /// Path, tags and boundary of a named IAM entity; the input's `Path`, `Tags` and
    /// `PermissionsBoundary` for one being created.
    async fn entity(
        &self,
        kind: &str,
        account: &AccountId,
        name: &str,
        input: &Value,
    ) -> Result<EntityFacts, IamError> {
        if let Some(path) = input.get("Path").and_then(Value::as_str) {
            return Ok(EntityFacts {
                path: Some(path.to_owned()),
                ..Default::default()
            });
        }
        let generation = self.auth.generation();
        let key = format!("{kind}|{}|{}", account.as_str(), records::name_key(name));
        if let Some((g, facts)) = self.entities.read().ok().and_then(|m| m.get(&key).cloned())
            && g == generation
        {
            return Ok(facts);
        }
        let store = &*self.store;
        let facts = match kind {
            "user" => records::load_user(store, account, name)
                .await?
                .map(|u| EntityFacts {
                    path: Some(u.path),
                    tags: u.tags,
                    boundary: u.permissions_boundary,
                }),
            "role" => records::load_role(store, account, name)
                .await?
                .map(|r| EntityFacts {
                    path: Some(r.path),
                    tags: r.tags,
                    boundary: r.permissions_boundary,
                }),
            "group" => records::load_group(store, account, name)
                .await?
                .map(|g| EntityFacts {
                    path: Some(g.path),
                    ..Default::default()
                }),
            _ => records::load::<records::InstanceProfileRecord>(
                store,
                account.as_str(),
                &records::name_key(name),
            )
            .await?
            .map(|p| EntityFacts {
                path: Some(p.path),
                tags: p.tags,
                boundary: None,
            }),
        }
        .unwrap_or_default();
        if let Ok(mut map) = self.entities.write() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(key, (generation, facts.clone()));
        }
        Ok(facts)
    }

    /// Seals the decision's detail for `DecodeAuthorizationMessage`, bound to the account.
    fn encode_message(
        &self,
        ctx: &RequestContext,
        decision: &Decision<'_>,
        request: &Request,
    ) -> String {
        let detail = decoded_message(ctx, decision, request);
        let aad = message_aad(&ctx.principal.account);
        match self
            .master
            .seal(detail.to_string().as_bytes(), aad.as_bytes())
        {
            Ok(sealed) => B64URL.encode(sealed),
            Err(_) => String::new(),
        }
    }

    /// Opens an encoded authorization message for a principal of `account`; `None` when it
    /// is not one this server issued for that account.
    pub(crate) fn decode_message(&self, account: &AccountId, encoded: &str) -> Option<String> {
        let sealed = B64URL.decode(encoded.trim()).ok()?;
        let plain = self
            .master
            .open(&sealed, message_aad(account).as_bytes())
            .ok()?;
        String::from_utf8(plain.expose().clone()).ok()
    }
}

fn message_aad(account: &AccountId) -> String {
    format!("sts.authorization-message/{}", account.as_str())
}

/// The decoded form of an authorization failure, in the shape AWS's decoded messages have.
fn decoded_message(ctx: &RequestContext, decision: &Decision<'_>, request: &Request) -> Value {
    let statements: Vec<Value> = decision
        .matched
        .iter()
        .map(|m| {
            json!({"statementId": m.sid.unwrap_or_default(), "effect": format!("{:?}", m.effect),
                   "policyId": m.policy_id, "layer": format!("{:?}", m.layer), "index": m.index})
        })
        .collect();
    let conditions: Vec<Value> = request
        .context()
        .iter()
        .map(|(k, v)| {
            let values: Vec<Value> = v
                .values()
                .iter()
                .map(|s| json!({"value": s.as_str()}))
                .collect();
            json!({"key": k, "values": {"items": values}})
        })
        .collect();
    json!({
        "allowed": false,
        "explicitDeny": decision.effect == portcullis_policy::Effect::ExplicitDeny,
        "matchedStatements": {"items": statements},
        "failures": {"items": []},
        "context": {
            "principal": {"id": ctx.principal.user_id, "arn": ctx.principal.arn.as_str()},
            "action": request.action(),
            "resource": request.resource(),
            "conditions": {"items": conditions},
        }
    })
}

/// The context keys that depend on the principal only (IAM User Guide, "AWS global condition
/// context keys"): compiled once per principal and cloned per request.
pub(crate) fn principal_context(
    p: &portcullis_core::Principal,
    principal: &RequestPrincipal,
    principal_tags: &BTreeMap<String, String>,
    session: Option<&SessionRecord>,
) -> Context {
    let mut c = Context::new();
    // The keys the engine would derive from the principal on every request, derived once.
    c.insert(
        "aws:PrincipalArn",
        ContextValue::string(principal.identity_arn().to_owned()),
    );
    c.insert(
        "aws:PrincipalAccount",
        ContextValue::string(principal.account.clone()),
    );
    c.insert("aws:PrincipalIsAWSService", ContextValue::bool(false));
    if let Some(name) = p.user_name() {
        c.insert("aws:username", ContextValue::string(name.to_owned()));
    }
    c.insert("aws:userid", ContextValue::string(p.user_id.clone()));
    c.insert(
        "aws:PrincipalType",
        ContextValue::string(principal_type(p.kind)),
    );
    // aws:MultiFactorAuthPresent is absent for long-term credentials and present for
    // temporary ones (IAM User Guide, aws:MultiFactorAuthPresent).
    if let Some(issued) = p.token_issued_at {
        c.insert("aws:TokenIssueTime", ContextValue::date(odt(issued)));
        c.insert(
            "aws:MultiFactorAuthPresent",
            ContextValue::bool(p.mfa_authenticated),
        );
    }
    if let Some(session) = session {
        if let Some(source) = &session.source_identity {
            c.insert("aws:SourceIdentity", ContextValue::string(source.clone()));
        }
        if let SessionKind::Role { session_name, .. } = &session.kind {
            c.insert(
                "aws:RoleSessionName",
                ContextValue::string(session_name.clone()),
            );
        }
    }
    for (k, v) in principal_tags {
        c.insert(
            &format!("aws:PrincipalTag/{k}"),
            ContextValue::string(v.clone()),
        );
    }
    c
}

/// Adds the keys of where and how the request came: `aws:SourceIp`, `aws:SecureTransport`,
/// `aws:RequestedRegion`, `aws:MultiFactorAuthAge` (the time keys are added by the caller).
pub(crate) fn origin_keys(c: &mut Context, ctx: &RequestContext) {
    let p = &ctx.principal;
    c.insert("aws:SourceIp", ContextValue::ip(ctx.source_ip));
    c.insert(
        "aws:SecureTransport",
        ContextValue::bool(ctx.secure_transport),
    );
    c.insert(
        "aws:RequestedRegion",
        ContextValue::string(ctx.region.clone()),
    );
    if p.mfa_authenticated
        && let Some(at) = p.mfa_authenticated_at
    {
        let age = ctx
            .received_at
            .duration_since(at)
            .map_or(0, |d| d.as_secs());
        c.insert("aws:MultiFactorAuthAge", ContextValue::number(age as f64));
    }
}

/// Adds the resource's tags and the row's keys.
pub(crate) fn resource_context(
    c: &mut Context,
    resource_tags: &[Tag],
    extra: &[(String, ContextValue)],
) {
    for t in resource_tags {
        c.insert(
            &format!("aws:ResourceTag/{}", t.key),
            ContextValue::string(t.value.clone()),
        );
        c.insert(
            &format!("iam:ResourceTag/{}", t.key),
            ContextValue::string(t.value.clone()),
        );
    }
    for (k, v) in extra {
        c.insert(k, v.clone());
    }
}

/// The row's own keys, from the input and the resolved resource.
fn rule_context(
    rule: &Rule,
    input: &Value,
    resolved: &Resolved,
    out: &mut Vec<(String, ContextValue)>,
) {
    let str_of = |m: &str| input.get(m).and_then(Value::as_str).map(str::to_owned);
    for key in rule.keys {
        match *key {
            Key::RequestTags(member) => {
                let tags = input
                    .get(member)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut keys = Vec::new();
                for tag in &tags {
                    let k = tag.get("Key").and_then(Value::as_str).unwrap_or_default();
                    let v = tag.get("Value").and_then(Value::as_str).unwrap_or_default();
                    out.push((format!("aws:RequestTag/{k}"), ContextValue::string(v)));
                    keys.push(k.to_owned());
                }
                if !keys.is_empty() {
                    out.push(("aws:TagKeys".to_owned(), ContextValue::strings(keys)));
                }
            }
            Key::TagKeys(member) => {
                let keys: Vec<String> = input
                    .get(member)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(("aws:TagKeys".to_owned(), ContextValue::strings(keys)));
            }
            Key::Boundary(member) => {
                if let Some(arn) = str_of(member).or_else(|| resolved.boundary.clone()) {
                    out.push((
                        "iam:PermissionsBoundary".to_owned(),
                        ContextValue::string(arn),
                    ));
                }
            }
            Key::PolicyArn(member) => {
                if let Some(arn) = str_of(member) {
                    out.push(("iam:PolicyARN".to_owned(), ContextValue::string(arn)));
                }
            }
            Key::Str(name, member) => {
                if let Some(v) = str_of(member) {
                    out.push((name.to_owned(), ContextValue::string(v)));
                }
            }
            Key::List(name, member) => {
                if let Some(list) = input.get(member).and_then(Value::as_array) {
                    let values = list.iter().filter_map(Value::as_str).map(str::to_owned);
                    out.push((name.to_owned(), ContextValue::strings(values)));
                }
            }
            Key::PassRole(..) => {}
        }
    }
}

/// Renders an ARN template (`{partition}`, `{region}`, `{account}`, `{Member}`).
fn render(template: &str, ctx: &RequestContext, input: &Value) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            out.push_str(rest.get(start..).unwrap_or_default());
            return out;
        };
        let name = after.get(..end).unwrap_or_default();
        match name {
            "partition" => out.push_str(portcullis_core::PARTITION),
            "region" => out.push_str(&ctx.region),
            "account" => out.push_str(ctx.principal.account.as_str()),
            member => match input.get(member).and_then(Value::as_str) {
                Some(v) => out.push_str(v),
                None if member == "Path" => out.push('/'),
                None => out.push('*'),
            },
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn push(into: &mut Vec<Policy>, id: &str, text: &str, ty: PolicyType) {
    match Policy::parse(id, text, ty) {
        Ok(policy) => into.push(policy),
        // Stored documents were validated when written; one that no longer parses (a newer
        // validator) must not grant, and a deny in it cannot be honoured either: log it.
        Err(e) => tracing::warn!(policy = id, error = %e, "stored policy does not parse"),
    }
}

/// Everything: the root user's identity.
fn allow_all() -> Option<Policy> {
    const ALL: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    Policy::parse("root", ALL, PolicyType::Identity).ok()
}

/// A policy that allows nothing: where a layer must exist but grants nothing.
fn allow_nothing() -> Option<Policy> {
    const NONE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"none:none","Resource":"*"}]}"#;
    Policy::parse("none", NONE, PolicyType::Session).ok()
}

fn root_principal(ctx: &RequestContext) -> RequestPrincipal {
    RequestPrincipal {
        arn: ctx.principal.arn.as_str().to_owned(),
        account: ctx.principal.account.as_str().to_owned(),
        kind: portcullis_policy::PrincipalKind::Root,
        role_arn: None,
        service_linked_role: false,
    }
}

fn principal_type(kind: CoreKind) -> &'static str {
    match kind {
        CoreKind::Root => "Account",
        CoreKind::IamUser => "User",
        CoreKind::AssumedRole => "AssumedRole",
        CoreKind::FederatedUser => "FederatedUser",
    }
}

/// Whether `resource` belongs to `account` (an ARN with that account, an AWS managed policy,
/// or a resource without an account such as `*`).
fn resource_in_account(resource: &str, account: &str) -> bool {
    match resource.split(':').nth(4) {
        None | Some("") | Some("aws") | Some("*") => true,
        Some(a) => a == account,
    }
}

/// The protocol a service's errors take.
pub fn protocol_of(service: &str) -> Protocol {
    match service {
        "iam" => Protocol::IAM,
        "sts" => Protocol::STS,
        "guardduty" | "inspector2" | "artifact" => Protocol::RestJson,
        _ => Protocol::AwsJson1_1,
    }
}

pub(crate) fn odt(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(epoch(t)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn epoch(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn internal(e: IamError) -> AwsError {
    tracing::error!(error = %e, "authorization could not read the store");
    AwsError::internal_failure()
}

#[cfg(test)]
mod tests;
