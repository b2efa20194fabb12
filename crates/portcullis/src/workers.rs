//! The threads that serve connections.
//!
//! Each worker is a thread running a single-threaded runtime of its own. The acceptor hands a
//! new connection to the worker with the fewest open connections; the worker registers its
//! socket with its own event loop, and every request on it runs there, start to end. A worker
//! with nothing to do waits in the kernel on its own sockets and wakes when one of them is
//! ready.
//!
//! One multi-threaded runtime (its workers sharing one event loop) was the first design: a
//! worker that ran out of tasks parked until the one holding the event loop polled it and woke
//! it, so under load the cores stood idle about a tenth of the time with requests waiting.
//! Measured against it (BENCHMARKS.md, "Sixth round"), these workers serve about 14% more
//! requests a second at 16 connections and 13% more at 256.
//!
//! What a worker gives up is work stealing: a request that keeps its thread busy holds up the
//! other connections of that worker. Requests are short (microseconds of CPU between awaits);
//! the one kind of work that is not, generating RSA keys, runs on the blocking pool
//! (`portcullis_kms`), off the worker.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

/// How often, in task polls, a worker's runtime takes a task woken from another thread before
/// its own: every time. Requests wait on other threads (store reads on the blocking pool, the
/// SQLite writer, the audit writer); with tokio's default (every 31st poll), a worker kept busy
/// by ready sockets let those tasks pile up, and at 256 connections a KMS Encrypt's p99 grew
/// from 24 ms to 100-150 ms (550 ms with one worker). Measured with no cost in throughput.
const REMOTE_FIRST: u32 = 1;

/// Work handed to a worker: runs on the worker's runtime, where `tokio::spawn` spawns.
type Job = Box<dyn FnOnce(OpenConnection) + Send>;

/// The worker threads.
pub struct Workers {
    workers: Vec<Worker>,
    /// Where the search for the least loaded worker starts, so that ties take turns.
    next: AtomicUsize,
}

struct Worker {
    jobs: mpsc::UnboundedSender<Job>,
    open: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

/// Counts a connection as open on its worker until dropped.
pub struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// Starts `count` workers (at least one).
    pub fn start(count: usize) -> std::io::Result<Self> {
        let mut workers = Vec::with_capacity(count.max(1));
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .global_queue_interval(REMOTE_FIRST)
                .build()?;
            let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
            let open = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&open);
            let thread = std::thread::Builder::new()
                .name(format!("portcullis-worker-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(job) = queue.recv().await {
                            job(OpenConnection(Arc::clone(&counter)));
                        }
                    });
                })?;
            workers.push(Worker { jobs, open, thread });
        }
        Ok(Self {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Runs `job` on the runtime of the worker with the fewest open connections, counting one
    /// more open there for as long as `job` keeps the [`OpenConnection`] it is given.
    pub fn dispatch(&self, job: impl FnOnce(OpenConnection) + Send + 'static) {
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let chosen = (0..n)
            .map(|i| (start.wrapping_add(i)) % n)
            .min_by_key(|&i| {
                self.workers
                    .get(i)
                    .map_or(usize::MAX, |w| w.open.load(Ordering::Relaxed))
            })
            .and_then(|i| self.workers.get(i));
        let Some(worker) = chosen else {
            return;
        };
        worker.open.fetch_add(1, Ordering::Relaxed);
        if worker.jobs.send(Box::new(job)).is_err() {
            // The worker has stopped (only at shutdown): the job, and its connection, are dropped.
            worker.open.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!("a worker thread has stopped; a connection was closed");
        }
    }

    /// Stops the workers: each finishes the jobs handed to it, then drops whatever of its
    /// connections are still open and ends. Returns once every thread has ended.
    pub async fn stop(self) {
        let threads: Vec<_> = self
            .workers
            .into_iter()
            .map(|Worker { jobs, thread, .. }| {
                drop(jobs);
                thread
            })
            .collect();
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(JoinHandle::join)
                .filter(Result::is_err)
                .count()
        })
        .await;
        match joined {
            Ok(0) => {}
            Ok(panicked) => tracing::error!(panicked, "worker threads panicked"),
            Err(e) => tracing::error!(error = %e, "could not wait for the worker threads"),
        }
    }
}

