//! The embedded backend: SQLite through rusqlite (bundled).
//!
//! One writer connection, owned by a thread that commits writes in groups ([`writer`]), and a
//! small pool of reader connections. The database runs in WAL mode with `synchronous=FULL`, so
//! a write that returned `Ok` is in the fsynced log and survives a `kill -9` or a power cut;
//! readers never block the writer and see committed state. rusqlite is blocking, so reads run on
//! `tokio::task::spawn_blocking`.
//!
//! An in-memory database (dev mode) has only the writer connection, which then serves reads too.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_core::Secret;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};
use tokio::sync::Semaphore;

mod writer;

use crate::audit::ChainHasher;
use crate::segment::{
    self, EncodedSegment, LogConverter, SegmentQuery, SegmentSummary, SegmentVerifier,
};
use crate::{
    AuditQuery, AuditRecord, AuditVerification, BoxFuture, Item, ListQuery, NewAuditRecord, Page,
    Store, StoreError, WriteOp, precondition_holds,
};
use writer::{OnCommit, Writer, in_savepoint};

/// How many reader connections a file database keeps.
const READERS: usize = 4;

/// WAL pages (4 KiB each) at which the writer folds the log into the database itself. Only a
/// backstop: the checkpointer thread keeps the log far shorter, off the writer's path.
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

/// How often the checkpointer folds newly committed WAL pages into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// How long a connection waits for another process's lock (e.g. `portcullis audit verify`
/// running beside the server) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A migration's step in Rust, run after its SQL in the same transaction.
type Convert = fn(&Connection) -> Result<(), StoreError>;

/// Versioned schema; each entry runs once, in order, recorded in `schema_migrations`.
/// `TEXT` compares with `BINARY` (bytewise), the order ids are listed in.
const MIGRATIONS: &[(i64, &str, &str, Option<Convert>)] = &[
    (
        1,
        "items and audit log",
        "CREATE TABLE items (
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        value TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (kind, account, id)
    ) WITHOUT ROWID;
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        event_time INTEGER NOT NULL,
        account TEXT NOT NULL,
        event_source TEXT NOT NULL,
        event_name TEXT NOT NULL,
        read_only INTEGER NOT NULL,
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
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');",
        None,
    ),
    (
        2,
        "audit event ids found through their time",
        // Event ids are time-ordered (UUID v7, their first 48 bits the event time's
        // milliseconds), so a lookup by id reads the event-time index over that millisecond
        // (see `audit::audit_select`); a separate index of 36-character ids cost every
        // appended record a string-keyed insert.
        "DROP INDEX audit_log_event_id;",
        None,
    ),
    (
        3,
        "audit records stored one segment per append",
        // See `crate::segment`. The two time indexes bound a time range's segments from either
        // side (`SegmentQuery`); `records` is the last column, so reading the others of a
        // skipped segment does not read its records' overflow pages.
        "CREATE TABLE audit_segment (
        first_seq INTEGER PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        min_time INTEGER NOT NULL,
        max_time INTEGER NOT NULL,
        filter BLOB NOT NULL,
        records BLOB NOT NULL
    );
    CREATE INDEX audit_segment_max_time ON audit_segment (max_time, first_seq);
    CREATE INDEX audit_segment_min_time ON audit_segment (min_time, last_seq);",
        Some(convert_audit_log),
    ),
];

const INSERT_SEGMENT: &str = "INSERT INTO audit_segment
    (first_seq, last_seq, min_time, max_time, filter, records) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Migration 3's step: the `audit_log` rows become segments, then the table goes.
/// Runs [`INSERT_SEGMENT`] for one segment.
fn insert_segment(
    insert: &mut rusqlite::Statement<'_>,
    s: &EncodedSegment,
) -> Result<(), StoreError> {
    insert.execute(params![
        s.first_seq,
        s.last_seq,
        s.min_time,
        s.max_time,
        s.filter,
        s.records
    ])?;
    Ok(())
}

