//! Appending audit records to a SQLite store: batches of 1 (a quiet server) and 200 (what the
//! audit writer gathers in 5 ms under load), each record a realistic STS GetCallerIdentity
//! CloudTrail body of about 1.2 KB. Criterion reports the time of one `append_audit` call;
//! divide by the batch size for the cost of a record.
//!
//! `memory` isolates the CPU cost of the write (no disk sync); `file` is the server's own
//! setup (WAL, `synchronous=FULL`: one fsync per call).
//! Run: `cargo bench -p portcullis-store --bench audit_append`.
#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup on fixed, known-good inputs"
)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use portcullis_core::Secret;
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::{AuditFields, NewAuditRecord, Store};

fn record(n: u64) -> NewAuditRecord {
    let event_time = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_000_000_000_000 + n);
    let event_id = portcullis_core::id::time_ordered_id(event_time);
    let key = format!("AKIA{:016}", n % 16);
    let user = format!("load-{}", n % 16);
    let arn = format!("arn:aws:iam::123456789012:user/{user}");
    let body = format!(
        concat!(
            "{{\"eventVersion\":\"1.08\",\"userIdentity\":{{\"type\":\"IAMUser\",",
            "\"principalId\":\"AIDA{n:016}\",\"arn\":\"{arn}\",\"accountId\":\"123456789012\",",
            "\"accessKeyId\":\"{key}\",\"userName\":\"{user}\"}},",
            "\"eventTime\":\"2025-11-24T16:00:00Z\",\"eventSource\":\"sts.amazonaws.com\",",
            "\"eventName\":\"GetCallerIdentity\",\"awsRegion\":\"us-east-1\",",
            "\"sourceIPAddress\":\"127.0.0.1\",\"userAgent\":\"aws-cli/2.22.0 md/awscrt#0.22.0 ",
            "ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython ",
            "cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off ",
            "md/command#sts.get-caller-identity\",\"requestParameters\":null,",
            "\"responseElements\":null,\"requestID\":\"{event_id}\",\"eventID\":\"{event_id}\",",
            "\"readOnly\":true,\"eventType\":\"AwsApiCall\",\"managementEvent\":true,",
            "\"recipientAccountId\":\"123456789012\",\"eventCategory\":\"Management\",",
            "\"tlsDetails\":{{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",",
            "\"clientProvidedHostHeader\":\"sts.us-east-1.amazonaws.com\"}},",
            "\"sessionCredentialFromConsole\":null,\"additionalEventData\":{{\"SignatureVersion\":",
            "\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":43,",
            "\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":null,",
            "\"bytesTransferredOut\":401}},\"resources\":[],\"apiVersion\":\"2011-06-15\",",
            "\"edgeDeviceDetails\":null,\"inScopeMetadata\":{{\"principal\":\"{arn}\"}}}}"
        ),
        n = n,
        arn = arn,
        key = key,
        user = user,
        event_id = event_id,
    );
    let fields = AuditFields {
        event_id: &event_id,
        event_time,
        account: "123456789012",
        event_source: "sts.amazonaws.com",
        event_name: "GetCallerIdentity",
        read_only: true,
        principal_arn: Some(&arn),
        username: Some(&user),
        access_key_id: Some(&key),
        error_code: None,
    };
    // As the server builds a record: the body written into the record's own buffer.
    NewAuditRecord::build(fields, |out| out.extend_from_slice(body.as_bytes()))
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("append_audit");
    for (name, batch) in [
        ("memory", 1u64),
        ("memory", 200),
        ("file", 1),
        ("file", 200),
    ] {
        let store: Arc<dyn Store> = rt.block_on(async {
            let key = Secret::new(vec![7; 32]);
            match name {
                "memory" => Arc::new(SqliteStore::open_in_memory(key).await.unwrap()),
                _ => Arc::new(
                    SqliteStore::open_file(&dir.path().join(format!("b{batch}.db")), key, true)
                        .await
                        .unwrap(),
                ),
            }
        });
        // The records themselves are made outside the timed part, as the server makes them
        // before the audit writer sees them.
        let batches: Vec<Arc<[NewAuditRecord]>> = (0..64)
            .map(|b| (0..batch).map(|i| record(b * batch + i)).collect())
            .collect();
        assert!(
            batches
                .iter()
                .all(|b| { b.iter().all(|r| (1_100..1_400).contains(&r.body().len())) })
        );
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::new(name, batch), &batches, |b, batches| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let next = Arc::clone(batches.get(usize::try_from(i % 64).unwrap()).unwrap());
                    let started = Instant::now();
                    rt.block_on(store.append_audit(next)).unwrap();
                    total += started.elapsed();
                }
                total
            });
        });
        rt.block_on(store.close()).unwrap();
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
