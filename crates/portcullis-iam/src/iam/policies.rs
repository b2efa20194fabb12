//! Managed policies: customer managed policies with up to 5 versions (IAM quotas), the
//! built-in AWS managed policies, tags, and which entities use a policy.
//!
//! Attachment counts are not stored: they are counted from the users, groups and roles that
//! name the policy, so that they can never drift from the attachments themselves.

use std::collections::HashMap;

use serde_json::{Value, json};

use portcullis_aws::AwsError;
use portcullis_core::id::prefix;
use portcullis_policy::PolicyType;
use portcullis_store::Precondition;

use super::identities::policy_path;
use super::records::{
    self, CustomerPolicyRecord, GroupRecord, ManagedPolicy, PolicyVersionRecord, RoleRecord,
    UserRecord, name_key,
};
use super::{
    Cx, Iam, Out, already_exists, check_policy, delete_conflict, input_tags, internal,
    limit_exceeded, new_id, no_such_entity, opt, opt_bool, paginate, put, req, tags_value,
};

/// How many entities attach each policy, and how many use it as a boundary.
#[derive(Default)]
pub(crate) struct Usage {
    pub attachments: HashMap<String, usize>,
    pub boundaries: HashMap<String, usize>,
}

/// The output `Policy` / `ManagedPolicyDetail` value (without versions).
pub(crate) fn policy_value(p: &ManagedPolicy, usage: &Usage, tags: bool) -> Value {
    let mut v = json!({
        "PolicyName": p.name, "PolicyId": p.id, "Arn": p.arn, "Path": p.path,
        "DefaultVersionId": p.default_version_id,
        "AttachmentCount": usage.attachments.get(&p.arn).copied().unwrap_or(0),
        "PermissionsBoundaryUsageCount": usage.boundaries.get(&p.arn).copied().unwrap_or(0),
        "IsAttachable": true, "Description": p.description,
        "CreateDate": p.create_date, "UpdateDate": p.update_date,
    });
    if tags && !p.tags.is_empty() {
        super::set(&mut v, "Tags", tags_value(&p.tags));
    }
    v
}

fn version_value(v: &PolicyVersionRecord, default: &str) -> Value {
    json!({"Document": v.document, "VersionId": v.version_id,
           "IsDefaultVersion": v.version_id == default, "CreateDate": v.create_date})
}

fn policy_missing(arn: &str) -> String {
    format!("Policy {arn} does not exist or is not attachable.")
}

impl Iam {
    /// Dispatches the managed policy actions; `None` for other actions.
    pub(crate) async fn policies(&self, cx: &Cx<'_>, action: &str, input: &Value) -> Option<Out> {
        Some(match action {
            "CreatePolicy" => self.create_policy(cx, input).await,
            "GetPolicy" => self.get_policy(cx, input).await,
            "DeletePolicy" => self.delete_policy(cx, input).await,
            "ListPolicies" => self.list_policies(cx, input).await,
            "CreatePolicyVersion" => self.create_policy_version(cx, input).await,
            "GetPolicyVersion" => self.get_policy_version(cx, input).await,
            "DeletePolicyVersion" => self.delete_policy_version(cx, input).await,
            "ListPolicyVersions" => self.list_policy_versions(cx, input).await,
            "SetDefaultPolicyVersion" => self.set_default_policy_version(cx, input).await,
            "TagPolicy" => {
                self.tag::<CustomerPolicyRecord>(cx, input, "PolicyArn", |r| &mut r.tags)
                    .await
            }
            "UntagPolicy" => {
                self.untag::<CustomerPolicyRecord>(cx, input, "PolicyArn", |r| &mut r.tags)
                    .await
            }
            "ListPolicyTags" => {
                self.tags_of::<CustomerPolicyRecord>(cx, input, "PolicyArn", |r| &mut r.tags)
                    .await
            }
            "ListEntitiesForPolicy" => self.list_entities_for_policy(cx, input).await,
            _ => return None,
        })
    }

