//! Durable state for Portcullis.
//!
//! This crate owns everything that outlives a request:
//! - the [`Store`] trait, a small transactional document store in which every service (IAM, KMS,
//!   Organizations, ...) keeps its entities as JSON [`Item`]s addressed by `(kind, account, id)`,
//!   with optimistic concurrency through [`Precondition`]s and atomic multi-item [`Store::write`]s;
//! - its two backends: SQLite (embedded default, [`sqlite`]) and PostgreSQL (scale-out,
//!   [`postgres`]), each with versioned migrations in a `schema_migrations` table;
//! - the audit log: CloudTrail records appended in a hash chain keyed with an HMAC key
//!   ([`audit`]), so that an edited, deleted or inserted record is found by
//!   [`Store::verify_audit`], stored one row per append ([`segment`]);
//! - secrets at rest: the [`MasterKey`] that seals secret access keys, KMS key material and TOTP
//!   seeds with AES-256-GCM ([`key`]).
//!
//! Nothing here knows AWS semantics: callers name their collections (`"iam.user"`) and own their
//! documents' shapes.

pub mod audit;
pub mod key;
pub mod postgres;
pub mod segment;
pub mod sqlite;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use portcullis_core::Secret;

pub use audit::{AuditFields, AuditQuery, AuditRecord, AuditVerification, NewAuditRecord};
pub use key::{MasterKey, place_aad};

/// A boxed, sendable future: the return type of every [`Store`] method, so that the trait stays
/// object-safe (`Arc<dyn Store>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's precondition did not hold; nothing in the batch was applied.
    #[error("conflict on write op {op} ({kind}/{account}/{id}): {reason}")]
    Conflict {
        /// Index of the failing op in the batch given to [`Store::write`].
        op: usize,
        /// The op's item kind.
        kind: String,
        /// The op's item account.
        account: String,
        /// The op's item id.
        id: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// The caller passed something the store cannot hold (e.g. a time before 1970).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database could not be reached or answered with an error.
    #[error("{backend} error: {message}")]
    Backend {
        /// `"sqlite"` or `"postgres"`.
        backend: &'static str,
        /// The driver's message (never contains item values or secrets).
        message: String,
    },
    /// The database holds something this version cannot read (bad JSON, a newer schema, ...).
    #[error("corrupt or incompatible store: {0}")]
    Corrupt(String),
    /// The store was closed with [`Store::close`].
    #[error("the store is closed")]
    Closed,
    /// The master key file could not be used.
    #[error("master key {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A master key that is not 32 bytes (raw or base64).
    #[error("invalid master key: {0}")]
    InvalidKey(String),
    /// A sealed secret could not be opened: wrong key, wrong place (aad) or tampered bytes.
    #[error("sealed secret could not be opened (wrong key, wrong place or tampered)")]
    Unseal,
    /// The system's cryptography failed (random source, cipher setup).
    #[error("cryptography failure: {0}")]
    Crypto(&'static str),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend {
            backend: "sqlite",
            message: e.to_string(),
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // `Display` of a database error gives severity, code and message; `as_db_error` keeps
        // the detail (which can quote row values) out of the text.
        let message = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        StoreError::Backend {
            backend: "postgres",
            message,
        }
    }
}

/// An entity. `kind` names the collection (`"iam.user"`, `"iam.access-key"`, ...), `account` is
/// the 12-digit owner (or `""` for global items), `id` is unique within `(kind, account)` and is
/// the sort key for listing. `value` is the JSON document; `version` starts at 1 and increments
/// on each put.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The collection.
    pub kind: String,
    /// The owning account, or `""`.
    pub account: String,
    /// The key within `(kind, account)`.
    pub id: String,
    /// The document.
    pub value: serde_json::Value,
    /// 1 after the first put, +1 on each later put.
    pub version: i64,
}

/// What must be true of an item before a write op applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing: a put creates or replaces, a delete of a missing item does nothing.
    Any,
    /// The item must not exist (create-only).
    Absent,
    /// The item must exist at exactly this version (compare-and-swap).
    Version(i64),
    /// The item must exist, at any version.
    Exists,
}

