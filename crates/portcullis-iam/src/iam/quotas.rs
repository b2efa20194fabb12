//! IAM's quotas (IAM User Guide, "IAM and AWS STS quotas"): AWS's defaults, replaced by the
//! `[iam.quotas]` section of the server's configuration file, and the per-account counters
//! that make the account-wide ones cheap to check.
//!
//! An account's number of users, groups, roles, instance profiles, customer managed policies,
//! server certificates and SAML and OpenID Connect providers is one counter item per kind
//! (`iam.count`, id = the counted kind), moved in the same store transaction as the create or
//! delete it counts ([`Iam::create_counted`], [`Iam::delete_counted`]): a create reads one item, however many entities
//! the account holds. An account without a counter (created before counters existed) is
//! counted by listing once, and the counter is written from then on.

use serde::{Deserialize, Serialize};
use serde_json::json;

use portcullis_aws::AwsError;
use portcullis_store::{Precondition, StoreError, WriteOp};

use super::records::{self, Entity};
use super::{Cx, Iam, concurrent_modification, delete, internal, put, quota};
use crate::IamError;

/// Store kind of the per-account entity counters (id = the counted kind).
pub const COUNT: &str = "iam.count";

/// IAM's quotas. Field names are the configuration keys (kebab-case in TOML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Quotas {
    /// Users per account (AWS: 5,000).
    pub users_per_account: usize,
    /// Groups per account (300).
    pub groups_per_account: usize,
    /// Roles per account (1,000).
    pub roles_per_account: usize,
    /// Instance profiles per account (1,000).
    pub instance_profiles_per_account: usize,
    /// Customer managed policies per account (1,500).
    pub policies_per_account: usize,
    /// Versions per managed policy (5).
    pub versions_per_policy: usize,
    /// Managed policies attached to one user (10).
    pub attached_policies_per_user: usize,
    /// Managed policies attached to one group (10).
    pub attached_policies_per_group: usize,
    /// Managed policies attached to one role (10).
    pub attached_policies_per_role: usize,
    /// Groups one user belongs to (10).
    pub groups_per_user: usize,
    /// Access keys per user (2).
    pub access_keys_per_user: usize,
    /// Signing certificates per user (2).
    pub signing_certificates_per_user: usize,
    /// SSH public keys per user (5).
    pub ssh_public_keys_per_user: usize,
    /// MFA devices per user (8).
    pub mfa_devices_per_user: usize,
    /// Server certificates per account (20).
    pub server_certificates_per_account: usize,
    /// SAML providers per account (100).
    pub saml_providers_per_account: usize,
    /// OpenID Connect providers per account (100).
    pub oidc_providers_per_account: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            users_per_account: 5000,
            groups_per_account: 300,
            roles_per_account: 1000,
            instance_profiles_per_account: 1000,
            policies_per_account: 1500,
            versions_per_policy: 5,
            attached_policies_per_user: 10,
            attached_policies_per_group: 10,
            attached_policies_per_role: 10,
            groups_per_user: 10,
            access_keys_per_user: 2,
            signing_certificates_per_user: 2,
            ssh_public_keys_per_user: 5,
            mfa_devices_per_user: 8,
            server_certificates_per_account: 20,
            saml_providers_per_account: 100,
            oidc_providers_per_account: 100,
        }
    }
}

impl Quotas {
    /// The account-wide quota on entities of store kind `kind`: its name in AWS's
    /// `LimitExceeded` message and its limit.
    fn per_account(&self, kind: &str) -> Option<(&'static str, usize)> {
        Some(match kind {
            records::USER => ("UsersPerAccount", self.users_per_account),
            records::GROUP => ("GroupsPerAccount", self.groups_per_account),
            records::ROLE => ("RolesPerAccount", self.roles_per_account),
            records::INSTANCE_PROFILE => (
                "InstanceProfilesPerAccount",
                self.instance_profiles_per_account,
            ),
            records::POLICY => ("ManagedPoliciesPerAccount", self.policies_per_account),
            records::SERVER_CERT => (
                "ServerCertificatesPerAccount",
                self.server_certificates_per_account,
            ),
            records::SAML_PROVIDER => ("SAMLProvidersPerAccount", self.saml_providers_per_account),
            records::OIDC_PROVIDER => (
                "OpenIdConnectProvidersPerAccount",
                self.oidc_providers_per_account,
            ),
            _ => return None,
        })
    }
}

