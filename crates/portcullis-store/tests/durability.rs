//! Durability: a child process writes to a SQLite store and prints each write after the store
//! acknowledged it; the test SIGKILLs the child mid-stream, reopens the store, and checks that
//! every acknowledged write is there and the audit chain is intact.
//!
//! The child is this same test binary, re-executed with `DURABILITY_CHILD` set, running
//! [`durability_child_writer`] (which does nothing in a normal test run).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use portcullis_core::Secret;
use portcullis_store::{
    AuditFields, AuditQuery, AuditVerification, NewAuditRecord, Precondition, StoreLocation,
    WriteOp,
};
use serde_json::json;

const CHILD_ENV: &str = "DURABILITY_CHILD";
const START_ENV: &str = "DURABILITY_START";
const ACCOUNT: &str = "123456789012";

fn key() -> Secret<Vec<u8>> {
    Secret::new(vec![5; 32])
}

fn event_id(n: u64) -> String {
    format!("durability-{n}")
}

/// The child: writes items and audit records in a loop until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let store = portcullis_store::open(&StoreLocation::Sqlite { path: path.into() }, key())
        .await
        .unwrap();
    let mut out = std::io::stdout().lock();
    for n in start.. {
        // An item per write, plus a counter updated with compare-and-swap in the same batch.
        let counter = store.get("dur.counter", ACCOUNT, "c").await.unwrap();
        let (precondition, count) = match &counter {
            Some(item) => (
                Precondition::Version(item.version),
                item.value.as_u64().unwrap() + 1,
            ),
            None => (Precondition::Absent, 1),
        };
        store
            .write(vec![
                WriteOp::put(
                    "dur.item",
                    ACCOUNT,
                    format!("{n:08}"),
                    json!({ "n": n }),
                    Precondition::Absent,
                ),
                WriteOp::put("dur.counter", ACCOUNT, "c", json!(count), precondition),
            ])
            .await
            .unwrap();
        writeln!(out, "ACK item {n} {count}").unwrap();
        out.flush().unwrap();
        store
            .append_audit(
                vec![NewAuditRecord::new(
                    AuditFields {
                        event_id: &event_id(n),
                        event_time: SystemTime::now(),
                        account: ACCOUNT,
                        event_source: "iam.amazonaws.com",
                        event_name: "CreateUser",
                        read_only: false,
                        principal_arn: None,
                        username: None,
                        access_key_id: None,
                        error_code: None,
                    },
                    &format!("{{\"n\":{n}}}"),
                )]
                .into(),
            )
            .await
            .unwrap();
        writeln!(out, "ACK audit {n}").unwrap();
        out.flush().unwrap();
    }
}

/// Runs one child from `start` until at least `min_acks` acknowledgements, SIGKILLs it, and
/// returns the acknowledged items (with their counter values) and audit event numbers.
fn run_and_kill(path: &Path, start: u64, min_acks: usize) -> (Vec<(u64, u64)>, Vec<u64>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .env(START_ENV, start.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = BufReader::new(stdout).lines();
    let (mut items, mut audits) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed = false;
    for line in lines {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ACK", "item", n, count] => items.push((n.parse().unwrap(), count.parse().unwrap())),
            ["ACK", "audit", n] => audits.push(n.parse().unwrap()),
            _ => {}
        }
        if !killed && (items.len() + audits.len() >= min_acks || Instant::now() > deadline) {
            // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no close.
            child.kill().unwrap();
            killed = true;
        }
        // Keep reading: lines the child printed before it died were acknowledged too.
    }
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child did not die by SIGKILL: {status:?}"
    );
    assert!(
        items.len() + audits.len() >= min_acks,
        "the child wrote too little before the deadline"
    );
    (items, audits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut all_items = Vec::new();
    let mut all_audits = Vec::new();
    let mut start = 0;
    // Twice: the second child starts on the store the first one left behind when killed.
    for round in 0..2 {
        let (items, audits) = run_and_kill(&path, start, 200);
        let store = portcullis_store::open(&StoreLocation::Sqlite { path: path.clone() }, key())
            .await
            .unwrap();
        for (n, count) in &items {
            let item = store
                .get("dur.item", ACCOUNT, &format!("{n:08}"))
                .await
                .unwrap();
            assert_eq!(
                item.map(|i| i.value),
                Some(json!({ "n": n })),
                "round {round}: acknowledged item {n} lost"
            );
            let counter = store
                .get("dur.counter", ACCOUNT, "c")
                .await
                .unwrap()
                .unwrap();
            assert!(
                counter.value.as_u64().unwrap() >= *count,
                "round {round}: counter went back"
            );
        }
        let stored: HashSet<String> = store
            .query_audit(AuditQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.event_id)
            .collect();
        for n in &audits {
            assert!(
                stored.contains(&event_id(*n)),
                "round {round}: acknowledged audit record {n} lost"
            );
        }
        match store.verify_audit().await.unwrap() {
            AuditVerification::Intact { records } => assert!(records >= audits.len() as u64),
            broken => panic!("round {round}: {broken:?}"),
        }
        store.close().await.unwrap();
        all_items.extend(items.iter().map(|(n, _)| *n));
        all_audits.extend(audits);
        // The next child goes on after everything the store holds (acknowledged or not).
        start = all_items.iter().max().map_or(0, |m| m + 10_000);
    }
    assert!(all_items.len() >= 100 && all_audits.len() >= 100);
}
