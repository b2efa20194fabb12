//! Compiled policies, the policy sets that apply to a request, and AWS's evaluation logic
//! (IAM User Guide, "Policy evaluation logic" and "Cross-account policy evaluation logic").
//!
//! A [`Policy`] is compiled once and shared (`Arc` inside, `Send + Sync`). A principal's
//! policies ([`PrincipalPolicies`]) and a resource's ([`ResourcePolicies`]) are assembled from
//! them; [`evaluate`] decides a [`Request`] against both without parsing or allocating and
//! returns a [`Decision`] that borrows policy ids, Sids and condition keys from the sets.

use std::sync::Arc;

use crate::Error;
use crate::condition::{Clause, OperatorName};
use crate::document::{
    self, Document, PolicyType, PrincipalSpec, PrincipalType, StatementEffect, Version,
};
use crate::pattern::{ActionPattern, ArnPattern};
use crate::request::{PrincipalKind, Request, RequestPrincipal};

/// A compiled policy document. Cloning is cheap (shared).
#[derive(Debug, Clone)]
pub struct Policy(Arc<PolicyInner>);

#[derive(Debug)]
struct PolicyInner {
    id: Box<str>,
    ty: PolicyType,
    statements: Vec<Statement>,
    /// Statement indexes by the service prefix of their actions, so a request visits only the
    /// statements that can apply to its service (plus `any_service`).
    by_service: Vec<(u64, Box<str>, Vec<usize>)>,
    /// Statements that may apply to any service: `*`, wildcard services, `NotAction`.
    any_service: Vec<usize>,
}

impl PolicyInner {
    /// The indexes of the statements that may match a request for `service_lc`, ascending.
    fn candidates<'s>(
        &'s self,
        service_key: u64,
        service_lc: &str,
    ) -> impl Iterator<Item = usize> + 's {
        let specific: &[usize] = self
            .by_service
            .iter()
            .find(|(k, name, _)| *k == service_key && **name == *service_lc)
            .map_or(&[], |(_, _, v)| v.as_slice());
        Merge {
            a: &self.any_service,
            b: specific,
        }
    }
}

/// Merges two ascending index lists (document order is kept in decisions).
struct Merge<'s> {
    a: &'s [usize],
    b: &'s [usize],
}

impl Iterator for Merge<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let take_a = match (self.a.first(), self.b.first()) {
            (Some(x), Some(y)) => x <= y,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let (head, rest) = if take_a {
            self.a.split_first()?
        } else {
            self.b.split_first()?
        };
        if take_a {
            self.a = rest;
        } else {
            self.b = rest;
        }
        Some(*head)
    }
}

#[derive(Debug)]
struct Statement {
    sid: Option<Box<str>>,
    effect: StatementEffect,
    actions: Vec<ActionPattern>,
    not_action: bool,
    /// `None`: no Resource element (trust policies): the statement applies to the resource
    /// the policy is attached to.
    resources: Option<Vec<ArnPattern>>,
    not_resource: bool,
    principal: Option<Principals>,
    not_principal: bool,
    clauses: Vec<Clause>,
}

#[derive(Debug)]
enum Principals {
    Any,
    List(Vec<(PrincipalType, Box<str>)>),
}

impl Policy {
    /// Parses, validates and compiles `text` as a policy of type `ty`. `id` names the policy in
    /// decisions (a policy ARN, `user/alice/inline-name`, `bucket-policy`, ...).
    ///
    /// # Errors
    /// [`Error::Invalid`] with AWS's findings when the document is not valid for `ty`.
    pub fn parse(id: &str, text: &str, ty: PolicyType) -> Result<Self, Error> {
        let parsed = document::parse(text, ty);
        match parsed.document {
            Some(doc) if parsed.findings.is_empty() => Ok(Self::compile(id, &doc, ty)),
            _ => Err(Error::Invalid {
                findings: parsed.findings,
            }),
        }
    }

