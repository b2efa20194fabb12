//! SigV4 verification of a typical signed request: the AWS CLI's STS GetCallerIdentity POST
//! (form body, `content-type;host;x-amz-date` signed), plus the query codec around it.
//! Run: `cargo bench -p portcullis-aws --bench sigv4`.
#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup on fixed, known-good inputs"
)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_aws::sigv4::{self, HttpRequestParts};
use portcullis_aws::{Protocol, query};
use portcullis_core::Secret;

const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";

fn signed_request(
    secret: &Secret<String>,
    now: SystemTime,
) -> (http::Method, http::Uri, http::HeaderMap) {
    let method = http::Method::POST;
    let uri: http::Uri = "/".parse().unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8"
            .parse()
            .unwrap(),
    );
    headers.insert("host", "127.0.0.1:4566".parse().unwrap());
    headers.insert("x-amz-date", sigv4::format_amz_date(now).parse().unwrap());
    headers.insert(
        "user-agent",
        "aws-cli/2.22.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64"
            .parse()
            .unwrap(),
    );
    headers.insert("content-length", "43".parse().unwrap());
    // Parse a placeholder Authorization to get the claims, sign them, then put the real one in.
    let amz_date = sigv4::format_amz_date(now);
    let scope = format!(
        "AKIAIOSFODNN7EXAMPLE/{}/us-east-1/sts/aws4_request",
        &amz_date[..8]
    );
    let placeholder = format!(
        "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=content-type;host;x-amz-date, Signature=00"
    );
    headers.insert("authorization", placeholder.parse().unwrap());
    let parts = HttpRequestParts {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: BODY,
    };
    let parsed = sigv4::parse(&parts).unwrap().unwrap();
    let body_hash = {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, BODY);
        hex::encode(d)
    };
    let signature = sigv4::sign(&parts, &parsed, secret, &body_hash).unwrap();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
    );
    headers.insert("authorization", auth.parse().unwrap());
    (method, uri, headers)
}

fn bench(c: &mut Criterion) {
    let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned());
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let (method, uri, headers) = signed_request(&secret, now);
    let parts = HttpRequestParts {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: BODY,
    };
    let parsed = sigv4::parse(&parts).unwrap().unwrap();
    sigv4::verify(&parts, &parsed, &secret, now).unwrap();

    c.bench_function("sigv4 parse", |b| {
        b.iter(|| sigv4::parse(black_box(&parts)))
    });
    c.bench_function("sigv4 verify (parsed)", |b| {
        b.iter(|| sigv4::verify(black_box(&parts), black_box(&parsed), &secret, now))
    });
    c.bench_function("sigv4 parse + verify", |b| {
        b.iter(|| {
            let p = sigv4::parse(black_box(&parts)).unwrap().unwrap();
            sigv4::verify(&parts, &p, &secret, now)
        })
    });
    c.bench_function("query parse_params + response", |b| {
        b.iter(|| {
            let p = query::parse_params(
                None,
                Some("application/x-www-form-urlencoded"),
                black_box(BODY),
            )
            .unwrap();
            let Protocol::Query { xmlns } = Protocol::STS else {
                unreachable!()
            };
            query::response(
                p.action().unwrap(),
                xmlns,
                "01234567-89ab-cdef-0123-456789abcdef",
                |w| {
                    w.text_element("UserId", "123456789012")
                        .text_element("Account", "123456789012")
                        .text_element("Arn", "arn:aws:iam::123456789012:root");
                },
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
