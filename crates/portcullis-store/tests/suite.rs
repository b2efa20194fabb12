//! The shared store test suite, run against every backend: a SQLite file, in-memory SQLite, and
//! PostgreSQL when `PORTCULLIS_TEST_POSTGRES_URL` is set (each PostgreSQL test in a fresh schema,
//! dropped afterwards).
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test by panicking"
)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_core::Secret;
use portcullis_store::segment::{decode_segment, encode_records};
use portcullis_store::{
    AuditFields, AuditQuery, AuditRecord, AuditVerification, ListQuery, NewAuditRecord,
    Precondition, Store, StoreError, StoreLocation, WriteOp,
};
use serde_json::json;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";

fn audit_key() -> Secret<Vec<u8>> {
    Secret::new(vec![42; 32])
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    SqliteFile,
    SqliteMemory,
    Postgres,
}

/// A store under test and what the test needs to reach behind its back.
struct Fixture {
    store: Arc<dyn Store>,
    location: StoreLocation,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    /// Runs SQL directly against the database, as an attacker with database access would.
    /// `false` when the backend cannot be reached from outside (in-memory SQLite).
    async fn tamper(&self, sql: &str) -> bool {
        match &self.location {
            StoreLocation::Sqlite { path } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                conn.execute_batch(sql).unwrap();
                true
            }
            StoreLocation::SqliteInMemory => false,
            StoreLocation::Postgres { url } => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client.batch_execute(sql).await.unwrap();
                true
            }
        }
    }

    /// One number from the database, read behind the store's back (`None` for in-memory).
    async fn query_i64(&self, sql: &str) -> Option<i64> {
        match &self.location {
            StoreLocation::Sqlite { path } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                Some(conn.query_row(sql, [], |r| r.get(0)).unwrap())
            }
            StoreLocation::SqliteInMemory => None,
            StoreLocation::Postgres { url } => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                Some(client.query_one(sql, &[]).await.unwrap().get(0))
            }
        }
    }

    /// Rewrites the audit segment holding `seq` as an attacker who knows the format would:
    /// `edit` changes its decoded records (the record at position `i` is stored as
    /// `first_seq + i`), which are written back with matching summary columns and every hash as
    /// it was. `false` for in-memory SQLite.
    async fn edit_segment(&self, seq: i64, edit: impl FnOnce(&mut Vec<AuditRecord>)) -> bool {
        let select = format!(
            "SELECT first_seq, records FROM audit_segment WHERE first_seq <= {seq}
             ORDER BY first_seq DESC LIMIT 1"
        );
        let update = |n: usize| -> String {
            let p = |i: usize| {
                if n == 0 {
                    format!("?{i}")
                } else {
                    format!("${i}")
                }
            };
            format!(
                "UPDATE audit_segment SET last_seq = {}, min_time = {}, max_time = {},
                 filter = {}, records = {} WHERE first_seq = {}",
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(1)
            )
        };
        let rewrite = |first: i64, bytes: &[u8], edit: &mut dyn FnMut(&mut Vec<AuditRecord>)| {
            let mut records = decode_segment(first, bytes).unwrap();
            edit(&mut records);
            encode_records(first, &records).unwrap()
        };
        let mut edit = Some(edit);
        let mut edit = |records: &mut Vec<AuditRecord>| {
            if let Some(edit) = edit.take() {
                edit(records);
            }
        };
        match &self.location {
            StoreLocation::Sqlite { path } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                let (first, bytes): (i64, Vec<u8>) = conn
                    .query_row(&select, [], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap();
                let s = rewrite(first, &bytes, &mut edit);
                conn.execute(
                    &update(0),
                    rusqlite::params![
                        s.first_seq,
                        s.last_seq,
                        s.min_time,
                        s.max_time,
                        s.filter,
                        s.records
                    ],
                )
                .unwrap();
                true
            }
            StoreLocation::SqliteInMemory => false,
            StoreLocation::Postgres { url } => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                let row = client.query_one(&select, &[]).await.unwrap();
                let (first, bytes): (i64, Vec<u8>) = (row.get(0), row.get(1));
                let s = rewrite(first, &bytes, &mut edit);
                client
                    .execute(
                        &update(1),
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
                    .unwrap();
                true
            }
        }
    }

    /// A second store over the same database (a restart, or a second node), when there is one.
    async fn reopen(&self) -> Option<Arc<dyn Store>> {
        match &self.location {
            StoreLocation::SqliteInMemory => None,
            location => Some(portcullis_store::open(location, audit_key()).await.unwrap()),
        }
    }
}

async fn postgres_fixture() -> Option<(Fixture, String, String)> {
    let base = std::env::var("PORTCULLIS_TEST_POSTGRES_URL").ok()?;
    let schema = format!("portcullis_test_{}", hex::encode(rand_bytes()));
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let location = StoreLocation::Postgres { url };
    let store = portcullis_store::open(&location, audit_key())
        .await
        .unwrap();
    Some((
        Fixture {
            store,
            location,
            _dir: None,
        },
        base,
        schema,
    ))
}

fn rand_bytes() -> [u8; 8] {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b
}

/// Runs `test` against `backend`, cleaning up even when it panics.
async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut pg_cleanup = None;
    let fixture = match backend {
        Backend::SqliteFile => {
            let dir = tempfile::tempdir().unwrap();
            let location = StoreLocation::Sqlite {
                path: dir.path().join("store.db"),
            };
            let store = portcullis_store::open(&location, audit_key())
                .await
                .unwrap();
            Fixture {
                store,
                location,
                _dir: Some(dir),
            }
        }
        Backend::SqliteMemory => {
            let location = StoreLocation::SqliteInMemory;
            let store = portcullis_store::open(&location, audit_key())
                .await
                .unwrap();
            Fixture {
                store,
                location,
                _dir: None,
            }
        }
        Backend::Postgres => match postgres_fixture().await {
            Some((fixture, base, schema)) => {
                pg_cleanup = Some((base, schema));
                fixture
            }
            None => {
                eprintln!("skipped: PORTCULLIS_TEST_POSTGRES_URL is not set");
                return;
            }
        },
    };
    let result = tokio::spawn(test(fixture)).await;
    if let Some((base, schema)) = pg_cleanup {
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(super::Backend::SqliteFile, super::$name).await })*
        }
        mod sqlite_memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(super::Backend::SqliteMemory, super::$name).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(super::Backend::Postgres, super::$name).await })*
        }
    };
}

