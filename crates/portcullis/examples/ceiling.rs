//! The machine's ceiling for the server benchmark: a minimal hyper server on the same runtimes
//! and connection builder as Portcullis, answering every request with a fixed STS-sized body.
//! As in the server (`workers`), one thread per CPU runs a single-threaded runtime of its own,
//! taking remote wake-ups first, and the main thread accepts connections and hands each to the
//! next worker. (With one multi-threaded runtime instead, the ceiling measured the same at 16
//! connections and about 12% lower at 256.) Like the server, it writes each response from one
//! buffer (`writev(false)`): both served 6-8% more requests a second at 256 connections, about
//! the same at 16.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:4600`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::mpsc;

const BODY: &str = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:root</Arn><UserId>123456789012</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></GetCallerIdentityResponse>";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4600".to_owned());
    let count = std::thread::available_parallelism().map_or(1, usize::from);
    let mut workers = Vec::with_capacity(count);
    for _ in 0..count {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .global_queue_interval(1)
            .build()?;
        let (tx, mut rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        workers.push(tx);
        std::thread::spawn(move || {
            runtime.block_on(async move {
                while let Some(stream) = rx.recv().await {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                        continue;
                    };
                    tokio::spawn(serve(stream));
                }
            });
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("ceiling listening on http://{}", listener.local_addr()?);
        for next in (0..workers.len()).cycle() {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            if let (Ok(stream), Some(worker)) = (stream.into_std(), workers.get(next)) {
                let _ = worker.send(stream);
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

async fn serve(stream: tokio::net::TcpStream) {
    let service = hyper::service::service_fn(|_request| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
            BODY.as_bytes(),
        ))))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().writev(false);
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