fn convert_audit_log(conn: &Connection) -> Result<(), StoreError> {
    {
        let mut insert = conn.prepare(INSERT_SEGMENT)?;
        let mut put = |s: EncodedSegment| insert_segment(&mut insert, &s);
        let mut select = conn.prepare(
            "SELECT seq, event_id, event_time, account, event_source, event_name, read_only,
                principal_arn, username, access_key_id, error_code, body, hash
             FROM audit_log ORDER BY seq",
        )?;
        let mut rows = select.query([])?;
        let mut converter = LogConverter::default();
        while let Some(row) = rows.next()? {
            if let Some(segment) = converter.push(log_row(row)?)? {
                put(segment)?;
            }
        }
        if let Some(segment) = converter.flush()? {
            put(segment)?;
        }
    }
    conn.execute_batch("DROP TABLE audit_log")?;
    Ok(())
}

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    writer: Writer,
    cache: Arc<ItemCache>,
    /// The lock file held while this store owns the database.
    _owner: Option<fs::File>,
    readers: Option<Arc<ReaderPool>>,
    checkpointer: Option<Checkpointer>,
    hasher: Arc<ChainHasher>,
    closed: AtomicBool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.readers.as_ref().map(|r| r.path.clone()))
            .finish_non_exhaustive()
    }
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    closed: AtomicBool,
}

impl ReaderPool {
    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

/// How many items (or absences) the item cache holds before it starts over.
const CACHED_ITEMS: usize = 20_000;

/// Items as last read, by key. Every write to the database goes through this store's writer
/// thread, which drops the written keys from the cache after their commit and before the
/// writer's caller is answered, so a read that follows a write sees it. A read that raced a
/// write does not fill the cache: each fill names the generation it started in, and every
/// invalidation starts a new one.
#[derive(Default)]
struct ItemCache {
    /// Off unless this store owns the database (see [`SqliteStore::open_file`]).
    enabled: bool,
    items: Mutex<HashMap<ItemKey, Option<Item>>>,
    generation: AtomicU64,
}

type ItemKey = (String, String, String);

impl ItemCache {
    /// `Some(found)` on a hit (`found` is `None` for a known absence).
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    fn get(&self, key: &ItemKey) -> Option<Option<Item>> {
        if !self.enabled {
            return None;
        }
        self.items.lock().ok()?.get(key).cloned()
    }

    /// The generation a read starts in, to pass to [`ItemCache::fill`].
    fn start_read(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn fill(&self, key: ItemKey, found: Option<Item>, started: u64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut items) = self.items.lock()
            && self.generation.load(Ordering::Acquire) == started
        {
            if items.len() >= CACHED_ITEMS {
                items.clear();
            }
            items.insert(key, found);
        }
    }