    /// Compiles an already parsed document (no validation).
    pub fn compile(id: &str, doc: &Document, ty: PolicyType) -> Self {
        let variables = doc.version == Version::V2012_10_17;
        let statements: Vec<Statement> = doc
            .statements
            .iter()
            .map(|s| Statement {
                sid: s.sid.as_deref().map(Into::into),
                effect: s.effect,
                actions: s
                    .actions
                    .iter()
                    .map(|a| ActionPattern::compile(a))
                    .collect(),
                not_action: s.not_action,
                resources: s.resources.as_ref().map(|rs| {
                    rs.iter()
                        .map(|r| ArnPattern::compile(r, variables, false))
                        .collect()
                }),
                not_resource: s.not_resource,
                principal: s.principal.as_ref().map(|p| match p {
                    PrincipalSpec::Any => Principals::Any,
                    PrincipalSpec::Values(vs) => {
                        Principals::List(vs.iter().map(|(t, v)| (*t, v.as_str().into())).collect())
                    }
                }),
                not_principal: s.not_principal,
                clauses: s
                    .conditions
                    .iter()
                    .filter_map(|(op, key, values)| {
                        OperatorName::parse(op)
                            .map(|name| Clause::compile(name, key, values, variables))
                    })
                    .collect(),
            })
            .collect();
        let mut by_service: Vec<(u64, Box<str>, Vec<usize>)> = Vec::new();
        let mut any_service = Vec::new();
        for (i, st) in statements.iter().enumerate() {
            let services: Option<Vec<&str>> = if st.not_action {
                None
            } else {
                st.actions.iter().map(ActionPattern::service).collect()
            };
            match services {
                None => any_service.push(i),
                Some(mut list) => {
                    list.dedup();
                    for svc in list {
                        let key = crate::pattern::short_key(svc);
                        match by_service
                            .iter_mut()
                            .find(|(k, n, _)| *k == key && **n == *svc)
                        {
                            Some((_, _, v)) => {
                                if v.last() != Some(&i) {
                                    v.push(i);
                                }
                            }
                            None => by_service.push((key, svc.into(), vec![i])),
                        }
                    }
                }
            }
        }
        Self(Arc::new(PolicyInner {
            id: id.into(),
            ty,
            statements,
            by_service,
            any_service,
        }))
    }

    /// The id given at compile time.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The policy type it was validated as.
    pub fn policy_type(&self) -> PolicyType {
        self.0.ty
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.0.statements.len()
    }

    /// True when the policy has no statements.
    pub fn is_empty(&self) -> bool {
        self.0.statements.is_empty()
    }
}

/// The policies that apply because of who the principal is; compile once per principal and
/// share (`Arc<PrincipalPolicies>`) across requests.
#[derive(Debug, Clone, Default)]
pub struct PrincipalPolicies {
    /// Service control policies of the principal's account, one entry per level from the
    /// organization root down to the account; every level must allow.
    pub scp_levels: Vec<Vec<Policy>>,
    /// Identity-based policies: inline and managed policies of the user, its groups, or the role.
    pub identity: Vec<Policy>,
    /// The permissions boundary of the user or role, if one is set.
    pub boundary: Option<Policy>,
    /// Session policies passed when the session was created; when any are present, the
    /// session's permissions are limited to what they allow.
    pub session: Vec<Policy>,
    /// The principal's account is the organization's management account: SCPs do not apply.
    pub management_account: bool,
}

/// What kind of resource-based policy a [`ResourcePolicies`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourcePolicyKind {
    /// A resource policy (bucket, queue, secret, ...): optional within the account.
    #[default]
    Resource,
    /// A role trust policy: must allow explicitly, for `sts:AssumeRole*`.
    Trust,
    /// A KMS key policy: must allow explicitly; a grant to the account root delegates to IAM.
    Key,
}

/// The policies that apply because of which resource is accessed.
#[derive(Debug, Clone, Default)]
pub struct ResourcePolicies {
    /// The account that owns the resource.
    pub owner_account: String,
    /// The resource-based policy, if the resource has one.
    pub policy: Option<Policy>,
    /// What kind of resource-based policy it is.
    pub kind: ResourcePolicyKind,
    /// Resource control policies of the owner account, one entry per level; every level must allow.
    pub rcp_levels: Vec<Vec<Policy>>,
    /// The owner account is the organization's management account: RCPs do not apply.
    pub management_account: bool,
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Effect {
    /// Allowed.
    Allow,
    /// A statement with `"Effect": "Deny"` matched.
    ExplicitDeny,
    /// Nothing (or not every required layer) allowed.
    ImplicitDeny,
}

/// A kind of policy in the evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Layer {
    /// Organizations service control policies.
    ServiceControlPolicy,
    /// Organizations resource control policies.
    ResourceControlPolicy,
    /// The resource-based policy (including trust and key policies).
    ResourceBased,
    /// Identity-based policies.
    IdentityBased,
    /// The permissions boundary.
    PermissionsBoundary,
    /// Session policies.
    SessionPolicy,
}