    /// Counts attachments and boundary uses over the account's users, groups and roles.
    pub(crate) async fn usage(&self, cx: &Cx<'_>) -> Result<Usage, AwsError> {
        let mut usage = Usage::default();
        let mut add = |attached: &[String], boundary: Option<&String>| {
            for a in attached {
                *usage.attachments.entry(a.clone()).or_default() += 1;
            }
            if let Some(b) = boundary {
                *usage.boundaries.entry(b.clone()).or_default() += 1;
            }
        };
        for u in self.all::<UserRecord>(cx, "").await? {
            add(&u.attached_policies, u.permissions_boundary.as_ref());
        }
        for g in self.all::<GroupRecord>(cx, "").await? {
            add(&g.attached_policies, None);
        }
        for r in self.all::<RoleRecord>(cx, "").await? {
            add(&r.attached_policies, r.permissions_boundary.as_ref());
        }
        Ok(usage)
    }

    /// The customer managed policy `arn` with its version, or `NoSuchEntity`.
    async fn customer_policy(
        &self,
        cx: &Cx<'_>,
        arn: &str,
    ) -> Result<(CustomerPolicyRecord, i64), AwsError> {
        let key = super::identities::arn_key::<CustomerPolicyRecord>(arn);
        match self.get::<CustomerPolicyRecord>(cx, &key).await? {
            Some((p, v)) if p.arn == arn => Ok((p, v)),
            _ => Err(no_such_entity(policy_missing(arn))),
        }
    }