    fn invalidate(&self, keys: &[ItemKey]) {
        if let Ok(mut items) = self.items.lock() {
            for key in keys {
                items.remove(key);
            }
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn clear(&self) {
        if let Ok(mut items) = self.items.lock() {
            items.clear();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// A thread with its own connection that copies committed WAL pages into the database file
/// (a `PASSIVE` checkpoint, which never blocks the writer or readers) a few times a second
/// while writes arrive. Without it SQLite checkpoints inside the commit that crosses the WAL
/// size threshold, so one unlucky request pays for writing (and syncing) everything before it.
struct Checkpointer {
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
    /// Set by every use of the writer; cleared by each checkpoint.
    dirty: Arc<AtomicBool>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn, false)?;
        let stop = Arc::new(AtomicBool::new(false));
        let dirty = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let (stop, dirty) = (Arc::clone(&stop), Arc::clone(&dirty));
                move || {
                    while !stop.load(Ordering::Acquire) {
                        std::thread::park_timeout(CHECKPOINT_EVERY);
                        if dirty.swap(false, Ordering::AcqRel)
                            && let Err(e) =
                                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                        {
                            tracing::warn!(error = %e, "WAL checkpoint failed");
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Backend {
                backend: "sqlite",
                message: format!("cannot start the checkpoint thread: {e}"),
            })?;
        Ok(Self {
            thread: Mutex::new(Some(thread)),
            stop,
            dirty,
        })
    }

    /// Asks the thread to stop; returns it to be joined.
    fn stop(&self) -> Option<std::thread::JoinHandle<()>> {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = &thread {
            thread.thread().unpark();
        }
        thread
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.writer.detach();
        if let Some(checkpointer) = &self.checkpointer {
            drop(checkpointer.stop());
        }
    }
}

impl SqliteStore {
    /// Opens (creating with mode 0600 and migrating as needed) the database file at `path`.
    ///
    /// `owned`: this store is the database's only writer (the server). It holds an exclusive
    /// lock on `PATH.lock` while open, so a second owner is refused, and it keeps the items it
    /// reads in memory, which is right only because nothing else writes them. Other openers
    /// (`portcullis audit`, tools) read the database as it is on disk.
    pub async fn open_file(
        path: &Path,
        audit_key: Secret<Vec<u8>>,
        owned: bool,
    ) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let hasher = Arc::new(ChainHasher::new(audit_key.expose()));
        let (writer, path, checkpointer, owner) = run_blocking({
            let hasher = Arc::clone(&hasher);
            move || {
                create_private_file(&path)?;
                let owner = if owned { Some(claim(&path)?) } else { None };
                let mut conn = Connection::open(&path)?;
                configure(&conn, false)?;
                let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Backend {
                        backend: "sqlite",
                        message: format!("could not switch to WAL (journal_mode is {mode})"),
                    });
                }
                conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
                migrate(&mut conn)?;
                let checkpointer = Checkpointer::start(&path)?;
                let writer = Writer::start(conn, hasher, Some(Arc::clone(&checkpointer.dirty)))?;
                Ok((writer, path, checkpointer, owner))
            }
        })
        .await?;
        tracing::debug!(path = %path.display(), "opened SQLite store");
        Ok(Self {
            writer,
            cache: Arc::new(ItemCache::new(owner.is_some())),
            _owner: owner,
            readers: Some(Arc::new(ReaderPool {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(READERS)),
                closed: AtomicBool::new(false),
            })),
            checkpointer: Some(checkpointer),
            hasher,
            closed: AtomicBool::new(false),
        })
    }

    /// Opens a private in-memory database.
    pub async fn open_in_memory(audit_key: Secret<Vec<u8>>) -> Result<Self, StoreError> {
        let hasher = Arc::new(ChainHasher::new(audit_key.expose()));
        let writer = run_blocking({
            let hasher = Arc::clone(&hasher);
            move || {
                let mut conn = Connection::open_in_memory()?;
                configure(&conn, false)?;
                migrate(&mut conn)?;
                Writer::start(conn, hasher, None)
            }
        })
        .await?;
        Ok(Self {
            writer,
            // A private database: every write to it is this store's.
            cache: Arc::new(ItemCache::new(true)),
            _owner: None,
            readers: None,
            checkpointer: None,
            hasher,
            closed: AtomicBool::new(false),
        })
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    /// Runs `f` on the writer connection, in a transaction of its own or in a savepoint of a
    /// group commit; returns once what `f` wrote is durable.
    async fn with_writer<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &ChainHasher) -> Result<T, StoreError> + Send + 'static,
    {
        self.check_open()?;
        self.writer.run(f, None).await
    }

    /// [`SqliteStore::with_writer`] for work that changes items: `on_commit` updates the item
    /// cache once the change is durable.
    async fn with_writer_then<T, F>(&self, f: F, on_commit: OnCommit) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &ChainHasher) -> Result<T, StoreError> + Send + 'static,
    {
        self.check_open()?;
        self.writer.run(f, Some(on_commit)).await
    }

    /// Runs `f` on a reader connection (the writer for an in-memory database).
    async fn with_reader<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &ChainHasher) -> Result<T, StoreError> + Send + 'static,
    {
        self.check_open()?;
        let Some(pool) = &self.readers else {
            return self.with_writer(move |conn, hasher| f(conn, hasher)).await;
        };
        let permit = Arc::clone(&pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = Arc::clone(pool);
        let hasher = Arc::clone(&self.hasher);
        run_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = f(&conn, &hasher);
            pool.give_back(conn);
            result
        })
        .await
    }
}