impl Layer {
    /// How AWS names the policy type in AccessDenied messages ("... in a service control policy").
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::ServiceControlPolicy => "service control policy",
            Self::ResourceControlPolicy => "resource control policy",
            Self::ResourceBased => "resource-based policy",
            Self::IdentityBased => "identity-based policy",
            Self::PermissionsBoundary => "permissions boundary",
            Self::SessionPolicy => "session policy",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Self::IdentityBased => "an",
            _ => "a",
        }
    }
}

/// A statement that matched the request (action, resource, principal and conditions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MatchedStatement<'a> {
    /// Which kind of policy it is in.
    pub layer: Layer,
    /// For SCPs and RCPs, the level (0 = organization root); 0 otherwise.
    pub level: usize,
    /// The policy id.
    pub policy_id: &'a str,
    /// The statement's Sid.
    pub sid: Option<&'a str>,
    /// The statement's index in the policy.
    pub index: usize,
    /// Allow or Deny.
    pub effect: StatementEffect,
}

/// A small inline list that never allocates; entries beyond `N` are counted, not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineList<T: Copy, const N: usize> {
    items: [Option<T>; N],
    len: usize,
    dropped: usize,
}

impl<T: Copy, const N: usize> Default for InlineList<T, N> {
    fn default() -> Self {
        Self {
            items: [None; N],
            len: 0,
            dropped: 0,
        }
    }
}

impl<T: Copy + PartialEq, const N: usize> InlineList<T, N> {
    fn push(&mut self, item: T) {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(item);
                self.len += 1;
            }
            None => self.dropped += 1,
        }
    }

    fn push_unique(&mut self, item: T) {
        if !self.iter().any(|x| x == item) {
            self.push(item);
        }
    }

    /// The kept entries.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.items.iter().take(self.len).filter_map(|x| *x)
    }

    /// Number of kept entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.dropped == 0
    }

    /// Entries that did not fit.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

/// The decision for one request: a value with its reasons, borrowing names from the policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Allow, ExplicitDeny or ImplicitDeny.
    pub effect: Effect,
    /// The layer that decided: the layer of the explicit deny, the layer that failed to allow,
    /// or for an Allow the layer whose grant was decisive (identity-based or resource-based).
    pub deciding_layer: Layer,
    /// Every statement that matched, allows and denies, in evaluation order (first 16).
    pub matched: InlineList<MatchedStatement<'a>, 16>,
    /// Condition keys that statements asked for and the request did not have (first 8).
    pub missing_context_keys: InlineList<&'a str, 8>,
}

impl Decision<'_> {
    /// True for [`Effect::Allow`].
    pub fn is_allowed(&self) -> bool {
        self.effect == Effect::Allow
    }

    /// AWS's AccessDenied message for a denial, `None` for an Allow, e.g.
    /// `User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:CreateUser
    /// on resource: arn:aws:iam::123456789012:user/bob because no identity-based policy allows
    /// the iam:CreateUser action`. The resource clause is left out for `*`, as AWS does.
    pub fn access_denied_message(&self, request: &Request) -> Option<String> {
        let reason = match self.effect {
            Effect::Allow => return None,
            Effect::ExplicitDeny => {
                format!(
                    "with an explicit deny in {} {}",
                    self.deciding_layer.article(),
                    self.deciding_layer.aws_name()
                )
            }
            Effect::ImplicitDeny => {
                format!(
                    "because no {} allows the {} action",
                    self.deciding_layer.aws_name(),
                    request.action()
                )
            }
        };
        let on = match request.resource() {
            "*" | "" => String::new(),
            r => format!(" on resource: {r}"),
        };
        Some(format!(
            "User: {} is not authorized to perform: {}{on} {reason}",
            request.principal().arn,
            request.action()
        ))
    }
}