suite!(
    preconditions_and_versions,
    failing_batch_applies_nothing,
    batch_sees_its_own_earlier_ops,
    values_round_trip,
    list_order_prefix_and_paging,
    audit_append_and_query,
    audit_pagination,
    audit_lookup_by_time_ordered_event_id,
    audit_queries_over_many_segments,
    verify_intact,
    verify_catches_edited_body,
    verify_catches_deleted_record,
    verify_catches_reordered_records,
    verify_catches_inserted_and_truncated,
    an_audit_log_from_before_segments_is_converted,
    reset_keeps_audit,
    concurrent_writers_lose_no_updates,
    concurrent_batches_succeed_or_fail_alone,
    reads_see_the_latest_write_while_others_read,
    concurrent_appenders_keep_one_chain,
    health_close_and_reopen,
    migrations_run_once_and_refuse_a_newer_schema,
    sealed_secrets_are_not_in_the_data_files,
);

/// The server owns its SQLite file: a second owner is refused while it runs (a plain opener,
/// such as `portcullis audit`, is not), the owner's cached reads follow its writes, and the
/// claim ends with the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_sqlite_file_has_one_owner_whose_reads_follow_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let location = StoreLocation::Sqlite {
        path: dir.path().join("store.db"),
    };
    let owner = portcullis_store::open_owned(&location, audit_key())
        .await
        .unwrap();
    let refused = portcullis_store::open_owned(&location, audit_key()).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("in use by another Portcullis server"),
        "{message}"
    );
    let tool = portcullis_store::open(&location, audit_key())
        .await
        .unwrap();
    tool.close().await.unwrap();
    drop(tool);

    reads_see_the_latest_write_while_others_read(Fixture {
        store: owner.clone(),
        location: location.clone(),
        _dir: None,
    })
    .await;
    owner.close().await.unwrap();
    drop(owner);
    let again = portcullis_store::open_owned(&location, audit_key())
        .await
        .unwrap();
    again.close().await.unwrap();
}

fn put(id: &str, value: serde_json::Value, precondition: Precondition) -> WriteOp {
    WriteOp::put("test.thing", ACCOUNT, id, value, precondition)
}

fn delete(id: &str, precondition: Precondition) -> WriteOp {
    WriteOp::delete("test.thing", ACCOUNT, id, precondition)
}

async fn version(store: &dyn Store, id: &str) -> Option<i64> {
    store
        .get("test.thing", ACCOUNT, id)
        .await
        .unwrap()
        .map(|i| i.version)
}

fn assert_conflict(result: Result<(), StoreError>, op: usize) {
    match result {
        Err(StoreError::Conflict { op: got, .. }) => assert_eq!(got, op, "conflict on wrong op"),
        other => panic!("expected a conflict on op {op}, got {other:?}"),
    }
}

async fn preconditions_and_versions(f: Fixture) {
    let s = &*f.store;
    assert_eq!(s.get("test.thing", ACCOUNT, "a").await.unwrap(), None);
    s.write(vec![put("a", json!({"n": 1}), Precondition::Absent)])
        .await
        .unwrap();
    let item = s.get("test.thing", ACCOUNT, "a").await.unwrap().unwrap();
    assert_eq!(
        (item.kind.as_str(), item.account.as_str(), item.id.as_str()),
        ("test.thing", ACCOUNT, "a")
    );
    assert_eq!(item.value, json!({"n": 1}));
    assert_eq!(item.version, 1);
    // Isolation by account and kind.
    assert_eq!(s.get("test.thing", OTHER, "a").await.unwrap(), None);
    assert_eq!(s.get("test.other", ACCOUNT, "a").await.unwrap(), None);

    assert_conflict(
        s.write(vec![put("a", json!(2), Precondition::Absent)])
            .await,
        0,
    );
    s.write(vec![put("a", json!(2), Precondition::Any)])
        .await
        .unwrap();
    assert_eq!(version(s, "a").await, Some(2));
    s.write(vec![put("a", json!(3), Precondition::Version(2))])
        .await
        .unwrap();
    assert_eq!(version(s, "a").await, Some(3));
    assert_conflict(
        s.write(vec![put("a", json!(4), Precondition::Version(2))])
            .await,
        0,
    );
    s.write(vec![put("a", json!(4), Precondition::Exists)])
        .await
        .unwrap();
    assert_eq!(version(s, "a").await, Some(4));
    assert_conflict(
        s.write(vec![put("missing", json!(0), Precondition::Exists)])
            .await,
        0,
    );
    assert_conflict(
        s.write(vec![put("missing", json!(0), Precondition::Version(1))])
            .await,
        0,
    );
    assert_eq!(version(s, "missing").await, None);

    let err = s
        .write(vec![delete("a", Precondition::Version(3))])
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            op,
            kind,
            account,
            id,
            reason,
        } => {
            assert_eq!(
                (op, kind.as_str(), account.as_str(), id.as_str()),
                (0, "test.thing", ACCOUNT, "a")
            );
            assert!(
                reason.contains("version 3") && reason.contains("version 4"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_conflict(s.write(vec![delete("a", Precondition::Absent)]).await, 0);
    assert_conflict(
        s.write(vec![delete("missing", Precondition::Exists)]).await,
        0,
    );
    s.write(vec![delete("missing", Precondition::Any)])
        .await
        .unwrap();
    s.write(vec![delete("a", Precondition::Version(4))])
        .await
        .unwrap();
    assert_eq!(version(s, "a").await, None);
    // A re-created item starts again at version 1.
    s.write(vec![put("a", json!(5), Precondition::Absent)])
        .await
        .unwrap();
    assert_eq!(version(s, "a").await, Some(1));
}

async fn failing_batch_applies_nothing(f: Fixture) {
    let s = &*f.store;
    s.write(vec![put("x", json!("x1"), Precondition::Absent)])
        .await
        .unwrap();
    let result = s
        .write(vec![
            put("y", json!("y1"), Precondition::Absent),
            put("x", json!("x2"), Precondition::Version(1)),
            delete("z", Precondition::Any),
            put("w", json!("w1"), Precondition::Exists),
        ])
        .await;
    assert_conflict(result, 3);
    assert_eq!(version(s, "y").await, None);
    let x = s.get("test.thing", ACCOUNT, "x").await.unwrap().unwrap();
    assert_eq!((x.value, x.version), (json!("x1"), 1));
    // An empty batch is fine.
    s.write(vec![]).await.unwrap();
}

/// Writes that arrive together (and may share one commit) still succeed or fail each on its
/// own: a batch whose precondition fails leaves nothing behind, the others all land.
async fn concurrent_batches_succeed_or_fail_alone(f: Fixture) {
    let s = f.store.clone();
    s.write(vec![put("taken", json!(0), Precondition::Absent)])
        .await
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let id = format!("item-{i:02}");
                let batch = if i % 2 == 0 {
                    vec![put(&id, json!(i), Precondition::Absent)]
                } else {
                    vec![
                        put(&id, json!(i), Precondition::Absent),
                        put("taken", json!(i), Precondition::Absent),
                    ]
                };
                (i, s.write(batch).await)
            })
        })
        .collect();
    for task in tasks {
        let (i, result) = task.await.unwrap();
        if i % 2 == 0 {
            result.unwrap();
        } else {
            assert_conflict(result, 1);
        }
    }
    for i in 0..64 {
        let found = version(&*s, &format!("item-{i:02}")).await;
        assert_eq!(found, (i % 2 == 0).then_some(1), "item-{i:02}");
    }
    let taken = s
        .get("test.thing", ACCOUNT, "taken")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.value, taken.version), (json!(0), 1));
}

