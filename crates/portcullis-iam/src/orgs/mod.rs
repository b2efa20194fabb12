//! AWS Organizations (JSON 1.1, `AWSOrganizationsV20161128`): accounts, organizational units,
//! and the service and resource control policies the authorizer enforces.
//!
//! - [`model`]: the stored organization (one document, rewritten by compare-and-swap) and the
//!   pure rules over its tree and attachments.
//! - [`Organizations::call`]: one handler per operation, named after it. The management
//!   account manages; member accounts may describe their organization, leave it, and answer
//!   handshakes; delegated administrators may read.
//! - [`OrganizationPolicies`]: the SCP and RCP chains and the `aws:*Org*` context keys the
//!   authorizer asks for on every request ([`enforce`]).
//!
//! Errors are AWS's: JSON `__type` = the exception name; a `ConstraintViolationException` or
//! `InvalidInputException` message starts with its `Reason`.

mod enforce;
mod lifecycle;
pub mod model;
pub mod root_access;

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use portcullis_aws::AwsError;
use portcullis_core::{AccountId, Clock, RequestContext};
use portcullis_policy::{FindingCode, Policy, PolicyType};
use portcullis_store::{ListQuery, MasterKey, Precondition, Store, StoreError, WriteOp};

pub use enforce::OrganizationPolicies;
pub(crate) use enforce::{org_context, with_rcps};
pub use lifecycle::{COMPLETION_DELAY, closed_accounts};
use lifecycle::{Lifecycle, email_owner, root_email};
use model::{
    AWS_MANAGED, CreateRequest, Delegation, HANDSHAKE_KIND, HandshakeRec, IN_PROGRESS,
    MAX_ACCOUNTS, MAX_ATTACHMENTS, MAX_OU_DEPTH, MAX_OUS, MAX_POLICIES, MAX_TAGS, MEMBER_KIND,
    Member, ORG_KIND, OrgDoc, Ou, PENDING_CLOSURE, PolicyRec, RCP, RCP_FULL_AWS_ACCESS, SCP,
    TagRec, Target,
};

use crate::iam::records::RoleRecord;
use crate::{Accounts, Authenticator, IamError};

/// The role CreateAccount makes in a new account unless the request names another.
pub const DEFAULT_ACCESS_ROLE: &str = "OrganizationAccountAccessRole";

/// Handshakes expire after 15 days (Organizations API reference, InviteAccountToOrganization).
const HANDSHAKE_TTL: u64 = 15 * 24 * 3600;

type Out = Result<Value, AwsError>;

/// The Organizations service.
pub struct Organizations {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    /// Told of closed accounts, and of tree changes made in the background.
    auth: Arc<Authenticator>,
    clock: Arc<dyn Clock>,
}

/// Who calls, and when.
struct Caller<'a> {
    account: &'a str,
    now: u64,
}

