//! The in-memory caches that keep a cryptographic call off the store and off the master key:
//!
//! - key records, and each account's aliases in a Region, read from the store and kept for
//!   the cache TTL (one second by default). Writes made through this node drop them at once;
//!   changes made by other nodes sharing the store are seen within the TTL, well within AWS's
//!   documented eventual consistency for key state, policy, alias and grant changes
//!   ("typically within seconds, up to a few minutes").
//! - opened key material: a material version unsealed from the master key, with what the
//!   operations prepare from it (the HMAC key that derives per-message AES keys, a parsed
//!   signing key). It is used only while the key record still holds exactly the sealed
//!   material it came from, kept at most [`MATERIAL_TTL`], and bounded; the material is
//!   zeroized when the last user drops it (and aws-lc clears its HMAC and key structures).
//!
//! - the opened material a cached key record last used, on that record itself
//!   ([`OpenedMemo`]): a cryptographic call finds its material without a second lookup. A
//!   record in memory never changes (a change is made to a clone, which starts without it),
//!   so the memo always matches the sealed material of its record; it is used only within
//!   [`MATERIAL_TTL`] of the unsealing, as the material map is, and not at all when the TTL is
//!   zero.
//!
//! Lookups borrow: maps are keyed by key id (UUIDs are unique across accounts; the account is
//! checked on the entry) or by account, so a hit allocates nothing. A full map starts over
//! rather than grow without bound.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use portcullis_core::Secret;

use crate::backend;
use crate::blob::MessageKeys;
use crate::record::KeyRecord;

/// How long opened key material stays in memory after it was unsealed.
pub const MATERIAL_TTL: Duration = Duration::from_secs(60);

/// The most entries a map holds before it starts over.
const BOUND: usize = 10_000;

/// A key material version, unsealed, and what is prepared from it.
pub struct OpenMaterial {
    /// The material (zeroized on drop).
    pub material: Secret<Vec<u8>>,
    /// The per-message key derivation of a symmetric encryption key.
    pub message_keys: Option<MessageKeys>,
    /// The parsed private key of a signing key.
    pub signer: Option<backend::Signer>,
    /// When it was unsealed: it is used for at most [`MATERIAL_TTL`] after.
    pub opened_at: Instant,
}

/// See the module documentation: one material version opened, remembered on the in-memory key
/// record it was opened for.
#[derive(Default)]
pub struct OpenedMemo(OnceLock<(u32, Arc<OpenMaterial>)>);

impl OpenedMemo {
    /// The remembered material if it is version `version` and still fresh at `now`.
    pub fn get(&self, version: u32, now: Instant) -> Option<Arc<OpenMaterial>> {
        let (v, open) = self.0.get()?;
        (*v == version && fresh(open.opened_at, now, MATERIAL_TTL)).then(|| Arc::clone(open))
    }

    /// Remembers `open` as version `version`, unless something is remembered already.
    pub fn set(&self, version: u32, open: &Arc<OpenMaterial>) {
        // A record keeps the first material it remembered (OnceLock); a later one is found
        // through the material map instead, so ignoring the refusal is correct.
        let _ = self.0.set((version, Arc::clone(open)));
    }
}

/// A copy of a record is made to change it: it must not carry the original's material.
impl Clone for OpenedMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for OpenedMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedMemo")
    }
}

/// An account's aliases in one Region, both ways.
#[derive(Default)]
pub struct AliasMap {
    /// Alias names by target key id (`kms:ResourceAliases`).
    pub by_key: HashMap<String, Vec<String>>,
    /// Target key id by alias name.
    pub by_name: HashMap<String, String>,
}

/// An account's alias maps by Region, with when each was read.
type AliasRegions = HashMap<String, (Instant, Arc<AliasMap>)>;

struct RecordEntry {
    account: String,
    at: Instant,
    version: i64,
    key: Arc<KeyRecord>,
}

struct MaterialEntry {
    version: u32,
    /// The sealed text it was opened from: a changed record (material deleted, reimported,
    /// key deleted and recreated) no longer matches, and the entry is not used.
    sealed: String,
    at: Instant,
    open: Arc<OpenMaterial>,
}

