//! Account-wide IAM: the account alias, the password policy, `GetAccountSummary`,
//! `GetAccountAuthorizationDetails`, the credential report, SAML and OpenID Connect identity
//! providers, STS preferences and `GetContextKeysFor*Policy`.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use portcullis_aws::AwsError;
use portcullis_store::{Precondition, WriteOp};

use super::identities::{arn_key, role_value};
use super::policies::{policies_for_details, policy_value, versions_value};
use super::records::{
    self, AccountSettings, GroupRecord, InstanceProfileRecord, MfaDeviceRecord, OidcProviderRecord,
    PasswordPolicy, RoleRecord, SamlProviderRecord, ServerCertificateRecord,
    SigningCertificateRecord, UserRecord, name_key, oidc_key,
};
use super::{
    Cx, Iam, Out, already_exists, err, input_tags, internal, invalid_input, no_such_entity, opt,
    opt_bool, opt_i64, paginate, put, quota, req, strings, tags_value,
};
use crate::keys::KeyStatus;

const CLIENT_IDS_PER_PROVIDER: usize = 100;
const THUMBPRINTS_PER_PROVIDER: usize = 5;

fn saml_missing(arn: &str) -> String {
    format!("Manifest not found for arn {arn}")
}

fn oidc_missing(arn: &str) -> String {
    format!("OpenIDConnect Provider not found for arn {arn}")
}

impl Iam {
    /// Dispatches the account-wide actions; `None` for other actions.
    pub(crate) async fn account(&self, cx: &Cx<'_>, action: &str, input: &Value) -> Option<Out> {
        Some(match action {
            "CreateAccountAlias" => self.create_account_alias(cx, input).await,
            "DeleteAccountAlias" => self.delete_account_alias(cx, input).await,
            "ListAccountAliases" => self.list_account_aliases(cx, input).await,
            "GetAccountPasswordPolicy" => self.get_password_policy(cx).await,
            "UpdateAccountPasswordPolicy" => self.update_password_policy(cx, input).await,
            "DeleteAccountPasswordPolicy" => self.delete_password_policy(cx).await,
            "GetAccountSummary" => self.get_account_summary(cx).await,
            "GetAccountAuthorizationDetails" => self.get_authorization_details(cx, input).await,
            "GenerateCredentialReport" => self.generate_credential_report(cx).await,
            "GetCredentialReport" => self.get_credential_report(cx).await,
            "CreateSAMLProvider" => self.create_saml_provider(cx, input).await,
            "GetSAMLProvider" => self.get_saml_provider(cx, input).await,
            "UpdateSAMLProvider" => self.update_saml_provider(cx, input).await,
            "DeleteSAMLProvider" => self.delete_saml_provider(cx, input).await,
            "ListSAMLProviders" => self.list_saml_providers(cx).await,
            "TagSAMLProvider" => {
                self.tag::<SamlProviderRecord>(cx, input, "SAMLProviderArn", |r| &mut r.tags)
                    .await
            }
            "UntagSAMLProvider" => {
                self.untag::<SamlProviderRecord>(cx, input, "SAMLProviderArn", |r| &mut r.tags)
                    .await
            }
            "ListSAMLProviderTags" => {
                self.tags_of::<SamlProviderRecord>(cx, input, "SAMLProviderArn", |r| &mut r.tags)
                    .await
            }
            "CreateOpenIDConnectProvider" => self.create_oidc_provider(cx, input).await,
            "GetOpenIDConnectProvider" => self.get_oidc_provider(cx, input).await,
            "DeleteOpenIDConnectProvider" => self.delete_oidc_provider(cx, input).await,
            "ListOpenIDConnectProviders" => self.list_oidc_providers(cx).await,
            "AddClientIDToOpenIDConnectProvider" => self.oidc_client_id(cx, input, true).await,
            "RemoveClientIDFromOpenIDConnectProvider" => {
                self.oidc_client_id(cx, input, false).await
            }
            "UpdateOpenIDConnectProviderThumbprint" => self.oidc_thumbprints(cx, input).await,
            "TagOpenIDConnectProvider" => {
                self.tag::<OidcProviderRecord>(cx, input, "OpenIDConnectProviderArn", |r| {
                    &mut r.tags
                })
                .await
            }
            "UntagOpenIDConnectProvider" => {
                self.untag::<OidcProviderRecord>(cx, input, "OpenIDConnectProviderArn", |r| {
                    &mut r.tags
                })
                .await
            }
            "ListOpenIDConnectProviderTags" => {
                self.tags_of::<OidcProviderRecord>(cx, input, "OpenIDConnectProviderArn", |r| {
                    &mut r.tags
                })
                .await
            }
            "SetSecurityTokenServicePreferences" => Ok(json!({})),
            "GetContextKeysForCustomPolicy" => Ok(context_keys(&strings(input, "PolicyInputList"))),
            "GetContextKeysForPrincipalPolicy" => self.context_keys_for_principal(cx, input).await,
            _ => return None,
        })
    }

