//! Key lifecycle and metadata: CreateKey, DescribeKey, ListKeys, Enable/DisableKey,
//! Schedule/CancelKeyDeletion, UpdateKeyDescription, tags, aliases, key policies, rotation and
//! imported key material.

use std::collections::BTreeMap;

use aws_lc_rs::hmac;
use portcullis_store::{Precondition, WriteOp};
use serde_json::{Value, json};

use crate::backend::{self, KeySpec, KeyUsage};
use crate::record::{self, AliasRecord, ImportParams, Input, KeyRecord, KeyState};
use crate::{Caller, Extra, Kms, KmsError, Resolved, Scope, check_usable, key_arn, ts, usage_str};

/// AWS's rotation period bounds (EnableKeyRotation `RotationPeriodInDays`) and default.
const ROTATION_DAYS: (i64, i64, u32) = (90, 2560, 365);
/// On-demand rotations allowed per key.
const ON_DEMAND_LIMIT: u32 = 10;

/// The key policy AWS writes when CreateKey gets none: the account's root, and through it the
/// account's IAM policies, may do everything with the key ("Default key policy" in the KMS
/// Developer Guide).
pub fn default_key_policy(account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// Validates a key policy with the policy engine, as PutKeyPolicy and CreateKey do.
fn check_policy(text: &str) -> Result<(), KmsError> {
    let parsed = portcullis_policy::parse(text, portcullis_policy::PolicyType::Key);
    match parsed.findings.first() {
        None => Ok(()),
        Some(f) => Err(KmsError::MalformedPolicyDocument(f.message.clone())),
    }
}

/// `kms:BypassPolicyLockoutSafetyCheck`, present only when the request has the parameter (AWS's
/// example policies test for it with the `Null` operator).
fn bypass_value(i: &Input<'_>) -> Option<&'static str> {
    i.0.get("BypassPolicyLockoutSafetyCheck")
        .and_then(Value::as_bool)
        .map(|b| if b { "true" } else { "false" })
}

/// DescribeKey's `KeyMetadata`.
pub(crate) fn metadata(key: &KeyRecord) -> Value {
    let mut m = json!({
        "AWSAccountId": key.account,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": ts(key.created),
        "Enabled": key.state == KeyState::Enabled,
        "Description": key.description,
        "KeyUsage": usage_str(key.key_usage),
        "KeyState": key.state.as_str(),
        "Origin": key.origin,
        "KeyManager": key.key_manager,
        "CustomerMasterKeySpec": key.key_spec.as_str(),
        "KeySpec": key.key_spec.as_str(),
        "MultiRegion": false,
    });
    let lists = [
        (
            "EncryptionAlgorithms",
            key.key_spec.encryption_algorithms(key.key_usage),
        ),
        (
            "SigningAlgorithms",
            key.key_spec.signing_algorithms(key.key_usage),
        ),
        ("MacAlgorithms", key.key_spec.mac_algorithms()),
        (
            "KeyAgreementAlgorithms",
            key.key_spec.key_agreement_algorithms(key.key_usage),
        ),
    ];
    for (name, list) in lists {
        if !list.is_empty() {
            record::set(&mut m, name, json!(list));
        }
    }
    if let Some(d) = key.deletion_date {
        record::set(&mut m, "DeletionDate", ts(d));
    }
    if let Some(w) = key.pending_window_days {
        record::set(&mut m, "PendingDeletionWindowInDays", json!(w));
    }
    if key.origin == "EXTERNAL" {
        if let Some(model) = &key.expiration_model {
            record::set(&mut m, "ExpirationModel", json!(model));
        }
        if let Some(v) = key.valid_to {
            record::set(&mut m, "ValidTo", ts(v));
        }
    }
    m
}

/// Reads `Tags` ([{TagKey, TagValue}]); the `aws:` prefix is reserved.
fn read_tags(input: &Input<'_>) -> Result<BTreeMap<String, String>, KmsError> {
    let mut out = BTreeMap::new();
    for tag in input
        .0
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let k = tag
            .get("TagKey")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let v = tag
            .get("TagValue")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if k.starts_with("aws:") {
            return Err(KmsError::Tag(
                "Tags beginning with aws: are reserved.".to_owned(),
            ));
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    if out.len() > 50 {
        return Err(KmsError::Tag(
            "A KMS key can have at most 50 tags.".to_owned(),
        ));
    }
    Ok(out)
}

fn parse_enum<T: serde::de::DeserializeOwned>(
    value: &str,
    field: &str,
    allowed: &str,
) -> Result<T, KmsError> {
    serde_json::from_value(Value::String(value.to_owned())).map_err(|_| {
        KmsError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
        ))
    })
}

/// Alias names: `alias/` and then letters, digits, `/_-`, at most 256 characters in all.
fn check_alias_name(name: &str) -> Result<(), KmsError> {
    let rest = name.strip_prefix("alias/").unwrap_or("");
    if rest.is_empty()
        || name.len() > 256
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(reserved_alias());
    }
    Ok(())
}

