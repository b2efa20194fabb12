//! In-process KMS operations beside the raw aws-lc-rs cryptography they wrap, on the same
//! buffers: Encrypt and Decrypt of 4 KiB, GenerateDataKey, Sign with ECC P-256.
//!
//! `cargo bench -p portcullis-kms --bench crypto`. Two KMS rows per operation:
//! - `kms X`: KMS's own operation through its typed entry point (`Kms::encrypt`, ...): bytes
//!   in, bytes out; key lookup (cached record, else the in-memory SQLite store), authorization
//!   (`AccountOnlyAccess`), the key material (cached unsealed, else unsealed under the master
//!   key), the cryptography;
//! - `kms X (JSON call)`: the whole `Kms::call` as the server front calls it: JSON input,
//!   base64 in and out, JSON output, around the same operation.

// A benchmark stops on any failure: there is no caller to hand an error to.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_core::{AccountId, Principal, RequestContext, SystemClock};
use std::collections::BTreeMap;

use portcullis_kms::{
    AccountOnlyAccess, Caller, DecryptRequest, EncryptRequest, GenerateDataKeyRequest, Kms,
    KmsError,
};
use portcullis_store::{MasterKey, StoreLocation};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs `op` `n` times inside one `block_on`, as calls run inside the server's runtime: the
/// typed rows measure KMS, not entering a runtime per call.
fn in_runtime<T, F: Future<Output = Result<T, KmsError>>>(
    rt: &tokio::runtime::Runtime,
    n: u64,
    mut op: impl FnMut() -> F,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            black_box(op().await.unwrap());
        }
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let master = Arc::new(MasterKey::generate().unwrap());
    let store = rt
        .block_on(portcullis_store::open(
            &StoreLocation::SqliteInMemory,
            master.derive("audit-chain"),
        ))
        .unwrap();
    let kms = Kms::new(
        store,
        master,
        Arc::new(AccountOnlyAccess),
        Arc::new(SystemClock),
    );
    let ctx = RequestContext {
        request_id: "bench".into(),
        principal: Principal::root(
            AccountId::parse("111122223333").unwrap(),
            "AKIABENCH".into(),
        )
        .into(),
        region: "us-east-1".into(),
        source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        user_agent: "bench".into(),
        secure_transport: true,
        received_at: SystemTime::now(),
    };
    let call = |op: &str, input: Value| rt.block_on(kms.call(&ctx, op, input)).unwrap();
    let key = call("CreateKey", json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let ecc = call(
        "CreateKey",
        json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
    )["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();

    let buffer = vec![0x5au8; 4096];
    let encrypt_input =
        json!({"KeyId": key, "Plaintext": b64(&buffer), "EncryptionContext": {"bench": "1"}});
    let blob = call("Encrypt", encrypt_input.clone())["CiphertextBlob"].clone();
    let decrypt_input = json!({"CiphertextBlob": blob, "EncryptionContext": {"bench": "1"}});

    let caller = Caller::direct(&ctx);
    let context = BTreeMap::from([("bench".to_owned(), "1".to_owned())]);
    let typed_encrypt = EncryptRequest {
        key_id: &key,
        plaintext: &buffer,
        encryption_context: &context,
        encryption_algorithm: "SYMMETRIC_DEFAULT",
        grant_tokens: &[],
        dry_run: false,
    };
    let typed_blob = rt
        .block_on(kms.encrypt(&caller, &typed_encrypt))
        .unwrap()
        .ciphertext_blob;
    let typed_decrypt = DecryptRequest {
        ciphertext_blob: &typed_blob,
        encryption_context: &context,
        key_id: None,
        encryption_algorithm: "SYMMETRIC_DEFAULT",
        grant_tokens: &[],
        dry_run: false,
    };
    assert_eq!(
        rt.block_on(kms.decrypt(&caller, &typed_decrypt))
            .unwrap()
            .plaintext
            .expose()
            .as_slice(),
        &buffer
    );

    let mut g = c.benchmark_group("4KiB");
    g.throughput(Throughput::Bytes(4096));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("kms Encrypt", |b| {
        b.iter_custom(|n| in_runtime(&rt, n, || kms.encrypt(&caller, &typed_encrypt)))
    });
    g.bench_function("kms Decrypt", |b| {
        b.iter_custom(|n| in_runtime(&rt, n, || kms.decrypt(&caller, &typed_decrypt)))
    });
    g.bench_function("kms Encrypt (JSON call)", |b| {
        b.iter(|| call("Encrypt", encrypt_input.clone()))
    });
    g.bench_function("kms Decrypt (JSON call)", |b| {
        b.iter(|| call("Decrypt", decrypt_input.clone()))
    });
    let raw_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    g.bench_function("raw AES-256-GCM seal", |b| {
        b.iter(|| {
            let mut in_out = buffer.clone();
            raw_key
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(b"bench=1"),
                    &mut in_out,
                )
                .unwrap();
            in_out
        })
    });
    // The same seal with the wire's base64 in and out: what any JSON API must add.
    let encoded = b64(&buffer);
    g.bench_function("raw AES-256-GCM seal + base64 in/out", |b| {
        b.iter(|| {
            let mut in_out = base64::engine::general_purpose::STANDARD
                .decode(&encoded)
                .unwrap();
            raw_key
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(b"bench=1"),
                    &mut in_out,
                )
                .unwrap();
            b64(&in_out)
        })
    });
    let mut sealed = buffer.clone();
    raw_key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([1; 12]),
            Aad::from(b"bench=1"),
            &mut sealed,
        )
        .unwrap();
    g.bench_function("raw AES-256-GCM open", |b| {
        b.iter(|| {
            let mut in_out = sealed.clone();
            raw_key
                .open_in_place(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(b"bench=1"),
                    &mut in_out,
                )
                .unwrap()
                .len()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ops");
    g.measurement_time(Duration::from_secs(3));
    let gdk = json!({"KeyId": key, "KeySpec": "AES_256"});
    let no_context = BTreeMap::new();
    let typed_gdk = GenerateDataKeyRequest {
        key_id: &key,
        number_of_bytes: 32,
        encryption_context: &no_context,
        grant_tokens: &[],
        dry_run: false,
    };
    g.bench_function("kms GenerateDataKey", |b| {
        b.iter_custom(|n| in_runtime(&rt, n, || kms.generate_data_key(&caller, &typed_gdk)))
    });
    g.bench_function("kms GenerateDataKey (JSON call)", |b| {
        b.iter(|| call("GenerateDataKey", gdk.clone()))
    });
    g.bench_function("raw random 32 + AES-256-GCM seal 32", |b| {
        b.iter(|| {
            let mut dk = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut dk).unwrap();
            raw_key
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::empty(),
                    &mut dk,
                )
                .unwrap();
            dk
        })
    });
    let sign = json!({"KeyId": ecc, "Message": b64(b"message to sign"), "SigningAlgorithm": "ECDSA_SHA_256"});
    g.bench_function("kms Sign ECC_NIST_P256", |b| {
        b.iter(|| call("Sign", sign.clone()))
    });
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    g.bench_function("raw ECDSA P-256 sign", |b| {
        b.iter(|| pair.sign(&rng, b"message to sign").unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