/// How a resource-based policy named the caller, which decides what else must allow
/// ("Policy evaluation logic", resource-based policies within one account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    /// The account (`123456789012` or `...:root`): delegation to the account's own policies.
    Account,
    /// The role ARN of a role session: boundary and session policies still apply.
    Role,
    /// The user, session or federated-user ARN, a service, a provider, or `*`: grants alone.
    Direct,
}

#[derive(Default, Clone, Copy)]
struct LayerResult {
    allow: bool,
    deny: bool,
    grant: Option<Grant>,
}

struct Evaluator<'a, 'r> {
    request: &'r Request,
    /// The request's service prefix, action and resource ARN parts, prepared once.
    service: &'r str,
    service_key: u64,
    action: &'r str,
    resource_parts: Option<[&'r str; 6]>,
    /// The caller has a permissions boundary: a `NotPrincipal` Deny never exempts it.
    has_boundary: bool,
    decision: Decision<'a>,
}

impl<'a> Evaluator<'a, '_> {
    fn layer(
        &mut self,
        layer: Layer,
        level: usize,
        policies: &'a [Policy],
        check_principal: bool,
    ) -> LayerResult {
        let mut out = LayerResult::default();
        for policy in policies {
            self.policy(layer, level, policy, check_principal, &mut out);
        }
        out
    }

    fn policy(
        &mut self,
        layer: Layer,
        level: usize,
        policy: &'a Policy,
        check_principal: bool,
        out: &mut LayerResult,
    ) {
        for index in policy.0.candidates(self.service_key, self.service) {
            let Some(st) = policy.0.statements.get(index) else {
                continue;
            };
            let Some(grant) = self.statement(st, check_principal) else {
                continue;
            };
            self.decision.matched.push(MatchedStatement {
                layer,
                level,
                policy_id: &policy.0.id,
                sid: st.sid.as_deref(),
                index,
                effect: st.effect,
            });
            match st.effect {
                StatementEffect::Deny => out.deny = true,
                StatementEffect::Allow => {
                    out.allow = true;
                    out.grant = out.grant.max(Some(grant));
                }
            }
        }
    }

    /// Whether the statement applies; for resource-based policies, how it named the caller.
    fn statement(&mut self, st: &'a Statement, check_principal: bool) -> Option<Grant> {
        let r = self.request;
        let action_hit = st
            .actions
            .iter()
            .any(|p| p.matches(self.service_key, self.service, self.action, r));
        if action_hit == st.not_action {
            return None;
        }
        if let Some(resources) = &st.resources {
            let parts = self.resource_parts;
            let hit = resources
                .iter()
                .any(|p| p.matches_parts(r.resource(), parts, r));
            if hit == st.not_resource {
                return None;
            }
        }
        let grant = match (&st.principal, check_principal) {
            (_, false) | (None, true) => Grant::Direct,
            (Some(p), true) => {
                if st.not_principal {
                    // A Deny with NotPrincipal always denies an IAM principal that has a
                    // permissions boundary, whatever NotPrincipal lists (IAM User Guide,
                    // "AWS JSON policy elements: NotPrincipal", key points).
                    let exempt_checked = !(self.has_boundary && st.effect == StatementEffect::Deny);
                    if exempt_checked && principal_listed_exactly(p, r.principal()) {
                        return None;
                    }
                    Grant::Direct
                } else {
                    principal_grant(p, r.principal())?
                }
            }
        };
        let mut holds = true;
        for clause in &st.clauses {
            let outcome = clause.evaluate(r);
            if outcome.missing {
                self.decision.missing_context_keys.push_unique(&clause.key);
            }
            holds &= outcome.holds;
        }
        holds.then_some(grant)
    }
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or("")
}

fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or("")
}