/// One op of an atomic [`Store::write`].
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Create or replace an item; its version becomes 1 or the old version + 1.
    Put {
        /// The collection.
        kind: String,
        /// The owning account, or `""`.
        account: String,
        /// The key.
        id: String,
        /// The new document.
        value: serde_json::Value,
        /// Checked against the item as left by the earlier ops of the same batch.
        precondition: Precondition,
    },
    /// Delete an item. Deleting an absent item is no error unless the precondition asks for
    /// the item (`Exists`, `Version`); `Absent` is a check that the item is not there.
    Delete {
        /// The collection.
        kind: String,
        /// The owning account, or `""`.
        account: String,
        /// The key.
        id: String,
        /// Checked against the item as left by the earlier ops of the same batch.
        precondition: Precondition,
    },
}

impl WriteOp {
    /// A put.
    pub fn put(
        kind: impl Into<String>,
        account: impl Into<String>,
        id: impl Into<String>,
        value: serde_json::Value,
        precondition: Precondition,
    ) -> Self {
        WriteOp::Put {
            kind: kind.into(),
            account: account.into(),
            id: id.into(),
            value,
            precondition,
        }
    }

    /// A delete.
    pub fn delete(
        kind: impl Into<String>,
        account: impl Into<String>,
        id: impl Into<String>,
        precondition: Precondition,
    ) -> Self {
        WriteOp::Delete {
            kind: kind.into(),
            account: account.into(),
            id: id.into(),
            precondition,
        }
    }

    /// `(kind, account, id)` of the item the op touches.
    pub fn key(&self) -> (&str, &str, &str) {
        match self {
            WriteOp::Put {
                kind, account, id, ..
            }
            | WriteOp::Delete {
                kind, account, id, ..
            } => (kind, account, id),
        }
    }

    fn precondition(&self) -> Precondition {
        match self {
            WriteOp::Put { precondition, .. } | WriteOp::Delete { precondition, .. } => {
                *precondition
            }
        }
    }

    /// The conflict error for this op, at index `op` of its batch, given the version found
    /// (`None` when the item was absent).
    fn conflict(&self, op: usize, found: Option<i64>) -> StoreError {
        let (kind, account, id) = self.key();
        let expected = match self.precondition() {
            Precondition::Any => "any".to_owned(),
            Precondition::Absent => "absent".to_owned(),
            Precondition::Version(v) => format!("version {v}"),
            Precondition::Exists => "exists".to_owned(),
        };
        let found = match found {
            Some(v) => format!("version {v}"),
            None => "absent".to_owned(),
        };
        StoreError::Conflict {
            op,
            kind: kind.to_owned(),
            account: account.to_owned(),
            id: id.to_owned(),
            reason: format!("expected {expected}, found {found}"),
        }
    }
}

/// Whether `precondition` holds for an item currently at `found` (`None`: absent).
fn precondition_holds(precondition: Precondition, found: Option<i64>) -> bool {
    match precondition {
        Precondition::Any => true,
        Precondition::Absent => found.is_none(),
        Precondition::Version(v) => found == Some(v),
        Precondition::Exists => found.is_some(),
    }
}

/// A page request over one `(kind, account)` collection, in ascending byte order of `id`.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery<'a> {
    /// The collection.
    pub kind: &'a str,
    /// The owning account, or `""`.
    pub account: &'a str,
    /// Only ids starting with this (`""`: all).
    pub id_prefix: &'a str,
    /// Only ids strictly after this one (the previous page's `next`).
    pub start_after: Option<&'a str>,
    /// At most this many items; `0` means no limit.
    pub limit: usize,
}

