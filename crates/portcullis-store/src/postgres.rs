//! The scale-out backend: PostgreSQL through tokio-postgres.
//!
//! Several Portcullis nodes may share one database, so everything that must be serial is
//! serialised by the database, not by this process:
//! - a write locks the rows it reads (`SELECT ... FOR UPDATE`) before checking preconditions;
//!   two creators of the same absent item race on the primary key, and the loser's whole batch
//!   is retried, where it then sees the item and reports the conflict (or, for
//!   [`crate::Precondition::Any`], replaces it). Deadlocks and serialization failures are
//!   retried the same way;
//! - audit appends lock the one chain-head row (`SELECT ... FOR UPDATE`), so concurrent
//!   appenders from all nodes extend one chain;
//! - migrations run under a transaction-scoped advisory lock, so nodes starting together
//!   migrate once.
//!
//! Ids compare with `COLLATE "C"` (bytewise), the same order as SQLite's `BINARY`.
//!
//! The connection pool is a small one of our own: idle clients in a list, a semaphore bounding
//! how many are in use, a closed client dropped rather than returned. TLS is not supported yet
//! (connections use `NoTls`; a URL with `sslmode=require` is refused by the driver).

use std::ops::{Deref, DerefMut};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_core::Secret;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, IsolationLevel, NoTls, Row};

use crate::audit::ChainHasher;
use crate::segment::{
    self, EncodedSegment, LogConverter, SegmentQuery, SegmentSummary, SegmentVerifier,
};
use crate::{
    AuditQuery, AuditRecord, AuditVerification, BoxFuture, Item, ListQuery, NewAuditRecord, Page,
    Store, StoreError, WriteOp, precondition_holds,
};

/// Connections per Portcullis node.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How often a batch that lost a race (unique violation, deadlock, serialization failure) is
/// tried again before the error is returned.
const RETRIES: usize = 5;

/// How many audit segments [`Store::verify_audit`] reads per round trip (a segment holds at
/// most about 1 MiB of records).
const VERIFY_SEGMENTS: i64 = 16;

/// How many segment summaries a query reads per round trip.
const SUMMARY_PAGE: i64 = 256;

/// How many `audit_log` rows migration 3 reads per round trip.
const CONVERT_BATCH: i64 = 1000;

const INSERT_SEGMENT: &str = "INSERT INTO audit_segment
    (first_seq, last_seq, min_time, max_time, filter, records) VALUES ($1, $2, $3, $4, $5, $6)";

/// The key of the advisory lock held while migrating (any constant unique to Portcullis).
const MIGRATION_LOCK: i64 = 0x706f_7274_6375_6c6c;

/// Versioned schema; each entry runs once, in order, recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "items and audit log",
        r#"CREATE TABLE items (
        kind TEXT COLLATE "C" NOT NULL,
        account TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        version BIGINT NOT NULL,
        PRIMARY KEY (kind, account, id)
    );
    CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        event_id TEXT NOT NULL,
        event_time BIGINT NOT NULL,
        account TEXT NOT NULL,
        event_source TEXT NOT NULL,
        event_name TEXT NOT NULL,
        read_only BOOLEAN NOT NULL,
        principal_arn TEXT,
        username TEXT,
        access_key_id TEXT,
        error_code TEXT,
        body TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_log_account ON audit_log (account, seq);
    CREATE INDEX audit_log_event_time ON audit_log (event_time);
    CREATE INDEX audit_log_event_name ON audit_log (event_name, seq);
    CREATE INDEX audit_log_event_id ON audit_log (event_id);
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    );
    INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');"#,
    ),
    (
        2,
        "audit event ids found through their time",
        // Event ids are time-ordered (UUID v7, their first 48 bits the event time's
        // milliseconds), so a lookup by id reads the event-time index over that millisecond
        // (see `audit::audit_select`); a separate index of 36-character ids cost every
        // appended record a string-keyed insert.
        "DROP INDEX audit_log_event_id;",
    ),
    (
        3,
        "audit records stored one segment per append",
        // See `crate::segment`; the rows of `audit_log` are converted by `convert_audit_log`
        // in the same transaction, which then drops it.
        "CREATE TABLE audit_segment (
        first_seq BIGINT PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        min_time BIGINT NOT NULL,
        max_time BIGINT NOT NULL,
        filter BYTEA NOT NULL,
        records BYTEA NOT NULL
    );
    CREATE INDEX audit_segment_max_time ON audit_segment (max_time, first_seq);
    CREATE INDEX audit_segment_min_time ON audit_segment (min_time, last_seq);",
    ),
];

/// The version whose SQL is followed by [`convert_audit_log`].
const SEGMENTS_VERSION: i64 = 3;

