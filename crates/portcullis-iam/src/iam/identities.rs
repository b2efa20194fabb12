//! Users, groups, roles and instance profiles: create, read, update, delete, list, tags,
//! group membership, inline policies, attached managed policies and permissions boundaries.
//!
//! Quotas come from [`super::Quotas`] (AWS's defaults unless configured); one role per
//! instance profile is fixed, as in AWS.

use serde_json::{Value, json};

use portcullis_aws::AwsError;
use portcullis_core::id::prefix;
use portcullis_policy::{InlineOwner, PolicyType};
use portcullis_store::{Precondition, WriteOp};

use super::records::{
    self, Entity, GroupRecord, InstanceProfileRecord, MfaDeviceRecord, RoleRecord,
    ServiceCredentialRecord, SigningCertificateRecord, SshKeyRecord, UserRecord, name_key,
};
use super::{
    Cx, Iam, Out, already_exists, check_policy, delete, delete_conflict, input_tags, internal,
    invalid_input, list_tags, merge_tags, new_id, no_such_entity, opt, opt_i64, paginate,
    path_matches, path_of, put, quota, remove_tags, req, tags_value,
};
use crate::keys::{self, AccessKeyRecord, KeyOwner};

/// The output `User` value.
pub(crate) fn user_value(u: &UserRecord, full: bool) -> Value {
    let mut v = json!({
        "Path": u.path, "UserName": u.user_name, "UserId": u.user_id, "Arn": u.arn,
        "CreateDate": u.create_date, "PasswordLastUsed": u.password_last_used,
    });
    if full {
        super::set(
            &mut v,
            "PermissionsBoundary",
            boundary_value(u.permissions_boundary.as_deref()),
        );
        if !u.tags.is_empty() {
            super::set(&mut v, "Tags", tags_value(&u.tags));
        }
    }
    v
}

/// The output `Group` value.
pub(crate) fn group_value(g: &GroupRecord) -> Value {
    json!({"Path": g.path, "GroupName": g.group_name, "GroupId": g.group_id, "Arn": g.arn,
           "CreateDate": g.create_date})
}

/// The output `Role` value (`full`: as GetRole, with boundary, tags and last use).
pub(crate) fn role_value(r: &RoleRecord, full: bool) -> Value {
    let mut v = json!({
        "Path": r.path, "RoleName": r.role_name, "RoleId": r.role_id, "Arn": r.arn,
        "CreateDate": r.create_date, "AssumeRolePolicyDocument": r.assume_role_policy_document,
        "Description": r.description, "MaxSessionDuration": r.max_session_duration,
    });
    if full {
        super::set(
            &mut v,
            "PermissionsBoundary",
            boundary_value(r.permissions_boundary.as_deref()),
        );
        if !r.tags.is_empty() {
            super::set(&mut v, "Tags", tags_value(&r.tags));
        }
        super::set(
            &mut v,
            "RoleLastUsed",
            match &r.role_last_used {
                Some(u) => json!({"LastUsedDate": u.last_used_date, "Region": u.region}),
                None => json!({}),
            },
        );
    }
    v
}