impl Organizations {
    /// Organizations over `store`.
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
        }
    }

    /// Finishes CreateAccount requests and account closures still pending (a restart
    /// interrupted them), and moves closed accounts past their post-closure period to
    /// `CLOSED`. The server runs it at start and every minute.
    pub async fn run_due_work(&self) -> Result<(), IamError> {
        self.lifecycle().settle_all().await
    }

    fn lifecycle(&self) -> Lifecycle {
        Lifecycle {
            store: self.store.clone(),
            master: self.master.clone(),
            auth: self.auth.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Serves one Organizations operation (input decoded and validated by the front).
    pub async fn call(&self, ctx: &RequestContext, operation: &str, input: &Value) -> Out {
        let now = self
            .clock
            .now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let c = Caller {
            account: ctx.principal.account.as_str(),
            now,
        };
        match operation {
            "CreateOrganization" => self.create_organization(&c, input).await,
            "DescribeOrganization" => self.describe_organization(&c).await,
            "DeleteOrganization" => self.delete_organization(&c).await,
            "EnableAllFeatures" => self.enable_all_features(&c).await,
            "ListRoots" => self.list_roots(&c, input).await,
            "CreateOrganizationalUnit" => self.create_ou(&c, input).await,
            "UpdateOrganizationalUnit" => self.update_ou(&c, input).await,
            "DeleteOrganizationalUnit" => self.delete_ou(&c, input).await,
            "DescribeOrganizationalUnit" => self.describe_ou(&c, input).await,
            "ListOrganizationalUnitsForParent" => self.list_ous_for_parent(&c, input).await,
            "ListChildren" => self.list_children(&c, input).await,
            "ListParents" => self.list_parents(&c, input).await,
            "CreateAccount" => self.create_account(&c, input).await,
            "CreateGovCloudAccount" => Err(constraint(
                "MASTER_ACCOUNT_NOT_GOVCLOUD_ENABLED",
                "the management account is not enabled for AWS GovCloud (US)",
            )),
            "DescribeCreateAccountStatus" => self.describe_create_status(&c, input).await,
            "ListCreateAccountStatus" => self.list_create_status(&c, input).await,
            "ListAccounts" => self.list_accounts(&c, input).await,
            "ListAccountsForParent" => self.list_accounts_for_parent(&c, input).await,
            "DescribeAccount" => self.describe_account(&c, input).await,
            "MoveAccount" => self.move_account(&c, input).await,
            "CloseAccount" => self.close_account(&c, input).await,
            "RemoveAccountFromOrganization" => self.remove_account(&c, input).await,
            "LeaveOrganization" => self.leave_organization(&c).await,
            "EnablePolicyType" => self.set_policy_type(&c, input, true).await,
            "DisablePolicyType" => self.set_policy_type(&c, input, false).await,
            "CreatePolicy" => self.create_policy(&c, input).await,
            "UpdatePolicy" => self.update_policy(&c, input).await,
            "DeletePolicy" => self.delete_policy(&c, input).await,
            "DescribePolicy" => self.describe_policy(&c, input).await,
            "ListPolicies" => self.list_policies(&c, input).await,
            "AttachPolicy" => self.attach_policy(&c, input).await,
            "DetachPolicy" => self.detach_policy(&c, input).await,
            "ListPoliciesForTarget" => self.list_policies_for_target(&c, input).await,
            "ListTargetsForPolicy" => self.list_targets_for_policy(&c, input).await,
            "DescribeEffectivePolicy" => self.describe_effective_policy(&c, input).await,
            "ListAccountsWithInvalidEffectivePolicy" => {
                self.read(&c).await?;
                Ok(json!({"Accounts": [], "PolicyType": s(input, "PolicyType")}))
            }
            "ListEffectivePolicyValidationErrors" => {
                let org = self.read(&c).await?;
                let account = req(input, "AccountId")?;
                if !org.accounts.contains_key(account) {
                    return Err(account_not_found());
                }
                Ok(
                    json!({"AccountId": account, "PolicyType": s(input, "PolicyType"),
                          "Path": org.org_path(account), "EvaluationTimestamp": c.now,
                          "EffectivePolicyValidationErrors": []}),
                )
            }
            "InviteAccountToOrganization" => self.invite(&c, input).await,
            "AcceptHandshake" => self.accept_handshake(&c, input).await,
            "DeclineHandshake" => self.answer_handshake(&c, input, "DECLINED").await,
            "CancelHandshake" => self.answer_handshake(&c, input, "CANCELED").await,
            "DescribeHandshake" => self.describe_handshake(&c, input).await,
            "ListHandshakesForAccount" => self.list_handshakes(&c, input, false).await,
            "ListHandshakesForOrganization" => self.list_handshakes(&c, input, true).await,
            "RegisterDelegatedAdministrator" => self.register_delegated(&c, input).await,
            "DeregisterDelegatedAdministrator" => self.deregister_delegated(&c, input).await,
            "ListDelegatedAdministrators" => self.list_delegated(&c, input).await,
            "ListDelegatedServicesForAccount" => self.list_delegated_services(&c, input).await,
            "EnableAWSServiceAccess" => self.service_access(&c, input, true).await,
            "DisableAWSServiceAccess" => self.service_access(&c, input, false).await,
            "ListAWSServiceAccessForOrganization" => {
                let org = self.read(&c).await?;
                let items: Vec<Value> = org
                    .service_access
                    .iter()
                    .map(|(p, at)| json!({"ServicePrincipal": p, "DateEnabled": at}))
                    .collect();
                page(items, input, "EnabledServicePrincipals")
            }
            "TagResource" => self.tag_resource(&c, input).await,
            "UntagResource" => self.untag_resource(&c, input).await,
            "ListTagsForResource" => self.list_tags(&c, input).await,
            "PutResourcePolicy" => self.put_resource_policy(&c, input).await,
            "DescribeResourcePolicy" => {
                let org = self.read(&c).await?;
                match &org.resource_policy {
                    Some((id, content)) => Ok(json!({"ResourcePolicy":
                        resource_policy_json(&org, id, content)})),
                    None => Err(resource_policy_not_found()),
                }
            }
            "DeleteResourcePolicy" => {
                self.update(&c, |org, _| match org.resource_policy.take() {
                    Some(_) => Ok(json!({})),
                    None => Err(resource_policy_not_found()),
                })
                .await
            }
            _ => Err(AwsError::not_implemented(&format!(
                "organizations:{operation}"
            ))),
        }
    }

    // ---- store access -------------------------------------------------------------------

    /// The organization `account` belongs to, with its store version.
    async fn org_of(&self, account: &str) -> Result<Option<(OrgDoc, i64)>, AwsError> {
        load_org_of(&*self.store, account).await.map_err(internal)
    }

    /// The caller's organization, for reading: any member may read what AWS lets members
    /// read; the operations that need more call [`Self::read`].
    async fn member_org(&self, c: &Caller<'_>) -> Result<OrgDoc, AwsError> {
        match self.org_of(c.account).await? {
            Some((org, _)) => Ok(org),
            None => Err(not_in_use()),
        }
    }

    /// The caller's organization, for the management account and delegated administrators.
    async fn read(&self, c: &Caller<'_>) -> Result<OrgDoc, AwsError> {
        let org = self.member_org(c).await?;
        if org.management != c.account && !org.delegated.iter().any(|d| d.account == c.account) {
            return Err(access_denied());
        }
        Ok(org)
    }

    /// Runs `change` on the caller's organization (management account only) and writes it
    /// back with a compare-and-swap, together with the extra ops `change` asks for; retried
    /// when another change won the race.
    async fn update<T>(
        &self,
        c: &Caller<'_>,
        change: impl Fn(&mut OrgDoc, &mut Vec<WriteOp>) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        self.update_as(c, true, change).await
    }

    async fn update_as<T>(
        &self,
        c: &Caller<'_>,
        management_only: bool,
        change: impl Fn(&mut OrgDoc, &mut Vec<WriteOp>) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        for _ in 0..5 {
            let Some((mut org, version)) = self.org_of(c.account).await? else {
                return Err(not_in_use());
            };
            if management_only && org.management != c.account {
                return Err(access_denied());
            }
            let mut ops = Vec::new();
            let out = change(&mut org, &mut ops)?;
            ops.push(put_org(&org, Precondition::Version(version))?);
            match self.store.write(ops).await {
                Ok(()) => return Ok(out),
                Err(StoreError::Conflict { kind, .. }) if kind == ORG_KIND => continue,
                Err(StoreError::Conflict { .. }) => return Err(concurrent()),
                Err(e) => return Err(internal(e.into())),
            }
        }
        Err(concurrent())
    }

    // ---- the organization ---------------------------------------------------------------

    async fn create_organization(&self, c: &Caller<'_>, input: &Value) -> Out {
        let feature_set = s(input, "FeatureSet").unwrap_or("ALL");
        if feature_set != "ALL" {
            // Portcullis organizations exist to enforce SCPs and RCPs, which need all features.
            return Err(constraint(
                "ORGANIZATION_NOT_IN_ALL_FEATURES_MODE",
                "Portcullis supports organizations with all features only",
            ));
        }
        if self.org_of(c.account).await?.is_some() {
            return Err(already_in_organization());
        }
        let org = OrgDoc {
            id: format!("o-{}", model::random_lower(10)),
            management: c.account.to_owned(),
            management_email: default_email(c.account),
            root_id: format!("r-{}", model::random_lower(4)),
            enabled_types: Vec::new(),
            ous: Default::default(),
            accounts: [(
                c.account.to_owned(),
                Member {
                    name: self.account_name(c.account).await?,
                    email: default_email(c.account),
                    parent: String::new(),
                    status: "ACTIVE".to_owned(),
                    joined_method: "INVITED".to_owned(),
                    joined: c.now,
                    closed: None,
                },
            )]
            .into(),
            policies: Default::default(),
            attachments: Default::default(),
            create_requests: Vec::new(),
            tags: Default::default(),
            delegated: Vec::new(),
            service_access: Default::default(),
            resource_policy: None,
            created: c.now,
            policies_changed: c.now,
            root_features: Vec::new(),
        };
        let mut org = org;
        let root = org.root_id.clone();
        if let Some(m) = org.accounts.get_mut(c.account) {
            m.parent = root;
        }
        let ops = vec![
            member_put(c.account, &org.id, Precondition::Absent)?,
            put_org(&org, Precondition::Absent)?,
        ];
        match self.store.write(ops).await {
            Ok(()) => Ok(json!({"Organization": org_json(&org)})),
            Err(StoreError::Conflict { .. }) => Err(already_in_organization()),
            Err(e) => Err(internal(e.into())),
        }
    }

    async fn account_name(&self, account: &str) -> Result<String, AwsError> {
        let Ok(id) = AccountId::parse(account) else {
            return Ok(account.to_owned());
        };
        let accounts = Accounts::new(self.store.clone(), self.master.clone());
        Ok(accounts
            .get(&id)
            .await
            .map_err(internal)?
            .map_or_else(|| account.to_owned(), |a| a.name))
    }

    async fn describe_organization(&self, c: &Caller<'_>) -> Out {
        let org = self.member_org(c).await?;
        Ok(json!({"Organization": org_json(&org)}))
    }

    async fn delete_organization(&self, c: &Caller<'_>) -> Out {
        let Some((org, version)) = self.org_of(c.account).await? else {
            return Err(not_in_use());
        };
        if org.management != c.account {
            return Err(access_denied());
        }
        if org.accounts.len() > 1 {
            return Err(err(
                "OrganizationNotEmptyException",
                "To delete an organization you must first remove all member accounts (except the management account).",
            ));
        }
        let mut ops = vec![
            WriteOp::Delete {
                kind: ORG_KIND.to_owned(),
                account: String::new(),
                id: org.id.clone(),
                precondition: Precondition::Version(version),
            },
            WriteOp::Delete {
                kind: MEMBER_KIND.to_owned(),
                account: String::new(),
                id: c.account.to_owned(),
                precondition: Precondition::Any,
            },
        ];
        for h in self.handshakes().await? {
            if h.organization == org.id {
                ops.push(WriteOp::Delete {
                    kind: HANDSHAKE_KIND.to_owned(),
                    account: String::new(),
                    id: h.id,
                    precondition: Precondition::Any,
                });
            }
        }
        match self.store.write(ops).await {
            Ok(()) => Ok(json!({})),
            Err(StoreError::Conflict { .. }) => Err(concurrent()),
            Err(e) => Err(internal(e.into())),
        }
    }

    async fn enable_all_features(&self, c: &Caller<'_>) -> Out {
        let org = self.member_org(c).await?;
        if org.management != c.account {
            return Err(access_denied());
        }
        Err(err(
            "HandshakeConstraintViolationException",
            "ORGANIZATION_ALREADY_HAS_ALL_FEATURES: the organization already has all features enabled",
        ))
    }

    async fn list_roots(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        page(vec![root_json(&org)], input, "Roots")
    }

    // ---- organizational units ------------------------------------------------------------

    async fn create_ou(&self, c: &Caller<'_>, input: &Value) -> Out {
        let parent = req(input, "ParentId")?.to_owned();
        let name = req(input, "Name")?.to_owned();
        let tags = input_tags(input)?;
        self.update(c, |org, _| {
            if !matches!(org.target(&parent), Some(Target::Root | Target::Ou)) {
                return Err(parent_not_found());
            }
            if org.depth(&parent) + 1 > MAX_OU_DEPTH {
                return Err(constraint(
                    "OU_DEPTH_LIMIT_EXCEEDED",
                    "You attempted to create an OU tree that is too many levels deep.",
                ));
            }
            if org.ous.len() >= MAX_OUS {
                return Err(constraint(
                    "OU_NUMBER_LIMIT_EXCEEDED",
                    "You attempted to exceed the number of OUs that you can have in an organization.",
                ));
            }
            check_unique_ou_name(org, &parent, &name, None)?;
            let suffix = org.root_id.trim_start_matches("r-").to_owned();
            let id = format!("ou-{suffix}-{}", model::random_lower(8));
            org.ous.insert(
                id.clone(),
                Ou {
                    name: name.clone(),
                    parent: parent.clone(),
                },
            );
            org.attach_defaults(&id);
            if !tags.is_empty() {
                org.tags.insert(id.clone(), tags.clone());
            }
            Ok(json!({"OrganizationalUnit": ou_json(org, &id)}))
        })
        .await
    }

    async fn update_ou(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "OrganizationalUnitId")?.to_owned();
        let name = s(input, "Name").map(str::to_owned);
        self.update(c, |org, _| {
            let Some(ou) = org.ous.get(&id).cloned() else {
                return Err(ou_not_found());
            };
            if let Some(name) = &name {
                check_unique_ou_name(org, &ou.parent, name, Some(&id))?;
                if let Some(o) = org.ous.get_mut(&id) {
                    o.name = name.clone();
                }
            }
            Ok(json!({"OrganizationalUnit": ou_json(org, &id)}))
        })
        .await
    }

    async fn delete_ou(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "OrganizationalUnitId")?.to_owned();
        self.update(c, |org, _| {
            if !org.ous.contains_key(&id) {
                return Err(ou_not_found());
            }
            if !org.child_ous(&id).is_empty() || !org.child_accounts(&id).is_empty() {
                return Err(err(
                    "OrganizationalUnitNotEmptyException",
                    "The specified OU is not empty. Move all accounts to another root or to other OUs, remove all child OUs, and try the operation again.",
                ));
            }
            org.ous.remove(&id);
            org.forget_target(&id);
            Ok(json!({}))
        })
        .await
    }

    async fn describe_ou(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let id = req(input, "OrganizationalUnitId")?;
        if !org.ous.contains_key(id) {
            return Err(ou_not_found());
        }
        Ok(json!({"OrganizationalUnit": ou_json(&org, id)}))
    }

    async fn list_ous_for_parent(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let parent = parent_of(&org, input)?;
        let items = org
            .child_ous(parent)
            .iter()
            .map(|id| ou_json(&org, id))
            .collect();
        page(items, input, "OrganizationalUnits")
    }

    async fn list_children(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let parent = parent_of(&org, input)?;
        let ty = req(input, "ChildType")?;
        let ids = if ty == "ACCOUNT" {
            org.child_accounts(parent)
        } else {
            org.child_ous(parent)
        };
        let items = ids
            .into_iter()
            .map(|id| json!({"Id": id, "Type": ty}))
            .collect();
        page(items, input, "Children")
    }

    async fn list_parents(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let child = req(input, "ChildId")?;
        let Some(parent) = org.parent_of(child) else {
            return Err(err(
                "ChildNotFoundException",
                "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.",
            ));
        };
        let ty = if parent == org.root_id {
            "ROOT"
        } else {
            "ORGANIZATIONAL_UNIT"
        };
        page(vec![json!({"Id": parent, "Type": ty})], input, "Parents")
    }

    // ---- accounts ------------------------------------------------------------------------

    /// Records the request `IN_PROGRESS` and answers; the account is made in the background
    /// ([`lifecycle`]), or the request fails there with AWS's FailureReason.
    async fn create_account(&self, c: &Caller<'_>, input: &Value) -> Out {
        let email = req(input, "Email")?.to_owned();
        let name = req(input, "AccountName")?.to_owned();
        let role = s(input, "RoleName")
            .unwrap_or(DEFAULT_ACCESS_ROLE)
            .to_owned();
        let tags = input_tags(input)?;
        let accounts = Accounts::new(self.store.clone(), self.master.clone());
        // A fresh 12-digit id that no account uses yet, fixed now so that finishing the
        // request twice makes one account.
        let mut account = AccountId::random();
        for _ in 0..8 {
            if accounts.get(&account).await.map_err(internal)?.is_none() {
                break;
            }
            account = AccountId::random();
        }
        let (org_id, out) = self
            .update(c, |org, _| {
                if org.quota_count() >= MAX_ACCOUNTS {
                    return Err(account_limit());
                }
                let request = CreateRequest {
                    id: format!("car-{}", model::random_hex(32)),
                    account_name: name.clone(),
                    state: IN_PROGRESS.to_owned(),
                    requested: c.now,
                    completed: None,
                    account_id: Some(account.as_str().to_owned()),
                    failure_reason: None,
                    email: email.clone(),
                    role_name: role.clone(),
                    tags: tags.clone(),
                };
                let out = create_status_json(&request);
                org.create_requests.push(request);
                Ok((org.id.clone(), json!({"CreateAccountStatus": out})))
            })
            .await?;
        self.lifecycle().settle_soon(org_id);
        Ok(out)
    }

    async fn describe_create_status(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let id = req(input, "CreateAccountRequestId")?;
        match org.create_requests.iter().find(|r| r.id == id) {
            Some(r) => Ok(json!({"CreateAccountStatus": create_status_json(r)})),
            None => Err(err(
                "CreateAccountStatusNotFoundException",
                "We can't find a create account request with the CreateAccountRequestId that you specified.",
            )),
        }
    }

    async fn list_create_status(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let states: Vec<&str> = input
            .get("States")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let items = org
            .create_requests
            .iter()
            .filter(|r| states.is_empty() || states.contains(&r.state.as_str()))
            .map(create_status_json)
            .collect();
        page(items, input, "CreateAccountStatuses")
    }

    async fn list_accounts(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let items = org
            .accounts
            .keys()
            .map(|id| account_json(&org, id))
            .collect();
        page(items, input, "Accounts")
    }

    async fn list_accounts_for_parent(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let parent = parent_of(&org, input)?;
        let items = org
            .child_accounts(parent)
            .iter()
            .map(|id| account_json(&org, id))
            .collect();
        page(items, input, "Accounts")
    }

    async fn describe_account(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let id = req(input, "AccountId")?;
        if !org.accounts.contains_key(id) {
            return Err(account_not_found());
        }
        Ok(json!({"Account": account_json(&org, id)}))
    }

    async fn move_account(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "AccountId")?.to_owned();
        let source = req(input, "SourceParentId")?.to_owned();
        let destination = req(input, "DestinationParentId")?.to_owned();
        self.update(c, |org, _| {
            if !matches!(org.target(&source), Some(Target::Root | Target::Ou)) {
                return Err(err(
                    "SourceParentNotFoundException",
                    "We can't find a source root or OU with the ParentId that you specified.",
                ));
            }
            if !matches!(org.target(&destination), Some(Target::Root | Target::Ou)) {
                return Err(err(
                    "DestinationParentNotFoundException",
                    "We can't find the destination container (a root or OU) with the ParentId that you specified.",
                ));
            }
            let Some(member) = org.accounts.get_mut(&id) else {
                return Err(account_not_found());
            };
            if member.parent == destination {
                return Err(err(
                    "DuplicateAccountException",
                    "That account is already present in the specified destination.",
                ));
            }
            if member.parent != source {
                return Err(account_not_found());
            }
            member.parent = destination.clone();
            Ok(json!({}))
        })
        .await
    }

    /// Marks the account `PENDING_CLOSURE` and answers; it becomes `SUSPENDED` in the
    /// background ([`lifecycle`]), and from then on its principals are refused.
    async fn close_account(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "AccountId")?.to_owned();
        let org_id = self
            .update(c, |org, _| {
                if id == org.management {
                    return Err(constraint(
                        "CANNOT_CLOSE_MANAGEMENT_ACCOUNT",
                        "You attempted to close the management account.",
                    ));
                }
                let may_close = org.may_close_one_more(c.now);
                let Some(member) = org.accounts.get_mut(&id) else {
                    return Err(account_not_found());
                };
                if member.status != "ACTIVE" {
                    return Err(err(
                        "AccountAlreadyClosedException",
                        "You attempted to close an account that is already closed.",
                    ));
                }
                if !may_close {
                    return Err(constraint(
                        "CLOSE_ACCOUNT_QUOTA_EXCEEDED",
                        "You have exceeded close account quota for the past 30 days.",
                    ));
                }
                member.status = PENDING_CLOSURE.to_owned();
                member.closed = Some(c.now);
                Ok(org.id.clone())
            })
            .await?;
        self.lifecycle().settle_soon(org_id);
        Ok(json!({}))
    }

    async fn remove_account(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "AccountId")?.to_owned();
        self.update(c, |org, ops| {
            if id == org.management {
                return Err(master_cannot_leave());
            }
            remove_member(org, &id, ops)?;
            Ok(json!({}))
        })
        .await
    }

    async fn leave_organization(&self, c: &Caller<'_>) -> Out {
        let id = c.account.to_owned();
        self.update_as(c, false, |org, ops| {
            if id == org.management {
                return Err(master_cannot_leave());
            }
            remove_member(org, &id, ops)?;
            Ok(json!({}))
        })
        .await
    }

    // ---- policies ------------------------------------------------------------------------

    async fn set_policy_type(&self, c: &Caller<'_>, input: &Value, enable: bool) -> Out {
        let root = req(input, "RootId")?.to_owned();
        let ty = req(input, "PolicyType")?.to_owned();
        self.update(c, |org, _| {
            if root != org.root_id {
                return Err(err(
                    "RootNotFoundException",
                    "We can't find a root with the RootId that you specified.",
                ));
            }
            if enable {
                if org.enabled(&ty) {
                    return Err(err(
                        "PolicyTypeAlreadyEnabledException",
                        "The specified policy type is already enabled.",
                    ));
                }
                org.enabled_types.push(ty.clone());
                // Enabling SCPs (RCPs) attaches FullAWSAccess (RCPFullAWSAccess) to the root,
                // every OU and every account (Organizations User Guide, "Enabling a policy type").
                for target in org.targets() {
                    org.attach_defaults(&target);
                }
            } else {
                if !org.enabled(&ty) {
                    return Err(type_not_enabled());
                }
                // Disabling a type detaches every policy of that type everywhere.
                org.enabled_types.retain(|t| t != &ty);
                let typed: Vec<String> = org
                    .attachments
                    .values()
                    .flatten()
                    .filter(|id| org.policy(id).is_some_and(|p| p.r#type == ty))
                    .cloned()
                    .collect();
                for list in org.attachments.values_mut() {
                    list.retain(|id| !typed.contains(id));
                }
            }
            org.policies_changed = c.now;
            Ok(json!({"Root": root_json(org)}))
        })
        .await
    }

    async fn create_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let name = req(input, "Name")?.to_owned();
        let description = s(input, "Description").unwrap_or_default().to_owned();
        let ty = req(input, "Type")?.to_owned();
        let content = req(input, "Content")?.to_owned();
        let tags = input_tags(input)?;
        check_content(&ty, &content)?;
        self.update(c, |org, _| {
            let same_type = org.policies.values().filter(|p| p.r#type == ty);
            if same_type.clone().any(|p| p.name == name) {
                return Err(duplicate_policy());
            }
            if same_type.count() >= MAX_POLICIES {
                return Err(constraint(
                    "POLICY_NUMBER_LIMIT_EXCEEDED",
                    "You attempted to exceed the number of policies that you can have in an organization.",
                ));
            }
            let id = format!("p-{}", model::random_lower(8));
            let policy = PolicyRec {
                name: name.clone(),
                description: description.clone(),
                r#type: ty.clone(),
                content: content.clone(),
            };
            org.policies.insert(id.clone(), policy.clone());
            if !tags.is_empty() {
                org.tags.insert(id.clone(), tags.clone());
            }
            Ok(json!({"Policy": policy_json(org, &id, &policy)}))
        })
        .await
    }

    async fn update_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "PolicyId")?.to_owned();
        let name = s(input, "Name").map(str::to_owned);
        let description = s(input, "Description").map(str::to_owned);
        let content = s(input, "Content").map(str::to_owned);
        self.update(c, |org, _| {
            if AWS_MANAGED.contains(&id.as_str()) {
                return Err(immutable_policy());
            }
            let Some(mut policy) = org.policies.get(&id).cloned() else {
                return Err(policy_not_found());
            };
            if let Some(name) = &name {
                if org
                    .policies
                    .iter()
                    .any(|(pid, p)| pid != &id && p.r#type == policy.r#type && &p.name == name)
                {
                    return Err(duplicate_policy());
                }
                policy.name = name.clone();
            }
            if let Some(d) = &description {
                policy.description = d.clone();
            }
            if let Some(content) = &content {
                check_content(&policy.r#type, content)?;
                policy.content = content.clone();
            }
            org.policies.insert(id.clone(), policy.clone());
            org.policies_changed = c.now;
            Ok(json!({"Policy": policy_json(org, &id, &policy)}))
        })
        .await
    }

    async fn delete_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "PolicyId")?.to_owned();
        self.update(c, |org, _| {
            if AWS_MANAGED.contains(&id.as_str()) {
                return Err(immutable_policy());
            }
            if !org.policies.contains_key(&id) {
                return Err(policy_not_found());
            }
            if org.attachments.values().flatten().any(|p| p == &id) {
                return Err(err(
                    "PolicyInUseException",
                    "The policy is attached to one or more entities. You must detach it from all roots, OUs, and accounts before performing this operation.",
                ));
            }
            org.policies.remove(&id);
            org.tags.remove(&id);
            Ok(json!({}))
        })
        .await
    }

    async fn describe_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let id = req(input, "PolicyId")?;
        let policy = org.policy(id).ok_or_else(policy_not_found)?;
        Ok(json!({"Policy": policy_json(&org, id, &policy)}))
    }

    async fn list_policies(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let ty = req(input, "Filter")?;
        let mut items: Vec<Value> = AWS_MANAGED
            .iter()
            .filter_map(|id| model::aws_managed(id).map(|p| (*id, p)))
            .filter(|(_, p)| p.r#type == ty)
            .map(|(id, p)| policy_summary(&org, id, &p))
            .collect();
        items.extend(
            org.policies
                .iter()
                .filter(|(_, p)| p.r#type == ty)
                .map(|(id, p)| policy_summary(&org, id, p)),
        );
        page(items, input, "Policies")
    }

    async fn attach_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "PolicyId")?.to_owned();
        let target = req(input, "TargetId")?.to_owned();
        self.update(c, |org, _| {
            let policy = org.policy(&id).ok_or_else(policy_not_found)?;
            if org.target(&target).is_none() {
                return Err(target_not_found());
            }
            if !org.enabled(&policy.r#type) {
                return Err(type_not_enabled());
            }
            let attached = org.attached(&target, &policy.r#type);
            if attached.contains(&id) {
                return Err(err(
                    "DuplicatePolicyAttachmentException",
                    "The selected policy is already attached to the specified target.",
                ));
            }
            let limit = if matches!(policy.r#type.as_str(), SCP | RCP) {
                MAX_ATTACHMENTS
            } else {
                10
            };
            if attached.len() >= limit {
                return Err(constraint(
                    "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
                    "You attempted to exceed the number of policies of a certain type that can be attached to an entity at one time.",
                ));
            }
            org.attachments.entry(target.clone()).or_default().push(id.clone());
            org.policies_changed = c.now;
            Ok(json!({}))
        })
        .await
    }

    async fn detach_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "PolicyId")?.to_owned();
        let target = req(input, "TargetId")?.to_owned();
        self.update(c, |org, _| {
            let policy = org.policy(&id).ok_or_else(policy_not_found)?;
            if org.target(&target).is_none() {
                return Err(target_not_found());
            }
            let attached = org.attached(&target, &policy.r#type);
            if !attached.contains(&id) {
                return Err(err(
                    "PolicyNotAttachedException",
                    "The policy isn't attached to the specified target in the specified root.",
                ));
            }
            // RCPFullAWSAccess stays attached for as long as RCPs are enabled (Organizations
            // User Guide, "Resource control policies").
            if id == RCP_FULL_AWS_ACCESS {
                return Err(invalid_input(
                    "NON_DETACHABLE_POLICY",
                    "You can't detach this AWS managed policy.",
                ));
            }
            // Every root, OU and account keeps at least one SCP.
            if policy.r#type == SCP && attached.len() <= 1 {
                return Err(constraint(
                    "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
                    "You attempted to detach a policy from an entity that would leave the entity with fewer than the minimum number of policies of that type required.",
                ));
            }
            if let Some(list) = org.attachments.get_mut(&target) {
                list.retain(|p| p != &id);
            }
            org.policies_changed = c.now;
            Ok(json!({}))
        })
        .await
    }

    async fn list_policies_for_target(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let target = req(input, "TargetId")?;
        let ty = req(input, "Filter")?;
        if org.target(target).is_none() {
            return Err(target_not_found());
        }
        let items = org
            .attached(target, ty)
            .iter()
            .filter_map(|id| org.policy(id).map(|p| policy_summary(&org, id, &p)))
            .collect();
        page(items, input, "Policies")
    }

    async fn list_targets_for_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let id = req(input, "PolicyId")?;
        if org.policy(id).is_none() {
            return Err(policy_not_found());
        }
        let items = org
            .targets()
            .into_iter()
            .filter(|t| {
                org.attachments
                    .get(t)
                    .is_some_and(|l| l.iter().any(|p| p == id))
            })
            .map(|t| {
                let (ty, name) = match org.target(&t) {
                    Some(Target::Root) => ("ROOT", "Root".to_owned()),
                    Some(Target::Ou) => (
                        "ORGANIZATIONAL_UNIT",
                        org.ous.get(&t).map(|o| o.name.clone()).unwrap_or_default(),
                    ),
                    _ => (
                        "ACCOUNT",
                        org.accounts
                            .get(&t)
                            .map(|a| a.name.clone())
                            .unwrap_or_default(),
                    ),
                };
                json!({"TargetId": t, "Arn": org.target_arn(&t), "Name": name, "Type": ty})
            })
            .collect();
        page(items, input, "Targets")
    }

    async fn describe_effective_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.member_org(c).await?;
        let ty = req(input, "PolicyType")?;
        let target = s(input, "TargetId").unwrap_or(c.account);
        // A member account sees its own effective policy; the management account and
        // delegated administrators see every account's.
        if target != c.account
            && org.management != c.account
            && !org.delegated.iter().any(|d| d.account == c.account)
        {
            return Err(access_denied());
        }
        if !org.accounts.contains_key(target) {
            return Err(target_not_found());
        }
        let Some(levels) = org.levels(target, ty) else {
            return Err(effective_not_found());
        };
        let mut effective = Value::Object(Default::default());
        let mut any = false;
        for (_, content) in levels.iter().flatten() {
            if let Ok(doc) = serde_json::from_str::<Value>(content) {
                merge_inherited(&mut effective, &doc);
                any = true;
            }
        }
        if !any {
            return Err(effective_not_found());
        }
        Ok(json!({"EffectivePolicy": {
            "PolicyContent": effective.to_string(),
            "LastUpdatedTimestamp": org.policies_changed,
            "TargetId": target,
            "PolicyType": ty,
        }}))
    }

    // ---- handshakes ------------------------------------------------------------------------

    async fn handshakes(&self) -> Result<Vec<HandshakeRec>, AwsError> {
        let page = self
            .store
            .list(ListQuery::all(HANDSHAKE_KIND, ""))
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(page
            .items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item.value).ok())
            .collect())
    }

    async fn handshake(&self, id: &str) -> Result<(HandshakeRec, i64), AwsError> {
        let item = self
            .store
            .get(HANDSHAKE_KIND, "", id)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(handshake_not_found)?;
        let h = serde_json::from_value(item.value)
            .map_err(|e| internal(IamError::corrupt(HANDSHAKE_KIND, id, e)))?;
        Ok((h, item.version))
    }

    async fn invite(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.member_org(c).await?;
        if org.management != c.account {
            return Err(access_denied());
        }
        let target = input.get("Target").cloned().unwrap_or(Value::Null);
        let party_type = target.get("Type").and_then(Value::as_str).unwrap_or("");
        let target_value = target.get("Id").and_then(Value::as_str).unwrap_or("");
        let (target_id, target_email) = match party_type {
            "ACCOUNT" => (target_value.to_owned(), None),
            // The account whose root user has this address: one CreateAccount made, or any
            // account by Portcullis's default root address.
            "EMAIL" => {
                let owner = match email_owner(&*self.store, target_value)
                    .await
                    .map_err(internal)?
                {
                    Some(owner) => Some(owner),
                    None => default_email_owner(target_value),
                };
                let Some(owner) = owner else {
                    // AWS would email an address no account has yet; here no one could
                    // accept, so the address is refused as a target.
                    return Err(invalid_input(
                        "INVALID_EMAIL_ADDRESS_TARGET",
                        "You specified an invalid email address for the invited account owner.",
                    ));
                };
                (owner, Some(target_value.to_owned()))
            }
            _ => {
                return Err(invalid_input(
                    "INVALID_PARTY_TYPE_TARGET",
                    "You specified the wrong type for the handshake's target.",
                ));
            }
        };
        let target_id = target_id.as_str();
        let account = AccountId::parse(target_id).map_err(|_| {
            invalid_input(
                "INVALID_PARTY_TYPE_TARGET",
                "You specified the wrong type for the handshake's target.",
            )
        })?;
        let accounts = Accounts::new(self.store.clone(), self.master.clone());
        if accounts.get(&account).await.map_err(internal)?.is_none() {
            return Err(account_not_found());
        }
        if self.org_of(target_id).await?.is_some() {
            return Err(err(
                "HandshakeConstraintViolationException",
                "ALREADY_IN_AN_ORGANIZATION: the account is already a member of an organization.",
            ));
        }
        if self
            .handshakes()
            .await?
            .iter()
            .any(|h| h.organization == org.id && h.target == target_id && h.state == "OPEN")
        {
            return Err(err(
                "DuplicateHandshakeException",
                "A handshake with the same action and target already exists.",
            ));
        }
        let h = HandshakeRec {
            id: format!("h-{}", model::random_lower(10)),
            organization: org.id.clone(),
            management: org.management.clone(),
            target: target_id.to_owned(),
            state: "OPEN".to_owned(),
            requested: c.now,
            expires: c.now + HANDSHAKE_TTL,
            notes: s(input, "Notes").map(str::to_owned),
            target_email,
        };
        self.put_handshake(&h, Precondition::Absent).await?;
        Ok(json!({"Handshake": handshake_json(&h, &org.management_email)}))
    }

    async fn put_handshake(&self, h: &HandshakeRec, p: Precondition) -> Result<(), AwsError> {
        let op = handshake_put(h, p)?;
        match self.store.write(vec![op]).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(concurrent()),
            Err(e) => Err(internal(e.into())),
        }
    }

    async fn accept_handshake(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "HandshakeId")?;
        let (mut h, version) = self.handshake(id).await?;
        if h.target != c.account {
            return Err(handshake_not_found());
        }
        check_transition(&h, c.now)?;
        if self.org_of(c.account).await?.is_some() {
            return Err(err(
                "HandshakeConstraintViolationException",
                "ALREADY_IN_AN_ORGANIZATION: the account is already a member of an organization.",
            ));
        }
        let Some((mut org, org_version)) = load_org(&*self.store, &h.organization)
            .await
            .map_err(internal)?
        else {
            return Err(handshake_not_found());
        };
        if org.accounts.len() >= MAX_ACCOUNTS {
            return Err(account_limit());
        }
        let name = self.account_name(c.account).await?;
        let email = root_email(&*self.store, c.account)
            .await
            .map_err(internal)?;
        org.accounts.insert(
            c.account.to_owned(),
            Member {
                name,
                email,
                parent: org.root_id.clone(),
                status: "ACTIVE".to_owned(),
                joined_method: "INVITED".to_owned(),
                joined: c.now,
                closed: None,
            },
        );
        org.attach_defaults(c.account);
        h.state = "ACCEPTED".to_owned();
        let ops = vec![
            member_put(c.account, &org.id, Precondition::Absent)?,
            put_org(&org, Precondition::Version(org_version))?,
            handshake_put(&h, Precondition::Version(version))?,
        ];
        match self.store.write(ops).await {
            Ok(()) => Ok(json!({"Handshake": handshake_json(&h, &org.management_email)})),
            Err(StoreError::Conflict { .. }) => Err(concurrent()),
            Err(e) => Err(internal(e.into())),
        }
    }

    async fn answer_handshake(&self, c: &Caller<'_>, input: &Value, state: &str) -> Out {
        let id = req(input, "HandshakeId")?;
        let (mut h, version) = self.handshake(id).await?;
        let allowed = if state == "CANCELED" {
            h.management == c.account
        } else {
            h.target == c.account
        };
        if !allowed {
            return Err(handshake_not_found());
        }
        check_transition(&h, c.now)?;
        h.state = state.to_owned();
        self.put_handshake(&h, Precondition::Version(version))
            .await?;
        let email = default_email(&h.management);
        Ok(json!({"Handshake": handshake_json(&h, &email)}))
    }

    async fn describe_handshake(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "HandshakeId")?;
        let (h, _) = self.handshake(id).await?;
        if h.target != c.account && h.management != c.account {
            return Err(handshake_not_found());
        }
        let email = default_email(&h.management);
        Ok(json!({"Handshake": handshake_json(&h, &email)}))
    }

    async fn list_handshakes(&self, c: &Caller<'_>, input: &Value, organization: bool) -> Out {
        let org_id = if organization {
            Some(self.read(c).await?.id)
        } else {
            None
        };
        let action = input
            .get("Filter")
            .and_then(|f| f.get("ActionType"))
            .and_then(Value::as_str);
        let items = self
            .handshakes()
            .await?
            .into_iter()
            .filter(|h| match &org_id {
                Some(id) => &h.organization == id,
                None => h.target == c.account,
            })
            .filter(|_| action.is_none_or(|a| a == "INVITE"))
            .map(|h| {
                let email = default_email(&h.management);
                handshake_json(&h, &email)
            })
            .collect();
        page(items, input, "Handshakes")
    }

    // ---- delegated administrators and service access --------------------------------------

    async fn register_delegated(&self, c: &Caller<'_>, input: &Value) -> Out {
        let account = req(input, "AccountId")?.to_owned();
        let service = req(input, "ServicePrincipal")?.to_owned();
        self.update(c, |org, _| {
            if account == org.management {
                return Err(constraint(
                    "CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR",
                    "You attempted to register the management account of the organization as a delegated administrator for an AWS service integrated with Organizations.",
                ));
            }
            let Some(member) = org.accounts.get(&account) else {
                return Err(account_not_found());
            };
            if member.status != "ACTIVE" {
                return Err(constraint(
                    "CANNOT_REGISTER_SUSPENDED_ACCOUNT_AS_DELEGATED_ADMINISTRATOR",
                    "You cannot register a suspended account as a delegated administrator.",
                ));
            }
            if org
                .delegated
                .iter()
                .any(|d| d.account == account && d.service == service)
            {
                return Err(err(
                    "AccountAlreadyRegisteredException",
                    "The provided account is already a delegated administrator for your organization.",
                ));
            }
            org.delegated.push(Delegation {
                account: account.clone(),
                service: service.clone(),
                since: c.now,
            });
            Ok(json!({}))
        })
        .await
    }

    async fn deregister_delegated(&self, c: &Caller<'_>, input: &Value) -> Out {
        let account = req(input, "AccountId")?.to_owned();
        let service = req(input, "ServicePrincipal")?.to_owned();
        self.update(c, |org, _| {
            if !org.accounts.contains_key(&account) {
                return Err(account_not_found());
            }
            let before = org.delegated.len();
            org.delegated
                .retain(|d| !(d.account == account && d.service == service));
            if org.delegated.len() == before {
                return Err(not_registered());
            }
            Ok(json!({}))
        })
        .await
    }

    async fn list_delegated(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let service = s(input, "ServicePrincipal");
        let mut seen: Vec<&str> = Vec::new();
        let mut items = Vec::new();
        for d in &org.delegated {
            if service.is_some_and(|s| s != d.service) || seen.contains(&d.account.as_str()) {
                continue;
            }
            seen.push(&d.account);
            let mut a = account_json(&org, &d.account);
            if let Some(obj) = a.as_object_mut() {
                obj.insert("DelegationEnabledDate".to_owned(), json!(d.since));
            }
            items.push(a);
        }
        page(items, input, "DelegatedAdministrators")
    }

    async fn list_delegated_services(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let account = req(input, "AccountId")?;
        if !org.accounts.contains_key(account) {
            return Err(account_not_found());
        }
        let items: Vec<Value> = org
            .delegated
            .iter()
            .filter(|d| d.account == account)
            .map(|d| json!({"ServicePrincipal": d.service, "DelegationEnabledDate": d.since}))
            .collect();
        if items.is_empty() {
            return Err(not_registered());
        }
        page(items, input, "DelegatedServices")
    }

    async fn service_access(&self, c: &Caller<'_>, input: &Value, enable: bool) -> Out {
        let principal = req(input, "ServicePrincipal")?.to_owned();
        self.update(c, |org, _| {
            if enable {
                org.service_access.entry(principal.clone()).or_insert(c.now);
            } else {
                org.service_access.remove(&principal);
            }
            Ok(json!({}))
        })
        .await
    }

    // ---- tags and the resource policy --------------------------------------------------------

    async fn tag_resource(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "ResourceId")?.to_owned();
        let tags = input_tags(input)?;
        self.update(c, |org, _| {
            check_taggable(org, &id)?;
            let current = org.tags.entry(id.clone()).or_default();
            for t in &tags {
                match current.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value.clone(),
                    None => current.push(t.clone()),
                }
            }
            if current.len() > MAX_TAGS {
                return Err(constraint(
                    "MAX_TAG_LIMIT_EXCEEDED",
                    "You have exceeded the number of tags allowed on this resource.",
                ));
            }
            Ok(json!({}))
        })
        .await
    }

    async fn untag_resource(&self, c: &Caller<'_>, input: &Value) -> Out {
        let id = req(input, "ResourceId")?.to_owned();
        let keys: Vec<String> = input
            .get("TagKeys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        self.update(c, |org, _| {
            check_taggable(org, &id)?;
            if let Some(current) = org.tags.get_mut(&id) {
                current.retain(|t| !keys.contains(&t.key));
            }
            Ok(json!({}))
        })
        .await
    }

    async fn list_tags(&self, c: &Caller<'_>, input: &Value) -> Out {
        let org = self.read(c).await?;
        let id = req(input, "ResourceId")?;
        check_taggable(&org, id)?;
        let items = org
            .tags
            .get(id)
            .map(|tags| {
                tags.iter()
                    .map(|t| json!({"Key": t.key, "Value": t.value}))
                    .collect()
            })
            .unwrap_or_default();
        page(items, input, "Tags")
    }

    async fn put_resource_policy(&self, c: &Caller<'_>, input: &Value) -> Out {
        let content = req(input, "Content")?.to_owned();
        if let Err(e) = Policy::parse("organization", &content, PolicyType::Resource) {
            return Err(invalid_input(
                "INVALID_RESOURCE_POLICY_JSON",
                &format!("The resource policy is not valid: {e}"),
            ));
        }
        self.update(c, |org, _| {
            let id = match &org.resource_policy {
                Some((id, _)) => id.clone(),
                None => format!("rp-{}", model::random_lower(8)),
            };
            org.resource_policy = Some((id.clone(), content.clone()));
            Ok(json!({"ResourcePolicy": resource_policy_json(org, &id, &content)}))
        })
        .await
    }
}

