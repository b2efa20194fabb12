//! AWS Key Management Service for Portcullis (JSON 1.1, `TrentService`).
//!
//! This crate owns KMS keys and everything done with them: key lifecycle (CreateKey to
//! ScheduleKeyDeletion), aliases and tags, rotation, imported key material, the cryptographic
//! operations (Encrypt/Decrypt and envelope encryption, Sign/Verify, MACs, ECDH), key policies
//! and grants. Cryptography is aws-lc-rs ([`backend`]); key material is sealed at rest under
//! the store's [`MasterKey`], bound to its key and version. The symmetric ciphertext format is
//! documented in [`blob`].
//!
//! The server front authenticates the request and validates its JSON against the botocore
//! model; [`Kms::call`] does the rest. Authorization is KMS's own: the call is allowed when
//! [`KeyAccess`] allows it under the key policy, or when a grant for the caller covers the
//! operation and its encryption context (as in AWS, a grant needs no policy). The server
//! supplies a [`KeyAccess`] backed by the IAM authorizer; [`AccountOnlyAccess`] allows the
//! key's own account only. AWS managed keys are in [`managed`].
//!
//! Out of scope, answered with `UnsupportedOperationException`: multi-Region keys
//! (ReplicateKey, UpdatePrimaryRegion, `MultiRegion: true`) and custom key stores.

mod access;
pub mod backend;
pub mod blob;
mod cache;
mod crypto;
mod error;
mod grants;
mod keys;
pub mod managed;
pub mod record;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use portcullis_aws::{AwsError, Protocol};
use portcullis_core::{Arn, Clock, RequestContext, Secret};
use portcullis_store::{MasterKey, Store, StoreError, WriteOp, place_aad};
use serde_json::Value;

pub(crate) use access::Extra;
pub use access::{AccessRequest, AccountOnlyAccess, KeyAccess, access_denied};
use cache::{AliasMap, KeyCache, OpenMaterial};
pub use crypto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, GenerateDataKeyRequest,
    GenerateDataKeyResponse, KeyArn,
};
pub use error::KmsError;
use record::{DUE, KEY, KeyRecord, KeyState};

/// Who calls KMS: the authenticated request and, when an AWS service inside Portcullis calls
/// KMS on the principal's behalf, that service's `kms:ViaService` name
/// (`<service>.<region>.amazonaws.com`). A direct call has none, so policies that allow only
/// `kms:ViaService` callers never match it, as in AWS.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The authenticated request (principal, region, source address, ...).
    pub request: &'a RequestContext,
    /// The calling service's endpoint name, such as `s3.us-east-1.amazonaws.com`.
    pub via_service: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// The principal calling KMS itself.
    pub fn direct(request: &'a RequestContext) -> Self {
        Self {
            request,
            via_service: None,
        }
    }

    /// `service` (an endpoint name, `s3.us-east-1.amazonaws.com`) calling on behalf of the
    /// principal of `request`.
    pub fn via_service(request: &'a RequestContext, service: &'a str) -> Self {
        Self {
            request,
            via_service: Some(service),
        }
    }
}

impl std::ops::Deref for Caller<'_> {
    type Target = RequestContext;

    fn deref(&self) -> &RequestContext {
        self.request
    }
}

/// The KMS service.
pub struct Kms {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    access: Arc<dyn KeyAccess>,
    clock: Arc<dyn Clock>,
    cache: KeyCache,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kms")
    }
}

/// A key found for a request, with the store version it was read at.
pub(crate) struct Resolved {
    pub key: Arc<KeyRecord>,
    /// When the key was looked up: the cache freshness of the rest of the call is judged at
    /// this instant (reading the clock once per call).
    pub read_at: Instant,
    pub version: i64,
    /// The alias name when the caller named the key by alias (`kms:RequestAlias`).
    pub alias: Option<String>,
}

/// Whether an operation may name a key of another account (AWS lists these per operation:
/// "Cross-account use: Yes").
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    CrossAccount,
    OwnAccount,
}

