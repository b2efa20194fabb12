//! The writer thread: every write to a SQLite store runs here, in group commits.
//!
//! With `synchronous=FULL` each commit waits for the disk, so committing each write on its own
//! caps throughput at one write per disk sync however many requests are waiting. The writer
//! thread instead takes every job queued while the previous commit was syncing, runs each in a
//! savepoint of one `BEGIN IMMEDIATE` transaction, and commits them together with one sync.
//! A job whose work fails (a precondition that does not hold) is rolled back to its savepoint
//! alone; the others commit. No job's result is reported before the commit that holds it is
//! durable, and if that commit fails every job in it fails, so an acknowledged write is always
//! on disk and a refused one never is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StoreError;
use crate::audit::ChainHasher;

/// How many jobs one commit takes at most.
const MAX_GROUP: usize = 512;

/// Work for the writer thread, type-erased.
trait Job: Send {
    /// Runs the work inside the group's transaction, in a savepoint of its own.
    fn run(&mut self, conn: &Connection, hasher: &ChainHasher);
    /// Reports the outcome, once the group's commit is durable (`Ok`) or has failed.
    fn finish(self: Box<Self>, committed: Result<(), &StoreError>);
}

/// What runs on the writer thread once a job's work is durable, before its caller hears of it.
pub(super) type OnCommit = Box<dyn FnOnce() + Send>;

struct Pending<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    on_commit: Option<OnCommit>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection, &ChainHasher) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection, hasher: &ChainHasher) {
        if let Some(work) = self.work.take() {
            self.result = Some(in_savepoint(conn, |conn| work(conn, hasher)));
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), &StoreError>) {
        let outcome = match (self.result, committed) {
            // The work failed and was rolled back: its own error, whatever the group did.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => {
                if let Some(on_commit) = self.on_commit {
                    on_commit();
                }
                Ok(value)
            }
            (Some(Ok(_)) | None, Err(e)) => Err(StoreError::Backend {
                backend: "sqlite",
                message: format!("the commit failed: {e}"),
            }),
            (None, Ok(())) => Err(StoreError::Closed),
        };
        // The caller may have gone away; its write stands or falls with the group all the same.
        let _ = self.reply.send(outcome);
    }
}

/// Runs `f` in a savepoint: released when `f` succeeds, rolled back when it fails.
pub(super) fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    run(conn, "SAVEPOINT job")?;
    match f(conn) {
        Ok(value) => {
            run(conn, "RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = conn.execute_batch("ROLLBACK TO job; RELEASE job") {
                tracing::warn!(error = %rollback, "rolling back a failed write");
            }
            Err(e)
        }
    }
}

/// Runs one statement that takes no parameters, prepared once per connection.
fn run(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// The handle to the writer thread.
pub(super) struct Writer {
    jobs: std::sync::RwLock<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: std::sync::Mutex<Option<JoinHandle<Connection>>>,
}

impl Writer {
    /// Starts the thread over `conn`; `committed` is set after every commit.
    pub(super) fn start(
        conn: Connection,
        hasher: Arc<ChainHasher>,
        committed: Option<Arc<AtomicBool>>,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    run_group(&conn, &hasher, group);
                    if let Some(committed) = &committed {
                        committed.store(true, Ordering::Release);
                    }
                }
                conn
            })
            .map_err(|e| StoreError::Backend {
                backend: "sqlite",
                message: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            jobs: std::sync::RwLock::new(Some(tx)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Runs `f` on the writer connection, inside a transaction, and returns its result once the
    /// transaction is durable.
    /// `on_commit`, if any, runs on the writer thread once that transaction committed (in
    /// commit order, before the caller is answered).
    pub(super) async fn run<T, F>(&self, f: F, on_commit: Option<OnCommit>) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &ChainHasher) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Box::new(Pending {
            work: Some(f),
            result: None,
            on_commit,
            reply,
        });
        let sent = self
            .jobs
            .read()
            .ok()
            .and_then(|jobs| jobs.as_ref().map(|jobs| jobs.send(job).is_ok()));
        if sent != Some(true) {
            return Err(StoreError::Closed);
        }
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops taking jobs; the thread finishes the queued ones and, joined, hands back the
    /// connection.
    pub(super) fn stop(&self) -> Option<JoinHandle<Connection>> {
        self.detach();
        self.thread.lock().ok().and_then(|mut t| t.take())
    }

    /// Stops taking jobs without waiting (for a store dropped without being closed).
    pub(super) fn detach(&self) {
        if let Ok(mut jobs) = self.jobs.write() {
            jobs.take();
        }
    }
}

/// One group commit.
fn run_group(conn: &Connection, hasher: &ChainHasher, mut group: Vec<Box<dyn Job>>) {
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        for job in group {
            job.finish(Err(&e));
        }
        return;
    }
    for job in &mut group {
        // A failure SQLite answers by rolling back the whole transaction (a full disk, an I/O
        // error) ends it early: the jobs after it are not run outside of it.
        if conn.is_autocommit() {
            break;
        }
        job.run(conn, hasher);
    }
    let committed = if conn.is_autocommit() {
        Err(StoreError::Backend {
            backend: "sqlite",
            message: "the transaction was rolled back".to_owned(),
        })
    } else {
        run(conn, "COMMIT")
    };
    if committed.is_err()
        && !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "cannot roll back a failed group commit");
    }
    for job in group {
        job.finish(committed.as_ref().map(|_| ()));
    }
}