impl Store for SqliteStore {
    fn get<'a>(
        &'a self,
        kind: &'a str,
        account: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Item>, StoreError>> {
        let key: ItemKey = (kind.to_owned(), account.to_owned(), id.to_owned());
        Box::pin(async move {
            if let Some(hit) = self.cache.get(&key) {
                self.check_open()?;
                return Ok(hit);
            }
            let started = self.cache.start_read();
            let (kind, account, id) = key.clone();
            let found = self
                .with_reader(move |conn, _| {
                    let row = conn
                        .prepare_cached(
                            "SELECT value, version FROM items
                             WHERE kind = ?1 AND account = ?2 AND id = ?3",
                        )?
                        .query_row(params![kind, account, id], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                        })
                        .optional()?;
                    row.map(|(value, version)| {
                        Ok(Item {
                            value: parse_value(&value)?,
                            kind,
                            account,
                            id,
                            version,
                        })
                    })
                    .transpose()
                })
                .await?;
            self.cache.fill(key, found.clone(), started);
            Ok(found)
        })
    }

    fn list<'a>(&'a self, query: ListQuery<'a>) -> BoxFuture<'a, Result<Page, StoreError>> {
        let kind = query.kind.to_owned();
        let account = query.account.to_owned();
        let prefix = query.id_prefix.to_owned();
        let upper = crate::prefix_upper_bound(&prefix);
        let start_after = query.start_after.map(str::to_owned);
        let limit = query.limit;
        Box::pin(self.with_reader(move |conn, _| {
            let fetch = crate::effective_limit(limit).saturating_add(1);
            let mut stmt = conn.prepare_cached(
                "SELECT id, value, version FROM items
                 WHERE kind = ?1 AND account = ?2 AND id >= ?3
                   AND (?4 IS NULL OR id < ?4) AND (?5 IS NULL OR id > ?5)
                 ORDER BY id LIMIT ?6",
            )?;
            let rows = stmt.query_map(
                params![kind, account, prefix, upper, start_after, fetch],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )?;
            let mut items = Vec::new();
            for row in rows {
                let (id, value, version) = row?;
                items.push(Item {
                    kind: kind.clone(),
                    account: account.clone(),
                    id,
                    value: parse_value(&value)?,
                    version,
                });
            }
            Ok(crate::page(items, limit))
        }))
    }

    fn write<'a>(&'a self, ops: Vec<WriteOp>) -> BoxFuture<'a, Result<(), StoreError>> {
        let written: Vec<ItemKey> = ops
            .iter()
            .map(|op| {
                let (kind, account, id) = op.key();
                (kind.to_owned(), account.to_owned(), id.to_owned())
            })
            .collect();
        let cache = Arc::clone(&self.cache);
        let on_commit: OnCommit = Box::new(move || cache.invalidate(&written));
        Box::pin(self.with_writer_then(
            move |tx, _| {
                for (index, op) in ops.iter().enumerate() {
                    let (kind, account, id) = op.key();
                    let found: Option<i64> = tx
                    .prepare_cached(
                        "SELECT version FROM items WHERE kind = ?1 AND account = ?2 AND id = ?3",
                    )?
                    .query_row(params![kind, account, id], |r| r.get(0))
                    .optional()?;
                    if !precondition_holds(op.precondition(), found) {
                        // The writer rolls back the ops applied so far.
                        return Err(op.conflict(index, found));
                    }
                    match (op, found) {
                        (WriteOp::Put { value, .. }, None) => {
                            tx.prepare_cached(
                                "INSERT INTO items (kind, account, id, value, version)
                             VALUES (?1, ?2, ?3, ?4, 1)",
                            )?
                            .execute(params![
                                kind,
                                account,
                                id,
                                crate::value_text(value)?
                            ])?;
                        }
                        (WriteOp::Put { value, .. }, Some(version)) => {
                            tx.prepare_cached(
                                "UPDATE items SET value = ?4, version = ?5
                             WHERE kind = ?1 AND account = ?2 AND id = ?3",
                            )?
                            .execute(params![
                                kind,
                                account,
                                id,
                                crate::value_text(value)?,
                                version.saturating_add(1)
                            ])?;
                        }
                        (WriteOp::Delete { .. }, Some(_)) => {
                            tx.prepare_cached(
                                "DELETE FROM items WHERE kind = ?1 AND account = ?2 AND id = ?3",
                            )?
                            .execute(params![kind, account, id])?;
                        }
                        (WriteOp::Delete { .. }, None) => {}
                    }
                }
                Ok(())
            },
            on_commit,
        ))
    }

    fn append_audit<'a>(
        &'a self,
        records: Arc<[NewAuditRecord]>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.with_writer(move |tx, hasher| {
            if records.is_empty() {
                return Ok(());
            }
            let (head_seq, head_hash): (i64, String) = tx
                .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let chained = segment::chain_segments(hasher, head_seq, &head_hash, &records)?;
            {
                let mut insert = tx.prepare_cached(INSERT_SEGMENT)?;
                for s in &chained.segments {
                    insert_segment(&mut insert, s)?;
                }
            }
            tx.prepare_cached("UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1")?
                .execute(params![chained.head_seq, chained.head_hash])?;
            Ok(())
        }))
    }

    fn query_audit<'a>(
        &'a self,
        query: AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<AuditRecord>, StoreError>> {
        Box::pin(self.with_reader(move |conn, _| query_segments(conn, query)))
    }

    fn verify_audit<'a>(&'a self) -> BoxFuture<'a, Result<AuditVerification, StoreError>> {
        Box::pin(self.with_reader(move |conn, hasher| {
            // One read transaction: the head and the rows come from the same snapshot.
            in_savepoint(conn, |tx| {
                let (head_seq, head_hash): (i64, String) =
                    tx.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                let mut verifier = SegmentVerifier::new(hasher);
                {
                    // One segment in memory at a time.
                    let mut stmt = tx.prepare(
                        "SELECT first_seq, last_seq, min_time, max_time, filter, records
                         FROM audit_segment ORDER BY first_seq",
                    )?;
                    let mut rows = stmt.query([])?;
                    while let Some(row) = rows.next()? {
                        let summary = summary_row(row)?;
                        if !verifier.push(&summary, bytes_of(row.get_ref(5)?)) {
                            break;
                        }
                    }
                }
                Ok(verifier.finish(head_seq, &head_hash))
            })
        }))
    }

    fn health<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.with_reader(|conn, _| {
            conn.query_row("SELECT count(*) FROM schema_migrations", [], |_| Ok(()))?;
            Ok(())
        }))
    }

    fn reset<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>> {
        let cache = Arc::clone(&self.cache);
        Box::pin(self.with_writer_then(
            |conn, _| {
                conn.execute("DELETE FROM items", [])?;
                Ok(())
            },
            Box::new(move || cache.clear()),
        ))
    }

    fn close<'a>(&'a self) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if self.closed.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            if let Some(pool) = &self.readers {
                // Let reads in flight finish (new ones see `closed`), then refuse more.
                let all = u32::try_from(READERS).unwrap_or(u32::MAX);
                let in_flight_done = pool.permits.acquire_many(all).await;
                drop(in_flight_done);
                pool.closed.store(true, Ordering::Release);
                pool.permits.close();
                if let Ok(mut idle) = pool.idle.lock() {
                    idle.clear();
                }
            }
            let checkpointer = self.checkpointer.as_ref().and_then(Checkpointer::stop);
            // The writer finishes the jobs queued before `closed` was set, then hands back its
            // connection.
            let writer = self.writer.stop();
            run_blocking(move || {
                if let Some(thread) = checkpointer
                    && thread.join().is_err()
                {
                    tracing::warn!("the WAL checkpoint thread panicked");
                }
                let conn = writer.and_then(|thread| match thread.join() {
                    Ok(conn) => Some(conn),
                    Err(_) => {
                        tracing::error!("the SQLite writer thread panicked");
                        None
                    }
                });
                if let Some(conn) = conn {
                    // Fold the WAL into the main file so the data dir is one file at rest.
                    if let Err(e) =
                        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint at close failed");
                    }
                    conn.close().map_err(|(_, e)| StoreError::from(e))?;
                }
                Ok(())
            })
            .await
        })
    }
}

