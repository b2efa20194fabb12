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

pub mod backend;
pub mod blob;
mod crypto;
mod error;
mod grants;
mod keys;
pub mod managed;
pub mod record;

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use portcullis_aws::{AwsError, Protocol};
use portcullis_core::{Arn, Clock, RequestContext, Secret};
use portcullis_store::{BoxFuture, MasterKey, Store, StoreError, WriteOp, place_aad};
use serde_json::Value;

pub use error::KmsError;
use record::{DUE, KEY, KeyRecord, KeyState};

/// Authorization of a call against the key policy (the IAM crate implements this with the
/// policy engine; it evaluates the key policy, and IAM policies where the key policy delegates
/// to the account).
///
/// Actions that have no key (CreateKey, ListKeys, ListAliases, GenerateRandom,
/// ListRetirableGrants) are asked with `key_arn` = `arn:aws:kms:<region>:<account>:*` and an
/// empty `key_policy`: only IAM policies decide those, as in AWS.
pub trait KeyAccess: Send + Sync + 'static {
    /// Ok(()) when `ctx.principal` may perform `action` ("kms:Encrypt") on the key `key_arn`,
    /// whose key policy document is `key_policy`, with the request's KMS condition keys in
    /// `conditions` (kms:EncryptionContext:*, kms:EncryptionContextKeys, kms:CallerAccount,
    /// kms:KeySpec, kms:KeyUsage, kms:GrantOperations, kms:RequestAlias, ...). Err: the
    /// AccessDeniedException to return.
    fn authorize<'a>(
        &'a self,
        ctx: &'a RequestContext,
        action: &'a str,
        key_arn: &'a Arn,
        key_policy: &'a str,
        conditions: &'a [(String, Vec<String>)],
    ) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// Until IAM lands: any principal of the key's own account is allowed, every other principal
/// is denied with AWS's AccessDeniedException message.
#[derive(Debug, Default, Clone, Copy)]
pub struct AccountOnlyAccess;

impl KeyAccess for AccountOnlyAccess {
    fn authorize<'a>(
        &'a self,
        ctx: &'a RequestContext,
        action: &'a str,
        key_arn: &'a Arn,
        _key_policy: &'a str,
        _conditions: &'a [(String, Vec<String>)],
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        let result = if key_arn.account() == ctx.principal.account.as_str() {
            Ok(())
        } else {
            Err(access_denied(ctx, action, key_arn.as_str()))
        };
        Box::pin(async move { result })
    }
}

/// AWS's denial for a principal that no policy allows.
pub fn access_denied(ctx: &RequestContext, action: &str, resource: &str) -> AwsError {
    AwsError::access_denied(
        Protocol::AwsJson1_1,
        format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} because no resource-based policy allows the {action} action",
            ctx.principal.arn
        ),
    )
}

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

/// A short-lived read cache of key records, so that a cryptographic call does not wait for the
/// store. Local writes drop the entry at once; changes made by other nodes sharing the store
/// are seen within the TTL, which is within AWS's documented eventual consistency for key
/// state, policy and grant changes ("typically within seconds, up to a few minutes").
struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), CacheEntry>>,
    /// Parsed signing keys by key, with the sealed material they came from: reused while the
    /// key's current material is still that one, dropped with the key's entry.
    signers: Mutex<HashMap<(String, String), SignerEntry>>,
    /// Alias names by key id, per account and region, with when they were read.
    aliases: Mutex<HashMap<(String, String), AliasEntry>>,
}

/// When an account's aliases in a region were read, and their names by target key id.
type AliasEntry = (Instant, Arc<HashMap<String, Vec<String>>>);

/// The sealed material a signing key was parsed from, and the parsed key.
type SignerEntry = (String, Arc<backend::Signer>);

/// When a record was read, its store version, and the record.
type CacheEntry = (Instant, i64, Arc<KeyRecord>);