/// A read that follows a write sees it, however many reads run meanwhile (and may fill a cache
/// with what they read before the write).
async fn reads_see_the_latest_write_while_others_read(f: Fixture) {
    let s = f.store.clone();
    s.write(vec![put("hot", json!(0), Precondition::Absent)])
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (s, stop) = (s.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    s.get("test.thing", ACCOUNT, "hot").await.unwrap();
                    s.get("test.thing", ACCOUNT, "cold").await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for i in 1..=150 {
        s.write(vec![put("hot", json!(i), Precondition::Any)])
            .await
            .unwrap();
        let hot = s.get("test.thing", ACCOUNT, "hot").await.unwrap().unwrap();
        assert_eq!(
            (hot.value, hot.version),
            (json!(i), i + 1),
            "after write {i}"
        );
        if i % 50 == 0 {
            s.write(vec![put("cold", json!(i), Precondition::Any)])
                .await
                .unwrap();
            let cold = s.get("test.thing", ACCOUNT, "cold").await.unwrap();
            assert_eq!(cold.map(|c| c.value), Some(json!(i)));
            s.write(vec![delete("cold", Precondition::Any)])
                .await
                .unwrap();
            assert_eq!(s.get("test.thing", ACCOUNT, "cold").await.unwrap(), None);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    s.reset().await.unwrap();
    assert_eq!(s.get("test.thing", ACCOUNT, "hot").await.unwrap(), None);
}

async fn batch_sees_its_own_earlier_ops(f: Fixture) {
    let s = &*f.store;
    s.write(vec![
        put("p", json!(1), Precondition::Absent),
        put("p", json!(2), Precondition::Version(1)),
        put("q", json!(1), Precondition::Absent),
        delete("q", Precondition::Version(1)),
        put("q", json!(2), Precondition::Absent),
    ])
    .await
    .unwrap();
    let p = s.get("test.thing", ACCOUNT, "p").await.unwrap().unwrap();
    assert_eq!((p.value, p.version), (json!(2), 2));
    assert_eq!(version(s, "q").await, Some(1));
}

async fn values_round_trip(f: Fixture) {
    let s = &*f.store;
    let value = json!({
        "UserName": "Zoë 李 🚀",
        "Tags": [{"Key": "a", "Value": ""}],
        "Big": 18446744073709551615u64,
        "Neg": -9007199254740993i64,
        "Float": 1.5,
        "Null": null,
        "Nested": {"z": 1, "a": [true, false, {}]},
        "Quote": "it's \"quoted\" \\ and \u{0001}"
    });
    s.write(vec![WriteOp::put(
        "iam.user",
        "",
        "global",
        value.clone(),
        Precondition::Any,
    )])
    .await
    .unwrap();
    assert_eq!(
        s.get("iam.user", "", "global")
            .await
            .unwrap()
            .unwrap()
            .value,
        value
    );
}

async fn list_order_prefix_and_paging(f: Fixture) {
    let s = &*f.store;
    let ids = [
        "user/b",
        "user/a",
        "role/x",
        "user/ab",
        "user/",
        "user0",
        "usera",
        "user/Z",
        "user/é",
        "user/\u{10FFFF}",
        "user/~",
    ];
    s.write(
        ids.iter()
            .map(|id| put(id, json!(id), Precondition::Absent))
            .collect(),
    )
    .await
    .unwrap();
    s.write(vec![
        WriteOp::put(
            "test.thing",
            OTHER,
            "user/other-account",
            json!(0),
            Precondition::Any,
        ),
        WriteOp::put(
            "test.other",
            ACCOUNT,
            "user/other-kind",
            json!(0),
            Precondition::Any,
        ),
    ])
    .await
    .unwrap();

    let all = s.list(ListQuery::all("test.thing", ACCOUNT)).await.unwrap();
    let got: Vec<_> = all.items.iter().map(|i| i.id.as_str()).collect();
    let mut want = ids.to_vec();
    want.sort(); // Rust's str order is byte order.
    assert_eq!(got, want);
    assert_eq!(all.next, None);
    assert!(
        all.items
            .iter()
            .all(|i| i.value == json!(i.id) && i.version == 1)
    );

    let prefixed = s
        .list(ListQuery {
            kind: "test.thing",
            account: ACCOUNT,
            id_prefix: "user/",
            start_after: None,
            limit: 0,
        })
        .await
        .unwrap();
    let got: Vec<_> = prefixed.items.iter().map(|i| i.id.as_str()).collect();
    let want: Vec<_> = want
        .iter()
        .copied()
        .filter(|id| id.starts_with("user/"))
        .collect();
    assert_eq!(got, want);

    // Pages of 3 over the prefix.
    let mut paged = Vec::new();
    let mut start_after: Option<String> = None;
    loop {
        let page = s
            .list(ListQuery {
                kind: "test.thing",
                account: ACCOUNT,
                id_prefix: "user/",
                start_after: start_after.as_deref(),
                limit: 3,
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        paged.extend(page.items.iter().map(|i| i.id.clone()));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), paged.last());
                start_after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(paged, want);

    // Exactly a page's worth left: no `next`.
    let page = s
        .list(ListQuery {
            kind: "test.thing",
            account: ACCOUNT,
            id_prefix: "user/a",
            start_after: None,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next, None);
    let empty = s
        .list(ListQuery::all("test.nothing", ACCOUNT))
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000 + secs)
}

fn record(n: u64, account: &str, name: &str) -> NewAuditRecord {
    let principal_arn = format!("arn:aws:iam::{account}:user/u{}", n % 2);
    let username = format!("u{}", n % 2);
    let access_key_id = format!("AKIA{n:016}");
    NewAuditRecord::new(
        AuditFields {
            event_id: &format!("00000000-0000-4000-8000-{n:012}"),
            event_time: at(n) + Duration::from_micros(123_456),
            account,
            event_source: if name == "GetCallerIdentity" {
                "sts.amazonaws.com"
            } else {
                "iam.amazonaws.com"
            },
            event_name: name,
            read_only: name.starts_with("Get") || name.starts_with("List"),
            principal_arn: Some(&principal_arn),
            username: Some(&username),
            access_key_id: Some(&access_key_id),
            error_code: n.is_multiple_of(3).then_some("AccessDenied"),
        },
        &format!("{{\"eventName\":\"{name}\",\"n\":{n}}}"),
    )
}

/// A new record as the store gives it back, but for its `seq` and `hash` (left 0 and empty).
fn as_stored(r: &NewAuditRecord) -> AuditRecord {
    AuditRecord::new(0, r.fields(), r.event_time(), String::new())
}

fn seqs(records: &[portcullis_store::AuditRecord]) -> Vec<i64> {
    records.iter().map(|r| r.seq).collect()
}

async fn append_standard(s: &dyn Store) {
    // seq n holds record n.
    s.append_audit(
        vec![
            record(1, ACCOUNT, "CreateUser"),
            record(2, ACCOUNT, "GetCallerIdentity"),
        ]
        .into(),
    )
    .await
    .unwrap();
    s.append_audit(vec![record(3, OTHER, "CreateUser")].into())
        .await
        .unwrap();
    s.append_audit(vec![].into()).await.unwrap();
    s.append_audit((4..=6).map(|n| record(n, ACCOUNT, "ListUsers")).collect())
        .await
        .unwrap();
}

async fn audit_append_and_query(f: Fixture) {
    let s = &*f.store;
    append_standard(s).await;
    let all = s.query_audit(AuditQuery::default()).await.unwrap();
    assert_eq!(seqs(&all), vec![6, 5, 4, 3, 2, 1]);
    // Every field reads back as written.
    let first = all.last().unwrap();
    let want = as_stored(&record(1, ACCOUNT, "CreateUser"));
    assert_eq!(
        (
            &first.event_id,
            first.event_time,
            &first.account,
            &first.event_source,
            &first.event_name,
            first.read_only
        ),
        (
            &want.event_id,
            want.event_time,
            &want.account,
            &want.event_source,
            &want.event_name,
            want.read_only
        )
    );
    assert_eq!(
        (
            &first.principal_arn,
            &first.username,
            &first.access_key_id,
            &first.error_code,
            &first.body
        ),
        (
            &want.principal_arn,
            &want.username,
            &want.access_key_id,
            &want.error_code,
            &want.body
        )
    );
    assert_eq!(first.hash.len(), 64);

    let q = |f: fn(&mut AuditQuery)| {
        let mut query = AuditQuery::default();
        f(&mut query);
        query
    };
    let cases: Vec<(AuditQuery, Vec<i64>)> = vec![
        (q(|q| q.account = Some(OTHER.into())), vec![3]),
        (q(|q| q.event_name = Some("CreateUser".into())), vec![3, 1]),
        (
            q(|q| q.event_source = Some("sts.amazonaws.com".into())),
            vec![2],
        ),
        (
            q(|q| q.event_id = Some("00000000-0000-4000-8000-000000000005".into())),
            vec![5],
        ),
        (q(|q| q.read_only = Some(true)), vec![6, 5, 4, 2]),
        (q(|q| q.read_only = Some(false)), vec![3, 1]),
        (
            q(|q| q.error_code = Some("AccessDenied".into())),
            vec![6, 3],
        ),
        (q(|q| q.principal = Some("u1".into())), vec![5, 3, 1]),
        (
            q(|q| q.principal = Some(format!("arn:aws:iam::{ACCOUNT}:user/u0"))),
            vec![6, 4, 2],
        ),
        (
            q(|q| q.principal = Some("AKIA0000000000000004".into())),
            vec![4],
        ),
        // Start and end are inclusive, to the microsecond.
        (
            q(|q| q.start = Some(at(2) + Duration::from_micros(123_456))),
            vec![6, 5, 4, 3, 2],
        ),
        (
            q(|q| q.start = Some(at(2) + Duration::from_micros(123_457))),
            vec![6, 5, 4, 3],
        ),
        (
            q(|q| q.end = Some(at(4) + Duration::from_micros(123_456))),
            vec![4, 3, 2, 1],
        ),
        (
            q(|q| {
                q.start = Some(at(2));
                q.end = Some(at(4));
            }),
            vec![3, 2],
        ),
        (
            q(|q| {
                q.account = Some(ACCOUNT.into());
                q.error_code = Some("AccessDenied".into());
            }),
            vec![6],
        ),
        (q(|q| q.event_name = Some("DeleteUser".into())), vec![]),
        (q(|q| q.limit = 2), vec![6, 5]),
        (
            q(|q| {
                q.before_seq = Some(5);
                q.limit = 2;
            }),
            vec![4, 3],
        ),
    ];
    for (query, want) in cases {
        let got = s.query_audit(query.clone()).await.unwrap();
        assert_eq!(seqs(&got), want, "{query:?}");
    }
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
}

/// Time-ordered event ids (what the server writes) are found through their millisecond:
/// records of the same millisecond, of the next one, and at its last microsecond are each found
/// alone; an id of another millisecond finds nothing.
async fn audit_lookup_by_time_ordered_event_id(f: Fixture) {
    let s = f.store.as_ref();
    let base = at(0);
    let times = [
        base,
        base + Duration::from_micros(1),
        base + Duration::from_micros(999),
        base + Duration::from_micros(1_000),
        base + Duration::from_micros(2_500),
    ];
    let records: Vec<NewAuditRecord> = times
        .iter()
        .enumerate()
        .map(|(n, &time)| {
            let like = record(n as u64 + 1, ACCOUNT, "ListUsers");
            let event_id = portcullis_core::id::time_ordered_id(time);
            let fields = AuditFields {
                event_id: &event_id,
                event_time: time,
                ..like.audit_fields()
            };
            NewAuditRecord::new(fields, like.body())
        })
        .collect();
    s.append_audit(records.clone().into()).await.unwrap();
    for (n, r) in records.iter().enumerate() {
        let found = s
            .query_audit(AuditQuery {
                event_id: Some(r.event_id().to_owned()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(seqs(&found), vec![n as i64 + 1], "{}", r.event_id());
        // As LookupEvents asks: within the caller's account; another account finds nothing.
        for (account, expected) in [(ACCOUNT, vec![n as i64 + 1]), (OTHER, vec![])] {
            let found = s
                .query_audit(AuditQuery {
                    account: Some(account.into()),
                    event_id: Some(r.event_id().to_owned()),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(seqs(&found), expected, "{account} {}", r.event_id());
        }
    }
    let elsewhere =
        portcullis_core::id::time_ordered_id(base + Duration::from_secs(60)).to_string();
    let found = s
        .query_audit(AuditQuery {
            event_id: Some(elsewhere),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(found.is_empty());
}

async fn audit_pagination(f: Fixture) {
    let s = &*f.store;
    s.append_audit((1..=25).map(|n| record(n, ACCOUNT, "ListUsers")).collect())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut before = None;
    loop {
        let page = s
            .query_audit(AuditQuery {
                before_seq: before,
                limit: 10,
                read_only: Some(true),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.seq);
        got.extend(seqs(&page));
    }
    assert_eq!(got, (1..=25).rev().collect::<Vec<_>>());
}

/// Records spread over many segments of different sizes: pages end inside segments and at
/// their edges, a rare account or event is found among them, and filters that match nothing in
/// any one record (even where each matches something in a segment) find nothing.
async fn audit_queries_over_many_segments(f: Fixture) {
    const RARE: u64 = 97;
    let s = &*f.store;
    let mut n = 0;
    for b in 0..40u64 {
        let batch: Vec<_> = (0..=b % 9)
            .map(|_| {
                n += 1;
                if n == RARE {
                    record(n, OTHER, "DeleteUser")
                } else {
                    record(n, ACCOUNT, "GetCallerIdentity")
                }
            })
            .collect();
        s.append_audit(batch.into()).await.unwrap();
    }
    let total = i64::try_from(n).unwrap();
    let everything: Vec<i64> = (1..=total).rev().collect();
    assert_eq!(
        seqs(&s.query_audit(AuditQuery::default()).await.unwrap()),
        everything
    );
    for limit in [1, 4, 7, 50] {
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let page = s
                .query_audit(AuditQuery {
                    before_seq: before,
                    limit,
                    ..AuditQuery::default()
                })
                .await
                .unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            before = Some(last.seq);
            got.extend(seqs(&page));
        }
        assert_eq!(got, everything, "limit {limit}");
    }
    let rare = i64::try_from(RARE).unwrap();
    let q = |f: fn(&mut AuditQuery)| {
        let mut query = AuditQuery::default();
        f(&mut query);
        query
    };
    let cases: Vec<(AuditQuery, Vec<i64>)> = vec![
        (q(|q| q.account = Some(OTHER.into())), vec![rare]),
        (q(|q| q.event_name = Some("DeleteUser".into())), vec![rare]),
        (q(|q| q.read_only = Some(false)), vec![rare]),
        (
            q(|q| q.principal = Some(format!("AKIA{RARE:016}"))),
            vec![rare],
        ),
        (
            q(|q| {
                q.account = Some(OTHER.into());
                q.event_name = Some("GetCallerIdentity".into());
            }),
            vec![],
        ),
        (q(|q| q.event_name = Some("NoSuchEvent".into())), vec![]),
        (q(|q| q.account = Some("000000000000".into())), vec![]),
        (q(|q| q.error_code = Some("NoSuchCode".into())), vec![]),
        // An old time range, and paging inside it.
        (
            q(|q| {
                q.start = Some(at(10));
                q.end = Some(at(20));
            }),
            (10..=19).rev().collect(),
        ),
        (
            q(|q| {
                q.start = Some(at(10));
                q.end = Some(at(20));
                q.before_seq = Some(15);
                q.limit = 3;
            }),
            vec![14, 13, 12],
        ),
        (q(|q| q.start = Some(at(1_000))), vec![]),
        (q(|q| q.end = Some(at(0))), vec![]),
        (q(|q| q.end = Some(at(2))), vec![1]),
    ];
    for (query, want) in cases {
        let got = s.query_audit(query.clone()).await.unwrap();
        assert_eq!(seqs(&got), want, "{query:?}");
    }
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact {
            records: u64::try_from(total).unwrap()
        }
    );
}

async fn verify_intact(f: Fixture) {
    let s = &*f.store;
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 0 }
    );
    append_standard(s).await;
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // A store with another key finds the chain broken at the first record.
    if let StoreLocation::Sqlite { .. } | StoreLocation::Postgres { .. } = &f.location {
        let other = portcullis_store::open(&f.location, Secret::new(vec![7; 32]))
            .await
            .unwrap();
        assert!(matches!(
            other.verify_audit().await.unwrap(),
            AuditVerification::Broken { seq: 1, .. }
        ));
    }
}

// The tamper tests below work on `append_standard`'s three segments, one per append:
// records 1-2, record 3, records 4-6. Plain SQL edits whole rows; `Fixture::edit_segment`
// edits records inside one (keeping the segment well-formed, its hashes untouched).

async fn verify_catches_edited_body(f: Fixture) {
    let s = &*f.store;
    append_standard(s).await;
    let edited = f
        .edit_segment(5, |r| {
            assert_eq!(r[1].seq, 5);
            r[1].body = r[1].body.replace("ListUsers", "DeleteUser");
        })
        .await;
    if !edited {
        return;
    }
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 5, "{reason}");
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        f.edit_segment(5, |r| r[1].body =
            r[1].body.replace("DeleteUser", "ListUsers"))
            .await
    );
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // An edited field that queries filter on, too; and a flipped readOnly.
    assert!(f.edit_segment(3, |r| r[0].error_code = None).await);
    assert!(matches!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Broken { seq: 3, .. }
    ));
    assert!(
        f.edit_segment(3, |r| r[0].error_code = Some("AccessDenied".into()))
            .await
    );
    assert!(
        f.edit_segment(2, |r| r[1].read_only = !r[1].read_only)
            .await
    );
    assert!(matches!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Broken { seq: 2, .. }
    ));
    assert!(
        f.edit_segment(2, |r| r[1].read_only = !r[1].read_only)
            .await
    );
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // A segment's summary edited so that queries would skip its records.
    assert!(
        f.tamper("UPDATE audit_segment SET max_time = max_time - 1000000 WHERE first_seq = 4")
            .await
    );
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 4, "{reason}");
            assert!(reason.contains("time range"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        f.tamper("UPDATE audit_segment SET max_time = max_time + 1000000 WHERE first_seq = 4")
            .await
    );
    // Bytes cut behind the format's back: the record they belonged to is named.
    assert!(
        f.tamper(
            "UPDATE audit_segment SET records = substr(records, 1, length(records) - 1)
             WHERE first_seq = 4"
        )
        .await
    );
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 6, "{reason}");
            assert!(reason.contains("does not decode"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Queries report the damage rather than skip it.
    assert!(matches!(
        s.query_audit(AuditQuery::default()).await,
        Err(StoreError::Corrupt(_))
    ));
}

async fn verify_catches_deleted_record(f: Fixture) {
    let s = &*f.store;
    append_standard(s).await;
    // A whole segment deleted (and put back).
    if !f
        .tamper(
            "CREATE TABLE saved AS SELECT * FROM audit_segment WHERE first_seq = 3;
             DELETE FROM audit_segment WHERE first_seq = 3",
        )
        .await
    {
        return;
    }
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 3, "{reason}");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        f.tamper("INSERT INTO audit_segment SELECT * FROM saved; DROP TABLE saved")
            .await
    );
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // One record taken out of its segment.
    assert!(
        f.edit_segment(2, |r| {
            r.remove(1);
        })
        .await
    );
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 2, "{reason}");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Renumbering the later segments to hide the gap breaks the hashes instead.
    assert!(
        f.tamper(
            "UPDATE audit_segment SET first_seq = -first_seq WHERE first_seq > 2;
             UPDATE audit_segment SET first_seq = -first_seq - 1, last_seq = last_seq - 1
             WHERE first_seq < 0"
        )
        .await
    );
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 2, "{reason}");
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

async fn verify_catches_reordered_records(f: Fixture) {
    let s = &*f.store;
    append_standard(s).await;
    if !f.edit_segment(4, |r| r.swap(0, 1)).await {
        return;
    }
    assert!(matches!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Broken { seq: 4, .. }
    ));
    assert!(f.edit_segment(4, |r| r.swap(0, 1)).await);
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // Segments swapped whole.
    assert!(
        f.tamper(
            "UPDATE audit_segment SET first_seq = 100 WHERE first_seq = 1;
             UPDATE audit_segment SET first_seq = 1, last_seq = 1 WHERE first_seq = 3;
             UPDATE audit_segment SET first_seq = 2, last_seq = 3 WHERE first_seq = 100"
        )
        .await
    );
    assert!(matches!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Broken { seq: 1, .. }
    ));
}