// ---- store helpers ---------------------------------------------------------------------------

/// The organization with id `org_id`, with its store version.
pub(crate) async fn load_org(
    store: &dyn Store,
    org_id: &str,
) -> Result<Option<(OrgDoc, i64)>, IamError> {
    let Some(item) = store.get(ORG_KIND, "", org_id).await? else {
        return Ok(None);
    };
    let org =
        serde_json::from_value(item.value).map_err(|e| IamError::corrupt(ORG_KIND, org_id, e))?;
    Ok(Some((org, item.version)))
}

/// The organization `account` belongs to, with its store version.
pub(crate) async fn load_org_of(
    store: &dyn Store,
    account: &str,
) -> Result<Option<(OrgDoc, i64)>, IamError> {
    let Some(item) = store.get(MEMBER_KIND, "", account).await? else {
        return Ok(None);
    };
    let Some(org_id) = item.value.get("OrganizationId").and_then(Value::as_str) else {
        return Err(IamError::corrupt(MEMBER_KIND, account, "no OrganizationId"));
    };
    load_org(store, org_id).await
}

pub(crate) fn put_org(org: &OrgDoc, precondition: Precondition) -> Result<WriteOp, AwsError> {
    Ok(WriteOp::Put {
        kind: ORG_KIND.to_owned(),
        account: String::new(),
        id: org.id.clone(),
        value: serde_json::to_value(org)
            .map_err(|e| internal(IamError::corrupt(ORG_KIND, &org.id, e)))?,
        precondition,
    })
}