impl KeyCache {
    fn get(&self, account: &str, key_id: &str) -> Option<(i64, Arc<KeyRecord>)> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (at, version, key) = entries.get(&(account.to_owned(), key_id.to_owned()))?;
        (at.elapsed() < self.ttl).then(|| (*version, Arc::clone(key)))
    }

    fn put(&self, key: &KeyRecord, version: i64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            // Bounded: a full cache starts over rather than growing without limit.
            if entries.len() >= 10_000 {
                entries.clear();
            }
            entries.insert(
                (key.account.clone(), key.key_id.clone()),
                (Instant::now(), version, Arc::new(key.clone())),
            );
        }
    }

    fn forget(&self, account: &str, key_id: &str) {
        let id = (account.to_owned(), key_id.to_owned());
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&id);
        }
        if let Ok(mut signers) = self.signers.lock() {
            signers.remove(&id);
        }
    }

    fn aliases(&self, account: &str, region: &str) -> Option<Arc<HashMap<String, Vec<String>>>> {
        if self.ttl.is_zero() {
            return None;
        }
        let aliases = self.aliases.lock().ok()?;
        let (at, map) = aliases.get(&(account.to_owned(), region.to_owned()))?;
        (at.elapsed() < self.ttl).then(|| Arc::clone(map))
    }

    fn put_aliases(&self, account: &str, region: &str, map: HashMap<String, Vec<String>>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut aliases) = self.aliases.lock() {
            if aliases.len() >= 10_000 {
                aliases.clear();
            }
            aliases.insert(
                (account.to_owned(), region.to_owned()),
                (Instant::now(), Arc::new(map)),
            );
        }
    }

    fn forget_aliases(&self, account: &str, region: &str) {
        if let Ok(mut aliases) = self.aliases.lock() {
            aliases.remove(&(account.to_owned(), region.to_owned()));
        }
    }

    fn signer(&self, key: &KeyRecord, sealed: &str) -> Option<Arc<backend::Signer>> {
        let signers = self.signers.lock().ok()?;
        let (cached_sealed, signer) = signers.get(&(key.account.clone(), key.key_id.clone()))?;
        (cached_sealed == sealed).then(|| Arc::clone(signer))
    }

    fn put_signer(&self, key: &KeyRecord, sealed: &str, signer: Arc<backend::Signer>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut signers) = self.signers.lock() {
            if signers.len() >= 10_000 {
                signers.clear();
            }
            signers.insert(
                (key.account.clone(), key.key_id.clone()),
                (sealed.to_owned(), signer),
            );
        }
    }
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kms")
    }
}

/// A key found for a request, with the store version it was read at.
pub(crate) struct Resolved {
    pub key: Arc<KeyRecord>,
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
            cache: KeyCache {
                ttl: Duration::from_secs(1),
                entries: Mutex::new(HashMap::new()),
                signers: Mutex::new(HashMap::new()),
                aliases: Mutex::new(HashMap::new()),
            },
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
            "Encrypt" => self.encrypt(ctx, &i).await,
            "Decrypt" => self.decrypt(ctx, &i).await,
            "ReEncrypt" => self.re_encrypt(ctx, &i).await,
            "GenerateDataKey" => self.generate_data_key(ctx, &i, true).await,
            "GenerateDataKeyWithoutPlaintext" => self.generate_data_key(ctx, &i, false).await,
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
            self.cache.forget(account, key_id);
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
        self.cache.forget(&key.account, &key.key_id);
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

    /// The parsed signing key of a usable asymmetric key (cached; see [`KeyCache`]).
    pub(crate) fn signer(&self, key: &KeyRecord) -> Result<Arc<backend::Signer>, KmsError> {
        let current = key.current().ok_or_else(|| pending_import(key))?;
        if let Some(signer) = self.cache.signer(key, &current.sealed) {
            return Ok(signer);
        }
        let material = self.material(key, current.version)?;
        let signer = Arc::new(backend::Signer::new(key.key_spec, material.expose())?);
        self.cache
            .put_signer(key, &current.sealed, Arc::clone(&signer));
        Ok(signer)
    }

    /// The current material of a usable key.
    pub(crate) fn current_material(
        &self,
        key: &KeyRecord,
    ) -> Result<(u32, Secret<Vec<u8>>), KmsError> {
        let version = key
            .current()
            .map(|m| m.version)
            .ok_or_else(|| pending_import(key))?;
        Ok((version, self.material(key, version)?))
    }