async fn verify_catches_inserted_and_truncated(f: Fixture) {
    let s = &*f.store;
    append_standard(s).await;
    // A segment appended behind the store's back, even with a well-formed hash, does not chain.
    if !f
        .tamper(
            "INSERT INTO audit_segment
             SELECT 7, 7, min_time, max_time, filter, records FROM audit_segment
             WHERE first_seq = 3;
             UPDATE audit_head SET seq = 7 WHERE id = 1",
        )
        .await
    {
        return;
    }
    assert!(matches!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Broken { seq: 7, .. }
    ));
    assert!(
        f.tamper(
            "DELETE FROM audit_segment WHERE first_seq = 7;
             UPDATE audit_head SET seq = 6 WHERE id = 1"
        )
        .await
    );
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // A copy of record 5 inserted after it, inside its segment.
    assert!(
        f.edit_segment(5, |r| {
            let copy = r[1].clone();
            r.insert(2, copy);
        })
        .await
    );
    assert!(matches!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Broken { seq: 6, .. }
    ));
    assert!(
        f.edit_segment(5, |r| {
            r.remove(2);
        })
        .await
    );
    // The head rewound alone: the records beyond it are named.
    assert!(f.tamper("UPDATE audit_head SET seq = 5 WHERE id = 1").await);
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 6, "{reason}");
            assert!(reason.contains("beyond"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(f.tamper("UPDATE audit_head SET seq = 6 WHERE id = 1").await);
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // Deleting the newest records without rewinding the head is caught.
    assert!(f.edit_segment(5, |r| r.truncate(1)).await);
    match s.verify_audit().await.unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 5, "{reason}");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Deleting them and rewinding the head to the last record kept is not: nothing inside
    // the database remembers the records that were there (see `portcullis_store::audit`: an
    // anchor kept elsewhere closes this).
    let kept = s
        .query_audit(AuditQuery {
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(seqs(&kept), vec![4]);
    assert!(
        f.tamper(&format!(
            "UPDATE audit_head SET seq = 4, hash = '{}' WHERE id = 1",
            kept[0].hash
        ))
        .await
    );
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 4 }
    );
}