pub(crate) fn member_put(
    account: &str,
    org_id: &str,
    precondition: Precondition,
) -> Result<WriteOp, AwsError> {
    Ok(WriteOp::Put {
        kind: MEMBER_KIND.to_owned(),
        account: String::new(),
        id: account.to_owned(),
        value: json!({"OrganizationId": org_id}),
        precondition,
    })
}

fn handshake_put(h: &HandshakeRec, precondition: Precondition) -> Result<WriteOp, AwsError> {
    Ok(WriteOp::Put {
        kind: HANDSHAKE_KIND.to_owned(),
        account: String::new(),
        id: h.id.clone(),
        value: serde_json::to_value(h)
            .map_err(|e| internal(IamError::corrupt(HANDSHAKE_KIND, &h.id, e)))?,
        precondition,
    })
}

/// Takes `account` out of the organization: its tree entry, attachments, tags, delegations
/// and index entry.
fn remove_member(org: &mut OrgDoc, account: &str, ops: &mut Vec<WriteOp>) -> Result<(), AwsError> {
    if org.accounts.remove(account).is_none() {
        return Err(account_not_found());
    }
    org.forget_target(account);
    org.delegated.retain(|d| d.account != account);
    ops.push(WriteOp::Delete {
        kind: MEMBER_KIND.to_owned(),
        account: String::new(),
        id: account.to_owned(),
        precondition: Precondition::Any,
    });
    Ok(())
}

