//! Enforcement: the SCP and RCP chains of an account and its `aws:*Org*` context keys, read
//! from the organization documents on every request, so that a change to a policy or an
//! attachment takes effect on the next request.
//!
//! SCPs bind every principal of a member account, its root user included, never the
//! management account; RCPs bind requests to resources of member accounts, for the services
//! that support them (Organizations User Guide, "Service control policies" and "Resource
//! control policies").

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use portcullis_core::AccountId;
use portcullis_policy::{ContextValue, Policy, PolicyType, ResourcePolicies};
use portcullis_store::{BoxFuture, Store};

use super::load_org_of;
use super::model::{OrgDoc, RCP, SCP};
use crate::IamError;
use crate::authz::{OrgMembership, ScpLevels, ServiceControlPolicies};

/// Services whose resources RCPs protect (Organizations User Guide, "Resource control
/// policies": the supported services).
const RCP_SERVICES: [&str; 10] = [
    "s3",
    "sts",
    "sqs",
    "secretsmanager",
    "kms",
    "dynamodb",
    "ecr",
    "aoss",
    "cognito-identity",
    "logs",
];

/// The SCPs and RCPs of accounts, read from the organizations in the store; plugged into the
/// authorizer.
pub struct OrganizationPolicies {
    store: Arc<dyn Store>,
    /// Compiled policies by id, with the content they were compiled from.
    compiled: RwLock<HashMap<String, (String, Policy)>>,
}

impl OrganizationPolicies {
    /// SCP levels read from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            compiled: RwLock::new(HashMap::new()),
        }
    }

    /// One policy, compiled once per content.
    fn compile(&self, id: &str, content: &str, ty: PolicyType) -> Option<Policy> {
        if let Some((text, policy)) = self.compiled.read().ok().and_then(|m| m.get(id).cloned())
            && text == content
        {
            return Some(policy);
        }
        match Policy::parse(id, content, ty) {
            Ok(policy) => {
                if let Ok(mut map) = self.compiled.write() {
                    if map.len() > 10_000 {
                        map.clear();
                    }
                    map.insert(id.to_owned(), (content.to_owned(), policy.clone()));
                }
                Some(policy)
            }
            Err(e) => {
                // Stored policies were validated when written; one that no longer parses
                // cannot allow, so its level allows nothing.
                tracing::warn!(policy = id, error = %e, "stored organization policy does not parse");
                None
            }
        }
    }

    async fn chain(&self, account: &AccountId, ty: &str) -> Result<Option<ScpLevels>, IamError> {
        let Some((org, _)) = load_org_of(&*self.store, account.as_str()).await? else {
            return Ok(None);
        };
        Ok(self.chain_of(&org, account.as_str(), ty))
    }

    /// The levels of `ty` for `account` in `org`.
    pub(crate) fn chain_of(&self, org: &OrgDoc, account: &str, ty: &str) -> Option<ScpLevels> {
        if org.management == account {
            return Some(ScpLevels {
                levels: Vec::new(),
                management_account: true,
            });
        }
        let kind = if ty == RCP {
            PolicyType::Rcp
        } else {
            PolicyType::Scp
        };
        let levels = org.levels(account, ty)?;
        Some(ScpLevels {
            levels: levels
                .iter()
                .map(|level| {
                    level
                        .iter()
                        .filter_map(|(id, content)| self.compile(id, content, kind))
                        .collect()
                })
                .collect(),
            management_account: false,
        })
    }
}

impl ServiceControlPolicies for OrganizationPolicies {
    fn levels<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        Box::pin(self.chain(account, SCP))
    }

    fn rcp_levels<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        Box::pin(self.chain(account, RCP))
    }

    fn membership<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<OrgMembership>, IamError>> {
        Box::pin(async move {
            Ok(load_org_of(&*self.store, account.as_str())
                .await?
                .map(|(org, _)| OrgMembership {
                    organization_id: org.id.clone(),
                    path: org.org_path(account.as_str()),
                }))
        })
    }
}

/// The account that owns `resource` (its ARN's account), or `principal_account` for
/// resources without one (`*`, IAM's account-wide operations).
fn resource_account(resource: &str, principal_account: &AccountId) -> AccountId {
    resource
        .split(':')
        .nth(4)
        .and_then(|a| AccountId::parse(a).ok())
        .unwrap_or_else(|| principal_account.clone())
}

/// `aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`, `aws:ResourceAccount`, `aws:ResourceOrgID`
/// and `aws:ResourceOrgPaths` of a request (IAM User Guide, "AWS global condition context
/// keys"); the org keys are absent for accounts outside an organization.
pub(crate) async fn org_context(
    scps: &dyn ServiceControlPolicies,
    principal_account: &AccountId,
    resource: &str,
) -> Result<Vec<(String, ContextValue)>, IamError> {
    let mut out = Vec::new();
    if let Some(m) = scps.membership(principal_account).await? {
        out.push((
            "aws:PrincipalOrgID".to_owned(),
            ContextValue::string(m.organization_id),
        ));
        out.push((
            "aws:PrincipalOrgPaths".to_owned(),
            ContextValue::strings([m.path]),
        ));
    }
    let owner = resource_account(resource, principal_account);
    out.push((
        "aws:ResourceAccount".to_owned(),
        ContextValue::string(owner.as_str().to_owned()),
    ));
    if let Some(m) = scps.membership(&owner).await? {
        out.push((
            "aws:ResourceOrgID".to_owned(),
            ContextValue::string(m.organization_id),
        ));
        out.push((
            "aws:ResourceOrgPaths".to_owned(),
            ContextValue::strings([m.path]),
        ));
    }
    Ok(out)
}

/// The resource policies of a request with the RCPs of the resource's account added, when
/// the action's service supports RCPs and the account is a member account; `None` when no
/// RCP applies (the caller keeps what it had).
pub(crate) async fn with_rcps(
    scps: &dyn ServiceControlPolicies,
    action: &str,
    resource: &str,
    principal_account: &AccountId,
    given: Option<&ResourcePolicies>,
) -> Result<Option<ResourcePolicies>, IamError> {
    let service = action.split(':').next().unwrap_or_default();
    if !RCP_SERVICES.iter().any(|s| s.eq_ignore_ascii_case(service)) {
        return Ok(None);
    }
    let owner = resource_account(resource, principal_account);
    let Some(rcps) = scps
        .rcp_levels(&owner)
        .await?
        .filter(|r| !r.management_account)
    else {
        return Ok(None);
    };
    let mut set = given.cloned().unwrap_or_else(|| ResourcePolicies {
        owner_account: owner.as_str().to_owned(),
        ..Default::default()
    });
    set.rcp_levels = rcps.levels;
    Ok(Some(set))
}