impl<'a> ListQuery<'a> {
    /// Every item of `(kind, account)`, no paging.
    pub fn all(kind: &'a str, account: &'a str) -> Self {
        Self {
            kind,
            account,
            id_prefix: "",
            start_after: None,
            limit: 0,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The items, by ascending id.
    pub items: Vec<Item>,
    /// The last id returned when more items remain; pass it as `start_after` for the next page.
    pub next: Option<String>,
}

/// The durable state of Portcullis: entities and the audit log. See the crate docs.
pub trait Store: Send + Sync + 'static {
    /// One item, or `None`.
    fn get<'a>(
        &'a self,
        kind: &'a str,
        account: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Item>, StoreError>>;

    /// A page of items; see [`ListQuery`].
    fn list<'a>(&'a self, query: ListQuery<'a>) -> BoxFuture<'a, Result<Page, StoreError>>;

    /// Applies every op atomically, or none: a failed precondition gives
    /// [`StoreError::Conflict`] naming the op. Durable when it returns `Ok` (SQLite WAL with
    /// `synchronous=FULL`; PostgreSQL commit).
    fn write<'a>(&'a self, ops: Vec<WriteOp>) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Appends audit records in one transaction, hash-chained (see [`audit`]). The records
    /// are shared so that a caller may retry the same batch without copying it.
    fn append_audit<'a>(
        &'a self,
        records: Arc<[NewAuditRecord]>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Audit records matching the query, newest first.
    fn query_audit<'a>(
        &'a self,
        query: AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<AuditRecord>, StoreError>>;

    /// Walks the whole chain and reports the first record whose hash or link is wrong.
    fn verify_audit<'a>(&'a self) -> BoxFuture<'a, Result<AuditVerification, StoreError>>;

    /// `Ok` when the database answers.
    fn health<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Dev mode: deletes every item (not the migrations, not the audit records).
    fn reset<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Flushes and closes cleanly (graceful shutdown). Later calls give [`StoreError::Closed`].
    fn close<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file (created, with mode 0600, if absent).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A private in-memory SQLite database (dev mode, tests); gone when the store is dropped.
    SqliteInMemory,
    /// A PostgreSQL database, e.g. `postgres://user@host:5432/db`.
    Postgres {
        /// A libpq-style URL or key=value connection string.
        url: String,
    },
}

impl StoreLocation {
    /// Reads a `--store` value: `postgres://...` / `postgresql://...`, `sqlite::memory:`, or
    /// `sqlite://PATH` / a plain path for a SQLite file.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            StoreLocation::Postgres {
                url: text.to_owned(),
            }
        } else if text == "sqlite::memory:" || text == ":memory:" {
            StoreLocation::SqliteInMemory
        } else {
            let path = text.strip_prefix("sqlite://").unwrap_or(text);
            StoreLocation::Sqlite {
                path: PathBuf::from(path),
            }
        }
    }
}

/// Opens (creating and migrating as needed) the store at `location`. `audit_key` keys the audit
/// chain's HMAC; pass `MasterKey::derive("audit-chain")`.
pub async fn open(
    location: &StoreLocation,
    audit_key: Secret<Vec<u8>>,
) -> Result<Arc<dyn Store>, StoreError> {
    open_as(location, audit_key, false).await
}

/// [`open`] for the server, the store's one writer: an SQLite file is claimed for this
/// process (a second server on it is refused) and items read from it are kept in memory.
pub async fn open_owned(
    location: &StoreLocation,
    audit_key: Secret<Vec<u8>>,
) -> Result<Arc<dyn Store>, StoreError> {
    open_as(location, audit_key, true).await
}

async fn open_as(
    location: &StoreLocation,
    audit_key: Secret<Vec<u8>>,
    owned: bool,
) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        StoreLocation::Sqlite { path } => {
            let store = sqlite::SqliteStore::open_file(path, audit_key, owned).await?;
            Ok(Arc::new(store))
        }
        StoreLocation::SqliteInMemory => {
            let store = sqlite::SqliteStore::open_in_memory(audit_key).await?;
            Ok(Arc::new(store))
        }
        StoreLocation::Postgres { url } => {
            let store = postgres::PostgresStore::connect(url, audit_key).await?;
            Ok(Arc::new(store))
        }
    }
}