/// How a `Principal` element names the caller, if it does.
fn principal_grant(p: &Principals, who: &RequestPrincipal) -> Option<Grant> {
    let Principals::List(list) = p else {
        return Some(Grant::Direct);
    };
    let mut best = None;
    for (ty, value) in list {
        let value: &str = value;
        let g = match ty {
            PrincipalType::Aws => aws_principal_grant(value, who),
            PrincipalType::Service => {
                (who.kind == PrincipalKind::Service && who.arn == value).then_some(Grant::Direct)
            }
            PrincipalType::Federated => {
                (who.kind == PrincipalKind::Federated && who.arn == value).then_some(Grant::Direct)
            }
            PrincipalType::CanonicalUser => (who.arn == value).then_some(Grant::Direct),
        };
        best = best.max(g);
    }
    best
}

fn aws_principal_grant(value: &str, who: &RequestPrincipal) -> Option<Grant> {
    if matches!(who.kind, PrincipalKind::Service | PrincipalKind::Federated) {
        return None;
    }
    let is_account_value = value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit());
    if is_account_value || value.ends_with(":root") {
        let account = if is_account_value {
            value
        } else {
            account_of(value)
        };
        // The root user itself is named directly by its own account.
        return (account == who.account).then_some(if who.kind == PrincipalKind::Root {
            Grant::Direct
        } else {
            Grant::Account
        });
    }
    if value == who.arn {
        return Some(Grant::Direct);
    }
    // A role ARN names every session of the role (compared by account and name: a role's
    // path is not part of its session ARN).
    let resource = value.splitn(6, ':').nth(5).unwrap_or("");
    if resource.starts_with("role/")
        && who.kind == PrincipalKind::AssumedRole
        && let Some(role_arn) = &who.role_arn
        && account_of(value) == account_of(role_arn)
        && role_name(value) == role_name(role_arn)
    {
        return Some(Grant::Role);
    }
    None
}

/// `NotPrincipal` excludes only the principals it lists exactly, per the IAM User Guide's
/// NotPrincipal page: an account entry excludes the root user only, and a role session is
/// excluded by its assumed-role session ARN, not by the role ARN alone.
fn principal_listed_exactly(p: &Principals, who: &RequestPrincipal) -> bool {
    match p {
        Principals::Any => true,
        Principals::List(list) => list.iter().any(|(ty, value)| {
            let value: &str = value;
            match ty {
                PrincipalType::Aws => {
                    value == who.arn
                        || (who.kind == PrincipalKind::Root
                            && (value == who.account
                                || account_of(value) == who.account && value.ends_with(":root")))
                }
                PrincipalType::Service => who.kind == PrincipalKind::Service && who.arn == value,
                PrincipalType::Federated => {
                    who.kind == PrincipalKind::Federated && who.arn == value
                }
                PrincipalType::CanonicalUser => who.arn == value,
            }
        }),
    }
}

