//! KMS's stored documents and how they are read and written, and the reading of request
//! inputs (JSON with base64 blobs) and paging of list outputs.
//!
//! Store layout (kinds are the store's collections):
//! - `kms.key` / account / key id: a [`KeyRecord`], with its key material sealed under the
//!   master key, one entry per material version;
//! - `kms.alias` / account / `region/alias-name`: an [`AliasRecord`];
//! - `kms.grant` / account of the key / `key-id/grant-id`: a [`GrantRecord`];
//! - `kms.due` / `""` / key id: `{account, at}`, the earliest time work falls due for a key
//!   (deletion, automatic rotation, expiry of imported material), so that the periodic job
//!   reads only keys that have something due, in every account.

use std::collections::BTreeMap;

use base64::Engine as _;
use portcullis_store::{Item, ListQuery, Precondition, Store, WriteOp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::KmsError;
use crate::backend::{KeySpec, KeyUsage};

/// Store kind of keys.
pub const KEY: &str = "kms.key";
/// Store kind of aliases.
pub const ALIAS: &str = "kms.alias";
/// Store kind of grants.
pub const GRANT: &str = "kms.grant";
/// Store kind of the due-work index.
pub const DUE: &str = "kms.due";

/// A key's state (`KeyState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Turned off by DisableKey.
    Disabled,
    /// Scheduled for deletion.
    PendingDeletion,
    /// Origin EXTERNAL without key material.
    PendingImport,
}

impl KeyState {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDeletion => "PendingDeletion",
            Self::PendingImport => "PendingImport",
        }
    }
}

/// One version of a key's material.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Material {
    /// 1 for the first, +1 per rotation; the number in ciphertext blobs.
    pub version: u32,
    /// The material sealed under the master key (base64), bound to key and version.
    pub sealed: String,
    /// DER SPKI (base64) for asymmetric keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Seconds since the epoch.
    pub created: u64,
    /// `AUTOMATIC` / `ON_DEMAND` for rotations, absent for the first material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<String>,
}

/// Pending import parameters (GetParametersForImport).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportParams {
    /// The wrapping private key, sealed (base64).
    pub sealed_wrapping_key: String,
    /// `RSAES_OAEP_SHA_256`, `RSA_AES_KEY_WRAP_SHA_256`, ...
    pub wrapping_algorithm: String,
    /// The import token handed to the caller (base64 text).
    pub token: String,
    /// Seconds since the epoch after which the parameters are refused (24 hours).
    pub valid_to: u64,
}

/// A KMS key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The UUID.
    pub key_id: String,
    /// The owning account.
    pub account: String,
    /// The region the key lives in.
    pub region: String,
    /// `arn:aws:kms:region:account:key/id`.
    pub arn: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// Free text.
    pub description: String,
    /// The spec.
    pub key_spec: KeySpec,
    /// The usage.
    pub key_usage: KeyUsage,
    /// `AWS_KMS` or `EXTERNAL`.
    pub origin: String,
    /// `CUSTOMER` (or `AWS` for AWS managed keys).
    pub key_manager: String,
    /// The state.
    pub state: KeyState,
    /// When a key pending deletion is deleted (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<u64>,
    /// The waiting period given to ScheduleKeyDeletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_window_days: Option<u32>,
    /// The key policy document (name `default`).
    pub policy: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Automatic rotation period when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_days: Option<u32>,
    /// When automatic rotation is next due (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation: Option<u64>,
    /// Material versions, oldest first; the last is current.
    #[serde(default)]
    pub materials: Vec<Material>,
    /// Imported material: `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<String>,
    /// Imported material: when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<u64>,
    /// Imported material: HMAC fingerprint (base64), so that only the same material can be
    /// reimported (AWS: IncorrectKeyMaterialException).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material_fingerprint: Option<String>,
    /// Pending import parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportParams>,
    /// On-demand rotations done so far (AWS allows 10 per key).
    #[serde(default)]
    pub on_demand_rotations: u32,
    /// The material a call on this in-memory record last opened (see [`crate::cache`]):
    /// never stored, and not carried over to a clone.
    #[serde(skip)]
    pub(crate) opened: crate::cache::OpenedMemo,
}