/// A database written before segments (schema version 2, one `audit_log` row per record) is
/// converted when opened: every record reads back, the chain verifies, and appends go on.
async fn an_audit_log_from_before_segments_is_converted(f: Fixture) {
    if matches!(f.location, StoreLocation::SqliteInMemory) {
        return;
    }
    const RECORDS: u64 = 600;
    f.store.close().await.unwrap();
    let hasher = portcullis_store::audit::ChainHasher::new(audit_key().expose());
    let mut prev = portcullis_store::audit::GENESIS_HASH;
    let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let opt = |s: &Option<String>| s.as_deref().map_or_else(|| "NULL".to_owned(), text);
    let mut rows = Vec::new();
    let mut written = Vec::new();
    for n in 1..=RECORDS {
        let (account, name) = match n % 5 {
            0 => (OTHER, "DeleteUser"),
            1 | 2 => (ACCOUNT, "GetCallerIdentity"),
            _ => (ACCOUNT, "ListUsers"),
        };
        let r = as_stored(&record(n, account, name));
        let micros = i64::try_from(
            r.event_time
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_micros(),
        )
        .unwrap();
        let seq = i64::try_from(n).unwrap();
        prev = hasher.hash(&prev, seq, r.fields(), micros);
        rows.push(format!(
            "({seq}, {}, {micros}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '{}')",
            text(&r.event_id),
            text(&r.account),
            text(&r.event_source),
            text(&r.event_name),
            if r.read_only { "TRUE" } else { "FALSE" },
            opt(&r.principal_arn),
            opt(&r.username),
            opt(&r.access_key_id),
            opt(&r.error_code),
            text(&r.body),
            hex::encode(prev)
        ));
        written.push(r);
    }
    // Back to version 2: the table as migrations 1 and 2 left it, filled as the old code did.
    assert!(
        f.tamper(&format!(
            "DROP TABLE audit_segment;
             DELETE FROM schema_migrations WHERE version = 3;
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
             INSERT INTO audit_log VALUES {};
             UPDATE audit_head SET seq = {RECORDS}, hash = '{}' WHERE id = 1",
            rows.join(",\n"),
            hex::encode(prev)
        ))
        .await
    );
    let s = f.reopen().await.unwrap();
    assert_eq!(
        f.query_i64("SELECT CAST(max(version) AS BIGINT) FROM schema_migrations")
            .await,
        Some(3)
    );
    // 256 records a converted segment.
    assert_eq!(
        f.query_i64("SELECT CAST(count(*) AS BIGINT) FROM audit_segment")
            .await,
        Some(3)
    );
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: RECORDS }
    );
    let all = s.query_audit(AuditQuery::default()).await.unwrap();
    assert_eq!(all.len(), 600);
    for (got, want) in all.iter().rev().zip(&written) {
        assert_eq!(
            (
                &got.event_id,
                got.event_time,
                &got.account,
                &got.event_name,
                got.read_only,
                &got.principal_arn,
                &got.username,
                &got.access_key_id,
                &got.error_code,
                &got.body
            ),
            (
                &want.event_id,
                want.event_time,
                &want.account,
                &want.event_name,
                want.read_only,
                &want.principal_arn,
                &want.username,
                &want.access_key_id,
                &want.error_code,
                &want.body
            )
        );
    }
    let other = s
        .query_audit(AuditQuery {
            account: Some(OTHER.into()),
            before_seq: Some(300),
            limit: 3,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(seqs(&other), vec![295, 290, 285]);
    s.append_audit(vec![record(601, ACCOUNT, "CreateUser")].into())
        .await
        .unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact {
            records: RECORDS + 1
        }
    );
    s.close().await.unwrap();
}