/// The role CreateAccount puts in a new account: trusted by the management account, with
/// full administrator permissions (Organizations User Guide, "Accessing a member account that
/// has a management account access role").
pub(crate) fn access_role(
    account: &AccountId,
    management: &str,
    name: &str,
    now: &str,
) -> RoleRecord {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{management}:root")},
        "Action": "sts:AssumeRole"}]});
    let admin = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "*", "Resource": "*"}]});
    RoleRecord {
        role_name: name.to_owned(),
        role_id: portcullis_core::id::unique_id(portcullis_core::id::prefix::ROLE),
        path: "/".to_owned(),
        arn: format!("arn:aws:iam::{}:role/{name}", account.as_str()),
        create_date: now.to_owned(),
        assume_role_policy_document: trust.to_string(),
        description: None,
        max_session_duration: 3600,
        tags: Vec::new(),
        inline_policies: [("AdministratorAccess".to_owned(), admin.to_string())].into(),
        attached_policies: Vec::new(),
        permissions_boundary: None,
        role_last_used: None,
        service_linked: None,
    }
}

// ---- validation -------------------------------------------------------------------------------

fn check_unique_ou_name(
    org: &OrgDoc,
    parent: &str,
    name: &str,
    except: Option<&str>,
) -> Result<(), AwsError> {
    if org
        .ous
        .iter()
        .any(|(id, o)| o.parent == parent && o.name == name && Some(id.as_str()) != except)
    {
        return Err(err(
            "DuplicateOrganizationalUnitException",
            "An OU with the same name already exists.",
        ));
    }
    Ok(())
}