/// Runs blocking database work on tokio's blocking pool.
async fn run_blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend {
            backend: "sqlite",
            message: format!("database task failed: {e}"),
        })?
}

/// Settings every connection gets.
fn configure(conn: &Connection, read_only: bool) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn, true)?;
    Ok(conn)
}

/// Takes the exclusive lock that marks `path`'s owner, or says who has it.
fn claim(path: &Path) -> Result<fs::File, StoreError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(&lock_path).map_err(|e| StoreError::Backend {
        backend: "sqlite",
        message: format!("{}: {e}", lock_path.display()),
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Backend {
            backend: "sqlite",
            message: format!(
                "{} is in use by another Portcullis server (it holds {}); \
                 one server owns an SQLite store, use PostgreSQL for several",
                path.display(),
                lock_path.display()
            ),
        }),
        Err(fs::TryLockError::Error(e)) => Err(StoreError::Backend {
            backend: "sqlite",
            message: format!("{}: {e}", lock_path.display()),
        }),
    }
}

/// Creates the database file with mode 0600 if it does not exist, so that the data (and the
/// WAL and shared-memory files, which SQLite creates with the database file's mode) is readable
/// by the owner only.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Backend {
        backend: "sqlite",
        message: format!("{}: {e}", path.display()),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// Applies the migrations this database has not seen yet, each in its own transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )?;
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    for &(version, name, sql, convert) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        if current > latest {
            return Err(StoreError::Corrupt(format!(
                "database schema version {current} is newer than this Portcullis knows ({latest})"
            )));
        }
        if version <= current {
            continue;
        }
        tx.execute_batch(sql)?;
        if let Some(convert) = convert {
            convert(&tx)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)
             VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![version, name],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "applied SQLite migration");
    }
    Ok(())
}