impl KeyRecord {
    /// A new customer managed key of `account` in `region` with a fresh key id, without key
    /// material (see `Kms::add_material`): Enabled, or PendingImport for origin `EXTERNAL`.
    pub fn new(
        account: &str,
        region: &str,
        created: u64,
        (key_spec, key_usage, origin): (KeySpec, KeyUsage, &str),
        policy: String,
    ) -> Self {
        let key_id = portcullis_core::id::request_id();
        Self {
            arn: crate::key_arn(region, account, &format!("key/{key_id}")),
            key_id,
            account: account.to_owned(),
            region: region.to_owned(),
            created,
            description: String::new(),
            key_spec,
            key_usage,
            origin: origin.to_owned(),
            key_manager: "CUSTOMER".to_owned(),
            state: if origin == "EXTERNAL" {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            deletion_date: None,
            pending_window_days: None,
            policy,
            tags: BTreeMap::new(),
            rotation_period_days: None,
            next_rotation: None,
            materials: Vec::new(),
            expiration_model: None,
            valid_to: None,
            material_fingerprint: None,
            import: None,
            on_demand_rotations: 0,
            opened: crate::cache::OpenedMemo::default(),
        }
    }

    /// The current material version.
    pub fn current(&self) -> Option<&Material> {
        self.materials.last()
    }

    /// A material version by number.
    pub fn material(&self, version: u32) -> Option<&Material> {
        self.materials.iter().find(|m| m.version == version)
    }

    /// The earliest time periodic work falls due for this key.
    pub fn due_at(&self) -> Option<u64> {
        let mut due: Option<u64> = None;
        let mut consider = |t: Option<u64>| {
            if let Some(t) = t {
                due = Some(due.map_or(t, |d| d.min(t)));
            }
        };
        if self.state == KeyState::PendingDeletion {
            consider(self.deletion_date);
        }
        // AWS rotates only enabled keys; EnableKey writes the key again, which puts a
        // rotation that fell due meanwhile back in the index.
        if self.rotation_period_days.is_some() && self.state == KeyState::Enabled {
            consider(self.next_rotation);
        }
        if self.expiration_model.as_deref() == Some("KEY_MATERIAL_EXPIRES")
            && !self.materials.is_empty()
        {
            consider(self.valid_to);
        }
        due
    }

    /// Ops that write this key (creating it when `version` is `None`) and its due-index entry.
    pub fn write_ops(&self, version: Option<i64>) -> Result<Vec<WriteOp>, KmsError> {
        let value = serde_json::to_value(self).map_err(|e| KmsError::Corrupt(e.to_string()))?;
        let pre = version.map_or(Precondition::Absent, Precondition::Version);
        let due = match self.due_at() {
            Some(at) => WriteOp::put(
                DUE,
                "",
                &self.key_id,
                serde_json::json!({"account": self.account, "at": at}),
                Precondition::Any,
            ),
            None => WriteOp::delete(DUE, "", &self.key_id, Precondition::Any),
        };
        Ok(vec![
            WriteOp::put(KEY, &self.account, &self.key_id, value, pre),
            due,
        ])
    }
}

/// An alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    /// `alias/name`.
    pub name: String,
    /// The key it points at.
    pub target_key_id: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// Seconds since the epoch.
    pub updated: u64,
}

/// A grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    /// 64 hex characters.
    pub grant_id: String,
    /// The key.
    pub key_id: String,
    /// Optional name (CreateGrant is idempotent by name and parameters).
    #[serde(default)]
    pub name: Option<String>,
    /// The principal the grant is for.
    pub grantee: String,
    /// Who may retire it.
    #[serde(default)]
    pub retiring: Option<String>,
    /// Granted operations.
    pub operations: Vec<String>,
    /// `EncryptionContextEquals`.
    #[serde(default)]
    pub context_equals: Option<BTreeMap<String, String>>,
    /// `EncryptionContextSubset`.
    #[serde(default)]
    pub context_subset: Option<BTreeMap<String, String>>,
    /// The account that created it.
    pub issuing_account: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// The token returned at creation.
    pub token: String,
}

/// Reads a stored document.
pub fn decode<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, KmsError> {
    serde_json::from_value(item.value.clone())
        .map_err(|e| KmsError::Corrupt(format!("{}/{}: {e}", item.kind, item.id)))
}

/// All items of a collection with an id prefix.
pub async fn list_all(
    store: &dyn Store,
    kind: &str,
    account: &str,
    prefix: &str,
) -> Result<Vec<Item>, KmsError> {
    let page = store
        .list(ListQuery {
            kind,
            account,
            id_prefix: prefix,
            start_after: None,
            limit: 0,
        })
        .await?;
    Ok(page.items)
}