/// A counter as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Counter {
    count: usize,
}

/// How many times a write is retried when only the counter moved under it.
const COUNTER_RETRIES: usize = 16;

impl Iam {
    /// How many `T` the account holds, and the counter's version (`None`: no counter yet, the
    /// number was counted by listing).
    async fn counted<T: Entity>(&self, cx: &Cx<'_>) -> Result<(usize, Option<i64>), AwsError> {
        if let Some((counter, version)) =
            records::load_versioned::<Counter>(self.store(), cx.acct(), T::KIND)
                .await
                .map_err(internal)?
        {
            return Ok((counter.count, Some(version)));
        }
        let listed = self
            .store()
            .list(portcullis_store::ListQuery::all(T::KIND, cx.acct()))
            .await
            .map_err(|e| internal(IamError::Store(e)))?;
        Ok((listed.items.len(), None))
    }

    /// How many `T` the account holds (`GetAccountSummary`).
    pub(crate) async fn count<T: Entity>(&self, cx: &Cx<'_>) -> Result<usize, AwsError> {
        Ok(self.counted::<T>(cx).await?.0)
    }

    /// Creates `record`, a new `T` (`EntityAlreadyExists` races surface as
    /// `ConcurrentModification`, as from [`Iam::write`]), refused with AWS's `LimitExceeded`
    /// when the account holds its quota of `T` already.
    pub(crate) async fn create_counted<T: Entity>(
        &self,
        cx: &Cx<'_>,
        record: &T,
    ) -> Result<(), AwsError> {
        let ops = vec![put(cx, record, Precondition::Absent)?];
        self.write_counted::<T>(cx, ops, 1).await
    }

    /// Deletes the `T` `id` at `version`.
    pub(crate) async fn delete_counted<T: Entity>(
        &self,
        cx: &Cx<'_>,
        id: &str,
        version: i64,
    ) -> Result<(), AwsError> {
        self.write_counted::<T>(cx, vec![delete::<T>(cx, id, version)], -1)
            .await
    }

    /// Writes `ops`, which create (`delta` 1) or delete (`delta` -1) one `T`, and moves the
    /// account's count of `T` in the same transaction; a create is checked against the quota.
    /// When only the counter changed meanwhile (another create or delete of a `T`), the write
    /// is retried with the new count; any other conflict is `ConcurrentModification`.
    async fn write_counted<T: Entity>(
        &self,
        cx: &Cx<'_>,
        ops: Vec<WriteOp>,
        delta: isize,
    ) -> Result<(), AwsError> {
        let limit = self.quotas.per_account(T::KIND).filter(|_| delta > 0);
        for _ in 0..COUNTER_RETRIES {
            let (count, version) = self.counted::<T>(cx).await?;
            if let Some((name, limit)) = limit
                && count >= limit
            {
                return Err(quota(name, limit));
            }
            let counter = Counter {
                count: count.saturating_add_signed(delta),
            };
            let mut batch = ops.clone();
            batch.push(WriteOp::put(
                COUNT,
                cx.acct(),
                T::KIND,
                json!(counter),
                version.map_or(Precondition::Absent, Precondition::Version),
            ));
            match self.store().write(batch).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict { kind, .. }) if kind == COUNT => continue,
                Err(StoreError::Conflict { .. }) => return Err(concurrent_modification()),
                Err(e) => return Err(internal(IamError::Store(e))),
            }
        }
        Err(concurrent_modification())
    }
}

impl Entity for Counter {
    const KIND: &'static str = COUNT;
    fn store_id(&self) -> String {
        String::new()
    }
}
