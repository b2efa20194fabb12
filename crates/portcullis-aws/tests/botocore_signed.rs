//! Requests signed by botocore (the AWS CLI's and boto3's signer) must verify.
//!
//! `tests/botocore/sign_fixtures.py` signs a set of requests (query, JSON 1.1, rest-json, with
//! and without a session token, and a presigned STS URL) at a fixed time; its output is checked
//! in as `botocore_signed.json`. When python3 with botocore is available, the test also runs
//! the script afresh, so that the installed botocore is checked too.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions fail loudly on bad fixtures"
)]

use std::path::Path;

use portcullis_aws::query;
use portcullis_aws::sigv4::{self, HttpRequestParts, SignatureLocation};
use portcullis_core::Secret;

fn verify_fixtures(doc: &serde_json::Value) -> usize {
    let secret = Secret::new(doc["secret_access_key"].as_str().unwrap().to_owned());
    let now_text = doc["now"].as_str().unwrap();
    let mut verified = 0;
    for r in doc["requests"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        let url: http::Uri = r["url"].as_str().unwrap().parse().unwrap();
        let method: http::Method = r["method"].as_str().unwrap().parse().unwrap();
        let mut headers = http::HeaderMap::new();
        for h in r["headers"].as_array().unwrap() {
            let k = h[0].as_str().unwrap();
            let v = h[1].as_str().unwrap();
            headers.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        // The HTTP client adds Host from the URL; the server sees an origin-form target.
        headers.insert(
            http::header::HOST,
            url.authority().unwrap().as_str().parse().unwrap(),
        );
        let uri: http::Uri = url.path_and_query().unwrap().as_str().parse().unwrap();
        let body = r["body"].as_str().unwrap().as_bytes().to_vec();
        let parts = HttpRequestParts {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: &body,
        };

        let parsed = sigv4::parse(&parts)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .expect(name);
        assert_eq!(parsed.amz_date, now_text, "{name}");
        let now = parsed.request_time;
        sigv4::verify(&parts, &parsed, &secret, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        let wrong = Secret::new("wrong".to_owned());
        assert!(
            sigv4::verify(&parts, &parsed, &wrong, now).is_err(),
            "{name}"
        );

        if name.starts_with("sts-") || name.starts_with("iam-") {
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
            let params = query::parse_params(uri.query(), content_type, &body).unwrap();
            assert!(params.action().is_some(), "{name}: no Action");
            if name == "iam-create-user-tags" {
                let tags = params.structs("Tags");
                assert_eq!(tags[0]["Value"], "a b&c");
            }
        }
        if name.contains("presigned") {
            assert!(
                matches!(parsed.location, SignatureLocation::Query { .. }),
                "{name}"
            );
            let late = now + std::time::Duration::from_secs(61);
            assert_eq!(
                sigv4::verify(&parts, &parsed, &secret, late),
                Err(sigv4::SigV4Error::RequestExpired)
            );
        }
        verified += 1;
    }
    verified
}

#[test]
fn checked_in_botocore_fixtures_verify() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/botocore/botocore_signed.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(verify_fixtures(&doc), 9);
}

#[test]
fn freshly_signed_by_installed_botocore() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/botocore/sign_fixtures.py");
    let output = std::process::Command::new("python3").arg(&script).output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "skipped: botocore not usable: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: python3 not available: {e}");
            return;
        }
    };
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verify_fixtures(&doc), 9);
}