fn boundary_value(arn: Option<&str>) -> Value {
    match arn {
        Some(arn) => json!({"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                            "PermissionsBoundaryArn": arn}),
        None => Value::Null,
    }
}

fn instance_profile_value(p: &InstanceProfileRecord, roles: &[RoleRecord]) -> Value {
    let mut v = json!({
        "Path": p.path, "InstanceProfileName": p.instance_profile_name,
        "InstanceProfileId": p.instance_profile_id, "Arn": p.arn, "CreateDate": p.create_date,
        "Roles": roles.iter().map(|r| role_value(r, false)).collect::<Vec<_>>(),
    });
    if !p.tags.is_empty() {
        super::set(&mut v, "Tags", tags_value(&p.tags));
    }
    v
}

fn user_missing(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("The user with name {name} cannot be found.")
}

fn group_missing(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("The group with name {name} cannot be found.")
}

fn role_missing(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("The role with name {name} cannot be found.")
}

fn profile_missing(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("Instance Profile {name} cannot be found.")
}

/// An entity that holds identity policies: user, group or role.
pub(crate) trait PolicyHolder: Entity + Clone {
    /// `user`, `group`, `role` (error messages).
    const LABEL: &'static str;
    /// `User`, `Group`, `Role` (quota names).
    const QUOTA: &'static str;
    /// The input member naming the entity.
    const NAME_MEMBER: &'static str;
    /// The aggregate inline policy quota.
    const INLINE: InlineOwner;
    /// How many managed policies may be attached to one.
    fn attached_limit(quotas: &super::Quotas) -> usize;
    fn inline(&mut self) -> &mut std::collections::BTreeMap<String, String>;
    fn attached(&mut self) -> &mut Vec<String>;
    fn boundary(&mut self) -> Option<&mut Option<String>>;
    fn entity_name(&self) -> &str;
    /// Service-linked roles refuse changes (`UnmodifiableEntity`).
    fn check_modifiable(&self) -> Result<(), AwsError> {
        Ok(())
    }
}

impl PolicyHolder for UserRecord {
    const LABEL: &'static str = "user";
    const QUOTA: &'static str = "User";
    fn attached_limit(quotas: &super::Quotas) -> usize {
        quotas.attached_policies_per_user
    }
    const NAME_MEMBER: &'static str = "UserName";
    const INLINE: InlineOwner = InlineOwner::User;
    fn inline(&mut self) -> &mut std::collections::BTreeMap<String, String> {
        &mut self.inline_policies
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
    fn boundary(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.permissions_boundary)
    }
    fn entity_name(&self) -> &str {
        &self.user_name
    }
}

impl PolicyHolder for GroupRecord {
    const LABEL: &'static str = "group";
    const QUOTA: &'static str = "Group";
    fn attached_limit(quotas: &super::Quotas) -> usize {
        quotas.attached_policies_per_group
    }
    const NAME_MEMBER: &'static str = "GroupName";
    const INLINE: InlineOwner = InlineOwner::Group;
    fn inline(&mut self) -> &mut std::collections::BTreeMap<String, String> {
        &mut self.inline_policies
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
    fn boundary(&mut self) -> Option<&mut Option<String>> {
        None
    }
    fn entity_name(&self) -> &str {
        &self.group_name
    }
}

impl PolicyHolder for RoleRecord {
    const LABEL: &'static str = "role";
    const QUOTA: &'static str = "Role";
    fn attached_limit(quotas: &super::Quotas) -> usize {
        quotas.attached_policies_per_role
    }
    const NAME_MEMBER: &'static str = "RoleName";
    const INLINE: InlineOwner = InlineOwner::Role;
    fn inline(&mut self) -> &mut std::collections::BTreeMap<String, String> {
        &mut self.inline_policies
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
    fn boundary(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.permissions_boundary)
    }
    fn entity_name(&self) -> &str {
        &self.role_name
    }
    fn check_modifiable(&self) -> Result<(), AwsError> {
        check_modifiable(self)
    }
}

fn missing_holder<T: PolicyHolder>(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("The {} with name {name} cannot be found.", T::LABEL)
}

/// A role whose path marks it as service-linked cannot be changed through the usual calls.
fn check_modifiable(role: &RoleRecord) -> Result<(), AwsError> {
    if role.service_linked.is_some() {
        return Err(super::err(
            "UnmodifiableEntity",
            400,
            format!(
                "Cannot perform the operation on the protected role '{}' - this role is only modifiable by AWS",
                role.role_name
            ),
        ));
    }
    Ok(())
}

impl Iam {
    /// Dispatches the identity actions; `None` for other actions.
    pub(crate) async fn identities(&self, cx: &Cx<'_>, action: &str, input: &Value) -> Option<Out> {
        Some(match action {
            "CreateUser" => self.create_user(cx, input).await,
            "GetUser" => self.get_user(cx, input).await,
            "UpdateUser" => self.update_user(cx, input).await,
            "DeleteUser" => self.delete_user(cx, input).await,
            "ListUsers" => self.list_users(cx, input).await,
            "TagUser" => {
                self.tag::<UserRecord>(cx, input, "UserName", |r| &mut r.tags)
                    .await
            }
            "UntagUser" => {
                self.untag::<UserRecord>(cx, input, "UserName", |r| &mut r.tags)
                    .await
            }
            "ListUserTags" => {
                self.tags_of::<UserRecord>(cx, input, "UserName", |r| &mut r.tags)
                    .await
            }
            "CreateGroup" => self.create_group(cx, input).await,
            "GetGroup" => self.get_group(cx, input).await,
            "UpdateGroup" => self.update_group(cx, input).await,
            "DeleteGroup" => self.delete_group(cx, input).await,
            "ListGroups" => self.list_groups(cx, input).await,
            "AddUserToGroup" => self.add_user_to_group(cx, input).await,
            "RemoveUserFromGroup" => self.remove_user_from_group(cx, input).await,
            "ListGroupsForUser" => self.list_groups_for_user(cx, input).await,
            "CreateRole" => self.create_role(cx, input).await,
            "GetRole" => self.get_role(cx, input).await,
            "UpdateRole" => self.update_role(cx, input, false).await,
            "UpdateRoleDescription" => self.update_role(cx, input, true).await,
            "UpdateAssumeRolePolicy" => self.update_assume_role_policy(cx, input).await,
            "DeleteRole" => self.delete_role(cx, input).await,
            "ListRoles" => self.list_roles(cx, input).await,
            "TagRole" => {
                self.tag::<RoleRecord>(cx, input, "RoleName", |r| &mut r.tags)
                    .await
            }
            "UntagRole" => {
                self.untag::<RoleRecord>(cx, input, "RoleName", |r| &mut r.tags)
                    .await
            }
            "ListRoleTags" => {
                self.tags_of::<RoleRecord>(cx, input, "RoleName", |r| &mut r.tags)
                    .await
            }
            "CreateServiceLinkedRole" => self.create_service_linked_role(cx, input).await,
            "DeleteServiceLinkedRole" => self.delete_service_linked_role(cx, input).await,
            "GetServiceLinkedRoleDeletionStatus" => Ok(json!({"Status": "SUCCEEDED"})),
            "CreateInstanceProfile" => self.create_instance_profile(cx, input).await,
            "GetInstanceProfile" => self.get_instance_profile(cx, input).await,
            "DeleteInstanceProfile" => self.delete_instance_profile(cx, input).await,
            "ListInstanceProfiles" => self.list_instance_profiles(cx, input, None).await,
            "ListInstanceProfilesForRole" => match req(input, "RoleName") {
                Ok(role) => self.list_instance_profiles(cx, input, Some(role)).await,
                Err(e) => Err(e),
            },
            "AddRoleToInstanceProfile" => self.role_in_profile(cx, input, true).await,
            "RemoveRoleFromInstanceProfile" => self.role_in_profile(cx, input, false).await,
            "TagInstanceProfile" => {
                self.tag::<InstanceProfileRecord>(cx, input, "InstanceProfileName", |r| &mut r.tags)
                    .await
            }
            "UntagInstanceProfile" => {
                self.untag::<InstanceProfileRecord>(cx, input, "InstanceProfileName", |r| {
                    &mut r.tags
                })
                .await
            }
            "ListInstanceProfileTags" => {
                self.tags_of::<InstanceProfileRecord>(cx, input, "InstanceProfileName", |r| {
                    &mut r.tags
                })
                .await
            }
            "PutUserPolicy" => self.put_inline::<UserRecord>(cx, input).await,
            "PutGroupPolicy" => self.put_inline::<GroupRecord>(cx, input).await,
            "PutRolePolicy" => self.put_inline::<RoleRecord>(cx, input).await,
            "GetUserPolicy" => self.get_inline::<UserRecord>(cx, input).await,
            "GetGroupPolicy" => self.get_inline::<GroupRecord>(cx, input).await,
            "GetRolePolicy" => self.get_inline::<RoleRecord>(cx, input).await,
            "DeleteUserPolicy" => self.delete_inline::<UserRecord>(cx, input).await,
            "DeleteGroupPolicy" => self.delete_inline::<GroupRecord>(cx, input).await,
            "DeleteRolePolicy" => self.delete_inline::<RoleRecord>(cx, input).await,
            "ListUserPolicies" => self.list_inline::<UserRecord>(cx, input).await,
            "ListGroupPolicies" => self.list_inline::<GroupRecord>(cx, input).await,
            "ListRolePolicies" => self.list_inline::<RoleRecord>(cx, input).await,
            "AttachUserPolicy" => self.attach::<UserRecord>(cx, input, true).await,
            "AttachGroupPolicy" => self.attach::<GroupRecord>(cx, input, true).await,
            "AttachRolePolicy" => self.attach::<RoleRecord>(cx, input, true).await,
            "DetachUserPolicy" => self.attach::<UserRecord>(cx, input, false).await,
            "DetachGroupPolicy" => self.attach::<GroupRecord>(cx, input, false).await,
            "DetachRolePolicy" => self.attach::<RoleRecord>(cx, input, false).await,
            "ListAttachedUserPolicies" => self.list_attached::<UserRecord>(cx, input).await,
            "ListAttachedGroupPolicies" => self.list_attached::<GroupRecord>(cx, input).await,
            "ListAttachedRolePolicies" => self.list_attached::<RoleRecord>(cx, input).await,
            "PutUserPermissionsBoundary" => self.boundary::<UserRecord>(cx, input, true).await,
            "PutRolePermissionsBoundary" => self.boundary::<RoleRecord>(cx, input, true).await,
            "DeleteUserPermissionsBoundary" => self.boundary::<UserRecord>(cx, input, false).await,
            "DeleteRolePermissionsBoundary" => self.boundary::<RoleRecord>(cx, input, false).await,
            _ => return None,
        })
    }

    /// Checks that `arn` names an existing managed policy usable as a permissions boundary.
    async fn check_boundary(&self, cx: &Cx<'_>, arn: &str) -> Result<(), AwsError> {
        self.managed_policy(cx, arn).await.map(|_| ())
    }

    /// The managed policy `arn`, or IAM's errors for a bad or unknown ARN.
    pub(crate) async fn managed_policy(
        &self,
        cx: &Cx<'_>,
        arn: &str,
    ) -> Result<records::ManagedPolicy, AwsError> {
        if portcullis_core::Arn::parse(arn).is_err() {
            return Err(invalid_input(format!("ARN {arn} is not valid.")));
        }
        records::load_managed_policy(self.store(), cx.account, arn)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
            })
    }

    // ----- users -----

    async fn create_user(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "UserName")?;
        let path = path_of(input);
        let tags = input_tags(input)?;
        let boundary = opt(input, "PermissionsBoundary").map(str::to_owned);
        if let Some(b) = &boundary {
            self.check_boundary(cx, b).await?;
        }
        self.ensure_creatable::<UserRecord>(cx, name, || {
            format!("User with name {name} already exists.")
        })
        .await?;
        let user = UserRecord {
            user_name: name.to_owned(),
            user_id: new_id(prefix::USER),
            arn: cx.arn(&format!("user{path}{name}")),
            path,
            create_date: cx.now.clone(),
            tags,
            inline_policies: Default::default(),
            attached_policies: Vec::new(),
            permissions_boundary: boundary,
            groups: Vec::new(),
            access_keys: Vec::new(),
            mfa_devices: Vec::new(),
            login_profile: None,
            password_last_used: None,
        };
        self.create_counted(cx, &user).await.map_err(|e| {
            exists_on_conflict(e, || format!("User with name {name} already exists."))
        })?;
        Ok(json!({"User": user_value(&user, true)}))
    }

    async fn get_user(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = match opt(input, "UserName") {
            Some(name) => name.to_owned(),
            None => match cx.ctx.principal.user_name() {
                Some(name) => name.to_owned(),
                None => {
                    // The root user: IAM answers with the account's root identity, which has
                    // no user name or path.
                    return Ok(json!({"User": {
                        "UserId": cx.acct(), "Arn": cx.ctx.principal.arn.as_str(),
                        "CreateDate": cx.now,
                    }}));
                }
            },
        };
        let (user, _) = self
            .must::<UserRecord>(cx, &name_key(&name), user_missing(&name))
            .await?;
        Ok(json!({"User": user_value(&user, true)}))
    }

    async fn update_user(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "UserName")?;
        let (mut user, version) = self
            .must::<UserRecord>(cx, &name_key(name), user_missing(name))
            .await?;
        let old_key = name_key(name);
        let new_name = opt(input, "NewUserName")
            .unwrap_or(&user.user_name)
            .to_owned();
        let new_path = opt(input, "NewPath").unwrap_or(&user.path).to_owned();
        let renamed = name_key(&new_name) != old_key;
        if renamed
            && self
                .get::<UserRecord>(cx, &name_key(&new_name))
                .await?
                .is_some()
        {
            return Err(already_exists(format!(
                "User with name {new_name} already exists."
            )));
        }
        user.user_name = new_name.clone();
        user.path = new_path.clone();
        user.arn = cx.arn(&format!("user{new_path}{new_name}"));
        let mut ops = Vec::new();
        if renamed {
            ops.push(delete::<UserRecord>(cx, &old_key, version));
            ops.push(put(cx, &user, Precondition::Absent)?);
        } else {
            ops.push(put(cx, &user, Precondition::Version(version))?);
        }
        // The user's credentials name it: move them along.
        let mut forget = Vec::new();
        for key_id in &user.access_keys {
            if let Some(mut key) = self.access_key(key_id).await? {
                key.owner = KeyOwner::User {
                    name: new_name.clone(),
                    user_id: user.user_id.clone(),
                    path: new_path.clone(),
                };
                ops.push(WriteOp::put(
                    keys::KIND,
                    "",
                    key_id.clone(),
                    to_json(&key)?,
                    Precondition::Any,
                ));
                forget.push(key_id.clone());
            }
        }
        for mfa in self.all::<MfaDeviceRecord>(cx, "").await? {
            if mfa
                .user_name
                .as_deref()
                .is_some_and(|u| name_key(u) == old_key)
            {
                let mut mfa = mfa;
                mfa.user_name = Some(new_name.clone());
                ops.push(put(cx, &mfa, Precondition::Any)?);
            }
        }
        if renamed {
            let prefix = format!("{old_key}/");
            self.move_owned::<SshKeyRecord>(
                cx,
                &prefix,
                &new_name,
                |r, n| r.user_name = n.to_owned(),
                &mut ops,
            )
            .await?;
            self.move_owned::<SigningCertificateRecord>(
                cx,
                &prefix,
                &new_name,
                |r, n| r.user_name = n.to_owned(),
                &mut ops,
            )
            .await?;
            self.move_owned::<ServiceCredentialRecord>(
                cx,
                &prefix,
                &new_name,
                |r, n| r.user_name = n.to_owned(),
                &mut ops,
            )
            .await?;
        }
        self.write(ops).await?;
        for key_id in forget {
            self.auth.forget(&key_id);
        }
        Ok(json!({}))
    }

    async fn move_owned<T: Entity>(
        &self,
        cx: &Cx<'_>,
        prefix: &str,
        new_name: &str,
        rename: impl Fn(&mut T, &str),
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), AwsError> {
        for (mut r, v) in records::list_all::<T>(self.store(), cx.acct(), prefix)
            .await
            .map_err(internal)?
        {
            ops.push(delete::<T>(cx, &r.store_id(), v));
            rename(&mut r, new_name);
            ops.push(put(cx, &r, Precondition::Any)?);
        }
        Ok(())
    }

    pub(crate) async fn access_key(
        &self,
        key_id: &str,
    ) -> Result<Option<AccessKeyRecord>, AwsError> {
        let Some(item) = self
            .store()
            .get(keys::KIND, "", key_id)
            .await
            .map_err(|e| internal(e.into()))?
        else {
            return Ok(None);
        };
        serde_json::from_value(item.value)
            .map(Some)
            .map_err(|e| internal(crate::IamError::corrupt(keys::KIND, key_id, e)))
    }

    async fn delete_user(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "UserName")?;
        let key = name_key(name);
        let (user, version) = self
            .must::<UserRecord>(cx, &key, user_missing(name))
            .await?;
        let prefix = format!("{key}/");
        let conflict = if user.login_profile.is_some() {
            Some("Cannot delete entity, must delete login profile first.")
        } else if !user.access_keys.is_empty() {
            Some("Cannot delete entity, must delete access keys first.")
        } else if !self
            .all::<SigningCertificateRecord>(cx, &prefix)
            .await?
            .is_empty()
        {
            Some("Cannot delete entity, must delete signing certificates first.")
        } else if !self.all::<SshKeyRecord>(cx, &prefix).await?.is_empty() {
            Some("Cannot delete entity, must delete SSH public keys first.")
        } else if !self
            .all::<ServiceCredentialRecord>(cx, &prefix)
            .await?
            .is_empty()
        {
            Some("Cannot delete entity, must delete service specific credentials first.")
        } else if !user.mfa_devices.is_empty() {
            Some("Cannot delete entity, must delete MFA device first.")
        } else if !user.inline_policies.is_empty() {
            Some("Cannot delete entity, must delete policies first.")
        } else if !user.attached_policies.is_empty() {
            Some("Cannot delete entity, must detach all policies first.")
        } else if !user.groups.is_empty() {
            Some("Cannot delete entity, must remove user from all groups first.")
        } else if user.permissions_boundary.is_some() {
            Some("Cannot delete entity, must delete permissions boundary first.")
        } else {
            None
        };
        if let Some(message) = conflict {
            return Err(delete_conflict(message));
        }
        self.delete_counted::<UserRecord>(cx, &key, version).await?;
        Ok(json!({}))
    }

    async fn list_users(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let items = self
            .all::<UserRecord>(cx, "")
            .await?
            .into_iter()
            .filter(|u| path_matches(&u.path, input))
            .map(|u| (name_key(&u.user_name), user_value(&u, false)))
            .collect();
        Ok(paginate("Users", items, input))
    }

    // ----- tags, for every taggable entity keyed by name -----

    pub(crate) async fn tag<T: Entity>(
        &self,
        cx: &Cx<'_>,
        input: &Value,
        member: &str,
        tags: impl FnOnce(&mut T) -> &mut Vec<records::Tag>,
    ) -> Out {
        let (id, missing) = entity_ref::<T>(cx, input, member)?;
        let new = input_tags(input)?;
        self.update::<T>(cx, &id, || missing, |r| merge_tags(tags(r), new))
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn untag<T: Entity>(
        &self,
        cx: &Cx<'_>,
        input: &Value,
        member: &str,
        tags: impl FnOnce(&mut T) -> &mut Vec<records::Tag>,
    ) -> Out {
        let (id, missing) = entity_ref::<T>(cx, input, member)?;
        self.update::<T>(cx, &id, || missing, |r| remove_tags(tags(r), input))
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn tags_of<T: Entity>(
        &self,
        cx: &Cx<'_>,
        input: &Value,
        member: &str,
        tags: impl FnOnce(&mut T) -> &mut Vec<records::Tag>,
    ) -> Out {
        let (id, missing) = entity_ref::<T>(cx, input, member)?;
        let (mut r, _) = self.must::<T>(cx, &id, || missing).await?;
        Ok(list_tags(tags(&mut r), input))
    }

    // ----- groups -----

    async fn create_group(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "GroupName")?;
        let path = path_of(input);
        self.ensure_creatable::<GroupRecord>(cx, name, || {
            format!("Group with name {name} already exists.")
        })
        .await?;
        let group = GroupRecord {
            group_name: name.to_owned(),
            group_id: new_id(prefix::GROUP),
            arn: cx.arn(&format!("group{path}{name}")),
            path,
            create_date: cx.now.clone(),
            inline_policies: Default::default(),
            attached_policies: Vec::new(),
        };
        self.create_counted(cx, &group).await.map_err(|e| {
            exists_on_conflict(e, || format!("Group with name {name} already exists."))
        })?;
        Ok(json!({"Group": group_value(&group)}))
    }

    /// The users in group `name` (case-insensitive), with versions.
    async fn members(&self, cx: &Cx<'_>, name: &str) -> Result<Vec<(UserRecord, i64)>, AwsError> {
        let key = name_key(name);
        Ok(records::list_all::<UserRecord>(self.store(), cx.acct(), "")
            .await
            .map_err(internal)?
            .into_iter()
            .filter(|(u, _)| u.groups.iter().any(|g| name_key(g) == key))
            .collect())
    }

    async fn get_group(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "GroupName")?;
        let (group, _) = self
            .must::<GroupRecord>(cx, &name_key(name), group_missing(name))
            .await?;
        let items = self
            .members(cx, name)
            .await?
            .into_iter()
            .map(|(u, _)| (name_key(&u.user_name), user_value(&u, false)))
            .collect();
        let mut out = paginate("Users", items, input);
        super::set(&mut out, "Group", group_value(&group));
        Ok(out)
    }

    async fn update_group(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "GroupName")?;
        let key = name_key(name);
        let (mut group, version) = self
            .must::<GroupRecord>(cx, &key, group_missing(name))
            .await?;
        let new_name = opt(input, "NewGroupName")
            .unwrap_or(&group.group_name)
            .to_owned();
        let new_path = opt(input, "NewPath").unwrap_or(&group.path).to_owned();
        let renamed = name_key(&new_name) != key;
        if renamed
            && self
                .get::<GroupRecord>(cx, &name_key(&new_name))
                .await?
                .is_some()
        {
            return Err(already_exists(format!(
                "Group with name {new_name} already exists."
            )));
        }
        let mut ops = Vec::new();
        for (mut u, v) in self.members(cx, name).await? {
            for g in &mut u.groups {
                if name_key(g) == key {
                    g.clone_from(&new_name);
                }
            }
            ops.push(put(cx, &u, Precondition::Version(v))?);
        }
        group.group_name = new_name.clone();
        group.path = new_path.clone();
        group.arn = cx.arn(&format!("group{new_path}{new_name}"));
        if renamed {
            ops.push(delete::<GroupRecord>(cx, &key, version));
            ops.push(put(cx, &group, Precondition::Absent)?);
        } else {
            ops.push(put(cx, &group, Precondition::Version(version))?);
        }
        self.write(ops).await?;
        Ok(json!({}))
    }

    async fn delete_group(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "GroupName")?;
        let key = name_key(name);
        let (group, version) = self
            .must::<GroupRecord>(cx, &key, group_missing(name))
            .await?;
        if !self.members(cx, name).await?.is_empty() {
            return Err(delete_conflict(
                "Cannot delete entity, must remove users from group first.",
            ));
        }
        if !group.inline_policies.is_empty() {
            return Err(delete_conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if !group.attached_policies.is_empty() {
            return Err(delete_conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        self.delete_counted::<GroupRecord>(cx, &key, version)
            .await?;
        Ok(json!({}))
    }

    async fn list_groups(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let items = self
            .all::<GroupRecord>(cx, "")
            .await?
            .into_iter()
            .filter(|g| path_matches(&g.path, input))
            .map(|g| (name_key(&g.group_name), group_value(&g)))
            .collect();
        Ok(paginate("Groups", items, input))
    }

    async fn add_user_to_group(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let group_name = req(input, "GroupName")?;
        let user_name = req(input, "UserName")?;
        let (group, group_version) = self
            .must::<GroupRecord>(cx, &name_key(group_name), group_missing(group_name))
            .await?;
        let (mut user, version) = self
            .must::<UserRecord>(cx, &name_key(user_name), user_missing(user_name))
            .await?;
        if user
            .groups
            .iter()
            .any(|g| name_key(g) == name_key(group_name))
        {
            return Ok(json!({}));
        }
        if user.groups.len() >= self.quotas.groups_per_user {
            return Err(quota("GroupsPerUser", self.quotas.groups_per_user));
        }
        user.groups.push(group.group_name.clone());
        // The group must still exist when the membership is written.
        self.write(vec![
            put(cx, &user, Precondition::Version(version))?,
            put(cx, &group, Precondition::Version(group_version))?,
        ])
        .await?;
        Ok(json!({}))
    }

    async fn remove_user_from_group(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let group_name = req(input, "GroupName")?;
        let user_name = req(input, "UserName")?;
        self.must::<GroupRecord>(cx, &name_key(group_name), group_missing(group_name))
            .await?;
        let (mut user, version) = self
            .must::<UserRecord>(cx, &name_key(user_name), user_missing(user_name))
            .await?;
        let before = user.groups.len();
        user.groups.retain(|g| name_key(g) != name_key(group_name));
        if user.groups.len() == before {
            return Err(no_such_entity(format!(
                "The user with name {user_name} cannot be found in group {group_name}."
            )));
        }
        self.write(vec![put(cx, &user, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn list_groups_for_user(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "UserName")?;
        let (user, _) = self
            .must::<UserRecord>(cx, &name_key(name), user_missing(name))
            .await?;
        let mut items = Vec::new();
        for g in &user.groups {
            if let Some((group, _)) = self.get::<GroupRecord>(cx, &name_key(g)).await? {
                items.push((name_key(g), group_value(&group)));
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(paginate("Groups", items, input))
    }

    // ----- roles -----

    async fn create_role(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "RoleName")?;
        let trust = req(input, "AssumeRolePolicyDocument")?;
        let path = path_of(input);
        check_policy(trust, PolicyType::Trust, false)?;
        let tags = input_tags(input)?;
        let boundary = opt(input, "PermissionsBoundary").map(str::to_owned);
        if let Some(b) = &boundary {
            self.check_boundary(cx, b).await?;
        }
        self.ensure_creatable::<RoleRecord>(cx, name, || {
            format!("Role with name {name} already exists.")
        })
        .await?;
        let role = RoleRecord {
            role_name: name.to_owned(),
            role_id: new_id(prefix::ROLE),
            arn: cx.arn(&format!("role{path}{name}")),
            path,
            create_date: cx.now.clone(),
            assume_role_policy_document: trust.to_owned(),
            description: opt(input, "Description").map(str::to_owned),
            max_session_duration: opt_i64(input, "MaxSessionDuration").unwrap_or(3600),
            tags,
            inline_policies: Default::default(),
            attached_policies: Vec::new(),
            permissions_boundary: boundary,
            role_last_used: None,
            service_linked: None,
        };
        self.create_counted(cx, &role).await.map_err(|e| {
            exists_on_conflict(e, || format!("Role with name {name} already exists."))
        })?;
        Ok(json!({"Role": role_value(&role, false)}))
    }

    async fn get_role(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "RoleName")?;
        let (mut role, _) = self
            .must::<RoleRecord>(cx, &name_key(name), role_missing(name))
            .await?;
        role.role_last_used = crate::usage::role_last_used(self.store(), cx.account, &role.role_id)
            .await
            .map_err(internal)?;
        Ok(json!({"Role": role_value(&role, true)}))
    }

    async fn update_role(&self, cx: &Cx<'_>, input: &Value, description_only: bool) -> Out {
        let name = req(input, "RoleName")?;
        let role = self
            .update::<RoleRecord>(cx, &name_key(name), role_missing(name), |r| {
                check_modifiable(r)?;
                if let Some(d) = opt(input, "Description") {
                    r.description = Some(d.to_owned());
                }
                if let Some(m) = opt_i64(input, "MaxSessionDuration") {
                    r.max_session_duration = m;
                }
                Ok(())
            })
            .await?;
        Ok(if description_only {
            json!({"Role": role_value(&role, true)})
        } else {
            json!({})
        })
    }

    async fn update_assume_role_policy(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "RoleName")?;
        let doc = req(input, "PolicyDocument")?;
        check_policy(doc, PolicyType::Trust, false)?;
        self.update::<RoleRecord>(cx, &name_key(name), role_missing(name), |r| {
            check_modifiable(r)?;
            r.assume_role_policy_document = doc.to_owned();
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    async fn delete_role(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "RoleName")?;
        let key = name_key(name);
        let (role, version) = self
            .must::<RoleRecord>(cx, &key, role_missing(name))
            .await?;
        check_modifiable(&role)?;
        self.delete_role_record(cx, &role, version).await?;
        Ok(json!({}))
    }

    async fn delete_role_record(
        &self,
        cx: &Cx<'_>,
        role: &RoleRecord,
        version: i64,
    ) -> Result<(), AwsError> {
        let key = name_key(&role.role_name);
        let in_profile = self
            .all::<InstanceProfileRecord>(cx, "")
            .await?
            .iter()
            .any(|p| p.roles.iter().any(|r| name_key(r) == key));
        if in_profile {
            return Err(delete_conflict(
                "Cannot delete entity, must remove roles from instance profile first.",
            ));
        }
        if !role.inline_policies.is_empty() {
            return Err(delete_conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if !role.attached_policies.is_empty() {
            return Err(delete_conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        self.delete_counted::<RoleRecord>(cx, &key, version).await
    }

    async fn list_roles(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let items = self
            .all::<RoleRecord>(cx, "")
            .await?
            .into_iter()
            .filter(|r| path_matches(&r.path, input))
            .map(|r| (name_key(&r.role_name), role_value(&r, false)))
            .collect();
        Ok(paginate("Roles", items, input))
    }

    /// `CreateServiceLinkedRole`: a role under `/aws-service-role/SERVICE/` that the service
    /// may assume, named `AWSServiceRoleFor` + the service's name (IAM User Guide, "Using
    /// service-linked roles").
    async fn create_service_linked_role(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let service = req(input, "AWSServiceName")?;
        if !service.ends_with(".amazonaws.com") {
            return Err(invalid_input(format!(
                "Service role name {service} is not a valid service name."
            )));
        }
        let short = service.trim_end_matches(".amazonaws.com");
        let mut base: String = short
            .split(['.', '-'])
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        if let Some(suffix) = opt(input, "CustomSuffix") {
            base = format!("{base}_{suffix}");
        }
        let name = format!("AWSServiceRoleFor{base}");
        let path = format!("/aws-service-role/{service}/");
        if self
            .get::<RoleRecord>(cx, &name_key(&name))
            .await?
            .is_some()
        {
            return Err(invalid_input(format!(
                "Service role name {name} has been taken in this account, please try a different suffix."
            )));
        }
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":["{service}"]}},"Action":["sts:AssumeRole"]}}]}}"#
        );
        let role = RoleRecord {
            role_name: name.clone(),
            role_id: new_id(prefix::ROLE),
            arn: cx.arn(&format!("role{path}{name}")),
            path,
            create_date: cx.now.clone(),
            assume_role_policy_document: trust,
            description: opt(input, "Description").map(str::to_owned),
            max_session_duration: 3600,
            tags: Vec::new(),
            inline_policies: Default::default(),
            attached_policies: Vec::new(),
            permissions_boundary: None,
            role_last_used: None,
            service_linked: Some(service.to_owned()),
        };
        self.create_counted(cx, &role).await?;
        Ok(json!({"Role": role_value(&role, false)}))
    }

    async fn delete_service_linked_role(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "RoleName")?;
        let (mut role, version) = self
            .must::<RoleRecord>(cx, &name_key(name), role_missing(name))
            .await?;
        let Some(service) = role.service_linked.clone() else {
            return Err(invalid_input(format!(
                "Role {name} is not a service-linked role."
            )));
        };
        // The service's own policies go with the role.
        role.inline_policies.clear();
        role.attached_policies.clear();
        self.delete_role_record(cx, &role, version).await?;
        let task = format!("task/aws-service-role/{service}/{name}/{}", new_id(""));
        Ok(json!({"DeletionTaskId": task}))
    }

    // ----- instance profiles -----

    async fn create_instance_profile(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "InstanceProfileName")?;
        let path = path_of(input);
        let tags = input_tags(input)?;
        if self
            .get::<InstanceProfileRecord>(cx, &name_key(name))
            .await?
            .is_some()
        {
            return Err(already_exists(format!(
                "Instance Profile {name} already exists."
            )));
        }
        let profile = InstanceProfileRecord {
            instance_profile_name: name.to_owned(),
            instance_profile_id: new_id(prefix::INSTANCE_PROFILE),
            arn: cx.arn(&format!("instance-profile{path}{name}")),
            path,
            create_date: cx.now.clone(),
            roles: Vec::new(),
            tags,
        };
        self.create_counted(cx, &profile).await?;
        Ok(json!({"InstanceProfile": instance_profile_value(&profile, &[])}))
    }

    async fn profile_roles(
        &self,
        cx: &Cx<'_>,
        p: &InstanceProfileRecord,
    ) -> Result<Vec<RoleRecord>, AwsError> {
        let mut roles = Vec::new();
        for r in &p.roles {
            if let Some((role, _)) = self.get::<RoleRecord>(cx, &name_key(r)).await? {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    async fn get_instance_profile(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "InstanceProfileName")?;
        let (p, _) = self
            .must::<InstanceProfileRecord>(cx, &name_key(name), profile_missing(name))
            .await?;
        let roles = self.profile_roles(cx, &p).await?;
        Ok(json!({"InstanceProfile": instance_profile_value(&p, &roles)}))
    }

    async fn delete_instance_profile(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "InstanceProfileName")?;
        let key = name_key(name);
        let (p, version) = self
            .must::<InstanceProfileRecord>(cx, &key, profile_missing(name))
            .await?;
        if !p.roles.is_empty() {
            return Err(delete_conflict(
                "Cannot delete entity, must remove roles from instance profile first.",
            ));
        }
        self.delete_counted::<InstanceProfileRecord>(cx, &key, version)
            .await?;
        Ok(json!({}))
    }

    async fn list_instance_profiles(&self, cx: &Cx<'_>, input: &Value, role: Option<&str>) -> Out {
        if let Some(role) = role {
            self.must::<RoleRecord>(cx, &name_key(role), role_missing(role))
                .await?;
        }
        let mut items = Vec::new();
        for p in self.all::<InstanceProfileRecord>(cx, "").await? {
            let keep = match role {
                Some(role) => p.roles.iter().any(|r| name_key(r) == name_key(role)),
                None => path_matches(&p.path, input),
            };
            if keep {
                let roles = self.profile_roles(cx, &p).await?;
                items.push((
                    name_key(&p.instance_profile_name),
                    instance_profile_value(&p, &roles),
                ));
            }
        }
        Ok(paginate("InstanceProfiles", items, input))
    }

    async fn role_in_profile(&self, cx: &Cx<'_>, input: &Value, add: bool) -> Out {
        let name = req(input, "InstanceProfileName")?;
        let role_name = req(input, "RoleName")?;
        let (role, _) = self
            .must::<RoleRecord>(cx, &name_key(role_name), role_missing(role_name))
            .await?;
        self.update::<InstanceProfileRecord>(cx, &name_key(name), profile_missing(name), |p| {
            let present = p.roles.iter().any(|r| name_key(r) == name_key(role_name));
            if add {
                if present || !p.roles.is_empty() {
                    // One role per instance profile (IAM quotas; the limit cannot be raised).
                    return Err(quota("InstanceSessionsPerInstanceProfile", 1));
                }
                p.roles.push(role.role_name.clone());
            } else {
                if !present {
                    return Err(no_such_entity(format!(
                        "The role with name {role_name} cannot be found in instance profile {name}."
                    )));
                }
                p.roles.retain(|r| name_key(r) != name_key(role_name));
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    // ----- inline policies -----

    async fn put_inline<T: PolicyHolder>(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, T::NAME_MEMBER)?;
        let policy_name = req(input, "PolicyName")?;
        let doc = req(input, "PolicyDocument")?;
        check_policy(doc, PolicyType::Identity, true)?;
        self.update::<T>(cx, &name_key(name), missing_holder::<T>(name), |r| {
            r.check_modifiable()?;
            let entity = r.entity_name().to_owned();
            r.inline().insert(policy_name.to_owned(), doc.to_owned());
            if let Some(f) = portcullis_policy::check_inline_total(
                T::INLINE,
                &entity,
                r.inline().values().map(String::as_str),
            ) {
                return Err(super::limit_exceeded(f.message));
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    async fn get_inline<T: PolicyHolder>(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, T::NAME_MEMBER)?;
        let policy_name = req(input, "PolicyName")?;
        let (mut r, _) = self
            .must::<T>(cx, &name_key(name), missing_holder::<T>(name))
            .await?;
        let entity = r.entity_name().to_owned();
        let doc = r.inline().get(policy_name).cloned().ok_or_else(|| {
            no_such_entity(format!(
                "The {} policy with name {policy_name} cannot be found.",
                T::LABEL
            ))
        })?;
        let mut out = json!({"PolicyName": policy_name, "PolicyDocument": doc});
        super::set(&mut out, T::NAME_MEMBER, Value::String(entity));
        Ok(out)
    }

    async fn delete_inline<T: PolicyHolder>(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, T::NAME_MEMBER)?;
        let policy_name = req(input, "PolicyName")?;
        self.update::<T>(cx, &name_key(name), missing_holder::<T>(name), |r| {
            r.check_modifiable()?;
            r.inline().remove(policy_name).map(|_| ()).ok_or_else(|| {
                no_such_entity(format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    T::LABEL
                ))
            })
        })
        .await?;
        Ok(json!({}))
    }

    async fn list_inline<T: PolicyHolder>(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, T::NAME_MEMBER)?;
        let (mut r, _) = self
            .must::<T>(cx, &name_key(name), missing_holder::<T>(name))
            .await?;
        let items = r
            .inline()
            .keys()
            .map(|k| (k.clone(), Value::String(k.clone())))
            .collect();
        Ok(paginate("PolicyNames", items, input))
    }

    // ----- attached managed policies -----

    async fn attach<T: PolicyHolder>(&self, cx: &Cx<'_>, input: &Value, attach: bool) -> Out {
        let name = req(input, T::NAME_MEMBER)?;
        let limit = T::attached_limit(&self.quotas);
        let arn = req(input, "PolicyArn")?;
        if attach {
            self.managed_policy(cx, arn).await?;
        } else if portcullis_core::Arn::parse(arn).is_err() {
            return Err(invalid_input(format!("ARN {arn} is not valid.")));
        }
        self.update::<T>(cx, &name_key(name), missing_holder::<T>(name), |r| {
            r.check_modifiable()?;
            let list = r.attached();
            let present = list.iter().any(|a| a == arn);
            if attach {
                if !present {
                    if list.len() >= limit {
                        return Err(quota(&format!("PoliciesPer{}", T::QUOTA), limit));
                    }
                    list.push(arn.to_owned());
                }
            } else {
                if !present {
                    return Err(no_such_entity(format!("Policy {arn} was not found.")));
                }
                list.retain(|a| a != arn);
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    async fn list_attached<T: PolicyHolder>(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, T::NAME_MEMBER)?;
        let (mut r, _) = self
            .must::<T>(cx, &name_key(name), missing_holder::<T>(name))
            .await?;
        let prefix = opt(input, "PathPrefix").unwrap_or("/");
        let mut items = Vec::new();
        for arn in r.attached().clone() {
            let policy_name = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
            let path = policy_path(&arn);
            if path.starts_with(prefix) {
                items.push((
                    arn.clone(),
                    json!({"PolicyName": policy_name, "PolicyArn": arn}),
                ));
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(paginate("AttachedPolicies", items, input))
    }

    // ----- permissions boundaries -----

    async fn boundary<T: PolicyHolder>(&self, cx: &Cx<'_>, input: &Value, set: bool) -> Out {
        let name = req(input, T::NAME_MEMBER)?;
        let arn = if set {
            let arn = req(input, "PermissionsBoundary")?;
            self.check_boundary(cx, arn).await?;
            Some(arn.to_owned())
        } else {
            None
        };
        self.update::<T>(cx, &name_key(name), missing_holder::<T>(name), |r| {
            r.check_modifiable()?;
            if let Some(slot) = r.boundary() {
                *slot = arn;
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }
}

/// The path of a policy ARN (`/` or `/a/b/`).
pub(crate) fn policy_path(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
    let rest = resource.strip_prefix("policy").unwrap_or(resource);
    match rest.rfind('/') {
        Some(i) => rest.get(..=i).unwrap_or("/").to_owned(),
        None => "/".to_owned(),
    }
}

/// The store id and not-found message of the entity `input[member]` names.
fn entity_ref<T: Entity>(
    cx: &Cx<'_>,
    input: &Value,
    member: &str,
) -> Result<(String, String), AwsError> {
    let name = req(input, member)?;
    let _ = cx;
    let missing = match T::KIND {
        records::USER => format!("The user with name {name} cannot be found."),
        records::ROLE => format!("The role with name {name} cannot be found."),
        records::INSTANCE_PROFILE => format!("Instance Profile {name} cannot be found."),
        records::POLICY => format!("Policy {name} does not exist or is not attachable."),
        records::MFA => format!("MFA device with serial number {name} does not exist."),
        records::SERVER_CERT => format!("The Server Certificate with name {name} cannot be found."),
        records::SAML_PROVIDER => format!("SAMLProvider {name} does not exist."),
        records::OIDC_PROVIDER => format!("OpenIDConnect Provider not found for arn {name}"),
        _ => format!("The entity {name} cannot be found."),
    };
    let id = match T::KIND {
        records::POLICY | records::MFA | records::SAML_PROVIDER | records::OIDC_PROVIDER => {
            // These are named by ARN: the id is the last part (or the URL for OIDC).
            arn_key::<T>(name)
        }
        _ => name_key(name),
    };
    Ok((id, missing))
}

/// The store id of an entity named by its ARN.
pub(crate) fn arn_key<T: Entity>(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    match T::KIND {
        records::OIDC_PROVIDER => resource
            .strip_prefix("oidc-provider/")
            .unwrap_or(resource)
            .to_owned(),
        records::SAML_PROVIDER => resource.rsplit('/').next().unwrap_or(resource).to_owned(),
        _ => name_key(resource.rsplit('/').next().unwrap_or(resource)),
    }
}

/// `EntityAlreadyExists` when a create lost a race to another create of the same name.
fn exists_on_conflict(e: AwsError, message: impl FnOnce() -> String) -> AwsError {
    if e.code == "ConcurrentModification" {
        already_exists(message())
    } else {
        e
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, AwsError> {
    serde_json::to_value(v).map_err(|e| internal(crate::IamError::corrupt("serialize", "", e)))
}