    async fn settings(&self, cx: &Cx<'_>) -> Result<(AccountSettings, Option<i64>), AwsError> {
        records::load_settings(self.store(), cx.account)
            .await
            .map_err(internal)
    }

    async fn save_settings(
        &self,
        cx: &Cx<'_>,
        s: &AccountSettings,
        version: Option<i64>,
    ) -> Result<(), AwsError> {
        let pre = version.map_or(Precondition::Absent, Precondition::Version);
        self.write(vec![put(cx, s, pre)?]).await
    }

    // ----- alias -----

    async fn create_account_alias(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let alias = req(input, "AccountAlias")?;
        let (mut s, v) = self.settings(cx).await?;
        if s.alias.as_deref() == Some(alias) {
            return Ok(json!({}));
        }
        if s.alias.is_some() {
            return Err(err(
                "LimitExceeded",
                409,
                "Cannot exceed quota for AccountAliasesPerAccount: 1",
            ));
        }
        // Aliases are unique across all accounts: a global marker item claims the alias.
        let owner = WriteOp::put(
            records::ACCOUNT,
            "",
            format!("alias/{alias}"),
            json!({"Account": cx.acct()}),
            Precondition::Absent,
        );
        s.alias = Some(alias.to_owned());
        let pre = v.map_or(Precondition::Absent, Precondition::Version);
        self.write(vec![owner, put(cx, &s, pre)?])
            .await
            .map_err(|e| {
                if e.code == "ConcurrentModification" {
                    already_exists(format!("The account alias {alias} already exists."))
                } else {
                    e
                }
            })?;
        Ok(json!({}))
    }

    async fn delete_account_alias(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let alias = req(input, "AccountAlias")?;
        let (mut s, v) = self.settings(cx).await?;
        if s.alias.as_deref() != Some(alias) {
            return Err(no_such_entity(format!(
                "The account alias {alias} cannot be found."
            )));
        }
        s.alias = None;
        let pre = v.map_or(Precondition::Absent, Precondition::Version);
        self.write(vec![
            WriteOp::delete(
                records::ACCOUNT,
                "",
                format!("alias/{alias}"),
                Precondition::Any,
            ),
            put(cx, &s, pre)?,
        ])
        .await?;
        Ok(json!({}))
    }

    async fn list_account_aliases(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (s, _) = self.settings(cx).await?;
        let items = s
            .alias
            .into_iter()
            .map(|a| (a.clone(), Value::String(a)))
            .collect();
        Ok(paginate("AccountAliases", items, input))
    }

    // ----- password policy -----

    async fn get_password_policy(&self, cx: &Cx<'_>) -> Out {
        let (s, _) = self.settings(cx).await?;
        let p = s.password_policy.ok_or_else(|| {
            no_such_entity(format!(
                "The Password Policy with domain name {} cannot be found.",
                cx.acct()
            ))
        })?;
        Ok(json!({"PasswordPolicy": {
            "MinimumPasswordLength": p.minimum_password_length, "RequireSymbols": p.require_symbols,
            "RequireNumbers": p.require_numbers, "RequireUppercaseCharacters": p.require_uppercase_characters,
            "RequireLowercaseCharacters": p.require_lowercase_characters,
            "AllowUsersToChangePassword": p.allow_users_to_change_password,
            "ExpirePasswords": p.max_password_age.is_some(), "MaxPasswordAge": p.max_password_age,
            "PasswordReusePrevention": p.password_reuse_prevention, "HardExpiry": p.hard_expiry,
        }}))
    }

