//! AWS managed keys: the keys AWS creates in an account for its services, named
//! `alias/aws/<service>`.
//!
//! As AWS documents it: DescribeKey naming a predefined AWS alias that has no key yet creates
//! the AWS managed key (KeyManager `AWS`, symmetric, rotated automatically every year) and
//! points the alias at it; ListAliases shows the predefined aliases that have no key yet
//! without a `TargetKeyId`. Customers cannot manage these keys: their key policy, which no one
//! can change, lets the account's principals use the key only through the service
//! (`kms:ViaService` and `kms:CallerAccount`) and read its metadata directly; every other
//! operation is denied ([`forbidden`]), whatever the [`crate::KeyAccess`] in use.

use portcullis_store::{Precondition, StoreError, WriteOp};
use serde_json::json;

use crate::backend::{KeySpec, KeyUsage};
use crate::record::{self, AliasRecord, KeyRecord};
use crate::{Caller, Kms, KmsError, Resolved, Scope};

/// The predefined AWS aliases of every account and Region (`alias/aws/<name>`), with the
/// service whose endpoint is the key's `kms:ViaService` (`<service>.<region>.amazonaws.com`):
/// the aliases ListAliases returns in a new account, before any service has used them.
pub const PREDEFINED: &[(&str, &str)] = &[
    ("acm", "acm"),
    ("dynamodb", "dynamodb"),
    ("ebs", "ec2"),
    ("elasticfilesystem", "elasticfilesystem"),
    ("es", "es"),
    ("glue", "glue"),
    ("kinesisvideo", "kinesisvideo"),
    ("lambda", "lambda"),
    ("rds", "rds"),
    ("redshift", "redshift"),
    ("s3", "s3"),
    ("secretsmanager", "secretsmanager"),
    ("ssm", "ssm"),
    ("xray", "xray"),
];

/// AWS rotates AWS managed keys every year.
const ROTATION_DAYS: u32 = 365;

/// The `ViaService` service of a predefined alias name (`alias/aws/s3` -> `s3`).
pub fn predefined(alias_name: &str) -> Option<&'static str> {
    let name = alias_name.strip_prefix("alias/aws/")?;
    PREDEFINED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, service)| *service)
}

/// The key policy of an AWS managed key ("AWS managed keys" and `kms:ViaService` in the KMS
/// Developer Guide): principals of the account may use the key for encryption and grants
/// only through `service`; the account may read its metadata and revoke its grants directly.
pub fn key_policy(account: &str, region: &str, alias: &str, service: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{alias}-1"),
        "Statement": [
            {
                "Sid": format!("Allow access through {service} for all principals in the account that are authorized to use {service}"),
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                           "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": format!("{service}.{region}.amazonaws.com"),
                }},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    })
    .to_string()
}

/// Whether the policy of an AWS managed key can never allow `action` (`"DisableKey"`): the
/// actions outside both of its statements. Such calls are denied as the policy denies them.
pub fn forbidden(action: &str) -> bool {
    let through_service = [
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "CreateGrant",
        "DescribeKey",
        "RevokeGrant",
        "RetireGrant",
    ];
    !(through_service.contains(&action) || action.starts_with("Get") || action.starts_with("List"))
}

impl Kms {
    /// DescribeKey's key: the key `key_id` names or, for a predefined AWS alias of the caller's
    /// account and Region with no key yet, the AWS managed key created for it.
    pub(crate) async fn resolve_or_create_managed(
        &self,
        ctx: &Caller<'_>,
        key_id: &str,
    ) -> Result<(Resolved, Option<KeyRecord>), KmsError> {
        let found = self.resolve(ctx, key_id, Scope::CrossAccount).await;
        let alias_name = key_id
            .strip_prefix(&format!(
                "arn:aws:kms:{}:{}:",
                ctx.region,
                ctx.principal.account.as_str()
            ))
            .unwrap_or(key_id);
        match (found, predefined(alias_name)) {
            (Err(KmsError::NotFound(_)), Some(service)) => {
                let key = self.new_managed_key(ctx, alias_name, service)?;
                let resolved = Resolved {
                    key: std::sync::Arc::new(key.clone()),
                    read_at: std::time::Instant::now(),
                    version: 0,
                    alias: Some(alias_name.to_owned()),
                };
                Ok((resolved, Some(key)))
            }
            (found, _) => Ok((found?, None)),
        }
    }