/// AWS: "The alias/aws/ prefix is reserved for AWS managed keys": customers cannot create,
/// point or delete such aliases.
fn reserved_alias() -> KmsError {
    KmsError::Denied(portcullis_aws::AwsError::new(
        "NotAuthorizedException",
        http::StatusCode::BAD_REQUEST,
        "Aliases beginning with alias/aws/ are reserved for AWS managed keys and cannot be created, changed or deleted.",
    ))
}

impl Kms {
    pub(crate) async fn create_key(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        if i.bool("MultiRegion") {
            return Err(KmsError::Unsupported(
                "Multi-Region keys are not supported by this KMS.".to_owned(),
            ));
        }
        if i.str("CustomKeyStoreId").is_some() || i.str("XksKeyId").is_some() {
            return Err(KmsError::Unsupported(
                "Custom key stores are not supported by this KMS.".to_owned(),
            ));
        }
        let spec_name = i
            .str("KeySpec")
            .or(i.str("CustomerMasterKeySpec"))
            .unwrap_or("SYMMETRIC_DEFAULT");
        let spec = KeySpec::parse(spec_name).ok_or_else(|| {
            KmsError::Validation(format!("1 validation error detected: Value '{spec_name}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set"))
        })?;
        let usage: KeyUsage = parse_enum(
            i.str("KeyUsage").unwrap_or("ENCRYPT_DECRYPT"),
            "keyUsage",
            "SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT",
        )?;
        if !spec.allows(usage) {
            return Err(KmsError::Validation(format!(
                "KeyUsage {} is not compatible with KeySpec {}",
                usage_str(usage),
                spec.as_str()
            )));
        }
        let origin = i.str("Origin").unwrap_or("AWS_KMS");
        match origin {
            "AWS_KMS" | "EXTERNAL" => {}
            "AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE" => {
                return Err(KmsError::Unsupported(
                    "Custom key stores are not supported by this KMS.".to_owned(),
                ));
            }
            other => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [EXTERNAL_KEY_STORE, AWS_CLOUDHSM, AWS_KMS, EXTERNAL]"
                )));
            }
        }
        let account = ctx.principal.account.as_str().to_owned();
        let policy = match i.str("Policy") {
            Some(p) => {
                check_policy(p)?;
                p.to_owned()
            }
            None => default_key_policy(&account),
        };
        let tags = read_tags(i)?;
        let (spec_name, usage_name) = (spec.as_str(), usage_str(usage));
        let tag_keys: Vec<&str> = tags.keys().map(String::as_str).collect();
        let request_tags: Vec<(String, &str)> = tags
            .iter()
            .map(|(k, v)| (format!("aws:RequestTag/{k}"), v.as_str()))
            .collect();
        let bypass = bypass_value(i);
        let mut conditions: Vec<(&str, &[&str])> = vec![
            ("kms:KeySpec", std::slice::from_ref(&spec_name)),
            ("kms:KeyUsage", std::slice::from_ref(&usage_name)),
            ("kms:KeyOrigin", std::slice::from_ref(&origin)),
            ("kms:MultiRegion", &["false"]),
        ];
        if let Some(b) = &bypass {
            conditions.push((
                "kms:BypassPolicyLockoutSafetyCheck",
                std::slice::from_ref(b),
            ));
        }
        if !tags.is_empty() {
            conditions.push(("aws:TagKeys", &tag_keys));
            for (k, v) in &request_tags {
                conditions.push((k, std::slice::from_ref(v)));
            }
        }
        self.authorize_account(ctx, "CreateKey", &conditions)
            .await?;
        let mut key = KeyRecord::new(
            &account,
            &ctx.region,
            self.now_secs(),
            (spec, usage, origin),
            policy,
        );
        key.description = i.str("Description").unwrap_or_default().to_owned();
        key.tags = tags;
        if i.str("Policy").is_some() && !i.bool("BypassPolicyLockoutSafetyCheck") {
            self.check_policy_lockout(ctx, &key, None).await?;
        }
        if origin == "AWS_KMS" {
            let generated = backend::generate_off_worker(key.key_spec).await?;
            self.add_generated_material(&mut key, None, generated)?;
        }
        self.store().write(key.write_ops(None)?).await?;
        Ok(json!({"KeyMetadata": metadata(&key)}))
    }

    pub(crate) async fn describe_key(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let (mut r, new_managed) = self.resolve_or_create_managed(ctx, i.req("KeyId")?).await?;
        self.authorize(ctx, "DescribeKey", &r, None, &[], &i.strings("GrantTokens"))
            .await?;
        if let (Some(key), Some(alias)) = (new_managed, r.alias.clone()) {
            r = self.save_managed_key(ctx, key, &alias).await?;
        }
        Ok(json!({"KeyMetadata": metadata(&r.key)}))
    }

    pub(crate) async fn list_keys(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        self.authorize_account(ctx, "ListKeys", &[]).await?;
        let items = record::list_all(
            self.store(),
            record::KEY,
            ctx.principal.account.as_str(),
            "",
        )
        .await?;
        let mut entries = Vec::new();
        for item in items {
            let key: KeyRecord = record::decode(&item)?;
            if key.region == ctx.region {
                entries.push((
                    key.key_id.clone(),
                    json!({"KeyId": key.key_id, "KeyArn": key.arn}),
                ));
            }
        }
        let (page, next) = record::paginate(entries, i, 100)?;
        Ok(record::with_marker(json!({"Keys": page}), next))
    }

    /// The key named by `KeyId` in the caller's own account, authorized for `action`.
    async fn own_key(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
        action: &str,
        extra: Extra<'_>,
    ) -> Result<Resolved, KmsError> {
        let r = self
            .resolve(ctx, i.req("KeyId")?, Scope::OwnAccount)
            .await?;
        self.authorize(ctx, action, &r, None, extra, &[]).await?;
        Ok(r)
    }

    pub(crate) async fn set_enabled(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
        enable: bool,
    ) -> Result<Value, KmsError> {
        let r = self
            .own_key(ctx, i, if enable { "EnableKey" } else { "DisableKey" }, &[])
            .await?;
        self.mutate(r, |_, key| match key.state {
            KeyState::PendingDeletion => Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                key.arn
            ))),
            KeyState::PendingImport => Err(KmsError::InvalidState(format!(
                "{} is pending import.",
                key.arn
            ))),
            _ => {
                key.state = if enable {
                    KeyState::Enabled
                } else {
                    KeyState::Disabled
                };
                Ok(())
            }
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn schedule_key_deletion(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        // AWS: PendingWindowInDays is 7 to 30, default 30.
        let days = i.int("PendingWindowInDays").unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30"
            )));
        }
        let days_text = days.to_string();
        let extra: Extra<'_> = &[(
            "kms:ScheduleKeyDeletionPendingWindowInDays",
            &[days_text.as_str()],
        )];
        let r = self.own_key(ctx, i, "ScheduleKeyDeletion", extra).await?;
        let now = self.now_secs();
        let days = u32::try_from(days).unwrap_or(30);
        let (key, ()) = self
            .mutate(r, |_, key| {
                if key.state == KeyState::PendingDeletion {
                    return Err(KmsError::InvalidState(format!(
                        "{} is pending deletion.",
                        key.arn
                    )));
                }
                key.state = KeyState::PendingDeletion;
                key.deletion_date = Some(now + u64::from(days) * 86_400);
                key.pending_window_days = Some(days);
                Ok(())
            })
            .await?;
        Ok(json!({
            "KeyId": key.arn,
            "DeletionDate": ts(key.deletion_date.unwrap_or(now)),
            "KeyState": key.state.as_str(),
            "PendingWindowInDays": days,
        }))
    }

    pub(crate) async fn cancel_key_deletion(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self.own_key(ctx, i, "CancelKeyDeletion", &[]).await?;
        let (key, ()) = self
            .mutate(r, |_, key| {
                if key.state != KeyState::PendingDeletion {
                    return Err(KmsError::InvalidState(format!(
                        "{} is not pending deletion.",
                        key.arn
                    )));
                }
                // AWS: a key whose deletion is cancelled is Disabled (PendingImport when it
                // has no material).
                key.state = if key.materials.is_empty() {
                    KeyState::PendingImport
                } else {
                    KeyState::Disabled
                };
                key.deletion_date = None;
                key.pending_window_days = None;
                Ok(())
            })
            .await?;
        Ok(json!({"KeyId": key.arn}))
    }

    pub(crate) async fn update_key_description(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let description = i.req("Description")?.to_owned();
        let r = self.own_key(ctx, i, "UpdateKeyDescription", &[]).await?;
        self.mutate(r, |_, key| {
            key.description.clone_from(&description);
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn tag_resource(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let tags = read_tags(i)?;
        let tag_keys: Vec<&str> = tags.keys().map(String::as_str).collect();
        let extra: Extra<'_> = &[("aws:TagKeys", &tag_keys)];
        let r = self.own_key(ctx, i, "TagResource", extra).await?;
        self.mutate(r, |_, key| {
            if key.state == KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{} is pending deletion.",
                    key.arn
                )));
            }
            key.tags.extend(tags.clone());
            if key.tags.len() > 50 {
                return Err(KmsError::Tag(
                    "A KMS key can have at most 50 tags.".to_owned(),
                ));
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn untag_resource(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let keys = i.strings("TagKeys");
        let tag_keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let extra: Extra<'_> = &[("aws:TagKeys", &tag_keys)];
        let r = self.own_key(ctx, i, "UntagResource", extra).await?;
        self.mutate(r, |_, key| {
            if key.state == KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{} is pending deletion.",
                    key.arn
                )));
            }
            for k in &keys {
                key.tags.remove(k);
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn list_resource_tags(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self.own_key(ctx, i, "ListResourceTags", &[]).await?;
        let entries = r
            .key
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), json!({"TagKey": k, "TagValue": v})))
            .collect();
        let (page, next) = record::paginate(entries, i, 50)?;
        Ok(record::with_marker(json!({"Tags": page}), next))
    }

    // ---- aliases ----

    /// The target of CreateAlias/UpdateAlias: a key id or key ARN (not an alias), own account.
    async fn alias_target(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
        action: &str,
    ) -> Result<Resolved, KmsError> {
        let target = i.req("TargetKeyId")?;
        if target.starts_with("alias/") || target.contains(":alias/") {
            return Err(KmsError::Validation(
                "Aliases must refer to keys. Not aliases".to_owned(),
            ));
        }
        let r = self.resolve(ctx, target, Scope::OwnAccount).await?;
        if r.key.state == KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                r.key.arn
            )));
        }
        self.authorize(ctx, action, &r, None, &[], &[]).await?;
        Ok(r)
    }

    fn alias_arn(ctx: &Caller<'_>, name: &str) -> String {
        key_arn(&ctx.region, ctx.principal.account.as_str(), name)
    }

    pub(crate) async fn create_alias(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let name = i.req("AliasName")?;
        check_alias_name(name)?;
        let r = self.alias_target(ctx, i, "CreateAlias").await?;
        let now = self.now_secs();
        let alias = AliasRecord {
            name: name.to_owned(),
            target_key_id: r.key.key_id.clone(),
            created: now,
            updated: now,
        };
        let value = serde_json::to_value(&alias).map_err(|e| KmsError::Corrupt(e.to_string()))?;
        let id = format!("{}/{name}", ctx.region);
        match self
            .store()
            .write(vec![WriteOp::put(
                record::ALIAS,
                ctx.principal.account.as_str(),
                id,
                value,
                Precondition::Absent,
            )])
            .await
        {
            Ok(()) => {
                self.forget_aliases(ctx.principal.account.as_str(), &ctx.region);
                Ok(json!({}))
            }
            Err(portcullis_store::StoreError::Conflict { .. }) => {
                Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {} already exists",
                    Self::alias_arn(ctx, name)
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_alias(
        &self,
        ctx: &Caller<'_>,
        name: &str,
    ) -> Result<(AliasRecord, i64), KmsError> {
        let id = format!("{}/{name}", ctx.region);
        match self
            .store()
            .get(record::ALIAS, ctx.principal.account.as_str(), &id)
            .await?
        {
            Some(item) => Ok((record::decode(&item)?, item.version)),
            None => Err(KmsError::NotFound(format!(
                "Alias {} is not found.",
                Self::alias_arn(ctx, name)
            ))),
        }
    }

    pub(crate) async fn update_alias(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let name = i.req("AliasName")?;
        check_alias_name(name)?;
        let (mut alias, version) = self.get_alias(ctx, name).await?;
        let new = self.alias_target(ctx, i, "UpdateAlias").await?;
        if let Ok(old) = self
            .resolve(ctx, &alias.target_key_id, Scope::OwnAccount)
            .await
        {
            // AWS: the new key must be of the same type (symmetric or asymmetric or HMAC) and
            // key usage as the current one.
            if old.key.key_usage != new.key.key_usage
                || old.key.key_spec.is_asymmetric() != new.key.key_spec.is_asymmetric()
            {
                return Err(KmsError::Validation(format!(
                    "Alias {name} cannot be changed from a key of usage {} to a key of usage {}.",
                    usage_str(old.key.key_usage),
                    usage_str(new.key.key_usage)
                )));
            }
            self.authorize(ctx, "UpdateAlias", &old, None, &[], &[])
                .await?;
        }
        alias.target_key_id.clone_from(&new.key.key_id);
        alias.updated = self.now_secs();
        let value = serde_json::to_value(&alias).map_err(|e| KmsError::Corrupt(e.to_string()))?;
        self.store()
            .write(vec![WriteOp::put(
                record::ALIAS,
                ctx.principal.account.as_str(),
                format!("{}/{name}", ctx.region),
                value,
                Precondition::Version(version),
            )])
            .await?;
        self.forget_aliases(ctx.principal.account.as_str(), &ctx.region);
        Ok(json!({}))
    }

    pub(crate) async fn delete_alias(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let name = i.req("AliasName")?;
        if name.starts_with("alias/aws/") {
            return Err(reserved_alias());
        }
        let (alias, version) = self.get_alias(ctx, name).await?;
        if let Ok(r) = self
            .resolve(ctx, &alias.target_key_id, Scope::OwnAccount)
            .await
        {
            self.authorize(ctx, "DeleteAlias", &r, None, &[], &[])
                .await?;
        }
        self.store()
            .write(vec![WriteOp::delete(
                record::ALIAS,
                ctx.principal.account.as_str(),
                format!("{}/{name}", ctx.region),
                Precondition::Version(version),
            )])
            .await?;
        self.forget_aliases(ctx.principal.account.as_str(), &ctx.region);
        Ok(json!({}))
    }

    pub(crate) async fn list_aliases(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let filter = match i.str("KeyId") {
            Some(k) => Some(
                self.resolve(ctx, k, Scope::OwnAccount)
                    .await?
                    .key
                    .key_id
                    .clone(),
            ),
            None => None,
        };
        self.authorize_account(ctx, "ListAliases", &[]).await?;
        let items = record::list_all(
            self.store(),
            record::ALIAS,
            ctx.principal.account.as_str(),
            &format!("{}/", ctx.region),
        )
        .await?;
        let mut entries = Vec::new();
        if filter.is_none() {
            // AWS: predefined aliases with no key yet are listed without a TargetKeyId.
            let region = format!("{}/", ctx.region);
            for (name, _) in crate::managed::PREDEFINED {
                let alias_name = format!("alias/aws/{name}");
                let id = format!("{region}{alias_name}");
                if !items.iter().any(|item| item.id == id) {
                    entries.push((
                        alias_name.clone(),
                        json!({"AliasName": alias_name, "AliasArn": Self::alias_arn(ctx, &alias_name)}),
                    ));
                }
            }
        }
        for item in items {
            let a: AliasRecord = record::decode(&item)?;
            if filter.as_ref().is_some_and(|f| *f != a.target_key_id) {
                continue;
            }
            entries.push((
                a.name.clone(),
                json!({
                    "AliasName": a.name,
                    "AliasArn": Self::alias_arn(ctx, &a.name),
                    "TargetKeyId": a.target_key_id,
                    "CreationDate": ts(a.created),
                    "LastUpdatedDate": ts(a.updated),
                }),
            ));
        }
        let (page, next) = record::paginate(entries, i, 50)?;
        Ok(record::with_marker(json!({"Aliases": page}), next))
    }

    // ---- key policies ----

    pub(crate) async fn get_key_policy(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let name = i.str("PolicyName").unwrap_or("default");
        let r = self.own_key(ctx, i, "GetKeyPolicy", &[]).await?;
        if name != "default" {
            return Err(KmsError::NotFound("No such policy exists".to_owned()));
        }
        Ok(json!({"Policy": r.key.policy, "PolicyName": "default"}))
    }

    pub(crate) async fn put_key_policy(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let policy = i.req("Policy")?.to_owned();
        let name = i.str("PolicyName").unwrap_or("default");
        if name != "default" {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{name}' at 'policyName' failed to satisfy constraint: Member must be 'default'"
            )));
        }
        check_policy(&policy)?;
        let bypass = bypass_value(i);
        let extra: Vec<(&str, &[&str])> = bypass
            .iter()
            .map(|b| {
                (
                    "kms:BypassPolicyLockoutSafetyCheck",
                    std::slice::from_ref(b),
                )
            })
            .collect();
        let r = self.own_key(ctx, i, "PutKeyPolicy", &extra).await?;
        if !i.bool("BypassPolicyLockoutSafetyCheck") {
            let mut changed = (*r.key).clone();
            changed.policy.clone_from(&policy);
            self.check_policy_lockout(ctx, &changed, r.alias.as_deref())
                .await?;
        }
        self.mutate(r, |_, key| {
            key.policy.clone_from(&policy);
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn list_key_policies(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        self.own_key(ctx, i, "ListKeyPolicies", &[]).await?;
        Ok(json!({"PolicyNames": ["default"], "Truncated": false}))
    }

    // ---- rotation ----

    fn check_rotatable(key: &KeyRecord) -> Result<(), KmsError> {
        // AWS: automatic and on-demand rotation are for symmetric encryption keys with KMS
        // generated material.
        if key.key_spec != KeySpec::SYMMETRIC_DEFAULT || key.origin != "AWS_KMS" {
            return Err(KmsError::Unsupported(format!(
                "{} does not support key rotation: only symmetric encryption keys with key material generated by KMS rotate.",
                key.arn
            )));
        }
        Ok(())
    }

    pub(crate) async fn enable_key_rotation(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let (min, max, default) = ROTATION_DAYS;
        let period = match i.int("RotationPeriodInDays") {
            None => default,
            Some(d) if (min..=max).contains(&d) => u32::try_from(d).unwrap_or(default),
            Some(d) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{d}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between {min} and {max}"
                )));
            }
        };
        let period_text = period.to_string();
        let extra: Extra<'_> = &[("kms:RotationPeriodInDays", &[period_text.as_str()])];
        let r = self.own_key(ctx, i, "EnableKeyRotation", extra).await?;
        let now = self.now_secs();
        self.mutate(r, |_, key| {
            Self::check_rotatable(key)?;
            check_usable(key)?;
            key.rotation_period_days = Some(period);
            key.next_rotation = Some(now + u64::from(period) * 86_400);
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn disable_key_rotation(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self.own_key(ctx, i, "DisableKeyRotation", &[]).await?;
        self.mutate(r, |_, key| {
            Self::check_rotatable(key)?;
            check_usable(key)?;
            key.rotation_period_days = None;
            key.next_rotation = None;
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn get_key_rotation_status(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self
            .resolve(ctx, i.req("KeyId")?, Scope::CrossAccount)
            .await?;
        self.authorize(ctx, "GetKeyRotationStatus", &r, None, &[], &[])
            .await?;
        let key = &r.key;
        Self::check_rotatable(key)?;
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                key.arn
            )));
        }
        let mut out =
            json!({"KeyId": key.arn, "KeyRotationEnabled": key.rotation_period_days.is_some()});
        if let Some(p) = key.rotation_period_days {
            record::set(&mut out, "RotationPeriodInDays", json!(p));
        }
        if let Some(n) = key.next_rotation {
            record::set(&mut out, "NextRotationDate", ts(n));
        }
        Ok(out)
    }

    pub(crate) async fn rotate_key_on_demand(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self.own_key(ctx, i, "RotateKeyOnDemand", &[]).await?;
        let (key, ()) = self
            .mutate(r, |kms, key| {
                Self::check_rotatable(key)?;
                check_usable(key)?;
                if key.on_demand_rotations >= ON_DEMAND_LIMIT {
                    return Err(KmsError::LimitExceeded(format!(
                        "{} has reached the maximum number of on-demand rotations ({ON_DEMAND_LIMIT}).",
                        key.arn
                    )));
                }
                kms.add_material(key, Some("ON_DEMAND"))?;
                key.on_demand_rotations += 1;
                Ok(())
            })
            .await?;
        Ok(json!({"KeyId": key.key_id}))
    }

    pub(crate) async fn list_key_rotations(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self.own_key(ctx, i, "ListKeyRotations", &[]).await?;
        Self::check_rotatable(&r.key)?;
        let entries = r
            .key
            .materials
            .iter()
            .filter_map(|m| {
                let kind = m.rotation_type.as_ref()?;
                Some((
                    format!("{:010}", m.version),
                    json!({
                        "KeyId": r.key.key_id,
                        "RotationDate": ts(m.created),
                        "RotationType": kind,
                    }),
                ))
            })
            .collect();
        let (page, next) = record::paginate(entries, i, 100)?;
        Ok(record::with_marker(json!({"Rotations": page}), next))
    }

    // ---- imported key material ----

    fn check_external(key: &KeyRecord) -> Result<(), KmsError> {
        if key.origin != "EXTERNAL" {
            return Err(KmsError::Unsupported(format!(
                "{} origin is {} which is not valid for this operation.",
                key.arn, key.origin
            )));
        }
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                key.arn
            )));
        }
        Ok(())
    }

    pub(crate) async fn get_parameters_for_import(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let algorithm = i.req("WrappingAlgorithm")?.to_owned();
        let spec = i.req("WrappingKeySpec")?.to_owned();
        match algorithm.as_str() {
            "RSAES_OAEP_SHA_1"
            | "RSAES_OAEP_SHA_256"
            | "RSA_AES_KEY_WRAP_SHA_1"
            | "RSA_AES_KEY_WRAP_SHA_256" => {}
            other => {
                return Err(KmsError::Unsupported(format!(
                    "Wrapping algorithm {other} is not supported."
                )));
            }
        }
        let extra: Extra<'_> = &[
            ("kms:WrappingAlgorithm", &[algorithm.as_str()]),
            ("kms:WrappingKeySpec", &[spec.as_str()]),
        ];
        let r = self
            .own_key(ctx, i, "GetParametersForImport", extra)
            .await?;
        Self::check_external(&r.key)?;
        let (private, public) = {
            let spec = spec.clone();
            backend::off_worker(move || backend::wrapping_key(&spec)).await?
        };
        let token = record::b64(backend::random(48)?.expose());
        let valid_to = self.now_secs() + 86_400;
        let sealed = {
            let aad = portcullis_store::place_aad(
                "kms.import-wrapping-key",
                &r.key.account,
                &r.key.key_id,
            );
            record::b64(&self.master().seal(private.expose(), &aad)?)
        };
        let params = ImportParams {
            sealed_wrapping_key: sealed,
            wrapping_algorithm: algorithm,
            token: token.clone(),
            valid_to,
        };
        let (key, ()) = self
            .mutate(r, |_, key| {
                key.import = Some(params.clone());
                Ok(())
            })
            .await?;
        Ok(json!({
            "KeyId": key.arn,
            "ImportToken": token,
            "PublicKey": record::b64(&public),
            "ParametersValidTo": ts(valid_to),
        }))
    }

    pub(crate) async fn import_key_material(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let token = i.req_blob("ImportToken")?;
        let wrapped = i.req_blob("EncryptedKeyMaterial")?;
        let model = i
            .str("ExpirationModel")
            .unwrap_or("KEY_MATERIAL_EXPIRES")
            .to_owned();
        let valid_to =
            i.0.get("ValidTo")
                .and_then(Value::as_f64)
                .map(|t| t.max(0.0) as u64);
        let now = self.now_secs();
        match (model.as_str(), valid_to) {
            ("KEY_MATERIAL_EXPIRES", None) => {
                return Err(KmsError::Validation(
                    "A ValidTo date is required when ExpirationModel is KEY_MATERIAL_EXPIRES."
                        .to_owned(),
                ));
            }
            ("KEY_MATERIAL_EXPIRES", Some(t)) if t <= now || t > now + 365 * 86_400 => {
                return Err(KmsError::Validation(
                    "ValidTo must be in the future and at most 365 days from now.".to_owned(),
                ));
            }
            ("KEY_MATERIAL_DOES_NOT_EXPIRE", Some(_)) => {
                return Err(KmsError::Validation(
                    "ValidTo must not be set when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE."
                        .to_owned(),
                ));
            }
            ("KEY_MATERIAL_EXPIRES" | "KEY_MATERIAL_DOES_NOT_EXPIRE", _) => {}
            (other, _) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'expirationModel' failed to satisfy constraint: Member must satisfy enum value set: [KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE]"
                )));
            }
        }
        let extra: Extra<'_> = &[("kms:ExpirationModel", &[model.as_str()])];
        let r = self.own_key(ctx, i, "ImportKeyMaterial", extra).await?;
        Self::check_external(&r.key)?;
        let params = r.key.import.clone().ok_or_else(|| {
            KmsError::InvalidImportToken("The import token is not valid.".to_owned())
        })?;
        let stored = record::unb64(&params.token).unwrap_or_default();
        if !portcullis_core::secret::ct_eq(&stored, &token) {
            return Err(KmsError::InvalidImportToken(
                "The import token is not valid.".to_owned(),
            ));
        }
        if params.valid_to <= now {
            return Err(KmsError::ExpiredImportToken(
                "The import token has expired.".to_owned(),
            ));
        }
        let wrapping = {
            let sealed = record::unb64(&params.sealed_wrapping_key)
                .ok_or_else(|| KmsError::Corrupt("wrapping key".into()))?;
            let aad = portcullis_store::place_aad(
                "kms.import-wrapping-key",
                &r.key.account,
                &r.key.key_id,
            );
            self.master().open(&sealed, &aad)?
        };
        let material =
            backend::unwrap_import(wrapping.expose(), &params.wrapping_algorithm, &wrapped)?;
        let public = backend::public_key_of(r.key.key_spec, material.expose())?;
        let fingerprint = {
            let k = hmac::Key::new(
                hmac::HMAC_SHA256,
                self.master().derive("kms-imported-material").expose(),
            );
            let mut c = hmac::Context::with_key(&k);
            c.update(r.key.key_id.as_bytes());
            c.update(material.expose());
            record::b64(c.sign().as_ref())
        };
        let sealed = self.seal_material(&r.key.account, &r.key.key_id, 1, material.expose())?;
        self.mutate(r, |_, key| {
            // AWS: a key's imported material can never change: only the same material may be
            // imported again after it is deleted or expires.
            if let Some(existing) = &key.material_fingerprint
                && !portcullis_core::secret::ct_eq(existing.as_bytes(), fingerprint.as_bytes())
            {
                return Err(KmsError::IncorrectKeyMaterial(
                    "The key material is not the key material that was previously imported into this KMS key.".to_owned(),
                ));
            }
            key.material_fingerprint = Some(fingerprint.clone());
            key.materials = vec![record::Material {
                version: 1,
                sealed: sealed.clone(),
                public_key: public.as_ref().map(|p| record::b64(p)),
                created: now,
                rotation_type: None,
            }];
            key.expiration_model = Some(model.clone());
            key.valid_to = valid_to;
            key.import = None;
            if key.state == KeyState::PendingImport {
                key.state = KeyState::Enabled;
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn delete_imported_key_material(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self
            .own_key(ctx, i, "DeleteImportedKeyMaterial", &[])
            .await?;
        Self::check_external(&r.key)?;
        self.mutate(r, |_, key| {
            key.materials.clear();
            key.valid_to = None;
            key.state = KeyState::PendingImport;
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_a_valid_key_policy() {
        let p = default_key_policy("111122223333");
        assert!(check_policy(&p).is_ok());
        assert!(p.contains("arn:aws:iam::111122223333:root"));
        assert!(check_policy("{\"Version\":\"2012-10-17\"}").is_err());
    }

    #[test]
    fn alias_names() {
        assert!(check_alias_name("alias/my-key_1/x").is_ok());
        assert!(check_alias_name("alias/").is_err());
        assert!(check_alias_name("my-key").is_err());
        assert!(check_alias_name("alias/bad name").is_err());
        assert!(check_alias_name("alias/aws/s3").is_err());
    }
}