/// Microseconds since the Unix epoch: how both backends keep audit times (and what the chain
/// hashes), so that a record reads back exactly as it was hashed.
fn to_micros(at: SystemTime) -> Result<i64, StoreError> {
    let d = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| StoreError::InvalidInput("time before 1970".to_owned()))?;
    i64::try_from(d.as_micros()).map_err(|_| StoreError::InvalidInput("time too far".to_owned()))
}

fn from_micros(micros: i64) -> SystemTime {
    let micros = u64::try_from(micros).unwrap_or(0);
    SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(micros)
}

/// The effective row limit for a `limit` where 0 means "no limit".
fn effective_limit(limit: usize) -> i64 {
    if limit == 0 {
        i64::MAX
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

/// Cuts a listing fetched with one extra row down to `limit`, setting `next` when more remain.
fn page(mut items: Vec<Item>, limit: usize) -> Page {
    if limit != 0 && items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(|item| item.id.clone());
        Page { items, next }
    } else {
        Page { items, next: None }
    }
}

/// An item's document as stored: compact JSON text, which reads back to an equal value.
fn value_text(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::InvalidInput(format!("item value: {e}")))
}

/// The least string greater than every string that starts with `prefix` (`None`: no bound, for
/// `""` or a prefix of only U+10FFFF). Byte order of UTF-8 is code point order, which is the
/// order both backends compare ids in (SQLite `BINARY`, PostgreSQL `COLLATE "C"`), so
/// `prefix <= id < bound` selects exactly the ids starting with `prefix` and uses the index.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        while next <= u32::from(char::MAX) {
            if let Some(c) = char::from_u32(next) {
                chars.push(c);
                return Some(chars.into_iter().collect());
            }
            // Surrogates are not chars: skip to the first one after them.
            next += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions() {
        assert!(precondition_holds(Precondition::Any, None));
        assert!(precondition_holds(Precondition::Any, Some(3)));
        assert!(precondition_holds(Precondition::Absent, None));
        assert!(!precondition_holds(Precondition::Absent, Some(1)));
        assert!(precondition_holds(Precondition::Version(2), Some(2)));
        assert!(!precondition_holds(Precondition::Version(2), Some(3)));
        assert!(!precondition_holds(Precondition::Version(2), None));
        assert!(precondition_holds(Precondition::Exists, Some(9)));
        assert!(!precondition_holds(Precondition::Exists, None));
    }

    #[test]
    fn location_parsing() {
        assert_eq!(
            StoreLocation::parse("postgres://u@h/db"),
            StoreLocation::Postgres {
                url: "postgres://u@h/db".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("sqlite::memory:"),
            StoreLocation::SqliteInMemory
        );
        assert_eq!(
            StoreLocation::parse("sqlite:///var/lib/p.db"),
            StoreLocation::Sqlite {
                path: "/var/lib/p.db".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("data/p.db"),
            StoreLocation::Sqlite {
                path: "data/p.db".into()
            }
        );
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
    }

    proptest::proptest! {
        #[test]
        fn prefix_bound_selects_exactly_the_prefixed(
            prefix in "[a\u{D7FF}\u{E000}\u{10FFFF}\\PC]{0,3}",
            tail in "[a\u{D7FF}\u{E000}\u{10FFFF}\\PC]{0,3}",
            other in "[a\u{D7FF}\u{E000}\u{10FFFF}\\PC]{0,5}",
            extend in proptest::bool::ANY,
        ) {
            // Half the ids start with the prefix, half are arbitrary.
            let id = if extend { format!("{prefix}{tail}") } else { other };
            let inside = id.as_str() >= prefix.as_str()
                && prefix_upper_bound(&prefix).is_none_or(|b| id.as_str() < b.as_str());
            proptest::prop_assert_eq!(inside, id.starts_with(&prefix));
        }
    }

    #[test]
    fn micros_round_trip() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_764_358_179_123_456);
        assert_eq!(from_micros(to_micros(t).unwrap()), t);
        assert!(to_micros(SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(1)).is_err());
    }
}