/// Base64 (standard alphabet), as JSON 1.1 carries blobs.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads base64.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The request's input members. The server front has validated the input against the model
/// (types, lengths, enums); these accessors still never panic on anything else.
pub struct Input<'a>(pub &'a Value);

impl<'a> Input<'a> {
    /// An optional string member.
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// A required string member; missing is AWS's "null" validation message.
    pub fn req(&self, name: &str) -> Result<&'a str, KmsError> {
        self.str(name).ok_or_else(|| {
            let field = lower_first(name);
            KmsError::Validation(format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
            ))
        })
    }

    /// An optional blob member (base64 in JSON).
    pub fn blob(&self, name: &str) -> Result<Option<Vec<u8>>, KmsError> {
        match self.str(name) {
            None => Ok(None),
            Some(text) => unb64(text).map(Some).ok_or_else(|| {
                KmsError::Validation(format!(
                    "Value at '{}' is not valid base64.",
                    lower_first(name)
                ))
            }),
        }
    }

    /// A required blob member.
    pub fn req_blob(&self, name: &str) -> Result<Vec<u8>, KmsError> {
        self.req(name)?;
        self.blob(name)?.ok_or_else(|| {
            KmsError::Validation(format!("Value at '{}' is missing.", lower_first(name)))
        })
    }

    /// An optional integer member.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }

    /// An optional boolean member.
    pub fn bool(&self, name: &str) -> bool {
        self.0.get(name).and_then(Value::as_bool).unwrap_or(false)
    }

    /// An optional list of strings.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An optional string-to-string map (the encryption context).
    pub fn map(&self, name: &str) -> BTreeMap<String, String> {
        self.0
            .get(name)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One page of a list output: `Limit` (1 to 1000, default `default_limit`) entries after
/// `Marker` (the sort key of the last entry returned before). Returns the entries, and the
/// next marker when truncated.
pub fn paginate<T>(
    mut entries: Vec<(String, T)>,
    input: &Input<'_>,
    default_limit: usize,
) -> Result<(Vec<T>, Option<String>), KmsError> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let limit = match input.int("Limit") {
        Some(n) if (1..=1000).contains(&n) => usize::try_from(n).unwrap_or(default_limit),
        Some(n) => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
            )));
        }
        None => default_limit,
    };
    let start = match input.str("Marker") {
        None => 0,
        Some(marker) => {
            let after = unb64(marker)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| KmsError::InvalidMarker("Invalid marker".to_owned()))?;
            entries
                .iter()
                .position(|(k, _)| *k > after)
                .unwrap_or(entries.len())
        }
    };
    let total = entries.len();
    let mut page: Vec<(String, T)> = entries.into_iter().skip(start).take(limit).collect();
    let next = if start + page.len() < total {
        page.last().map(|(k, _)| b64(k.as_bytes()))
    } else {
        None
    };
    Ok((page.drain(..).map(|(_, v)| v).collect(), next))
}

/// Sets member `name` of a JSON object (outputs are always objects; anything else is left
/// alone).
pub fn set(out: &mut Value, name: &str, value: impl Into<Value>) {
    if let Some(map) = out.as_object_mut() {
        map.insert(name.to_owned(), value.into());
    }
}

/// Adds `Truncated` (and `NextMarker`) to a list output.
pub fn with_marker(mut out: Value, next: Option<String>) -> Value {
    if let Some(map) = out.as_object_mut() {
        map.insert("Truncated".to_owned(), Value::Bool(next.is_some()));
        if let Some(next) = next {
            map.insert("NextMarker".to_owned(), Value::String(next));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_walks_every_entry_once() {
        let entries: Vec<(String, u32)> = (0..7).map(|i| (format!("k{i}"), i)).collect();
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut input = serde_json::json!({"Limit": 3});
            if let Some(m) = &marker {
                input["Marker"] = Value::String(m.clone());
            }
            let (page, next) = paginate(entries.clone(), &Input(&input), 100).unwrap();
            seen.extend(page);
            match next {
                Some(n) => marker = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        let bad = serde_json::json!({"Marker": "!!"});
        assert!(matches!(
            paginate(entries, &Input(&bad), 100),
            Err(KmsError::InvalidMarker(_))
        ));
    }

    #[test]
    fn missing_member_message() {
        let v = serde_json::json!({});
        let err = Input(&v).req("KeyId").unwrap_err();
        assert!(err.to_string().contains("Value null at 'keyId'"));
    }
}