/// Decides `request` with AWS's evaluation logic over the principal's and the resource's
/// policies. Pure, and allocation-free once the policies are compiled.
///
/// Order (IAM User Guide, "Policy evaluation logic"): an explicit deny in any applicable
/// policy denies; every RCP level of the resource account must allow (not for resources of
/// the management account or service-linked roles); every SCP level of the principal account
/// must allow (not for the management account, service-linked roles or service principals);
/// a same-account resource-based policy grant to the user, session or federated-user ARN
/// allows on its own, a grant to the role ARN still needs the boundary and
/// session policies, a grant to the account delegates to identity policies; then identity
/// policies, the permissions boundary and session policies must each allow. Trust and key
/// policies must allow (directly or by delegating to the account). Across accounts both
/// the principal's side and the resource-based policy must allow.
///
/// ```
/// use portcullis_policy::{evaluate, Effect, Policy, PolicyType, PrincipalPolicies, Request, RequestPrincipal};
///
/// let allow = Policy::parse("p1", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
///     "Action":"iam:Get*","Resource":"*"}}"#, PolicyType::Identity).unwrap();
/// let set = PrincipalPolicies { identity: vec![allow], ..Default::default() };
/// let alice = RequestPrincipal::from_arn("arn:aws:iam::123456789012:user/alice").unwrap();
///
/// let ok = Request::new(alice.clone(), "iam:GetUser", "arn:aws:iam::123456789012:user/bob");
/// assert_eq!(evaluate(&set, None, &ok).effect, Effect::Allow);
///
/// let no = Request::new(alice, "iam:CreateUser", "arn:aws:iam::123456789012:user/bob");
/// let d = evaluate(&set, None, &no);
/// assert_eq!(d.access_denied_message(&no).unwrap(),
///     "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:CreateUser \
///      on resource: arn:aws:iam::123456789012:user/bob because no identity-based policy allows \
///      the iam:CreateUser action");
/// ```
pub fn evaluate<'a>(
    principal_set: &'a PrincipalPolicies,
    resource_set: Option<&'a ResourcePolicies>,
    request: &Request,
) -> Decision<'a> {
    let who = request.principal();
    let mut ev = Evaluator {
        request,
        service: request.service_lc(),
        service_key: crate::pattern::short_key(request.service_lc()),
        action: request.action_lc(),
        resource_parts: request.resource_parts(),
        has_boundary: principal_set.boundary.is_some(),
        decision: Decision {
            effect: Effect::ImplicitDeny,
            deciding_layer: Layer::IdentityBased,
            matched: InlineList::default(),
            missing_context_keys: InlineList::default(),
        },
    };
    let external = matches!(who.kind, PrincipalKind::Service | PrincipalKind::Federated);
    let is_root = who.kind == PrincipalKind::Root;

    // Organizations: SCPs bind the principal's account, RCPs the resource's account.
    let scps_apply = !principal_set.management_account && !who.service_linked_role && !external;
    let mut scp_deny = false;
    let mut scp_all_allow = true;
    if scps_apply {
        for (level, policies) in principal_set.scp_levels.iter().enumerate() {
            let r = ev.layer(Layer::ServiceControlPolicy, level, policies, false);
            scp_deny |= r.deny;
            scp_all_allow &= r.allow;
        }
    }
    let mut rcp_deny = false;
    let mut rcp_all_allow = true;
    // RCPs bind every caller, AWS service principals included (which is why AWS's examples
    // exempt them with `aws:PrincipalIsAWSService`), except service-linked roles; they do not
    // apply to resources of the management account (Organizations User Guide, RCPs).
    if let Some(rs) = resource_set
        && !rs.management_account
        && !who.service_linked_role
    {
        for (level, policies) in rs.rcp_levels.iter().enumerate() {
            let r = ev.layer(Layer::ResourceControlPolicy, level, policies, true);
            rcp_deny |= r.deny;
            rcp_all_allow &= r.allow;
        }
    }
    let resource = match resource_set.and_then(|rs| rs.policy.as_ref()) {
        Some(p) => ev.layer(Layer::ResourceBased, 0, std::slice::from_ref(p), true),
        None => LayerResult::default(),
    };
    // Root users have no identity policies or boundaries of their own: in their own account
    // everything is allowed unless something denies. A root session from STS AssumeRoot is
    // still bounded by its task policy, a session policy.
    let (identity, boundary, session) = if is_root || external {
        let session = (is_root && !principal_set.session.is_empty())
            .then(|| ev.layer(Layer::SessionPolicy, 0, &principal_set.session, false));
        (
            LayerResult {
                allow: true,
                ..LayerResult::default()
            },
            None,
            session,
        )
    } else {
        let identity = ev.layer(Layer::IdentityBased, 0, &principal_set.identity, false);
        let boundary = principal_set.boundary.as_ref().map(|b| {
            ev.layer(
                Layer::PermissionsBoundary,
                0,
                std::slice::from_ref(b),
                false,
            )
        });
        let session = (!principal_set.session.is_empty())
            .then(|| ev.layer(Layer::SessionPolicy, 0, &principal_set.session, false));
        (identity, boundary, session)
    };

    let mut d = ev.decision;
    let decide = |d: &mut Decision<'_>, effect, layer| {
        d.effect = effect;
        d.deciding_layer = layer;
    };
    // 1. An explicit deny anywhere denies.
    let denies = [
        (scp_deny, Layer::ServiceControlPolicy),
        (rcp_deny, Layer::ResourceControlPolicy),
        (resource.deny, Layer::ResourceBased),
        (identity.deny, Layer::IdentityBased),
        (boundary.is_some_and(|b| b.deny), Layer::PermissionsBoundary),
        (session.is_some_and(|s| s.deny), Layer::SessionPolicy),
    ];
    if let Some((_, layer)) = denies.iter().find(|(deny, _)| *deny) {
        decide(&mut d, Effect::ExplicitDeny, *layer);
        return d;
    }
    // 2. Every RCP level and 3. every SCP level must allow.
    if !rcp_all_allow {
        decide(&mut d, Effect::ImplicitDeny, Layer::ResourceControlPolicy);
        return d;
    }
    if !scp_all_allow {
        decide(&mut d, Effect::ImplicitDeny, Layer::ServiceControlPolicy);
        return d;
    }
    let boundary_ok = boundary.is_none_or(|b| b.allow);
    let session_ok = session.is_none_or(|s| s.allow);
    let kind = resource_set.map(|rs| rs.kind).unwrap_or_default();
    let owner = resource_set
        .map(|rs| rs.owner_account.as_str())
        .filter(|a| !a.is_empty())
        .or(request.resource_account())
        .unwrap_or(&who.account);
    let same_account = !external && owner == who.account;

    if same_account {
        // 4. A same-account resource-based policy can grant on its own.
        match resource.grant {
            Some(Grant::Direct) => {
                decide(&mut d, Effect::Allow, Layer::ResourceBased);
                return d;
            }
            Some(Grant::Role) => {
                let (effect, layer) = if !boundary_ok {
                    (Effect::ImplicitDeny, Layer::PermissionsBoundary)
                } else if !session_ok {
                    (Effect::ImplicitDeny, Layer::SessionPolicy)
                } else {
                    (Effect::Allow, Layer::ResourceBased)
                };
                decide(&mut d, effect, layer);
                return d;
            }
            // Trust and key policies must allow: naming the account delegates to IAM policies,
            // naming nobody denies.
            None if kind != ResourcePolicyKind::Resource => {
                decide(&mut d, Effect::ImplicitDeny, Layer::ResourceBased);
                return d;
            }
            Some(Grant::Account) | None => {}
        }
    }
    // 5. Identity policies, 6. the permissions boundary, 7. session policies.
    let (effect, layer) = if !identity.allow {
        (Effect::ImplicitDeny, Layer::IdentityBased)
    } else if !boundary_ok {
        (Effect::ImplicitDeny, Layer::PermissionsBoundary)
    } else if !session_ok {
        (Effect::ImplicitDeny, Layer::SessionPolicy)
    } else if !same_account && resource.grant.is_none() {
        // Cross-account: the resource side must allow too.
        (Effect::ImplicitDeny, Layer::ResourceBased)
    } else if !same_account {
        (Effect::Allow, Layer::ResourceBased)
    } else {
        (Effect::Allow, Layer::IdentityBased)
    };
    decide(&mut d, effect, layer);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Policy>();
        check::<PrincipalPolicies>();
        check::<ResourcePolicies>();
    }

    #[test]
    fn a_root_session_is_bounded_by_its_session_policy() {
        let task = Policy::parse(
            "task",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:ListAccessKeys","Resource":"*"}}"#,
            PolicyType::Session,
        )
        .unwrap();
        let root = RequestPrincipal::from_arn("arn:aws:iam::123456789012:root").unwrap();
        let plain = PrincipalPolicies::default();
        let session = PrincipalPolicies {
            session: vec![task],
            ..Default::default()
        };
        let list_users = Request::new(root.clone(), "iam:ListUsers", "*");
        let list_keys = Request::new(root, "iam:ListAccessKeys", "*");
        assert_eq!(evaluate(&plain, None, &list_users).effect, Effect::Allow);
        assert_eq!(evaluate(&session, None, &list_keys).effect, Effect::Allow);
        let denied = evaluate(&session, None, &list_users);
        assert_eq!(denied.effect, Effect::ImplicitDeny);
        assert_eq!(denied.deciding_layer, Layer::SessionPolicy);
    }

    #[test]
    fn inline_list_counts_overflow() {
        let mut l: InlineList<u8, 2> = InlineList::default();
        for i in 0..5 {
            l.push(i);
        }
        assert_eq!(l.iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(l.dropped(), 3);
    }
}