/// Validates policy content for its type: SCPs and RCPs with the policy engine's rules
/// (5,120 characters, no Principal in SCPs, ...), other types as JSON objects.
fn check_content(ty: &str, content: &str) -> Result<(), AwsError> {
    let kind = match ty {
        SCP => PolicyType::Scp,
        RCP => PolicyType::Rcp,
        _ => {
            // Management policies (tag, backup, ...) are JSON objects of up to 10,000
            // characters (Organizations quotas).
            if content.chars().count() > 10_000 {
                return Err(constraint(
                    "POLICY_CONTENT_LIMIT_EXCEEDED",
                    "the policy exceeds the 10,000 character limit",
                ));
            }
            return match serde_json::from_str::<Value>(content) {
                Ok(Value::Object(_)) => Ok(()),
                _ => Err(malformed(
                    "The provided policy document doesn't meet the requirements of the specified policy type.",
                )),
            };
        }
    };
    match Policy::parse("organizations", content, kind) {
        Ok(_) => Ok(()),
        Err(portcullis_policy::Error::Invalid { findings }) => {
            let first = findings.first();
            let message = first.map_or_else(String::new, |f| f.message.clone());
            Err(match first.map(|f| f.code) {
                Some(FindingCode::ConstraintViolation) => {
                    err("ConstraintViolationException", message)
                }
                Some(FindingCode::ValidationError) => err("InvalidInputException", message),
                _ => malformed(&message),
            })
        }
        Err(e) => Err(malformed(&e.to_string())),
    }
}

