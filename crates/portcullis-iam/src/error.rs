//! The crate's one error type.

use portcullis_store::StoreError;

/// What can go wrong in account and credential management.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The store failed or refused a write.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored record could not be read back.
    #[error("corrupt record {kind}/{id}: {reason}")]
    Corrupt {
        /// The store kind of the record.
        kind: &'static str,
        /// The record id.
        id: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The configured management account differs from the one the data directory holds.
    #[error(
        "the data directory belongs to account {stored}, but account {configured} was configured"
    )]
    AccountMismatch {
        /// The account id from the configuration.
        configured: portcullis_core::AccountId,
        /// The account id in the store.
        stored: portcullis_core::AccountId,
    },
}

impl IamError {
    pub(crate) fn corrupt(kind: &'static str, id: &str, reason: impl ToString) -> Self {
        Self::Corrupt {
            kind,
            id: id.to_owned(),
            reason: reason.to_string(),
        }
    }
}
