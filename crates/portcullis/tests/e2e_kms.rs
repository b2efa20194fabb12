//! End to end: KMS through the real binary, driven by the AWS CLI, boto3 and the AWS Encryption
//! SDK for Python (issue: KMS).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "end-to-end test code: a failed unwrap is a failed test"
)]

mod support;

use serde_json::Value;
use support::{Credentials, Server, clients_available, json_ok, stderr_err};

fn dev_root() -> Credentials {
    Credentials::new("test", "test")
}

#[test]
fn cli_encrypts_and_decrypts_with_an_encryption_context() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let creds = dev_root();
    let key = json_ok(&server.aws(&creds, &["kms", "create-key", "--description", "cli"]));
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(key["KeyMetadata"]["KeyState"], "Enabled");

    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, b"the plaintext").unwrap();
    let plain_arg = format!("fileb://{}", plain.display());
    let encrypted = json_ok(&server.aws(
        &creds,
        &[
            "kms",
            "encrypt",
            "--key-id",
            &key_id,
            "--plaintext",
            &plain_arg,
            "--encryption-context",
            "app=e2e",
        ],
    ));
    let blob = encrypted["CiphertextBlob"].as_str().unwrap();
    let blob_file = dir.path().join("blob");
    use base64::Engine as _;
    std::fs::write(
        &blob_file,
        base64::engine::general_purpose::STANDARD
            .decode(blob)
            .unwrap(),
    )
    .unwrap();
    let blob_arg = format!("fileb://{}", blob_file.display());

    let decrypted = json_ok(&server.aws(
        &creds,
        &[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &blob_arg,
            "--encryption-context",
            "app=e2e",
        ],
    ));
    let plaintext = base64::engine::general_purpose::STANDARD
        .decode(decrypted["Plaintext"].as_str().unwrap())
        .unwrap();
    assert_eq!(plaintext, b"the plaintext");

    let err = stderr_err(&server.aws(
        &creds,
        &[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &blob_arg,
            "--encryption-context",
            "app=other",
        ],
    ));
    assert!(err.contains("InvalidCiphertextException"), "{err}");

    let listed = json_ok(&server.aws(&creds, &["kms", "list-keys"]));
    assert!(
        listed["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["KeyId"] == key_id.as_str())
    );
}

#[test]
fn boto3_scenarios_for_every_key_kind() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let out = json_ok(&server.python(&dev_root(), "kms_scenarios.py", &[]));
    let ok: Vec<&str> = out["ok"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        ok,
        [
            "symmetric",
            "rotation",
            "data_keys",
            "signatures",
            "grants_and_policy"
        ]
    );
}

#[test]
fn the_aws_encryption_sdk_works_through_portcullis() {
    if !clients_available() {
        return;
    }
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import aws_encryption_sdk"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        assert!(
            std::env::var("PORTCULLIS_E2E").as_deref() != Ok("1"),
            "PORTCULLIS_E2E=1 but aws-encryption-sdk is not installed"
        );
        eprintln!("SKIPPED: pip install aws-encryption-sdk to run the Encryption SDK check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let out = json_ok(&server.python(&dev_root(), "kms_encryption_sdk.py", &[]));
    assert_eq!(out["ok"], true);
}

#[test]
fn key_policies_iam_policies_and_grants_decide_for_iam_users() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let out = json_ok(&server.python(&dev_root(), "kms_access.py", &[]));
    let ok: Vec<&str> = out["ok"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        ok,
        [
            "no_policy_denied",
            "iam_policy_allows_through_delegation",
            "key_policy_without_delegation_denies",
            "key_policy_names_the_user",
            "grant_allows_granted_operations",
            "explicit_deny_wins",
            "cross_account_needs_both_sides"
        ]
    );
}

#[test]
fn key_policy_lockout_check_condition_keys_and_aws_managed_keys() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let out = json_ok(&server.python(&dev_root(), "kms_policies.py", &[]));
    let ok: Vec<&str> = out["ok"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        ok,
        [
            "lockout_root",
            "lockout_iam_user",
            "resource_aliases",
            "request_alias",
            "via_service",
            "aws_managed_keys"
        ]
    );
}