/// Migration 3's step: the `audit_log` rows become segments, then the table goes.
async fn convert_audit_log(tx: &tokio_postgres::Transaction<'_>) -> Result<(), StoreError> {
    let select = tx
        .prepare(
            "SELECT seq, event_id, event_time, account, event_source, event_name, read_only,
                principal_arn, username, access_key_id, error_code, body, hash
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .await?;
    let insert = tx.prepare(INSERT_SEGMENT).await?;
    let put = |s: EncodedSegment| {
        let insert = &insert;
        async move {
            tx.execute(
                insert,
                &[
                    &s.first_seq,
                    &s.last_seq,
                    &s.min_time,
                    &s.max_time,
                    &s.filter,
                    &s.records,
                ],
            )
            .await
        }
    };
    let mut converter = LogConverter::default();
    let mut after = i64::MIN;
    loop {
        let rows = tx.query(&select, &[&after, &CONVERT_BATCH]).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let record = log_row(row)?;
            after = record.seq;
            if let Some(segment) = converter.push(record)? {
                put(segment).await?;
            }
        }
    }
    if let Some(segment) = converter.flush()? {
        put(segment).await?;
    }
    tx.batch_execute("DROP TABLE audit_log").await?;
    Ok(())
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    hasher: ChainHasher,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config can hold a password: print where, not how.
        f.debug_struct("PostgresStore")
            .field("hosts", &self.pool.config.get_hosts())
            .field("dbname", &self.pool.config.get_dbname())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with [`DEFAULT_POOL_SIZE`] connections and migrates.
    pub async fn connect(url: &str, audit_key: Secret<Vec<u8>>) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(url, audit_key, DEFAULT_POOL_SIZE).await
    }

    /// Connects with at most `pool_size` connections and migrates.
    pub async fn connect_with_pool_size(
        url: &str,
        audit_key: Secret<Vec<u8>>,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        let mut config = Config::from_str(url).map_err(|e| StoreError::Backend {
            backend: "postgres",
            message: format!("bad connection string: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("portcullis");
        }
        let store = Self {
            pool: Pool {
                config,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(pool_size.max(1)),
                size: pool_size.max(1),
                closed: AtomicBool::new(false),
            },
            hasher: ChainHasher::new(audit_key.expose()),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await?
            .try_get(0)?;
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            return Err(StoreError::Corrupt(format!(
                "database schema version {current} is newer than this Portcullis knows ({latest})"
            )));
        }
        for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql).await?;
            if version == SEGMENTS_VERSION {
                convert_audit_log(&tx).await?;
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, &name],
            )
            .await?;
            tracing::info!(version, name, "applied PostgreSQL migration");
        }
        tx.commit().await?;
        Ok(())
    }

    /// One attempt at a write batch. `Err(Ok(_))` is final; `Err(Err(_))` is a driver error
    /// that may be worth a retry.
    async fn try_write(
        &self,
        ops: &[WriteOp],
    ) -> Result<(), Result<StoreError, tokio_postgres::Error>> {
        let mut client = self.pool.get().await.map_err(Ok)?;
        let tx = client.transaction().await.map_err(Err)?;
        for (index, op) in ops.iter().enumerate() {
            let (kind, account, id) = op.key();
            let found: Option<i64> = tx
                .query_opt(
                    "SELECT version FROM items
                     WHERE kind = $1 AND account = $2 AND id = $3 FOR UPDATE",
                    &[&kind, &account, &id],
                )
                .await
                .map_err(Err)?
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(Err)?;
            if !precondition_holds(op.precondition(), found) {
                return Err(Ok(op.conflict(index, found)));
            }
            match (op, found) {
                (WriteOp::Put { value, .. }, None) => {
                    let text = crate::value_text(value).map_err(Ok)?;
                    tx.execute(
                        "INSERT INTO items (kind, account, id, value, version)
                         VALUES ($1, $2, $3, $4, 1)",
                        &[&kind, &account, &id, &text],
                    )
                    .await
                    .map_err(Err)?;
                }
                (WriteOp::Put { value, .. }, Some(version)) => {
                    let text = crate::value_text(value).map_err(Ok)?;
                    let next = version.saturating_add(1);
                    tx.execute(
                        "UPDATE items SET value = $4, version = $5
                         WHERE kind = $1 AND account = $2 AND id = $3",
                        &[&kind, &account, &id, &text, &next],
                    )
                    .await
                    .map_err(Err)?;
                }
                (WriteOp::Delete { .. }, Some(_)) => {
                    tx.execute(
                        "DELETE FROM items WHERE kind = $1 AND account = $2 AND id = $3",
                        &[&kind, &account, &id],
                    )
                    .await
                    .map_err(Err)?;
                }
                (WriteOp::Delete { .. }, None) => {}
            }
        }
        tx.commit().await.map_err(Err)
    }
}