    /// Appends a freshly generated material version (rotation).
    pub(crate) fn add_material(
        &self,
        key: &mut KeyRecord,
        rotation_type: Option<&str>,
    ) -> Result<(), KmsError> {
        let version = key.current().map_or(1, |m| m.version + 1);
        let (material, public) = backend::generate(key.key_spec)?;
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
            (
                arn.account().to_owned(),
                arn.region().to_owned(),
                arn.resource().to_owned(),
            )
        } else {
            (own.to_owned(), ctx.region.clone(), key_id.to_owned())
        };
        let not_found = || {
            KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key_arn(&region, &account, &target)
            ))
        };
        if scope == Scope::OwnAccount && account != own {
            return Err(not_found());
        }
        let (id, alias) = if let Some(name) = target.strip_prefix("alias/") {
            let alias_name = format!("alias/{name}");
            let item = self
                .store
                .get(record::ALIAS, &account, &format!("{region}/{alias_name}"))
                .await?;
            let Some(item) = item else {
                return Err(KmsError::NotFound(format!(
                    "Alias '{}' is not found.",
                    Arn::new(
                        portcullis_core::PARTITION,
                        "kms",
                        &region,
                        &account,
                        &alias_name
                    )
                )));
            };
            let alias: record::AliasRecord = record::decode(&item)?;
            (alias.target_key_id, Some(alias_name))
        } else if let Some(id) = target.strip_prefix("key/") {
            (id.to_owned(), None)
        } else if !key_id.starts_with("arn:") && blob::uuid_bytes(&target).is_some() {
            (target.clone(), None)
        } else {
            return Err(KmsError::NotFound(format!("Invalid keyId '{key_id}'")));
        };
        let Some((version, key)) = self.load_key(&account, &id).await? else {
            return Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key_arn(&region, &account, &format!("key/{id}"))
            )));
        };
        if key.region != region {
            return Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key_arn(&region, &account, &format!("key/{id}"))
            )));
        }
        Ok(Resolved {
            key,
            version,
            alias,
        })
    }

    /// A key record, from the cache when fresh, else from the store.
    async fn load_key(
        &self,
        account: &str,
        key_id: &str,
    ) -> Result<Option<(i64, Arc<KeyRecord>)>, KmsError> {
        if let Some(hit) = self.cache.get(account, key_id) {
            return Ok(Some(hit));
        }
        let Some(item) = self.store.get(KEY, account, key_id).await? else {
            self.cache.forget(account, key_id);
            return Ok(None);
        };
        let key: KeyRecord = record::decode(&item)?;
        self.cache.put(&key, item.version);
        Ok(Some((item.version, Arc::new(key))))
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
            self.cache.forget(&key.account, &key.key_id);
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

    /// Authorizes `action` (`"Encrypt"`) on `key`: [`KeyAccess`] allows it, or a grant for the
    /// caller covers the operation and the encryption context.
    pub(crate) async fn authorize(
        &self,
        ctx: &Caller<'_>,
        action: &str,
        resolved: &Resolved,
        context: Option<&BTreeMap<String, String>>,
        extra: Vec<(String, Vec<String>)>,
        grant_tokens: &[String],
    ) -> Result<(), KmsError> {
        self.authorize_with(ctx, action, resolved, context, extra, grant_tokens, true)
            .await
    }

    /// [`Kms::authorize`], where `use_grants` false asks the key policy alone (CreateGrant
    /// beyond what the caller's own grant may pass on).
    #[expect(
        clippy::too_many_arguments,
        reason = "authorize's arguments and the one switch; a struct would only rename them"
    )]
    pub(crate) async fn authorize_with(
        &self,
        ctx: &Caller<'_>,
        action: &str,
        resolved: &Resolved,
        context: Option<&BTreeMap<String, String>>,
        extra: Vec<(String, Vec<String>)>,
        grant_tokens: &[String],
        use_grants: bool,
    ) -> Result<(), KmsError> {
        grants::check_tokens(grant_tokens)?;
        let key = &resolved.key;
        if key.key_manager == "AWS" && managed::forbidden(action) {
            return Err(KmsError::Denied(access_denied(
                ctx,
                &format!("kms:{action}"),
                &key.arn,
            )));
        }
        let mut conditions = self
            .key_conditions(ctx, key, resolved.alias.as_deref())
            .await?;
        if let Some(context) = context {
            for (k, v) in context {
                conditions.push((format!("kms:EncryptionContext:{k}"), vec![v.clone()]));
            }
            conditions.push((
                "kms:EncryptionContextKeys".to_owned(),
                context.keys().cloned().collect(),
            ));
        }
        conditions.extend(extra);
        let arn = parsed_arn(key)?;
        // A call is allowed when the key policy (with IAM) or a grant allows it; neither can
        // take away what the other gives, so the order only decides the cost. The policy is
        // asked first (in memory); grants are read from the store only for a caller the policy
        // does not allow.
        let denied = match self
            .access
            .authorize(
                ctx,
                &format!("kms:{action}"),
                &arn,
                &key.policy,
                &conditions,
            )
            .await
        {
            Ok(()) => return Ok(()),
            Err(denied) => denied,
        };
        if use_grants
            && grants::GRANT_OPERATIONS.contains(&action)
            && self.grant_allows(ctx, key, action, context).await?
        {
            return Ok(());
        }
        Err(KmsError::Denied(denied))
    }

    /// The condition keys of every operation on `key` (AWS: "KMS key resource operations"):
    /// the caller's account, the key's properties, its aliases (`kms:ResourceAliases`), the
    /// alias the request named it by (`kms:RequestAlias`), and the calling service
    /// (`kms:ViaService`, only when a service calls on the principal's behalf).
    pub(crate) async fn key_conditions(
        &self,
        ctx: &Caller<'_>,
        key: &KeyRecord,
        request_alias: Option<&str>,
    ) -> Result<Vec<(String, Vec<String>)>, KmsError> {
        let mut conditions = vec![
            (
                "kms:CallerAccount".to_owned(),
                vec![ctx.principal.account.to_string()],
            ),
            (
                "kms:KeySpec".to_owned(),
                vec![key.key_spec.as_str().to_owned()],
            ),
            (
                "kms:KeyUsage".to_owned(),
                vec![usage_str(key.key_usage).to_owned()],
            ),
            ("kms:KeyOrigin".to_owned(), vec![key.origin.clone()]),
            ("kms:MultiRegion".to_owned(), vec!["false".to_owned()]),
            (
                "kms:ResourceAliases".to_owned(),
                self.aliases_of(&key.account, &key.region, &key.key_id)
                    .await?,
            ),
        ];
        if let Some(alias) = request_alias {
            conditions.push(("kms:RequestAlias".to_owned(), vec![alias.to_owned()]));
        }
        if let Some(service) = ctx.via_service {
            conditions.push(("kms:ViaService".to_owned(), vec![service.to_owned()]));
        }
        Ok(conditions)
    }

    /// The alias names of a key (`kms:ResourceAliases`), from a per-account-and-region map
    /// kept as long as key records are (see [`KeyCache`]); alias writes made here drop it.
    pub(crate) async fn aliases_of(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<Vec<String>, KmsError> {
        if let Some(map) = self.cache.aliases(account, region) {
            return Ok(map.get(key_id).cloned().unwrap_or_default());
        }
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for item in
            record::list_all(self.store(), record::ALIAS, account, &format!("{region}/")).await?
        {
            let alias: record::AliasRecord = record::decode(&item)?;
            map.entry(alias.target_key_id).or_default().push(alias.name);
        }
        let found = map.get(key_id).cloned().unwrap_or_default();
        self.cache.put_aliases(account, region, map);
        Ok(found)
    }

    /// Drops the cached aliases of an account and region after an alias write.
    pub(crate) fn forget_aliases(&self, account: &str, region: &str) {
        self.cache.forget_aliases(account, region);
    }

    /// Authorizes an action that has no key resource (IAM policies alone decide).
    pub(crate) async fn authorize_account(
        &self,
        ctx: &Caller<'_>,
        action: &str,
        extra: Vec<(String, Vec<String>)>,
    ) -> Result<(), KmsError> {
        let arn = Arn::new(
            portcullis_core::PARTITION,
            "kms",
            &ctx.region,
            ctx.principal.account.as_str(),
            "*",
        );
        let mut conditions = vec![(
            "kms:CallerAccount".to_owned(),
            vec![ctx.principal.account.to_string()],
        )];
        conditions.extend(extra);
        self.access
            .authorize(ctx, &format!("kms:{action}"), &arn, "", &conditions)
            .await
            .map_err(KmsError::Denied)
    }

    /// The key policy lockout safety check of CreateKey and PutKeyPolicy: unless the request
    /// sets `BypassPolicyLockoutSafetyCheck`, `key` with its new policy must allow the caller
    /// to call PutKeyPolicy on it afterwards. The caller is evaluated as for a real request,
    /// so an IAM user or role also needs its IAM policy to allow that where the new key policy
    /// delegates to the account (AWS: "The key policy must allow the calling principal to make
    /// a subsequent PutKeyPolicy request on the KMS key").
    pub(crate) async fn check_policy_lockout(
        &self,
        ctx: &Caller<'_>,
        key: &KeyRecord,
        request_alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let conditions = self.key_conditions(ctx, key, request_alias).await?;
        let arn = parsed_arn(key)?;
        self.access
            .authorize(ctx, "kms:PutKeyPolicy", &arn, &key.policy, &conditions)
            .await
            .map_err(|_| {
                KmsError::MalformedPolicyDocument(
                    "The new key policy will not allow you to update the key policy in the future."
                        .to_owned(),
                )
            })
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }
}

/// The key's ARN as an [`Arn`].
pub(crate) fn parsed_arn(key: &KeyRecord) -> Result<Arn, KmsError> {
    Arn::parse(&key.arn).map_err(|_| KmsError::Corrupt(format!("key ARN {}", key.arn)))
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