fn check_taggable(org: &OrgDoc, id: &str) -> Result<(), AwsError> {
    if org.target(id).is_some() || org.policies.contains_key(id) {
        Ok(())
    } else {
        Err(target_not_found())
    }
}

fn check_transition(h: &HandshakeRec, now: u64) -> Result<(), AwsError> {
    if h.state == "OPEN" && now >= h.expires {
        return Err(err(
            "InvalidHandshakeTransitionException",
            "This handshake has expired.",
        ));
    }
    if h.state != "OPEN" {
        return Err(err(
            "HandshakeAlreadyInStateException",
            format!("The handshake is already in the {} state.", h.state),
        ));
    }
    Ok(())
}

/// Tag policy inheritance (Organizations User Guide, "Policy syntax and inheritance"): each
/// level's keys replace or extend its parent's; `@@assign` replaces, `@@append` adds to a
/// list, `@@remove` takes values out. The effective policy shows plain values.
fn merge_inherited(into: &mut Value, child: &Value) {
    let Some(child) = child.as_object() else {
        return;
    };
    if !into.is_object() {
        *into = Value::Object(Default::default());
    }
    let Some(target) = into.as_object_mut() else {
        return;
    };
    for (key, value) in child {
        if key.starts_with("@@") && key != "@@assign" && key != "@@append" && key != "@@remove" {
            continue;
        }
        match value.as_object() {
            Some(obj) if obj.contains_key("@@assign") => {
                target.insert(
                    key.clone(),
                    obj.get("@@assign").cloned().unwrap_or(Value::Null),
                );
            }
            Some(obj) if obj.contains_key("@@append") => {
                let add = obj.get("@@append").cloned().unwrap_or(Value::Null);
                let entry = target
                    .entry(key.clone())
                    .or_insert(Value::Array(Vec::new()));
                match (entry.as_array_mut(), add) {
                    (Some(list), Value::Array(more)) => {
                        for v in more {
                            if !list.contains(&v) {
                                list.push(v);
                            }
                        }
                    }
                    (Some(list), v) => list.push(v),
                    (None, v) => *entry = v,
                }
            }
            Some(obj) if obj.contains_key("@@remove") => {
                let remove = obj.get("@@remove").cloned().unwrap_or(Value::Null);
                if let Some(list) = target.get_mut(key).and_then(Value::as_array_mut) {
                    list.retain(|v| match &remove {
                        Value::Array(r) => !r.contains(v),
                        r => r != v,
                    });
                } else {
                    target.remove(key);
                }
            }
            Some(_) => {
                let entry = target
                    .entry(key.clone())
                    .or_insert(Value::Object(Default::default()));
                merge_inherited(entry, value);
            }
            None => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

// ---- input and output ------------------------------------------------------------------------

fn s<'a>(input: &'a Value, member: &str) -> Option<&'a str> {
    input.get(member).and_then(Value::as_str)
}

fn req<'a>(input: &'a Value, member: &str) -> Result<&'a str, AwsError> {
    s(input, member).ok_or_else(|| {
        invalid_input(
            "INPUT_REQUIRED",
            &format!("You must specify a value for {member}."),
        )
    })
}

fn input_tags(input: &Value) -> Result<Vec<TagRec>, AwsError> {
    let mut out: Vec<TagRec> = Vec::new();
    for t in input
        .get("Tags")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let key = s(t, "Key").unwrap_or_default().to_owned();
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_input(
                "INVALID_SYSTEM_TAGS_PARAMETER",
                "Tag keys can't start with aws:.",
            ));
        }
        if out.iter().any(|x| x.key == key) {
            return Err(invalid_input(
                "DUPLICATE_TAG_KEY",
                "Tag keys must be unique among the tags attached to the same entity.",
            ));
        }
        out.push(TagRec {
            key,
            value: s(t, "Value").unwrap_or_default().to_owned(),
        });
    }
    if out.len() > MAX_TAGS {
        return Err(constraint(
            "MAX_TAG_LIMIT_EXCEEDED",
            "You have exceeded the number of tags allowed on this resource.",
        ));
    }
    Ok(out)
}

/// One page of `items`: `MaxResults` (default 20 as AWS's console lists; the model caps it
/// at 20) and an opaque `NextToken` (the offset).
fn page(items: Vec<Value>, input: &Value, member: &str) -> Out {
    let max = input
        .get("MaxResults")
        .and_then(Value::as_u64)
        .map_or(20, |m| usize::try_from(m).unwrap_or(20))
        .max(1);
    let start = match s(input, "NextToken") {
        Some(token) => token
            .strip_prefix("portcullis-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                invalid_input(
                    "INVALID_NEXT_TOKEN",
                    "The specified NextToken is not valid.",
                )
            })?,
        None => 0,
    };
    let total = items.len();
    let chunk: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    let mut out = serde_json::Map::new();
    out.insert(member.to_owned(), Value::Array(chunk));
    if start + max < total {
        out.insert(
            "NextToken".to_owned(),
            Value::String(format!("portcullis-{}", start + max)),
        );
    }
    Ok(Value::Object(out))
}

/// The root email of accounts that were given none (CreateAccount gives one).
pub(crate) fn default_email(account: &str) -> String {
    format!("root+{account}@portcullis.invalid")
}

/// The account a default root email names, if `email` is one.
fn default_email_owner(email: &str) -> Option<String> {
    let lower = email.to_ascii_lowercase();
    let id = lower
        .strip_prefix("root+")?
        .strip_suffix("@portcullis.invalid")?;
    AccountId::parse(id).ok().map(|a| a.as_str().to_owned())
}