    async fn create_policy(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "PolicyName")?;
        let doc = req(input, "PolicyDocument")?;
        let path = super::path_of(input);
        check_policy(doc, PolicyType::Identity, false)?;
        let tags = input_tags(input)?;
        let exists =
            || format!("A policy called {name} already exists. Duplicate names are not allowed.");
        if self
            .get::<CustomerPolicyRecord>(cx, &name_key(name))
            .await?
            .is_some()
        {
            return Err(already_exists(exists()));
        }
        let policy = CustomerPolicyRecord {
            policy_name: name.to_owned(),
            policy_id: new_id(prefix::POLICY),
            arn: cx.arn(&format!("policy{path}{name}")),
            path,
            description: opt(input, "Description").map(str::to_owned),
            create_date: cx.now.clone(),
            update_date: cx.now.clone(),
            default_version_id: "v1".to_owned(),
            versions: vec![PolicyVersionRecord {
                version_id: "v1".to_owned(),
                document: doc.to_owned(),
                create_date: cx.now.clone(),
            }],
            next_version: 2,
            tags,
        };
        self.create_counted(cx, &policy).await.map_err(|e| {
            if e.code == "ConcurrentModification" {
                already_exists(exists())
            } else {
                e
            }
        })?;
        let mp: ManagedPolicy = policy.into();
        Ok(json!({"Policy": policy_value(&mp, &Usage::default(), true)}))
    }

    async fn get_policy(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        let p = self.managed_policy(cx, arn).await?;
        let usage = self.usage(cx).await?;
        Ok(json!({"Policy": policy_value(&p, &usage, true)}))
    }

    async fn delete_policy(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        let (p, version) = self.customer_policy(cx, arn).await?;
        let usage = self.usage(cx).await?;
        if usage.attachments.contains_key(arn) || usage.boundaries.contains_key(arn) {
            return Err(delete_conflict(
                "Cannot delete a policy attached to entities.",
            ));
        }
        if p.versions.len() > 1 {
            return Err(delete_conflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
            ));
        }
        self.delete_counted::<CustomerPolicyRecord>(cx, &name_key(&p.policy_name), version)
            .await?;
        Ok(json!({}))
    }

    async fn list_policies(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let scope = opt(input, "Scope").unwrap_or("All");
        let only_attached = opt_bool(input, "OnlyAttached").unwrap_or(false);
        let prefix = opt(input, "PathPrefix").unwrap_or("/");
        let usage_filter = opt(input, "PolicyUsageFilter");
        let usage = self.usage(cx).await?;
        let mut policies: Vec<ManagedPolicy> = Vec::new();
        if scope != "Local" {
            for p in records::aws_managed_policies() {
                if let Some(mp) = records::load_managed_policy(self.store(), cx.account, &p.arn())
                    .await
                    .map_err(internal)?
                {
                    policies.push(mp);
                }
            }
        }
        if scope != "AWS" {
            policies.extend(
                self.all::<CustomerPolicyRecord>(cx, "")
                    .await?
                    .into_iter()
                    .map(ManagedPolicy::from),
            );
        }
        let mut items: Vec<(String, Value)> = policies
            .iter()
            .filter(|p| p.path.starts_with(prefix))
            .filter(|p| {
                let attached = usage.attachments.contains_key(&p.arn);
                let boundary = usage.boundaries.contains_key(&p.arn);
                let used = match usage_filter {
                    Some("PermissionsPolicy") => attached,
                    Some("PermissionsBoundary") => boundary,
                    _ => attached || boundary,
                };
                !only_attached || used
            })
            .map(|p| {
                (
                    format!("{} {}", p.name.to_ascii_lowercase(), p.arn),
                    policy_value(p, &usage, false),
                )
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(paginate("Policies", items, input))
    }

    async fn create_policy_version(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        let doc = req(input, "PolicyDocument")?;
        check_policy(doc, PolicyType::Identity, false)?;
        let (mut p, version) = self.customer_policy(cx, arn).await?;
        let max = self.quotas.versions_per_policy;
        if p.versions.len() >= max {
            return Err(limit_exceeded(format!(
                "A managed policy can have up to {max} versions. Before you create a new version, you must delete an existing version."
            )));
        }
        let id = format!("v{}", p.next_version);
        p.next_version += 1;
        let v = PolicyVersionRecord {
            version_id: id.clone(),
            document: doc.to_owned(),
            create_date: cx.now.clone(),
        };
        p.versions.push(v.clone());
        if opt_bool(input, "SetAsDefault").unwrap_or(false) {
            p.default_version_id.clone_from(&id);
        }
        p.update_date.clone_from(&cx.now);
        self.write(vec![put(cx, &p, Precondition::Version(version))?])
            .await?;
        Ok(json!({"PolicyVersion": version_value(&v, &p.default_version_id)}))
    }

    async fn get_policy_version(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        let id = req(input, "VersionId")?;
        let p = self.managed_policy(cx, arn).await?;
        let v = p
            .versions
            .iter()
            .find(|v| v.version_id == id)
            .ok_or_else(|| {
                no_such_entity(format!(
                    "Policy {arn} version {id} does not exist or is not attachable."
                ))
            })?;
        Ok(json!({"PolicyVersion": version_value(v, &p.default_version_id)}))
    }

    async fn delete_policy_version(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        let id = req(input, "VersionId")?;
        let (mut p, version) = self.customer_policy(cx, arn).await?;
        if !p.versions.iter().any(|v| v.version_id == id) {
            return Err(no_such_entity(format!(
                "Policy {arn} version {id} does not exist or is not attachable."
            )));
        }
        if p.default_version_id == id {
            return Err(delete_conflict(
                "Cannot delete the default version of a policy.",
            ));
        }
        p.versions.retain(|v| v.version_id != id);
        self.write(vec![put(cx, &p, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn list_policy_versions(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        let p = self.managed_policy(cx, arn).await?;
        // Newest first, as IAM lists them; the key keeps that order for the marker.
        let items = p
            .versions
            .iter()
            .rev()
            .enumerate()
            .map(|(i, v)| {
                let mut value = version_value(v, &p.default_version_id);
                if let Some(obj) = value.as_object_mut() {
                    obj.remove("Document");
                }
                (format!("{i:03}"), value)
            })
            .collect();
        Ok(paginate("Versions", items, input))
    }

    async fn set_default_policy_version(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        let id = req(input, "VersionId")?;
        let (mut p, version) = self.customer_policy(cx, arn).await?;
        if !p.versions.iter().any(|v| v.version_id == id) {
            return Err(no_such_entity(format!(
                "Policy {arn} version {id} does not exist or is not attachable."
            )));
        }
        id.clone_into(&mut p.default_version_id);
        p.update_date.clone_from(&cx.now);
        self.write(vec![put(cx, &p, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn list_entities_for_policy(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicyArn")?;
        self.managed_policy(cx, arn).await?;
        let filter = opt(input, "EntityFilter");
        let usage_filter = opt(input, "PolicyUsageFilter");
        let prefix = opt(input, "PathPrefix").unwrap_or("/");
        let uses = |attached: &[String], boundary: Option<&String>| match usage_filter {
            Some("PermissionsPolicy") => attached.iter().any(|a| a == arn),
            Some("PermissionsBoundary") => boundary.is_some_and(|b| b == arn),
            _ => attached.iter().any(|a| a == arn) || boundary.is_some_and(|b| b == arn),
        };
        let wants = |kind: &str| filter.is_none_or(|f| f == kind);
        let mut items: Vec<(String, Value)> = Vec::new();
        if wants("Group") {
            for g in self.all::<GroupRecord>(cx, "").await? {
                if g.path.starts_with(prefix) && uses(&g.attached_policies, None) {
                    items.push((format!("g/{}", name_key(&g.group_name)),
                        json!({"K": "PolicyGroups", "V": {"GroupName": g.group_name, "GroupId": g.group_id}})));
                }
            }
        }
        if wants("Role") {
            for r in self.all::<RoleRecord>(cx, "").await? {
                if r.path.starts_with(prefix)
                    && uses(&r.attached_policies, r.permissions_boundary.as_ref())
                {
                    items.push((format!("r/{}", name_key(&r.role_name)),
                        json!({"K": "PolicyRoles", "V": {"RoleName": r.role_name, "RoleId": r.role_id}})));
                }
            }
        }
        if wants("User") {
            for u in self.all::<UserRecord>(cx, "").await? {
                if u.path.starts_with(prefix)
                    && uses(&u.attached_policies, u.permissions_boundary.as_ref())
                {
                    items.push((format!("u/{}", name_key(&u.user_name)),
                        json!({"K": "PolicyUsers", "V": {"UserName": u.user_name, "UserId": u.user_id}})));
                }
            }
        }
        let mut page = paginate("Items", items, input);
        let mut out = json!({"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": [],
                             "IsTruncated": page.get("IsTruncated").cloned().unwrap_or(Value::Bool(false))});
        if let Some(m) = page.get("Marker") {
            super::set(&mut out, "Marker", m.clone());
        }
        if let Some(Value::Array(entries)) = page.get_mut("Items").map(Value::take) {
            for e in entries {
                let k = e
                    .get("K")
                    .and_then(Value::as_str)
                    .unwrap_or("PolicyUsers")
                    .to_owned();
                if let Some(Value::Array(list)) = out.get_mut(&k) {
                    list.push(e.get("V").cloned().unwrap_or(Value::Null));
                }
            }
        }
        let _ = policy_path;
        Ok(out)
    }
}

/// Every managed policy in use by the account (attached or as boundary) or customer owned,
/// with its versions, for `GetAccountAuthorizationDetails`.
pub(crate) async fn policies_for_details(
    iam: &Iam,
    cx: &Cx<'_>,
    usage: &Usage,
) -> Result<Vec<ManagedPolicy>, AwsError> {
    let mut out: Vec<ManagedPolicy> = Vec::new();
    for p in records::aws_managed_policies() {
        let arn = p.arn();
        if (usage.attachments.contains_key(&arn) || usage.boundaries.contains_key(&arn))
            && let Some(mp) = records::load_managed_policy(iam.store(), cx.account, &arn)
                .await
                .map_err(internal)?
        {
            out.push(mp);
        }
    }
    out.extend(
        iam.all::<CustomerPolicyRecord>(cx, "")
            .await?
            .into_iter()
            .map(ManagedPolicy::from),
    );
    Ok(out)
}

/// The output `PolicyVersionList` of a policy.
pub(crate) fn versions_value(p: &ManagedPolicy) -> Value {
    Value::Array(
        p.versions
            .iter()
            .map(|v| version_value(v, &p.default_version_id))
            .collect(),
    )
}
