//! Access keys: the long-term credentials that sign requests.
//!
//! Access key ids are global (AWS resolves the account from the key id alone), so records live
//! under the store kind [`KIND`] with an empty account. The secret access key is stored sealed
//! under the master key, bound to its key id, and is never written anywhere in clear.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use portcullis_core::{AccountId, Arn, Principal, PrincipalKind, Secret};
use portcullis_store::MasterKey;

use crate::IamError;

/// Store kind of access key records.
pub const KIND: &str = "iam.access-key";

/// Store kind of the ids of deleted keys and purged sessions (account "", id = the key id).
/// Dev mode lets keys Portcullis never issued act as an account's root user; a key it did issue
/// must never fall back to that after its deletion, so deletion leaves this mark.
pub const RETIRED_KIND: &str = "iam.access-key-retired";

/// The write that marks `access_key_id` as deleted; part of the same batch as the deletion.
pub fn retire(access_key_id: &str) -> portcullis_store::WriteOp {
    portcullis_store::WriteOp::Put {
        kind: RETIRED_KIND.to_owned(),
        account: String::new(),
        id: access_key_id.to_owned(),
        value: serde_json::json!({}),
        precondition: portcullis_store::Precondition::Any,
    }
}

/// Whom an access key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum KeyOwner {
    /// The account's root user.
    Root,
    /// An IAM user.
    User {
        /// The user's name.
        #[serde(rename = "UserName")]
        name: String,
        /// The user's unique id (`AIDA...`).
        #[serde(rename = "UserId")]
        user_id: String,
        /// The user's path, such as `/` or `/division/`.
        #[serde(rename = "Path")]
        path: String,
    },
}

/// Whether a key may sign requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    /// Signs requests.
    Active,
    /// Refused as if unknown (`InvalidClientTokenId`), as AWS does.
    Inactive,
}

/// An access key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyRecord {
    /// `AKIA...`.
    pub access_key_id: String,
    /// The owning account.
    pub account: AccountId,
    /// Root or an IAM user.
    pub owner: KeyOwner,
    /// Active or Inactive.
    pub status: KeyStatus,
    /// ISO 8601 creation time.
    pub create_date: String,
    /// The secret access key, sealed under the master key (base64).
    pub sealed_secret: String,
}

impl AccessKeyRecord {
    /// A record for `secret`, sealed under `master` and bound to `access_key_id`.
    pub fn seal(
        master: &MasterKey,
        access_key_id: String,
        account: AccountId,
        owner: KeyOwner,
        create_date: String,
        secret: &Secret<String>,
    ) -> Result<Self, IamError> {
        let sealed = master.seal(secret.expose().as_bytes(), aad(&access_key_id).as_bytes())?;
        Ok(Self {
            access_key_id,
            account,
            owner,
            status: KeyStatus::Active,
            create_date,
            sealed_secret: B64.encode(sealed),
        })
    }

    /// The secret access key in clear, for signature verification.
    pub fn secret(&self, master: &MasterKey) -> Result<Secret<String>, IamError> {
        let sealed = B64
            .decode(&self.sealed_secret)
            .map_err(|e| IamError::corrupt(KIND, &self.access_key_id, e))?;
        let plain = master.open(&sealed, aad(&self.access_key_id).as_bytes())?;
        let text = std::str::from_utf8(plain.expose())
            .map_err(|e| IamError::corrupt(KIND, &self.access_key_id, e))?;
        Ok(Secret::new(text.to_owned()))
    }

    /// The principal that this key authenticates.
    pub fn principal(&self) -> Principal {
        match &self.owner {
            KeyOwner::Root => Principal::root(self.account.clone(), self.access_key_id.clone()),
            KeyOwner::User {
                name,
                user_id,
                path,
            } => {
                let resource = format!("user{path}{name}");
                let arn = Arn::new(
                    portcullis_core::PARTITION,
                    "iam",
                    "",
                    self.account.as_str(),
                    &resource,
                );
                Principal {
                    account: self.account.clone(),
                    arn,
                    kind: PrincipalKind::IamUser,
                    user_id: user_id.clone(),
                    access_key_id: self.access_key_id.clone(),
                    mfa_authenticated: false,
                    mfa_authenticated_at: None,
                    token_issued_at: None,
                    tags: Default::default(),
                }
            }
        }
    }
}

fn aad(access_key_id: &str) -> String {
    format!("{KIND}/{access_key_id}")
}