fn org_json(org: &OrgDoc) -> Value {
    json!({
        "Id": org.id,
        "Arn": org.arn(),
        "FeatureSet": "ALL",
        "MasterAccountArn": format!("arn:aws:organizations::{}:account/{}/{}", org.management, org.id, org.management),
        "MasterAccountId": org.management,
        "MasterAccountEmail": org.management_email,
        // Deprecated by AWS in favour of ListRoots; AWS reports SCPs here.
        "AvailablePolicyTypes": [{"Type": SCP, "Status": "ENABLED"}],
    })
}

fn root_json(org: &OrgDoc) -> Value {
    let types: Vec<Value> = org
        .enabled_types
        .iter()
        .map(|t| json!({"Type": t, "Status": "ENABLED"}))
        .collect();
    json!({"Id": org.root_id, "Arn": org.target_arn(&org.root_id), "Name": "Root",
           "PolicyTypes": types})
}

fn ou_json(org: &OrgDoc, id: &str) -> Value {
    let name = org.ous.get(id).map(|o| o.name.clone()).unwrap_or_default();
    json!({"Id": id, "Arn": org.target_arn(id), "Name": name})
}

fn account_json(org: &OrgDoc, id: &str) -> Value {
    let Some(a) = org.accounts.get(id) else {
        return json!({"Id": id});
    };
    // Status is AccountStatus (no CLOSED); State is AccountState, which has it.
    let status = match a.status.as_str() {
        model::CLOSED => model::SUSPENDED,
        other => other,
    };
    json!({
        "Id": id,
        "Arn": org.target_arn(id),
        "Email": a.email,
        "Name": a.name,
        "Status": status,
        "State": a.status,
        "JoinedMethod": a.joined_method,
        "JoinedTimestamp": a.joined,
    })
}

fn create_status_json(r: &CreateRequest) -> Value {
    let mut v = json!({
        "Id": r.id,
        "AccountName": r.account_name,
        "State": r.state,
        "RequestedTimestamp": r.requested,
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(at) = r.completed {
            obj.insert("CompletedTimestamp".to_owned(), json!(at));
        }
        // The account id is AWS's to report once the account exists.
        if let Some(a) = r.account_id.as_ref().filter(|_| r.state == "SUCCEEDED") {
            obj.insert("AccountId".to_owned(), json!(a));
        }
        if let Some(f) = &r.failure_reason {
            obj.insert("FailureReason".to_owned(), json!(f));
        }
    }
    v
}

fn policy_summary(org: &OrgDoc, id: &str, p: &PolicyRec) -> Value {
    json!({
        "Id": id,
        "Arn": org.policy_arn(id, &p.r#type),
        "Name": p.name,
        "Description": p.description,
        "Type": p.r#type,
        "AwsManaged": AWS_MANAGED.contains(&id),
    })
}

fn policy_json(org: &OrgDoc, id: &str, p: &PolicyRec) -> Value {
    json!({"PolicySummary": policy_summary(org, id, p), "Content": p.content})
}

fn handshake_json(h: &HandshakeRec, management_email: &str) -> Value {
    let mut resources = vec![
        json!({"Type": "ORGANIZATION", "Value": h.organization, "Resources": [
            {"Type": "MASTER_EMAIL", "Value": management_email},
            {"Type": "MASTER_NAME", "Value": h.management},
            {"Type": "ORGANIZATION_FEATURE_SET", "Value": "ALL"},
        ]}),
        match &h.target_email {
            Some(email) => json!({"Type": "EMAIL", "Value": email}),
            None => json!({"Type": "ACCOUNT", "Value": h.target}),
        },
    ];
    if let Some(notes) = &h.notes {
        resources.push(json!({"Type": "NOTES", "Value": notes}));
    }
    json!({
        "Id": h.id,
        "Arn": format!("arn:aws:organizations::{}:handshake/{}/invite/{}", h.management, h.organization, h.id),
        "Parties": [
            {"Id": h.organization.trim_start_matches("o-"), "Type": "ORGANIZATION"},
            match &h.target_email {
                Some(email) => json!({"Id": email, "Type": "EMAIL"}),
                None => json!({"Id": h.target, "Type": "ACCOUNT"}),
            },
        ],
        "State": h.state,
        "RequestedTimestamp": h.requested,
        "ExpirationTimestamp": h.expires,
        "Action": "INVITE",
        "Resources": resources,
    })
}

fn resource_policy_json(org: &OrgDoc, id: &str, content: &str) -> Value {
    json!({"ResourcePolicySummary": {"Id": id,
        "Arn": format!("arn:aws:organizations::{}:resourcepolicy/{}/{id}", org.management, org.id)},
        "Content": content})
}

// ---- errors ------------------------------------------------------------------------------------

fn err(code: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::new(code, StatusCode::BAD_REQUEST, message)
}

/// `ConstraintViolationException` with its `Reason` member, as botocore parses it.
fn constraint(reason: &str, message: &str) -> AwsError {
    err("ConstraintViolationException", message).with_field("Reason", reason)
}

/// `InvalidInputException` with its `Reason` member, as botocore parses it.
fn invalid_input(reason: &str, message: &str) -> AwsError {
    err("InvalidInputException", message).with_field("Reason", reason)
}

fn malformed(message: &str) -> AwsError {
    err("MalformedPolicyDocumentException", message.to_owned())
}

fn account_limit() -> AwsError {
    constraint(
        "ACCOUNT_NUMBER_LIMIT_EXCEEDED",
        "You attempted to exceed the number of accounts that you can have in an organization.",
    )
}

fn not_in_use() -> AwsError {
    err(
        "AWSOrganizationsNotInUseException",
        "Your account is not a member of an organization.",
    )
}

fn access_denied() -> AwsError {
    err(
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
    )
}

fn already_in_organization() -> AwsError {
    err(
        "AlreadyInOrganizationException",
        "The provided account is already a member of an organization.",
    )
}

fn concurrent() -> AwsError {
    err(
        "ConcurrentModificationException",
        "The target of the operation is currently being modified by a different request. Try again later.",
    )
}

/// The `ParentId` of `input`, which must name the root or an OU of `org`.
fn parent_of<'a>(org: &OrgDoc, input: &'a Value) -> Result<&'a str, AwsError> {
    let parent = req(input, "ParentId")?;
    if matches!(org.target(parent), Some(Target::Root | Target::Ou)) {
        Ok(parent)
    } else {
        Err(parent_not_found())
    }
}

fn parent_not_found() -> AwsError {
    err(
        "ParentNotFoundException",
        "We can't find a root or OU with the ParentId that you specified.",
    )
}

fn ou_not_found() -> AwsError {
    err(
        "OrganizationalUnitNotFoundException",
        "We can't find an OU with the OrganizationalUnitId that you specified.",
    )
}

fn account_not_found() -> AwsError {
    err(
        "AccountNotFoundException",
        "You specified an account that doesn't exist.",
    )
}

fn policy_not_found() -> AwsError {
    err(
        "PolicyNotFoundException",
        "We can't find a policy with the PolicyId that you specified.",
    )
}

fn target_not_found() -> AwsError {
    err(
        "TargetNotFoundException",
        "We can't find a root, OU, account, or policy with the TargetId that you specified.",
    )
}

fn type_not_enabled() -> AwsError {
    err(
        "PolicyTypeNotEnabledException",
        "This operation can be performed only for enabled policy types.",
    )
}

fn duplicate_policy() -> AwsError {
    err(
        "DuplicatePolicyException",
        "A policy with the same name already exists.",
    )
}

fn immutable_policy() -> AwsError {
    invalid_input(
        "IMMUTABLE_POLICY",
        "You specified a policy that is managed by AWS and can't be modified.",
    )
}

fn effective_not_found() -> AwsError {
    err(
        "EffectivePolicyNotFoundException",
        "We can't find an effective policy of that type for the specified target.",
    )
}

fn handshake_not_found() -> AwsError {
    err(
        "HandshakeNotFoundException",
        "We can't find a handshake with the HandshakeId that you specified.",
    )
}

fn master_cannot_leave() -> AwsError {
    err(
        "MasterCannotLeaveOrganizationException",
        "You can't remove a management account from an organization. If you want the management account to become a member account in another organization, you must first delete the current organization of the management account.",
    )
}

fn not_registered() -> AwsError {
    err(
        "AccountNotRegisteredException",
        "The specified account is not a delegated administrator for this AWS service.",
    )
}

fn resource_policy_not_found() -> AwsError {
    err(
        "ResourcePolicyNotFoundException",
        "We can't find a resource policy request with the parameter that you specified.",
    )
}

fn internal(e: IamError) -> AwsError {
    tracing::error!(error = %e, "organizations could not use the store");
    AwsError::internal_failure()
}

#[cfg(test)]
mod tests;