fn parse_value(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("item value: {e}")))
}

/// How many segment summaries a query reads per statement.
const SUMMARY_PAGE: i64 = 256;

/// [`Store::query_audit`]: segment summaries newest first, bounded by the time indexes; the
/// records of those that may match are read and filtered.
fn query_segments(conn: &Connection, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let plan = SegmentQuery::new(query)?;
    let mut out = Vec::new();
    if plan.matches_nothing() {
        return Ok(out);
    }
    // Segments wholly before the window end before the first one whose latest time reaches
    // it; those wholly after it start after the last one whose earliest time is in it.
    let mut low = i64::MIN;
    let mut below = plan.before_seq();
    if let Some(from) = plan.from() {
        let first: Option<i64> = conn
            .prepare_cached("SELECT min(first_seq) FROM audit_segment WHERE max_time >= ?1")?
            .query_row([from], |r| r.get(0))?;
        match first {
            Some(first) => low = first,
            None => return Ok(out),
        }
    }
    if let Some(to) = plan.to() {
        let last: Option<i64> = conn
            .prepare_cached("SELECT max(last_seq) FROM audit_segment WHERE min_time <= ?1")?
            .query_row([to], |r| r.get(0))?;
        match last {
            Some(last) => below = below.min(last.saturating_add(1)),
            None => return Ok(out),
        }
    }
    let mut summaries = conn.prepare_cached(
        "SELECT first_seq, last_seq, min_time, max_time, filter FROM audit_segment
         WHERE first_seq < ?1 AND first_seq >= ?2 ORDER BY first_seq DESC LIMIT ?3",
    )?;
    let mut records =
        conn.prepare_cached("SELECT records FROM audit_segment WHERE first_seq = ?1")?;
    loop {
        let page = summaries
            .query_map(params![below, low, SUMMARY_PAGE], summary_row)?
            .collect::<Result<Vec<_>, _>>()?;
        for summary in &page {
            below = summary.first_seq;
            if !plan.may_match(summary) {
                continue;
            }
            let bytes =
                records.query_row(
                    [summary.first_seq],
                    |r| Ok(bytes_of(r.get_ref(0)?).to_vec()),
                )?;
            plan.collect(summary.first_seq, &bytes, &mut out)?;
            if plan.is_full(&out) {
                return Ok(out);
            }
        }
        if page.len() < usize::try_from(SUMMARY_PAGE).unwrap_or(usize::MAX) {
            return Ok(out);
        }
    }
}

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SegmentSummary> {
    Ok(SegmentSummary {
        first_seq: r.get(0)?,
        last_seq: r.get(1)?,
        min_time: r.get(2)?,
        max_time: r.get(3)?,
        filter: bytes_of(r.get_ref(4)?).to_vec(),
    })
}

/// A blob column's bytes. SQLite lets any column hold any type: a value edited into text is
/// read as its bytes, anything else as none, and the segment's checks say what is wrong.
fn bytes_of(value: rusqlite::types::ValueRef<'_>) -> &[u8] {
    match value {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b,
        _ => &[],
    }
}

/// A row of the `audit_log` table that segments replaced.
fn log_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get(0)?,
        event_id: r.get(1)?,
        event_time: crate::from_micros(r.get(2)?),
        account: r.get(3)?,
        event_source: r.get(4)?,
        event_name: r.get(5)?,
        read_only: r.get(6)?,
        principal_arn: r.get(7)?,
        username: r.get(8)?,
        access_key_id: r.get(9)?,
        error_code: r.get(10)?,
        body: r.get(11)?,
        hash: r.get(12)?,
    })
}