/// Errors that mean "another transaction got there first; the same batch may succeed now".
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl Store for PostgresStore {
    fn get<'a>(
        &'a self,
        kind: &'a str,
        account: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Item>, StoreError>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_opt(
                    "SELECT value, version FROM items WHERE kind = $1 AND account = $2 AND id = $3",
                    &[&kind, &account, &id],
                )
                .await?;
            row.map(|row| {
                let value: String = row.try_get(0)?;
                Ok(Item {
                    kind: kind.to_owned(),
                    account: account.to_owned(),
                    id: id.to_owned(),
                    value: parse_value(&value)?,
                    version: row.try_get(1)?,
                })
            })
            .transpose()
        })
    }

    fn list<'a>(&'a self, query: ListQuery<'a>) -> BoxFuture<'a, Result<Page, StoreError>> {
        Box::pin(async move {
            let upper = crate::prefix_upper_bound(query.id_prefix);
            let fetch = crate::effective_limit(query.limit).saturating_add(1);
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT id, value, version FROM items
                     WHERE kind = $1 AND account = $2 AND id >= $3
                       AND ($4::TEXT IS NULL OR id < $4) AND ($5::TEXT IS NULL OR id > $5)
                     ORDER BY id LIMIT $6",
                    &[
                        &query.kind,
                        &query.account,
                        &query.id_prefix,
                        &upper,
                        &query.start_after,
                        &fetch,
                    ],
                )
                .await?;
            let mut items = Vec::with_capacity(rows.len());
            for row in rows {
                let value: String = row.try_get(1)?;
                items.push(Item {
                    kind: query.kind.to_owned(),
                    account: query.account.to_owned(),
                    id: row.try_get(0)?,
                    value: parse_value(&value)?,
                    version: row.try_get(2)?,
                });
            }
            Ok(crate::page(items, query.limit))
        })
    }

    fn write<'a>(&'a self, ops: Vec<WriteOp>) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                match self.try_write(&ops).await {
                    Ok(()) => return Ok(()),
                    Err(Ok(e)) => return Err(e),
                    Err(Err(e)) if retryable(&e) && attempt < RETRIES => {
                        attempt += 1;
                        tracing::debug!(attempt, error = %e, "retrying a write batch");
                    }
                    Err(Err(e)) => return Err(e.into()),
                }
            }
        })
    }

    fn append_audit<'a>(
        &'a self,
        records: Arc<[NewAuditRecord]>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if records.is_empty() {
                return Ok(());
            }
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            // The row lock on the chain head serialises appenders across every node.
            let head = tx
                .query_one(
                    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                    &[],
                )
                .await?;
            let (head_seq, head_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
            let chained = segment::chain_segments(&self.hasher, head_seq, &head_hash, &records)?;
            let insert = tx.prepare(INSERT_SEGMENT).await?;
            for s in &chained.segments {
                tx.execute(
                    &insert,
                    &[
                        &s.first_seq,
                        &s.last_seq,
                        &s.min_time,
                        &s.max_time,
                        &s.filter,
                        &s.records,
                    ],
                )
                .await?;
            }
            tx.execute(
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
                &[&chained.head_seq, &chained.head_hash],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn query_audit<'a>(
        &'a self,
        query: AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<AuditRecord>, StoreError>> {
        Box::pin(async move {
            let plan = SegmentQuery::new(query)?;
            let mut out = Vec::new();
            if plan.matches_nothing() {
                return Ok(out);
            }
            let client = self.pool.get().await?;
            // As in SQLite: the time indexes bound the segments a time window can touch.
            let mut low = i64::MIN;
            let mut below = plan.before_seq();
            if let Some(from) = plan.from() {
                let first: Option<i64> = client
                    .query_one(
                        "SELECT min(first_seq) FROM audit_segment WHERE max_time >= $1",
                        &[&from],
                    )
                    .await?
                    .try_get(0)?;
                match first {
                    Some(first) => low = first,
                    None => return Ok(out),
                }
            }
            if let Some(to) = plan.to() {
                let last: Option<i64> = client
                    .query_one(
                        "SELECT max(last_seq) FROM audit_segment WHERE min_time <= $1",
                        &[&to],
                    )
                    .await?
                    .try_get(0)?;
                match last {
                    Some(last) => below = below.min(last.saturating_add(1)),
                    None => return Ok(out),
                }
            }
            let summaries = client
                .prepare(
                    "SELECT first_seq, last_seq, min_time, max_time, filter FROM audit_segment
                     WHERE first_seq < $1 AND first_seq >= $2 ORDER BY first_seq DESC LIMIT $3",
                )
                .await?;
            let records = client
                .prepare("SELECT records FROM audit_segment WHERE first_seq = $1")
                .await?;
            loop {
                let page = client
                    .query(&summaries, &[&below, &low, &SUMMARY_PAGE])
                    .await?;
                for row in &page {
                    let summary = summary_row(row)?;
                    below = summary.first_seq;
                    if !plan.may_match(&summary) {
                        continue;
                    }
                    let row = client.query_one(&records, &[&summary.first_seq]).await?;
                    let bytes: &[u8] = row.try_get(0)?;
                    plan.collect(summary.first_seq, bytes, &mut out)?;
                    if plan.is_full(&out) {
                        return Ok(out);
                    }
                }
                if page.len() < usize::try_from(SUMMARY_PAGE).unwrap_or(usize::MAX) {
                    return Ok(out);
                }
            }
        })
    }

    fn verify_audit<'a>(&'a self) -> BoxFuture<'a, Result<AuditVerification, StoreError>> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            // One snapshot for the head and every batch of rows.
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let head = tx
                .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
                .await?;
            let (head_seq, head_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
            let select = tx
                .prepare(
                    "SELECT first_seq, last_seq, min_time, max_time, filter, records
                     FROM audit_segment WHERE first_seq > $1 ORDER BY first_seq LIMIT $2",
                )
                .await?;
            let mut verifier = SegmentVerifier::new(&self.hasher);
            let mut after = i64::MIN;
            'walk: loop {
                let rows = tx.query(&select, &[&after, &VERIFY_SEGMENTS]).await?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    let summary = summary_row(row)?;
                    after = summary.first_seq;
                    let records: &[u8] = row.try_get(5)?;
                    if !verifier.push(&summary, records) {
                        break 'walk;
                    }
                }
            }
            tx.commit().await?;
            Ok(verifier.finish(head_seq, &head_hash))
        })
    }

    fn health<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .query_one("SELECT count(*) FROM schema_migrations", &[])
                .await?;
            Ok(())
        })
    }

    fn reset<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            client.execute("DELETE FROM items", &[]).await?;
            Ok(())
        })
    }

    fn close<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.pool.close().await;
            Ok(())
        })
    }
}