    /// `UpdateAccountPasswordPolicy`: members left out take their defaults, as in IAM.
    async fn update_password_policy(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut s, v) = self.settings(cx).await?;
        s.password_policy = Some(PasswordPolicy {
            minimum_password_length: opt_i64(input, "MinimumPasswordLength").unwrap_or(6),
            require_symbols: opt_bool(input, "RequireSymbols").unwrap_or(false),
            require_numbers: opt_bool(input, "RequireNumbers").unwrap_or(false),
            require_uppercase_characters: opt_bool(input, "RequireUppercaseCharacters")
                .unwrap_or(false),
            require_lowercase_characters: opt_bool(input, "RequireLowercaseCharacters")
                .unwrap_or(false),
            allow_users_to_change_password: opt_bool(input, "AllowUsersToChangePassword")
                .unwrap_or(false),
            max_password_age: opt_i64(input, "MaxPasswordAge"),
            password_reuse_prevention: opt_i64(input, "PasswordReusePrevention"),
            hard_expiry: opt_bool(input, "HardExpiry").unwrap_or(false),
        });
        self.save_settings(cx, &s, v).await?;
        Ok(json!({}))
    }

    async fn delete_password_policy(&self, cx: &Cx<'_>) -> Out {
        let (mut s, v) = self.settings(cx).await?;
        if s.password_policy.take().is_none() {
            return Err(no_such_entity(format!(
                "The Password Policy with domain name {} cannot be found.",
                cx.acct()
            )));
        }
        self.save_settings(cx, &s, v).await?;
        Ok(json!({}))
    }

    // ----- summary and details -----

    async fn get_account_summary(&self, cx: &Cx<'_>) -> Out {
        let users = self.count::<UserRecord>(cx).await?;
        let groups = self.count::<GroupRecord>(cx).await?;
        let roles = self.count::<RoleRecord>(cx).await?;
        let profiles = self.count::<InstanceProfileRecord>(cx).await?;
        let policies = self.all::<records::CustomerPolicyRecord>(cx, "").await?;
        let devices = self.all::<MfaDeviceRecord>(cx, "").await?;
        let certs = self.count::<ServerCertificateRecord>(cx).await?;
        let providers = self.count::<SamlProviderRecord>(cx).await?
            + self.count::<OidcProviderRecord>(cx).await?;
        let root_keys = self
            .store()
            .list(portcullis_store::ListQuery::all(crate::keys::KIND, ""))
            .await
            .map_err(|e| internal(e.into()))?
            .items
            .into_iter()
            .filter_map(|i| serde_json::from_value::<crate::AccessKeyRecord>(i.value).ok())
            .any(|k| k.account == *cx.account && k.owner == crate::KeyOwner::Root);
        let q = &self.quotas;
        Ok(json!({"SummaryMap": {
            "Users": users, "UsersQuota": q.users_per_account, "Groups": groups, "GroupsQuota": q.groups_per_account,
            "Roles": roles, "RolesQuota": q.roles_per_account, "InstanceProfiles": profiles, "InstanceProfilesQuota": q.instance_profiles_per_account,
            "Policies": policies.len(), "PoliciesQuota": q.policies_per_account,
            "PolicyVersionsInUse": policies.iter().map(|p| p.versions.len()).sum::<usize>(),
            "PolicyVersionsInUseQuota": 10000, "VersionsPerPolicyQuota": q.versions_per_policy,
            "ServerCertificates": certs, "ServerCertificatesQuota": q.server_certificates_per_account,
            "MFADevices": devices.len(), "MFADevicesInUse": devices.iter().filter(|d| d.user_name.is_some()).count(),
            "AccountMFAEnabled": 0, "AccountAccessKeysPresent": i32::from(root_keys),
            "AccountPasswordPresent": 0, "AccountSigningCertificatesPresent": 0,
            "Providers": providers,
            "UserPolicySizeQuota": 2048, "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240,
            "PolicySizeQuota": 6144, "AssumeRolePolicySizeQuota": 2048,
            "GroupsPerUserQuota": q.groups_per_user, "SigningCertificatesPerUserQuota": q.signing_certificates_per_user, "AccessKeysPerUserQuota": q.access_keys_per_user,
            "AttachedPoliciesPerGroupQuota": q.attached_policies_per_group, "AttachedPoliciesPerRoleQuota": q.attached_policies_per_role,
            "AttachedPoliciesPerUserQuota": q.attached_policies_per_user, "GlobalEndpointTokenVersion": 1,
        }}))
    }

    async fn get_authorization_details(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let filter = strings(input, "Filter");
        let wants = |f: &str| filter.is_empty() || filter.iter().any(|x| x == f);
        let attached = |arns: &[String]| {
            arns.iter()
                .map(|a| json!({"PolicyName": a.rsplit('/').next().unwrap_or(a), "PolicyArn": a}))
                .collect::<Vec<_>>()
        };
        let inline = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| json!({"PolicyName": k, "PolicyDocument": v}))
                .collect::<Vec<_>>()
        };
        let mut items: Vec<(String, Value)> = Vec::new();
        if wants("User") {
            for u in self.all::<UserRecord>(cx, "").await? {
                let mut v = json!({"Path": u.path, "UserName": u.user_name, "UserId": u.user_id, "Arn": u.arn,
                    "CreateDate": u.create_date, "UserPolicyList": inline(&u.inline_policies),
                    "GroupList": u.groups, "AttachedManagedPolicies": attached(&u.attached_policies)});
                if let Some(b) = &u.permissions_boundary {
                    super::set(
                        &mut v,
                        "PermissionsBoundary",
                        json!({"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": b}),
                    );
                }
                if !u.tags.is_empty() {
                    super::set(&mut v, "Tags", tags_value(&u.tags));
                }
                items.push((
                    format!("1/{}", name_key(&u.user_name)),
                    json!({"K": "UserDetailList", "V": v}),
                ));
            }
        }
        if wants("Group") {
            for g in self.all::<GroupRecord>(cx, "").await? {
                let v = json!({"Path": g.path, "GroupName": g.group_name, "GroupId": g.group_id, "Arn": g.arn,
                    "CreateDate": g.create_date, "GroupPolicyList": inline(&g.inline_policies),
                    "AttachedManagedPolicies": attached(&g.attached_policies)});
                items.push((
                    format!("2/{}", name_key(&g.group_name)),
                    json!({"K": "GroupDetailList", "V": v}),
                ));
            }
        }
        if wants("Role") || wants("AWSManagedPolicy") || wants("LocalManagedPolicy") {
            let profiles = self.all::<InstanceProfileRecord>(cx, "").await?;
            let mut roles = self.all::<RoleRecord>(cx, "").await?;
            if wants("Role") {
                let mut last_used = crate::usage::roles_last_used(self.store(), cx.account)
                    .await
                    .map_err(internal)?;
                for r in &mut roles {
                    r.role_last_used = last_used.remove(&r.role_id);
                }
                for r in &roles {
                    let mut v = role_value(r, true);
                    super::set(&mut v, "RolePolicyList", json!(inline(&r.inline_policies)));
                    super::set(
                        &mut v,
                        "AttachedManagedPolicies",
                        json!(attached(&r.attached_policies)),
                    );
                    super::set(&mut v, "InstanceProfileList", json!(profiles
                        .iter()
                        .filter(|p| p.roles.iter().any(|n| name_key(n) == name_key(&r.role_name)))
                        .map(|p| json!({"Path": p.path, "InstanceProfileName": p.instance_profile_name,
                            "InstanceProfileId": p.instance_profile_id, "Arn": p.arn, "CreateDate": p.create_date,
                            "Roles": [role_value(r, false)]}))
                        .collect::<Vec<_>>()));
                    items.push((
                        format!("3/{}", name_key(&r.role_name)),
                        json!({"K": "RoleDetailList", "V": v}),
                    ));
                }
            }
            let usage = self.usage(cx).await?;
            for p in policies_for_details(self, cx, &usage).await? {
                let kind = if p.aws_managed {
                    "AWSManagedPolicy"
                } else {
                    "LocalManagedPolicy"
                };
                if !wants(kind) {
                    continue;
                }
                let mut v = policy_value(&p, &usage, false);
                super::set(&mut v, "PolicyVersionList", versions_value(&p));
                items.push((format!("4/{}", p.arn), json!({"K": "Policies", "V": v})));
            }
        }
        let mut page = paginate("Items", items, input);
        let mut out = json!({"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": [],
                             "IsTruncated": page.get("IsTruncated").cloned().unwrap_or(Value::Bool(false))});
        if let Some(m) = page.get("Marker") {
            super::set(&mut out, "Marker", m.clone());
        }
        if let Some(Value::Array(entries)) = page.get_mut("Items").map(Value::take) {
            for e in entries {
                let k = e
                    .get("K")
                    .and_then(Value::as_str)
                    .unwrap_or("Policies")
                    .to_owned();
                if let Some(Value::Array(list)) = out.get_mut(&k) {
                    list.push(e.get("V").cloned().unwrap_or(Value::Null));
                }
            }
        }
        Ok(out)
    }

    // ----- credential report -----

    /// Builds the report now (the report is small); the first call answers `STARTED` as AWS
    /// does, later ones `COMPLETE`.
    async fn generate_credential_report(&self, cx: &Cx<'_>) -> Out {
        let (mut s, v) = self.settings(cx).await?;
        let first = s.credential_report.is_none();
        let content = self.credential_report_csv(cx).await?;
        s.credential_report = Some(records::CredentialReport {
            content,
            generated_time: cx.now.clone(),
        });
        self.save_settings(cx, &s, v).await?;
        Ok(if first {
            json!({"State": "STARTED", "Description": "No report exists. Starting a new report generation task"})
        } else {
            json!({"State": "COMPLETE"})
        })
    }

    async fn get_credential_report(&self, cx: &Cx<'_>) -> Out {
        let (s, _) = self.settings(cx).await?;
        let r = s.credential_report.ok_or_else(|| {
            err(
                "ReportNotPresent",
                410,
                "Unable to find a credential report. Please generate a new report.",
            )
        })?;
        Ok(
            json!({"Content": B64.encode(r.content.as_bytes()), "ReportFormat": "text/csv", "GeneratedTime": r.generated_time}),
        )
    }

    /// The CSV as AWS writes it (IAM User Guide, "Getting credential reports").
    async fn credential_report_csv(&self, cx: &Cx<'_>) -> Result<String, AwsError> {
        let mut csv = String::from(
            "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n",
        );
        let account = crate::Accounts::new(self.store.clone(), self.master.clone())
            .get(cx.account)
            .await
            .map_err(internal)?;
        let created = account.map_or_else(|| cx.now.clone(), |a| a.created);
        csv.push_str(&format!(
            "<root_account>,arn:aws:iam::{}:root,{created},not_supported,no_information,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
            cx.acct()
        ));
        let (settings, _) = self.settings(cx).await?;
        for u in self.all::<UserRecord>(cx, "").await? {
            let mut row: Vec<String> =
                vec![u.user_name.clone(), u.arn.clone(), u.create_date.clone()];
            match &u.login_profile {
                Some(p) => {
                    row.push("true".into());
                    row.push(
                        u.password_last_used
                            .clone()
                            .unwrap_or_else(|| "no_information".into()),
                    );
                    row.push(p.password_last_changed.clone());
                    row.push(
                        match settings
                            .password_policy
                            .as_ref()
                            .and_then(|pp| pp.max_password_age)
                        {
                            Some(days) => add_days(&p.password_last_changed, days),
                            None => "N/A".into(),
                        },
                    );
                }
                None => row.extend(["false", "N/A", "N/A", "N/A"].map(String::from)),
            }
            row.push((!u.mfa_devices.is_empty()).to_string());
            for i in 0..2 {
                let key = match u.access_keys.get(i) {
                    Some(id) => self.access_key(id).await?,
                    None => None,
                };
                match key {
                    Some(k) => {
                        row.push((k.status == KeyStatus::Active).to_string());
                        row.push(k.create_date.clone());
                        match records::access_key_last_used(self.store(), &k.access_key_id)
                            .await
                            .map_err(internal)?
                        {
                            Some(used) => {
                                row.extend([used.last_used_date, used.region, used.service_name])
                            }
                            None => row.extend(["N/A", "N/A", "N/A"].map(String::from)),
                        }
                    }
                    None => row.extend(["false", "N/A", "N/A", "N/A", "N/A"].map(String::from)),
                }
            }
            let certs = self
                .all::<SigningCertificateRecord>(cx, &format!("{}/", name_key(&u.user_name)))
                .await?;
            for i in 0..2 {
                match certs.get(i) {
                    Some(c) => {
                        row.extend([(c.status == "Active").to_string(), c.upload_date.clone()])
                    }
                    None => row.extend(["false", "N/A"].map(String::from)),
                }
            }
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        Ok(csv)
    }

    // ----- SAML providers -----

    async fn create_saml_provider(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "Name")?;
        let doc = req(input, "SAMLMetadataDocument")?;
        check_saml_metadata(doc)?;
        let tags = input_tags(input)?;
        if self.get::<SamlProviderRecord>(cx, name).await?.is_some() {
            return Err(already_exists(format!(
                "SAMLProvider {name} already exists"
            )));
        }
        let p = SamlProviderRecord {
            arn: cx.arn(&format!("saml-provider/{name}")),
            name: name.to_owned(),
            saml_metadata_document: doc.to_owned(),
            create_date: cx.now.clone(),
            valid_until: add_days(&cx.now, 365),
            tags,
        };
        self.create_counted(cx, &p).await?;
        let mut out = json!({"SAMLProviderArn": p.arn});
        if !p.tags.is_empty() {
            super::set(&mut out, "Tags", tags_value(&p.tags));
        }
        Ok(out)
    }

    async fn saml(&self, cx: &Cx<'_>, arn: &str) -> Result<(SamlProviderRecord, i64), AwsError> {
        match self
            .get::<SamlProviderRecord>(cx, &arn_key::<SamlProviderRecord>(arn))
            .await?
        {
            Some((p, v)) if p.arn == arn => Ok((p, v)),
            _ => Err(no_such_entity(saml_missing(arn))),
        }
    }

    async fn get_saml_provider(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (p, _) = self.saml(cx, req(input, "SAMLProviderArn")?).await?;
        let mut out = json!({"SAMLMetadataDocument": p.saml_metadata_document, "CreateDate": p.create_date,
                             "ValidUntil": p.valid_until, "AssertionEncryptionMode": "Allowed"});
        if !p.tags.is_empty() {
            super::set(&mut out, "Tags", tags_value(&p.tags));
        }
        Ok(out)
    }

    async fn update_saml_provider(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "SAMLProviderArn")?;
        let (mut p, v) = self.saml(cx, arn).await?;
        if let Some(doc) = opt(input, "SAMLMetadataDocument") {
            check_saml_metadata(doc)?;
            doc.clone_into(&mut p.saml_metadata_document);
        }
        self.write(vec![put(cx, &p, Precondition::Version(v))?])
            .await?;
        Ok(json!({"SAMLProviderArn": arn}))
    }

    async fn delete_saml_provider(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (p, v) = self.saml(cx, req(input, "SAMLProviderArn")?).await?;
        self.delete_counted::<SamlProviderRecord>(cx, &p.name, v)
            .await?;
        Ok(json!({}))
    }

    async fn list_saml_providers(&self, cx: &Cx<'_>) -> Out {
        let list: Vec<Value> = self
            .all::<SamlProviderRecord>(cx, "")
            .await?
            .iter()
            .map(
                |p| json!({"Arn": p.arn, "ValidUntil": p.valid_until, "CreateDate": p.create_date}),
            )
            .collect();
        Ok(json!({"SAMLProviderList": list}))
    }

    // ----- OpenID Connect providers -----

    async fn create_oidc_provider(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let url = req(input, "Url")?;
        if !url.starts_with("https://") || url.len() <= "https://".len() {
            return Err(invalid_input("Invalid Openid Connect Provider URL"));
        }
        let client_ids = strings(input, "ClientIDList");
        let thumbprints = strings(input, "ThumbprintList");
        if client_ids.len() > CLIENT_IDS_PER_PROVIDER {
            return Err(quota(
                "ClientIdsPerOpenIdConnectProvider",
                CLIENT_IDS_PER_PROVIDER,
            ));
        }
        if thumbprints.len() > THUMBPRINTS_PER_PROVIDER {
            return Err(quota(
                "ThumbprintsPerOpenIdConnectProvider",
                THUMBPRINTS_PER_PROVIDER,
            ));
        }
        let tags = input_tags(input)?;
        let key = oidc_key(url);
        let arn = cx.arn(&format!("oidc-provider/{key}"));
        if self.get::<OidcProviderRecord>(cx, &key).await?.is_some() {
            return Err(already_exists(format!(
                "Provider with url {url} already exists."
            )));
        }
        let p = OidcProviderRecord {
            arn: arn.clone(),
            url: url.to_owned(),
            client_id_list: client_ids,
            thumbprint_list: thumbprints,
            create_date: cx.now.clone(),
            tags,
        };
        self.create_counted(cx, &p).await?;
        let mut out = json!({"OpenIDConnectProviderArn": arn});
        if !p.tags.is_empty() {
            super::set(&mut out, "Tags", tags_value(&p.tags));
        }
        Ok(out)
    }

    async fn oidc(&self, cx: &Cx<'_>, arn: &str) -> Result<(OidcProviderRecord, i64), AwsError> {
        match self
            .get::<OidcProviderRecord>(cx, &arn_key::<OidcProviderRecord>(arn))
            .await?
        {
            Some((p, v)) if p.arn == arn => Ok((p, v)),
            _ => Err(no_such_entity(oidc_missing(arn))),
        }
    }

    async fn get_oidc_provider(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (p, _) = self
            .oidc(cx, req(input, "OpenIDConnectProviderArn")?)
            .await?;
        let mut out = json!({"Url": oidc_key(&p.url), "ClientIDList": p.client_id_list,
                             "ThumbprintList": p.thumbprint_list, "CreateDate": p.create_date});
        if !p.tags.is_empty() {
            super::set(&mut out, "Tags", tags_value(&p.tags));
        }
        Ok(out)
    }

    async fn delete_oidc_provider(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (p, v) = self
            .oidc(cx, req(input, "OpenIDConnectProviderArn")?)
            .await?;
        self.delete_counted::<OidcProviderRecord>(cx, &oidc_key(&p.url), v)
            .await?;
        Ok(json!({}))
    }

    async fn list_oidc_providers(&self, cx: &Cx<'_>) -> Out {
        let list: Vec<Value> = self
            .all::<OidcProviderRecord>(cx, "")
            .await?
            .iter()
            .map(|p| json!({"Arn": p.arn}))
            .collect();
        Ok(json!({"OpenIDConnectProviderList": list}))
    }

    async fn oidc_client_id(&self, cx: &Cx<'_>, input: &Value, add: bool) -> Out {
        let arn = req(input, "OpenIDConnectProviderArn")?;
        let client = req(input, "ClientID")?;
        let (mut p, v) = self.oidc(cx, arn).await?;
        if add {
            if !p.client_id_list.iter().any(|c| c == client) {
                if p.client_id_list.len() >= CLIENT_IDS_PER_PROVIDER {
                    return Err(quota(
                        "ClientIdsPerOpenIdConnectProvider",
                        CLIENT_IDS_PER_PROVIDER,
                    ));
                }
                p.client_id_list.push(client.to_owned());
            }
        } else {
            p.client_id_list.retain(|c| c != client);
        }
        self.write(vec![put(cx, &p, Precondition::Version(v))?])
            .await?;
        Ok(json!({}))
    }

    async fn oidc_thumbprints(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "OpenIDConnectProviderArn")?;
        let thumbprints = strings(input, "ThumbprintList");
        if thumbprints.len() > THUMBPRINTS_PER_PROVIDER {
            return Err(quota(
                "ThumbprintsPerOpenIdConnectProvider",
                THUMBPRINTS_PER_PROVIDER,
            ));
        }
        let (mut p, v) = self.oidc(cx, arn).await?;
        p.thumbprint_list = thumbprints;
        self.write(vec![put(cx, &p, Precondition::Version(v))?])
            .await?;
        Ok(json!({}))
    }

    async fn context_keys_for_principal(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let arn = req(input, "PolicySourceArn")?;
        let mut docs = strings(input, "PolicyInputList");
        let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
        let name = resource.rsplit('/').next().unwrap_or("");
        let mut arns: Vec<String> = Vec::new();
        if resource.starts_with("user/") {
            let (u, _) = self
                .must::<UserRecord>(cx, &name_key(name), || {
                    format!("The user with name {name} cannot be found.")
                })
                .await?;
            docs.extend(u.inline_policies.values().cloned());
            arns.extend(u.attached_policies.iter().cloned());
            for g in &u.groups {
                if let Some((g, _)) = self.get::<GroupRecord>(cx, &name_key(g)).await? {
                    docs.extend(g.inline_policies.values().cloned());
                    arns.extend(g.attached_policies.iter().cloned());
                }
            }
        } else if resource.starts_with("role/") {
            let (r, _) = self
                .must::<RoleRecord>(cx, &name_key(name), || {
                    format!("The role with name {name} cannot be found.")
                })
                .await?;
            docs.extend(r.inline_policies.values().cloned());
            arns.extend(r.attached_policies.iter().cloned());
        } else if resource.starts_with("group/") {
            let (g, _) = self
                .must::<GroupRecord>(cx, &name_key(name), || {
                    format!("The group with name {name} cannot be found.")
                })
                .await?;
            docs.extend(g.inline_policies.values().cloned());
            arns.extend(g.attached_policies.iter().cloned());
        } else {
            return Err(invalid_input(format!("ARN {arn} is not valid.")));
        }
        for a in arns {
            if let Some(p) = records::load_managed_policy(self.store(), cx.account, &a)
                .await
                .map_err(internal)?
                && let Some(d) = p.document()
            {
                docs.push(d.to_owned());
            }
        }
        Ok(context_keys(&docs))
    }
}

/// The condition keys the documents use, each once, as `GetContextKeysFor*Policy` lists them.
fn context_keys(docs: &[String]) -> Value {
    let mut keys = BTreeSet::new();
    for d in docs {
        let Ok(v) = serde_json::from_str::<Value>(d) else {
            continue;
        };
        let statements = match v.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(s) => vec![s.clone()],
            None => Vec::new(),
        };
        for s in statements {
            if let Some(Value::Object(ops)) = s.get("Condition") {
                for cond in ops.values() {
                    if let Value::Object(k) = cond {
                        keys.extend(k.keys().cloned());
                    }
                }
            }
        }
    }
    json!({"ContextKeyNames": keys.into_iter().collect::<Vec<_>>()})
}

/// A SAML metadata document must at least be an `EntityDescriptor` XML document.
fn check_saml_metadata(doc: &str) -> Result<(), AwsError> {
    if doc.contains("EntityDescriptor") {
        Ok(())
    } else {
        Err(invalid_input("Could not parse metadata"))
    }
}

/// `iso` plus `days` days.
fn add_days(iso: &str, days: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(iso, &Rfc3339)
        .ok()
        .and_then(|t| t.checked_add(time::Duration::days(days)))
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| iso.to_owned())
}
