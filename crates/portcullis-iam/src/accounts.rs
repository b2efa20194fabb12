//! Accounts and their root users.
//!
//! The first start of a server creates the management account and a root access key; later
//! starts find them again. In dev mode, accounts are also created on first use.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use portcullis_core::{AccountId, Secret, id, iso8601};
use portcullis_store::{MasterKey, Precondition, Store, StoreError, WriteOp};

use crate::IamError;
use crate::keys::{self, AccessKeyRecord, KeyOwner};

/// Store kind of account records (account = id = the account id).
pub const KIND: &str = "account";
/// Store kind of server-wide settings; `META_MANAGEMENT` names the management account.
const META_KIND: &str = "meta";
const META_MANAGEMENT: &str = "management-account";

/// An account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// The 12-digit id.
    pub id: AccountId,
    /// A display name.
    pub name: String,
    /// ISO 8601 creation time.
    pub created: String,
}

/// What the server's first start produced, or found from an earlier start.
#[derive(Debug)]
pub struct Bootstrap {
    /// The management account.
    pub account: AccountId,
    /// The root user's access key, only when it was created by this call: it is shown once.
    pub new_root_key: Option<(String, Secret<String>)>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManagementMeta {
    account_id: AccountId,
}

/// Account management over the store.
pub struct Accounts {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
}

impl Accounts {
    /// Accounts kept in `store`, secrets sealed under `master`.
    pub fn new(store: Arc<dyn Store>, master: Arc<MasterKey>) -> Self {
        Self { store, master }
    }

    /// Reads an account.
    pub async fn get(&self, account: &AccountId) -> Result<Option<Account>, IamError> {
        let Some(item) = self
            .store
            .get(KIND, account.as_str(), account.as_str())
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_value(item.value)
            .map(Some)
            .map_err(|e| IamError::corrupt(KIND, account.as_str(), e))
    }

    /// Creates `account` unless it exists. Two concurrent callers both succeed.
    pub async fn ensure(
        &self,
        account: &AccountId,
        name: &str,
        now: SystemTime,
    ) -> Result<(), IamError> {
        if self.get(account).await?.is_some() {
            return Ok(());
        }
        match self
            .store
            .write(vec![account_put(account, name, now)?])
            .await
        {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Finds the management account, or creates it with a root access key on first start.
    ///
    /// `requested` fixes the account id on first start; on later starts it must agree with the
    /// stored one, or the call fails rather than silently serve a different account.
    pub async fn bootstrap(
        &self,
        requested: Option<&AccountId>,
        now: SystemTime,
    ) -> Result<Bootstrap, IamError> {
        if let Some(item) = self.store.get(META_KIND, "", META_MANAGEMENT).await? {
            let meta: ManagementMeta = serde_json::from_value(item.value)
                .map_err(|e| IamError::corrupt(META_KIND, META_MANAGEMENT, e))?;
            if let Some(requested) = requested
                && *requested != meta.account_id
            {
                return Err(IamError::AccountMismatch {
                    configured: requested.clone(),
                    stored: meta.account_id,
                });
            }
            return Ok(Bootstrap {
                account: meta.account_id,
                new_root_key: None,
            });
        }
        let account = requested.cloned().unwrap_or_else(AccountId::random);
        let key_id = id::access_key_id(id::prefix::ACCESS_KEY);
        let secret = Secret::new(id::secret_access_key());
        let key = AccessKeyRecord::seal(
            &self.master,
            key_id.clone(),
            account.clone(),
            KeyOwner::Root,
            iso8601(now),
            &secret,
        )?;
        let meta = ManagementMeta {
            account_id: account.clone(),
        };
        self.store
            .write(vec![
                account_put(&account, "management", now)?,
                WriteOp::Put {
                    kind: keys::KIND.to_owned(),
                    account: String::new(),
                    id: key_id.clone(),
                    value: to_value(&key)?,
                    precondition: Precondition::Absent,
                },
                WriteOp::Put {
                    kind: META_KIND.to_owned(),
                    account: String::new(),
                    id: META_MANAGEMENT.to_owned(),
                    value: to_value(&meta)?,
                    precondition: Precondition::Absent,
                },
            ])
            .await?;
        Ok(Bootstrap {
            account,
            new_root_key: Some((key_id, secret)),
        })
    }
}

fn account_put(account: &AccountId, name: &str, now: SystemTime) -> Result<WriteOp, IamError> {
    let record = Account {
        id: account.clone(),
        name: name.to_owned(),
        created: iso8601(now),
    };
    Ok(WriteOp::Put {
        kind: KIND.to_owned(),
        account: account.as_str().to_owned(),
        id: account.as_str().to_owned(),
        value: to_value(&record)?,
        precondition: Precondition::Absent,
    })
}

pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value, IamError> {
    serde_json::to_value(value).map_err(|e| IamError::corrupt("serialize", "", e))
}