impl Kms {
    /// A KMS over `store`, sealing key material with `master`, authorizing with `access`.
    pub fn new(
        store: Arc<dyn Store>,
        master: Arc<MasterKey>,
        access: Arc<dyn KeyAccess>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            master,
            access,
            clock,
            cache: KeyCache::new(Duration::from_secs(1)),
        }
    }

    /// Sets how long a node may serve a key record from memory before reading the store again
    /// (default one second; zero turns the cache off). Writes made through this `Kms` are seen
    /// at once whatever the TTL; the TTL bounds how late changes made by other nodes are seen.
    #[must_use]
    pub fn with_key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache.ttl = ttl;
        self
    }

    /// One KMS operation: `operation` is the X-Amz-Target suffix ("Encrypt"), input the JSON body.
    pub async fn call(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: Value,
    ) -> Result<Value, AwsError> {
        self.call_as(&Caller::direct(ctx), operation, input).await
    }

    /// [`Kms::call`] for a [`Caller`]: an AWS service inside Portcullis calling on a
    /// principal's behalf passes `Caller::via_service`, which sets `kms:ViaService`.
    pub async fn call_as(
        &self,
        caller: &Caller<'_>,
        operation: &str,
        input: Value,
    ) -> Result<Value, AwsError> {
        self.dispatch(caller, operation, &input)
            .await
            .map_err(|e| e.to_aws())
    }

    async fn dispatch(&self, ctx: &Caller<'_>, op: &str, input: &Value) -> Result<Value, KmsError> {
        let i = record::Input(input);
        match op {
            "CreateKey" => self.create_key(ctx, &i).await,
            "DescribeKey" => self.describe_key(ctx, &i).await,
            "ListKeys" => self.list_keys(ctx, &i).await,
            "EnableKey" => self.set_enabled(ctx, &i, true).await,
            "DisableKey" => self.set_enabled(ctx, &i, false).await,
            "ScheduleKeyDeletion" => self.schedule_key_deletion(ctx, &i).await,
            "CancelKeyDeletion" => self.cancel_key_deletion(ctx, &i).await,
            "UpdateKeyDescription" => self.update_key_description(ctx, &i).await,
            "TagResource" => self.tag_resource(ctx, &i).await,
            "UntagResource" => self.untag_resource(ctx, &i).await,
            "ListResourceTags" => self.list_resource_tags(ctx, &i).await,
            "CreateAlias" => self.create_alias(ctx, &i).await,
            "UpdateAlias" => self.update_alias(ctx, &i).await,
            "DeleteAlias" => self.delete_alias(ctx, &i).await,
            "ListAliases" => self.list_aliases(ctx, &i).await,
            "EnableKeyRotation" => self.enable_key_rotation(ctx, &i).await,
            "DisableKeyRotation" => self.disable_key_rotation(ctx, &i).await,
            "GetKeyRotationStatus" => self.get_key_rotation_status(ctx, &i).await,
            "RotateKeyOnDemand" => self.rotate_key_on_demand(ctx, &i).await,
            "ListKeyRotations" => self.list_key_rotations(ctx, &i).await,
            "GetParametersForImport" => self.get_parameters_for_import(ctx, &i).await,
            "ImportKeyMaterial" => self.import_key_material(ctx, &i).await,
            "DeleteImportedKeyMaterial" => self.delete_imported_key_material(ctx, &i).await,
            "Encrypt" => self.encrypt_call(ctx, &i).await,
            "Decrypt" => self.decrypt_call(ctx, &i).await,
            "ReEncrypt" => self.re_encrypt(ctx, &i).await,
            "GenerateDataKey" => self.generate_data_key_call(ctx, &i, true).await,
            "GenerateDataKeyWithoutPlaintext" => self.generate_data_key_call(ctx, &i, false).await,
            "GenerateDataKeyPair" => self.generate_data_key_pair(ctx, &i, true).await,
            "GenerateDataKeyPairWithoutPlaintext" => {
                self.generate_data_key_pair(ctx, &i, false).await
            }
            "GenerateRandom" => self.generate_random(ctx, &i).await,
            "Sign" => self.sign(ctx, &i).await,
            "Verify" => self.verify(ctx, &i).await,
            "GetPublicKey" => self.get_public_key(ctx, &i).await,
            "GenerateMac" => self.generate_mac(ctx, &i).await,
            "VerifyMac" => self.verify_mac(ctx, &i).await,
            "DeriveSharedSecret" => self.derive_shared_secret(ctx, &i).await,
            "GetKeyPolicy" => self.get_key_policy(ctx, &i).await,
            "PutKeyPolicy" => self.put_key_policy(ctx, &i).await,
            "ListKeyPolicies" => self.list_key_policies(ctx, &i).await,
            "CreateGrant" => self.create_grant(ctx, &i).await,
            "ListGrants" => self.list_grants(ctx, &i).await,
            "ListRetirableGrants" => self.list_retirable_grants(ctx, &i).await,
            "RetireGrant" => self.retire_grant(ctx, &i).await,
            "RevokeGrant" => self.revoke_grant(ctx, &i).await,
            "ReplicateKey" | "UpdatePrimaryRegion" => Err(KmsError::Unsupported(
                "Multi-Region keys are not supported by this KMS.".to_owned(),
            )),
            "ConnectCustomKeyStore"
            | "CreateCustomKeyStore"
            | "DeleteCustomKeyStore"
            | "DescribeCustomKeyStores"
            | "DisconnectCustomKeyStore"
            | "UpdateCustomKeyStore" => Err(KmsError::Unsupported(
                "Custom key stores are not supported by this KMS.".to_owned(),
            )),
            _ => Err(KmsError::Denied(AwsError::unknown_operation(
                Protocol::AwsJson1_1,
            ))),
        }
    }

    /// Work that falls due with time: really delete keys whose PendingDeletion date passed,
    /// rotate keys due for automatic rotation, expire imported key material. The server calls
    /// it every minute.
    pub async fn run_due_work(&self) -> Result<(), KmsError> {
        let now = self.now_secs();
        for entry in record::list_all(self.store.as_ref(), DUE, "", "").await? {
            let at = entry.value.get("at").and_then(Value::as_u64).unwrap_or(0);
            let Some(account) = entry.value.get("account").and_then(Value::as_str) else {
                continue;
            };
            if at > now {
                continue;
            }
            // One key failing (a concurrent change) must not stop the others; the next run
            // picks it up again.
            if let Err(e) = self.due_work_for(account, &entry.id, now).await {
                tracing::warn!(key_id = %entry.id, error = %e, "KMS due work failed; will retry");
            }
        }
        Ok(())
    }

    async fn due_work_for(&self, account: &str, key_id: &str, now: u64) -> Result<(), KmsError> {
        let Some(item) = self.store.get(KEY, account, key_id).await? else {
            self.store
                .write(vec![WriteOp::delete(
                    DUE,
                    "",
                    key_id,
                    portcullis_store::Precondition::Any,
                )])
                .await?;
            return Ok(());
        };
        let mut key: KeyRecord = record::decode(&item)?;
        let before = item.value.clone();
        if key.state == KeyState::PendingDeletion && key.deletion_date.is_some_and(|d| d <= now) {
            return self.delete_key_now(&key, item.version).await;
        }
        if key.expiration_model.as_deref() == Some("KEY_MATERIAL_EXPIRES")
            && key.valid_to.is_some_and(|t| t <= now)
            && !key.materials.is_empty()
        {
            // AWS: when imported key material expires, KMS deletes it and the key becomes
            // unusable (PendingImport) until the same material is imported again.
            key.materials.clear();
            key.valid_to = None;
            if key.state != KeyState::PendingDeletion {
                key.state = KeyState::PendingImport;
            }
        }
        if let (Some(period), Some(next)) = (key.rotation_period_days, key.next_rotation)
            && next <= now
            && key.state == KeyState::Enabled
        {
            self.add_material(&mut key, Some("AUTOMATIC"))?;
            key.next_rotation = Some(now + u64::from(period) * 86_400);
        }
        let changed =
            serde_json::to_value(&key).map_err(|e| KmsError::Corrupt(e.to_string()))? != before;
        if changed {
            self.cache.forget(key_id);
        }
        // Unchanged, the write still refreshes the due index (to the key's next due time, or
        // none), so a key is not looked at again every minute for nothing.
        self.store
            .write(
                key.write_ops(Some(item.version))?
                    .into_iter()
                    .filter(|op| changed || op.key().0 == DUE)
                    .collect(),
            )
            .await?;
        Ok(())
    }

    async fn delete_key_now(&self, key: &KeyRecord, version: i64) -> Result<(), KmsError> {
        let mut ops = vec![
            WriteOp::delete(
                KEY,
                &key.account,
                &key.key_id,
                portcullis_store::Precondition::Version(version),
            ),
            WriteOp::delete(DUE, "", &key.key_id, portcullis_store::Precondition::Any),
        ];
        for grant in record::list_all(
            self.store.as_ref(),
            record::GRANT,
            &key.account,
            &format!("{}/", key.key_id),
        )
        .await?
        {
            ops.push(WriteOp::delete(
                record::GRANT,
                &key.account,
                grant.id,
                portcullis_store::Precondition::Any,
            ));
        }
        // Aliases of a deleted key are deleted with it (AWS).
        for alias in record::list_all(
            self.store.as_ref(),
            record::ALIAS,
            &key.account,
            &format!("{}/", key.region),
        )
        .await?
        {
            if alias.value.get("target_key_id").and_then(Value::as_str) == Some(key.key_id.as_str())
            {
                ops.push(WriteOp::delete(
                    record::ALIAS,
                    &key.account,
                    alias.id,
                    portcullis_store::Precondition::Any,
                ));
            }
        }
        self.cache.forget(&key.key_id);
        self.cache.forget_aliases(&key.account, &key.region);
        self.store.write(ops).await?;
        Ok(())
    }

    // ---- shared helpers ----

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) fn now_secs(&self) -> u64 {
        self.now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Seals material version `version` of a key under the master key.
    pub(crate) fn seal_material(
        &self,
        account: &str,
        key_id: &str,
        version: u32,
        material: &[u8],
    ) -> Result<String, KmsError> {
        let aad = place_aad("kms.key-material", account, &format!("{key_id}/{version}"));
        Ok(record::b64(&self.master.seal(material, &aad)?))
    }

    /// Opens material version `version` of `key`.
    pub(crate) fn material(
        &self,
        key: &KeyRecord,
        version: u32,
    ) -> Result<Secret<Vec<u8>>, KmsError> {
        let m = key
            .material(version)
            .ok_or_else(KmsError::invalid_ciphertext)?;
        let sealed =
            record::unb64(&m.sealed).ok_or_else(|| KmsError::Corrupt("sealed material".into()))?;
        let aad = place_aad(
            "kms.key-material",
            &key.account,
            &format!("{}/{version}", key.key_id),
        );
        self.master.open(&sealed, &aad).map_err(|e| match e {
            StoreError::Unseal => {
                KmsError::Corrupt(format!("key material of {} does not open", key.key_id))
            }
            other => KmsError::Store(other),
        })
    }

    /// Material version `version` of `key`, opened and prepared for use (cached; see
    /// [`cache`]).
    pub(crate) fn opened(
        &self,
        key: &KeyRecord,
        version: u32,
        now: Instant,
    ) -> Result<Arc<OpenMaterial>, KmsError> {
        let memo = !self.cache.ttl.is_zero();
        if memo && let Some(open) = key.opened.get(version, now) {
            return Ok(open);
        }
        let sealed = &key
            .material(version)
            .ok_or_else(KmsError::invalid_ciphertext)?
            .sealed;
        if let Some(open) = self.cache.material(&key.key_id, version, sealed, now) {
            if memo {
                key.opened.set(version, &open);
            }
            return Ok(open);
        }
        let material = self.material(key, version)?;
        let message_keys = (key.key_spec == backend::KeySpec::SYMMETRIC_DEFAULT)
            .then(|| blob::MessageKeys::new(material.expose()));
        let signer = if key.key_usage == backend::KeyUsage::SIGN_VERIFY {
            Some(backend::Signer::new(key.key_spec, material.expose())?)
        } else {
            None
        };
        let open = Arc::new(OpenMaterial {
            material,
            message_keys,
            signer,
            opened_at: now,
        });
        self.cache
            .put_material(&key.key_id, version, sealed, Arc::clone(&open));
        if memo {
            key.opened.set(version, &open);
        }
        Ok(open)
    }

    /// The current material of a usable key, opened.
    pub(crate) fn current_material(
        &self,
        key: &KeyRecord,
    ) -> Result<(u32, Arc<OpenMaterial>), KmsError> {
        self.current_material_at(key, Instant::now())
    }

    /// [`Kms::current_material`] with the call's clock reading.
    pub(crate) fn current_material_at(
        &self,
        key: &KeyRecord,
        now: Instant,
    ) -> Result<(u32, Arc<OpenMaterial>), KmsError> {
        let version = key
            .current()
            .map(|m| m.version)
            .ok_or_else(|| pending_import(key))?;
        Ok((version, self.opened(key, version, now)?))
    }

    /// Appends a freshly generated material version (rotation).
    pub(crate) fn add_material(
        &self,
        key: &mut KeyRecord,
        rotation_type: Option<&str>,
    ) -> Result<(), KmsError> {
        let generated = backend::generate(key.key_spec)?;
        self.add_generated_material(key, rotation_type, generated)
    }

    /// [`Self::add_material`] with material already generated for the key's spec.
    pub(crate) fn add_generated_material(
        &self,
        key: &mut KeyRecord,
        rotation_type: Option<&str>,
        (material, public): backend::GeneratedKey,
    ) -> Result<(), KmsError> {
        let version = key.current().map_or(1, |m| m.version + 1);
        let sealed = self.seal_material(&key.account, &key.key_id, version, material.expose())?;
        key.materials.push(record::Material {
            version,
            sealed,
            public_key: public.map(|p| record::b64(&p)),
            created: self.now_secs(),
            rotation_type: rotation_type.map(str::to_owned),
        });
        Ok(())
    }

    /// Finds the key a `KeyId` names: key id, key ARN, alias name or alias ARN.
    pub(crate) async fn resolve(
        &self,
        ctx: &Caller<'_>,
        key_id: &str,
        scope: Scope,
    ) -> Result<Resolved, KmsError> {
        let own = ctx.principal.account.as_str();
        let (account, region, target) = if key_id.starts_with("arn:") {
            let arn = Arn::parse(key_id)
                .map_err(|_| KmsError::NotFound(format!("Invalid arn {key_id}")))?;
            if arn.service() != "kms" {
                return Err(KmsError::NotFound(format!("Invalid arn {key_id}")));
            }
            let (account, region) = (arn.account().to_owned(), arn.region().to_owned());
            if scope == Scope::OwnAccount && account != own {
                return Err(KmsError::NotFound(format!(
                    "Key '{}' does not exist",
                    key_arn(&region, &account, arn.resource())
                )));
            }
            let resource = arn.resource();
            return if let Some(id) = resource.strip_prefix("key/") {
                self.resolve_id(&account, &region, id, None).await
            } else if resource.starts_with("alias/") {
                self.resolve_alias(&account, &region, resource).await
            } else {
                Err(KmsError::NotFound(format!("Invalid keyId '{key_id}'")))
            };
        } else {
            (own, ctx.region.as_str(), key_id)
        };
        if target.starts_with("alias/") {
            self.resolve_alias(account, region, target).await
        } else if blob::uuid_bytes(target).is_some() {
            self.resolve_id(account, region, target, None).await
        } else {
            Err(KmsError::NotFound(format!("Invalid keyId '{key_id}'")))
        }
    }

    /// The key an alias name (`alias/...`) of `account` in `region` points at.
    async fn resolve_alias(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Resolved, KmsError> {
        let aliases = self.alias_map(account, region, Instant::now()).await?;
        let Some(target) = aliases.by_name.get(name) else {
            return Err(KmsError::NotFound(format!(
                "Alias '{}' is not found.",
                key_arn(region, account, name)
            )));
        };
        self.resolve_id(account, region, target, Some(name.to_owned()))
            .await
    }

    /// The key `key_id` of `account` in `region`.
    pub(crate) async fn resolve_id(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        alias: Option<String>,
    ) -> Result<Resolved, KmsError> {
        let now = Instant::now();
        match self.load_key(account, key_id, now).await? {
            Some((version, key)) if key.region == region => Ok(Resolved {
                key,
                read_at: now,
                version,
                alias,
            }),
            _ => Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key_arn(region, account, &format!("key/{key_id}"))
            ))),
        }
    }

    /// A key record, from the cache when fresh, else from the store.
    async fn load_key(
        &self,
        account: &str,
        key_id: &str,
        now: Instant,
    ) -> Result<Option<(i64, Arc<KeyRecord>)>, KmsError> {
        if let Some(hit) = self.cache.record(account, key_id, now) {
            return Ok(Some(hit));
        }
        let Some(item) = self.store.get(KEY, account, key_id).await? else {
            self.cache.forget(key_id);
            return Ok(None);
        };
        let key: Arc<KeyRecord> = Arc::new(record::decode(&item)?);
        self.cache.put_record(Arc::clone(&key), item.version);
        Ok(Some((item.version, key)))
    }

    /// Writes `resolved.key` after `change`, retrying on a concurrent change by re-reading
    /// the key and applying `change` again.
    pub(crate) async fn mutate<R>(
        &self,
        mut resolved: Resolved,
        mut change: impl FnMut(&Self, &mut KeyRecord) -> Result<R, KmsError>,
    ) -> Result<(KeyRecord, R), KmsError> {
        for _ in 0..5 {
            let mut key = (*resolved.key).clone();
            let out = change(self, &mut key)?;
            self.cache.forget(&key.key_id);
            match self
                .store
                .write(key.write_ops(Some(resolved.version))?)
                .await
            {
                Ok(()) => return Ok((key, out)),
                Err(StoreError::Conflict { .. }) => {
                    let item = self
                        .store
                        .get(KEY, &resolved.key.account, &resolved.key.key_id)
                        .await?
                        .ok_or_else(|| {
                            KmsError::NotFound(format!("Key '{}' does not exist", resolved.key.arn))
                        })?;
                    resolved = Resolved {
                        key: Arc::new(record::decode(&item)?),
                        read_at: Instant::now(),
                        version: item.version,
                        alias: None,
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Conflict(
            "The key was changed concurrently; retry the request.".to_owned(),
        ))
    }

    /// An account's aliases in `region`, both ways (cached; see [`cache`]).
    pub(crate) async fn alias_map(
        &self,
        account: &str,
        region: &str,
        now: Instant,
    ) -> Result<Arc<AliasMap>, KmsError> {
        if let Some(map) = self.cache.aliases(account, region, now) {
            return Ok(map);
        }
        let mut map = AliasMap::default();
        for item in
            record::list_all(self.store(), record::ALIAS, account, &format!("{region}/")).await?
        {
            let alias: record::AliasRecord = record::decode(&item)?;
            map.by_name
                .insert(alias.name.clone(), alias.target_key_id.clone());
            map.by_key
                .entry(alias.target_key_id)
                .or_default()
                .push(alias.name);
        }
        let map = Arc::new(map);
        self.cache.put_aliases(account, region, Arc::clone(&map));
        Ok(map)
    }

    /// Drops the cached aliases of an account and region after an alias write.
    pub(crate) fn forget_aliases(&self, account: &str, region: &str) {
        self.cache.forget_aliases(account, region);
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }
}

/// `arn:aws:kms:region:account:resource`.
pub(crate) fn key_arn(region: &str, account: &str, resource: &str) -> String {
    Arn::new(portcullis_core::PARTITION, "kms", region, account, resource).to_string()
}

pub(crate) fn usage_str(usage: backend::KeyUsage) -> &'static str {
    match usage {
        backend::KeyUsage::ENCRYPT_DECRYPT => "ENCRYPT_DECRYPT",
        backend::KeyUsage::SIGN_VERIFY => "SIGN_VERIFY",
        backend::KeyUsage::GENERATE_VERIFY_MAC => "GENERATE_VERIFY_MAC",
        backend::KeyUsage::KEY_AGREEMENT => "KEY_AGREEMENT",
    }
}

fn pending_import(key: &KeyRecord) -> KmsError {
    KmsError::InvalidState(format!("{} is pending import.", key.arn))
}

/// The key must be usable for cryptography: AWS refuses a disabled key with DisabledException
/// and a key pending deletion or import with KMSInvalidStateException.
pub(crate) fn check_usable(key: &KeyRecord) -> Result<(), KmsError> {
    match key.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled(format!("{} is disabled.", key.arn))),
        KeyState::PendingDeletion => Err(KmsError::InvalidState(format!(
            "{} is pending deletion.",
            key.arn
        ))),
        KeyState::PendingImport => Err(pending_import(key)),
    }
}

/// The key must have `usage`; AWS answers InvalidKeyUsageException otherwise.
pub(crate) fn check_usage(
    key: &KeyRecord,
    usage: backend::KeyUsage,
    op: &str,
) -> Result<(), KmsError> {
    if key.key_usage == usage {
        Ok(())
    } else {
        Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {op}.",
            key.arn,
            usage_str(key.key_usage)
        )))
    }
}

/// Seconds since the epoch as JSON 1.1 timestamps (epoch seconds).
pub(crate) fn ts(secs: u64) -> Value {
    Value::from(secs)
}