    fn new_managed_key(
        &self,
        ctx: &Caller<'_>,
        alias_name: &str,
        service: &str,
    ) -> Result<KeyRecord, KmsError> {
        let account = ctx.principal.account.as_str();
        let short = alias_name.strip_prefix("alias/aws/").unwrap_or(alias_name);
        let now = self.now_secs();
        let mut key = KeyRecord::new(
            account,
            &ctx.region,
            now,
            (
                KeySpec::SYMMETRIC_DEFAULT,
                KeyUsage::ENCRYPT_DECRYPT,
                "AWS_KMS",
            ),
            key_policy(account, &ctx.region, short, service),
        );
        key.key_manager = "AWS".to_owned();
        key.description =
            format!("Default key that protects my {short} data when no other key is defined");
        key.rotation_period_days = Some(ROTATION_DAYS);
        key.next_rotation = Some(now + u64::from(ROTATION_DAYS) * 86_400);
        self.add_material(&mut key, None)?;
        Ok(key)
    }

    /// Writes a new AWS managed key and its alias. When another request created the key
    /// first, that key is returned instead and this one is dropped.
    pub(crate) async fn save_managed_key(
        &self,
        ctx: &Caller<'_>,
        key: KeyRecord,
        alias_name: &str,
    ) -> Result<Resolved, KmsError> {
        let alias = AliasRecord {
            name: alias_name.to_owned(),
            target_key_id: key.key_id.clone(),
            created: key.created,
            updated: key.created,
        };
        let value = serde_json::to_value(&alias).map_err(|e| KmsError::Corrupt(e.to_string()))?;
        let mut ops = key.write_ops(None)?;
        ops.push(WriteOp::put(
            record::ALIAS,
            &key.account,
            format!("{}/{alias_name}", key.region),
            value,
            Precondition::Absent,
        ));
        match self.store().write(ops).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.forget_aliases(&key.account, &key.region);
        self.resolve(ctx, alias_name, Scope::OwnAccount).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_aliases_and_their_services() {
        assert_eq!(predefined("alias/aws/s3"), Some("s3"));
        assert_eq!(predefined("alias/aws/ebs"), Some("ec2"));
        assert_eq!(predefined("alias/aws/unknown"), None);
        assert_eq!(predefined("alias/s3"), None);
    }

    #[test]
    fn the_managed_key_policy_is_a_valid_key_policy_naming_the_service() {
        let p = key_policy("111122223333", "us-east-1", "ebs", "ec2");
        let parsed = portcullis_policy::parse(&p, portcullis_policy::PolicyType::Key);
        assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
        assert!(p.contains("ec2.us-east-1.amazonaws.com"));
        assert!(p.contains("auto-ebs-1"));
    }

    #[test]
    fn management_actions_are_forbidden_use_and_reading_are_not() {
        for action in [
            "DisableKey",
            "EnableKey",
            "ScheduleKeyDeletion",
            "CancelKeyDeletion",
            "PutKeyPolicy",
            "EnableKeyRotation",
            "DisableKeyRotation",
            "RotateKeyOnDemand",
            "TagResource",
            "UntagResource",
            "UpdateKeyDescription",
            "CreateAlias",
            "UpdateAlias",
            "DeleteAlias",
        ] {
            assert!(forbidden(action), "{action}");
        }
        for action in [
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
            "DescribeKey",
            "GetKeyPolicy",
            "GetKeyRotationStatus",
            "ListGrants",
            "CreateGrant",
            "RevokeGrant",
        ] {
            assert!(!forbidden(action), "{action}");
        }
    }
}