fn parse_value(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("item value: {e}")))
}

fn summary_row(row: &Row) -> Result<SegmentSummary, StoreError> {
    Ok(SegmentSummary {
        first_seq: row.try_get(0)?,
        last_seq: row.try_get(1)?,
        min_time: row.try_get(2)?,
        max_time: row.try_get(3)?,
        filter: row.try_get(4)?,
    })
}

/// A row of the `audit_log` table that segments replaced.
fn log_row(row: &Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: row.try_get(0)?,
        event_id: row.try_get(1)?,
        event_time: crate::from_micros(row.try_get(2)?),
        account: row.try_get(3)?,
        event_source: row.try_get(4)?,
        event_name: row.try_get(5)?,
        read_only: row.try_get(6)?,
        principal_arn: row.try_get(7)?,
        username: row.try_get(8)?,
        access_key_id: row.try_get(9)?,
        error_code: row.try_get(10)?,
        body: row.try_get(11)?,
        hash: row.try_get(12)?,
    })
}

/// A small connection pool: at most `permits` clients in use, idle ones kept for reuse.
struct Pool {
    config: Config,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    size: usize,
    closed: AtomicBool,
}

impl Pool {
    async fn get(&self) -> Result<PooledClient<'_>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let reused = loop {
            let next = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match next {
                Some(client) if client.is_closed() => continue,
                other => break other,
            }
        };
        let client = match reused {
            Some(client) => client,
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %e, "PostgreSQL connection ended with an error");
                    }
                });
                client
            }
        };
        Ok(PooledClient {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }

    /// Waits for the clients in use to come back, then closes every connection.
    async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let all = u32::try_from(self.size).unwrap_or(u32::MAX);
        drop(self.permits.acquire_many(all).await);
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            // Dropping a client ends its connection.
            idle.clear();
        }
    }
}

/// A client borrowed from the pool; returned on drop unless its connection has ended.
struct PooledClient<'p> {
    client: Option<Client>,
    pool: &'p Pool,
    _permit: SemaphorePermit<'p>,
}

impl Deref for PooledClient<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        // INVARIANT: `client` is `Some` from construction until `drop`.
        #[expect(clippy::unwrap_used, reason = "Some until drop, see INVARIANT")]
        self.client.as_ref().unwrap()
    }
}

impl DerefMut for PooledClient<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        // INVARIANT: `client` is `Some` from construction until `drop`.
        #[expect(clippy::unwrap_used, reason = "Some until drop, see INVARIANT")]
        self.client.as_mut().unwrap()
    }
}

impl Drop for PooledClient<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
            && !self.pool.closed.load(Ordering::Acquire)
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(client);
        }
    }
}