/// A connection's socket that, before it writes the answer to what it read, lets the other
/// connections ready on its worker have their turn.
///
/// A worker woken with several requests ready serves them all, then writes their responses one
/// after another, instead of serving and writing each in turn: the request path and the
/// kernel's send path (which on loopback also runs the client's receive path and wakes it)
/// each run several times with their code and data hot, rather than evicting each other. A
/// response waits at most for the requests that were ready beside it. Measured (BENCHMARKS.md,
/// "Seventh round"): GetCallerIdentity 12% more requests a second at 16 connections and 16%
/// more at 256; the server's CPU a request fell from 15.4-16.7 to 14.1-15.1 µs and that of the
/// load generator on the same cores from 8.4-9.1 to 7.3-7.7 µs, with as many context switches
/// a request as before. (The benchmark's ceiling, a server with no work per request, lost 10% at
/// 16 connections with it, so it does without.)
pub struct YieldBeforeWrite<S> {
    inner: S,
    /// Whether a read has returned data since the last write, so that the next write yields.
    read_since_write: bool,
}

impl<S> YieldBeforeWrite<S> {
    /// Wraps a connection's socket.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            read_since_write: false,
        }
    }

    /// Whether this write should first go to the back of the worker's queue: the first write
    /// after a read does, once, waking its own task so that it runs after those already ready.
    fn yields(&mut self, cx: &Context<'_>) -> bool {
        let yields = std::mem::take(&mut self.read_since_write);
        if yields {
            cx.waker().wake_by_ref();
        }
        yields
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for YieldBeforeWrite<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.read_since_write = true;
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for YieldBeforeWrite<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.yields(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.yields(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn connections_go_to_the_least_loaded_worker_and_run_there() {
        let workers = Workers::start(3).unwrap();
        assert_eq!(workers.len(), 3);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut held = Vec::new();
        for _ in 0..6 {
            let tx = tx.clone();
            workers.dispatch(move |open| {
                let name = std::thread::current().name().unwrap().to_owned();
                // A task spawned by the job runs on the same worker.
                tokio::spawn(async move {
                    let again = std::thread::current().name().unwrap().to_owned();
                    tx.send((name, again, open)).unwrap();
                });
            });
            held.push(rx.recv().await.unwrap());
        }
        let mut names: Vec<_> = held.iter().map(|(name, _, _)| name.clone()).collect();
        assert!(held.iter().all(|(name, again, _)| name == again));
        names.sort();
        assert_eq!(
            names,
            [0, 0, 1, 1, 2, 2].map(|i| format!("portcullis-worker-{i}"))
        );
        // Closing the two connections of worker 1 makes it the least loaded.
        held.retain(|(name, _, _)| name != "portcullis-worker-1");
        for _ in 0..2 {
            let tx = tx.clone();
            workers.dispatch(move |open| {
                let name = std::thread::current().name().unwrap().to_owned();
                tx.send((name.clone(), name, open)).unwrap();
            });
            held.push(rx.recv().await.unwrap());
        }
        assert!(
            held[held.len() - 2..]
                .iter()
                .all(|(name, _, _)| name == "portcullis-worker-1")
        );
        tokio::time::timeout(Duration::from_secs(10), workers.stop())
            .await
            .unwrap();
    }

    /// Two connections with requests ready on one worker: both are served before either
    /// response is written, and both responses arrive whole.
    #[test]
    fn responses_are_written_after_the_ready_requests_are_served() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let events = runtime.block_on(async {
            let log = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut clients = Vec::new();
            let mut connections = Vec::new();
            for name in ["a", "b"] {
                let (mut client, server) = tokio::io::duplex(1024);
                client.write_all(b"request").await.unwrap();
                clients.push(client);
                let log = Arc::clone(&log);
                connections.push(tokio::spawn(async move {
                    let mut server = YieldBeforeWrite::new(server);
                    let mut request = [0; 7];
                    server.read_exact(&mut request).await.unwrap();
                    log.lock().unwrap().push(format!("served {name}"));
                    server.write_all(b"response").await.unwrap();
                    log.lock().unwrap().push(format!("wrote {name}"));
                }));
            }
            for connection in connections {
                connection.await.unwrap();
            }
            for mut client in clients {
                let mut response = [0; 8];
                client.read_exact(&mut response).await.unwrap();
                assert_eq!(&response, b"response");
            }
            log.lock().unwrap().clone()
        });
        assert_eq!(events, ["served a", "served b", "wrote a", "wrote b"]);
    }

    /// Only the first write after a read yields; writes with nothing read before them, and the
    /// rest of a response, go straight out.
    #[test]
    fn only_the_first_write_after_a_read_yields() {
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = YieldBeforeWrite::new(server);
        let write = |server: &mut YieldBeforeWrite<_>, cx: &mut Context<'_>| {
            Pin::new(server).poll_write(cx, b"x")
        };
        assert!(matches!(write(&mut server, &mut cx), Poll::Ready(Ok(1))));
        assert!(matches!(
            Pin::new(&mut client).poll_write(&mut cx, b"request"),
            Poll::Ready(Ok(7))
        ));
        let mut buf = [0; 16];
        let mut read = ReadBuf::new(&mut buf);
        assert!(matches!(
            Pin::new(&mut server).poll_read(&mut cx, &mut read),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
        assert!(write(&mut server, &mut cx).is_pending());
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert!(matches!(write(&mut server, &mut cx), Poll::Ready(Ok(1))));
        assert!(matches!(write(&mut server, &mut cx), Poll::Ready(Ok(1))));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
    }

    /// A worker kept busy by tasks that wake each other (as connections whose sockets are
    /// always ready do) still runs tasks woken from other threads promptly.
    #[tokio::test]
    async fn tasks_woken_from_other_threads_are_not_starved_by_busy_ones() {
        use std::sync::atomic::AtomicBool;
        const WAITERS: usize = 100;
        let workers = Workers::start(1).unwrap();
        let rounds = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let (sent_tx, sent_rx) = std::sync::mpsc::channel();
        let (r, s) = (Arc::clone(&rounds), Arc::clone(&stop));
        workers.dispatch(move |_open| {
            let (a_tx, mut a_rx) = mpsc::unbounded_channel::<()>();
            let (b_tx, mut b_rx) = mpsc::unbounded_channel::<()>();
            let (r1, s1, s2) = (Arc::clone(&r), Arc::clone(&s), Arc::clone(&s));
            let a_again = a_tx.clone();
            tokio::spawn(async move {
                while a_rx.recv().await.is_some() && !s1.load(Ordering::Relaxed) {
                    r1.fetch_add(1, Ordering::Relaxed);
                    let _ = b_tx.send(());
                }
            });
            tokio::spawn(async move {
                while b_rx.recv().await.is_some() && !s2.load(Ordering::Relaxed) {
                    let _ = a_again.send(());
                }
            });
            let _ = a_tx.send(());
            let mut wakers = Vec::new();
            for _ in 0..WAITERS {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                wakers.push(tx);
                let (r, done) = (Arc::clone(&r), done_tx.clone());
                tokio::spawn(async move {
                    let _ = rx.await;
                    let _ = done.send(r.load(Ordering::Relaxed));
                });
            }
            std::thread::spawn(move || {
                for tx in wakers {
                    let _ = tx.send(());
                }
                let _ = sent_tx.send(r.load(Ordering::Relaxed));
            });
        });
        let mut last = 0;
        for _ in 0..WAITERS {
            last = done_rx.recv().await.unwrap();
        }
        let sent = sent_rx.recv().unwrap();
        stop.store(true, Ordering::Relaxed);
        // Taken one a poll, the hundred run within about a hundred polls of the busy pair (50
        // rounds); every 31st poll, they would take some 3,100 polls.
        assert!(
            last.saturating_sub(sent) < 500,
            "{} rounds of the busy tasks before the last woken task ran",
            last.saturating_sub(sent)
        );
        tokio::time::timeout(Duration::from_secs(10), workers.stop())
            .await
            .unwrap();
    }
}