/// See the module documentation.
pub struct KeyCache {
    /// Zero turns every cache off.
    pub ttl: Duration,
    records: RwLock<HashMap<String, RecordEntry>>,
    aliases: RwLock<HashMap<String, AliasRegions>>,
    materials: RwLock<HashMap<String, Vec<MaterialEntry>>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            records: RwLock::new(HashMap::new()),
            aliases: RwLock::new(HashMap::new()),
            materials: RwLock::new(HashMap::new()),
        }
    }

    /// A fresh key record and its store version.
    pub fn record(
        &self,
        account: &str,
        key_id: &str,
        now: Instant,
    ) -> Option<(i64, Arc<KeyRecord>)> {
        if self.ttl.is_zero() {
            return None;
        }
        let records = self.records.read().ok()?;
        let e = records.get(key_id)?;
        (e.account == account && fresh(e.at, now, self.ttl))
            .then(|| (e.version, Arc::clone(&e.key)))
    }

    pub fn put_record(&self, key: Arc<KeyRecord>, version: i64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut records) = self.records.write() {
            if records.len() >= BOUND {
                records.clear();
            }
            records.insert(
                key.key_id.clone(),
                RecordEntry {
                    account: key.account.clone(),
                    at: Instant::now(),
                    version,
                    key,
                },
            );
        }
    }

    /// Drops a key's record and opened material (a local write, or the key is gone).
    pub fn forget(&self, key_id: &str) {
        if let Ok(mut records) = self.records.write() {
            records.remove(key_id);
        }
        if let Ok(mut materials) = self.materials.write() {
            materials.remove(key_id);
        }
    }

    /// An account's fresh aliases in `region`.
    pub fn aliases(&self, account: &str, region: &str, now: Instant) -> Option<Arc<AliasMap>> {
        if self.ttl.is_zero() {
            return None;
        }
        let aliases = self.aliases.read().ok()?;
        let (at, map) = aliases.get(account)?.get(region)?;
        fresh(*at, now, self.ttl).then(|| Arc::clone(map))
    }

    pub fn put_aliases(&self, account: &str, region: &str, map: Arc<AliasMap>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut aliases) = self.aliases.write() {
            if aliases.len() >= BOUND {
                aliases.clear();
            }
            aliases
                .entry(account.to_owned())
                .or_default()
                .insert(region.to_owned(), (Instant::now(), map));
        }
    }

    pub fn forget_aliases(&self, account: &str, region: &str) {
        if let Ok(mut aliases) = self.aliases.write()
            && let Some(regions) = aliases.get_mut(account)
        {
            regions.remove(region);
        }
    }

    /// Material version `version` of `key`, opened from `sealed`, if it is still fresh.
    pub fn material(
        &self,
        key_id: &str,
        version: u32,
        sealed: &str,
        now: Instant,
    ) -> Option<Arc<OpenMaterial>> {
        if self.ttl.is_zero() {
            return None;
        }
        let materials = self.materials.read().ok()?;
        materials
            .get(key_id)?
            .iter()
            .find(|e| e.version == version && e.sealed == sealed && fresh(e.at, now, MATERIAL_TTL))
            .map(|e| Arc::clone(&e.open))
    }

    pub fn put_material(&self, key_id: &str, version: u32, sealed: &str, open: Arc<OpenMaterial>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut materials) = self.materials.write() {
            if materials.len() >= BOUND {
                materials.clear();
            }
            let versions = materials.entry(key_id.to_owned()).or_default();
            versions.retain(|e| e.version != version && e.at.elapsed() < MATERIAL_TTL);
            versions.push(MaterialEntry {
                version,
                sealed: sealed.to_owned(),
                at: Instant::now(),
                open,
            });
        }
    }
}

/// Whether an entry read at `at` is still within `ttl` at `now` (one clock reading serves every
/// lookup of a call).
fn fresh(at: Instant, now: Instant, ttl: Duration) -> bool {
    now.saturating_duration_since(at) < ttl
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{KeySpec, KeyUsage};

    fn opened(at: Instant) -> Arc<OpenMaterial> {
        Arc::new(OpenMaterial {
            material: Secret::new(vec![7; 32]),
            message_keys: None,
            signer: None,
            opened_at: at,
        })
    }

    #[test]
    fn the_memo_serves_its_version_while_fresh_and_is_not_cloned() {
        let key = KeyRecord::new(
            "111122223333",
            "us-east-1",
            0,
            (
                KeySpec::SYMMETRIC_DEFAULT,
                KeyUsage::ENCRYPT_DECRYPT,
                "AWS_KMS",
            ),
            String::new(),
        );
        let now = Instant::now();
        assert!(key.opened.get(1, now).is_none());
        let first = opened(now);
        key.opened.set(1, &first);
        assert!(Arc::ptr_eq(&key.opened.get(1, now).unwrap(), &first));
        assert!(key.opened.get(2, now).is_none());
        assert!(key.opened.get(1, now + MATERIAL_TTL).is_none());
        // The first material stays: a second set changes nothing.
        key.opened.set(2, &opened(now));
        assert!(key.opened.get(2, now).is_none());
        let changed = key.clone();
        assert!(changed.opened.get(1, now).is_none());
    }
}