async fn reset_keeps_audit(f: Fixture) {
    let s = &*f.store;
    s.write(vec![
        put("a", json!(1), Precondition::Any),
        WriteOp::put("iam.user", "", "g", json!(1), Precondition::Any),
    ])
    .await
    .unwrap();
    append_standard(s).await;
    s.reset().await.unwrap();
    assert_eq!(version(s, "a").await, None);
    assert_eq!(s.get("iam.user", "", "g").await.unwrap(), None);
    assert!(
        s.list(ListQuery::all("test.thing", ACCOUNT))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(s.query_audit(AuditQuery::default()).await.unwrap().len(), 6);
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 6 }
    );
    // Still usable; the chain goes on.
    s.write(vec![put("a", json!(2), Precondition::Absent)])
        .await
        .unwrap();
    s.append_audit(vec![record(7, ACCOUNT, "CreateUser")].into())
        .await
        .unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: 7 }
    );
}

async fn concurrent_writers_lose_no_updates(f: Fixture) {
    const TASKS: u64 = 6;
    const INCREMENTS: u64 = 15;
    f.store
        .write(vec![put("counter", json!(0), Precondition::Absent)])
        .await
        .unwrap();
    // Half the tasks go through a second store over the same database when there is one (a
    // second Portcullis node, or a second process on the same SQLite file).
    let second = f.reopen().await.unwrap_or_else(|| Arc::clone(&f.store));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = if t.is_multiple_of(2) {
            Arc::clone(&f.store)
        } else {
            Arc::clone(&second)
        };
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for _ in 0..INCREMENTS {
                loop {
                    let item = store
                        .get("test.thing", ACCOUNT, "counter")
                        .await
                        .unwrap()
                        .unwrap();
                    let n = item.value.as_u64().unwrap();
                    match store
                        .write(vec![put(
                            "counter",
                            json!(n + 1),
                            Precondition::Version(item.version),
                        )])
                        .await
                    {
                        Ok(()) => break,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let item = f
        .store
        .get("test.thing", ACCOUNT, "counter")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.value, json!(TASKS * INCREMENTS));
    assert_eq!(item.version, i64::try_from(TASKS * INCREMENTS).unwrap() + 1);

    // Racing creators of one absent item: exactly one wins.
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = if t.is_multiple_of(2) {
            Arc::clone(&f.store)
        } else {
            Arc::clone(&second)
        };
        tasks.push(tokio::spawn(async move {
            store
                .write(vec![put("race", json!(t), Precondition::Absent)])
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(wins, 1);
}

async fn concurrent_appenders_keep_one_chain(f: Fixture) {
    let second = f.reopen().await.unwrap_or_else(|| Arc::clone(&f.store));
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let store = if t.is_multiple_of(2) {
            Arc::clone(&f.store)
        } else {
            Arc::clone(&second)
        };
        tasks.push(tokio::spawn(async move {
            for i in 0..10u64 {
                let n = t * 100 + i;
                let batch = if i.is_multiple_of(3) {
                    vec![
                        record(n, ACCOUNT, "CreateUser"),
                        record(n + 50, ACCOUNT, "TagUser"),
                    ]
                } else {
                    vec![record(n, ACCOUNT, "CreateUser")]
                };
                store.append_audit(batch.into()).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let expected = 4 * (10 + 4);
    assert_eq!(
        f.store.verify_audit().await.unwrap(),
        AuditVerification::Intact { records: expected }
    );
    let all = f.store.query_audit(AuditQuery::default()).await.unwrap();
    assert_eq!(
        seqs(&all),
        (1..=i64::try_from(expected).unwrap())
            .rev()
            .collect::<Vec<_>>()
    );
}

async fn health_close_and_reopen(f: Fixture) {
    let s = &*f.store;
    s.health().await.unwrap();
    s.write(vec![put("kept", json!({"k": true}), Precondition::Absent)])
        .await
        .unwrap();
    s.append_audit(vec![record(1, ACCOUNT, "CreateUser")].into())
        .await
        .unwrap();
    s.close().await.unwrap();
    assert!(matches!(
        s.get("test.thing", ACCOUNT, "kept").await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(s.write(vec![]).await, Err(StoreError::Closed)));
    assert!(matches!(s.health().await, Err(StoreError::Closed)));
    s.close().await.unwrap();
    // Opening again runs no migration twice and finds the data.
    if let Some(again) = f.reopen().await {
        let item = again
            .get("test.thing", ACCOUNT, "kept")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((item.value, item.version), (json!({"k": true}), 1));
        assert_eq!(
            again.verify_audit().await.unwrap(),
            AuditVerification::Intact { records: 1 }
        );
        again.close().await.unwrap();
    }
}

async fn migrations_run_once_and_refuse_a_newer_schema(f: Fixture) {
    let count = "SELECT CAST(count(*) AS BIGINT) FROM schema_migrations";
    let Some(before) = f.query_i64(count).await else {
        return;
    };
    assert_eq!(before, 3);
    assert_eq!(
        f.query_i64("SELECT CAST(max(version) AS BIGINT) FROM schema_migrations")
            .await,
        Some(3)
    );
    let again = f.reopen().await.unwrap();
    again.close().await.unwrap();
    assert_eq!(f.query_i64(count).await, Some(before));
    // A database migrated by a newer Portcullis is refused, not misread.
    assert!(
        f.tamper(
            "INSERT INTO schema_migrations (version, name, applied_at)
             VALUES (999, 'from the future', '2030-01-01T00:00:00Z')"
        )
        .await
    );
    match portcullis_store::open(&f.location, audit_key()).await {
        Err(StoreError::Corrupt(reason)) => assert!(reason.contains("999"), "{reason}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

async fn sealed_secrets_are_not_in_the_data_files(f: Fixture) {
    let StoreLocation::Sqlite { path } = &f.location else {
        return;
    };
    let key = portcullis_store::MasterKey::generate().unwrap();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEYq";
    let aad = portcullis_store::place_aad("iam.access-key", ACCOUNT, "AKIAIOSFODNN7EXAMPLE");
    let sealed = key.seal(secret.as_bytes(), &aad).unwrap();
    let value = json!({ "SecretAccessKey": hex::encode(&sealed) });
    f.store
        .write(vec![WriteOp::put(
            "iam.access-key",
            ACCOUNT,
            "AKIAIOSFODNN7EXAMPLE",
            value,
            Precondition::Absent,
        )])
        .await
        .unwrap();
    let item = f
        .store
        .get("iam.access-key", ACCOUNT, "AKIAIOSFODNN7EXAMPLE")
        .await
        .unwrap()
        .unwrap();
    let stored = hex::decode(item.value.get("SecretAccessKey").unwrap().as_str().unwrap()).unwrap();
    assert_eq!(
        key.open(&stored, &aad).unwrap().expose().as_slice(),
        secret.as_bytes()
    );

    let dir = path.parent().unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret found in {}",
            entry.path().display()
        );
        // The database, its WAL and its shared memory are the owner's only.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", entry.path().display());
        files += 1;
    }
    assert!(files >= 2, "expected the database and its WAL");
}
