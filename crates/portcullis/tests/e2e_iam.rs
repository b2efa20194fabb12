//! End to end: the IAM API of the real binary, driven by the AWS CLI and boto3.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "end-to-end test code: a failed unwrap is a failed test"
)]

mod support;

use serde_json::{Value, json};
use support::{Credentials, Server, clients_available, json_ok, stderr_err};

/// Dev mode: a 12-digit access key id acts as the root user of that account.
fn root() -> Credentials {
    Credentials::new("123456789012", "any-secret")
}

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    (dir, server)
}

fn scenario(server: &Server, name: &str) -> Value {
    json_ok(&server.python(&root(), "iam_scenarios.py", &[name]))
}

#[test]
fn a_new_users_access_key_authenticates_as_that_user() {
    if !clients_available() {
        return;
    }
    // Secure mode: only keys Portcullis issued authenticate, so a deactivated key is refused.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let root = server.root_credentials();
    let account = json_ok(&server.aws(&root, &["sts", "get-caller-identity"]))["Account"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = json_ok(&server.aws(
        &root,
        &[
            "iam",
            "create-user",
            "--user-name",
            "alice",
            "--path",
            "/eng/",
        ],
    ));
    let arn = format!("arn:aws:iam::{account}:user/eng/alice");
    assert_eq!(user["User"]["Arn"], arn.as_str());
    let key = json_ok(&server.aws(&root, &["iam", "create-access-key", "--user-name", "alice"]));
    let creds = Credentials::new(
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    assert!(creds.access_key_id.starts_with("AKIA"));
    let identity = json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    assert_eq!(
        identity,
        json!({"UserId": user["User"]["UserId"], "Account": account, "Arn": arn})
    );

    // Deactivating the key takes effect on the next request.
    let id = creds.access_key_id.as_str();
    succeeds(&server.aws(
        &root,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "alice",
            "--access-key-id",
            id,
            "--status",
            "Inactive",
        ],
    ));
    let denied = stderr_err(&server.aws(&creds, &["sts", "get-caller-identity"]));
    assert!(denied.contains("InvalidClientTokenId"), "{denied}");

    // A user with a key cannot be deleted.
    let conflict = stderr_err(&server.aws(&root, &["iam", "delete-user", "--user-name", "alice"]));
    assert!(
        conflict.contains("(DeleteConflict) when calling the DeleteUser operation")
            && conflict.contains(": Cannot delete entity, must delete access keys first."),
        "{conflict}"
    );
    succeeds(&server.aws(
        &root,
        &[
            "iam",
            "delete-access-key",
            "--user-name",
            "alice",
            "--access-key-id",
            id,
        ],
    ));
    succeeds(&server.aws(&root, &["iam", "delete-user", "--user-name", "alice"]));
    let missing = stderr_err(&server.aws(&root, &["iam", "get-user", "--user-name", "alice"]));
    assert!(
        missing.contains("(NoSuchEntity) when calling the GetUser operation")
            && missing.contains(": The user with name alice cannot be found."),
        "{missing}"
    );
}

/// Commands without output print nothing.
fn succeeds(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn boto3_paginates_users() {
    if !clients_available() {
        return;
    }
    let (_dir, server) = start();
    let out = scenario(&server, "pagination");
    assert_eq!(
        out["pages"],
        json!([
            ["page-00", "page-01", "page-02"],
            ["page-03", "page-04", "page-05"],
            ["page-06"]
        ])
    );
    assert_eq!(out["first_truncated"], true);
    assert_eq!(out["has_marker"], true);
}

#[test]
fn boto3_policies_versions_roles_and_documents() {
    if !clients_available() {
        return;
    }
    let (_dir, server) = start();
    let out = scenario(&server, "policies");
    let s3 = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
    assert_eq!(out["too_many"]["code"], "LimitExceeded");
    assert_eq!(out["too_many"]["status"], 409);
    assert_eq!(out["default_delete"]["code"], "DeleteConflict");
    assert_eq!(
        out["default_delete"]["message"],
        "Cannot delete the default version of a policy."
    );
    assert_eq!(out["versions"], json!(["v1", "v2", "v3", "v4", "v5"]));
    assert_eq!(out["default"], json!(["v2"]));
    // botocore URL-decodes and parses policy documents: they arrive as dicts.
    assert_eq!(out["doc"], s3);
    assert_eq!(out["inline"], s3);
    assert_eq!(out["details_role_inline"], s3);
    assert_eq!(
        out["trust"]["Statement"][0]["Principal"]["Service"],
        "ec2.amazonaws.com"
    );
    assert_eq!(out["max_session"], 7200);
    assert_eq!(
        out["attached_delete"]["message"],
        "Cannot delete a policy attached to entities."
    );
    assert_eq!(out["malformed"]["code"], "MalformedPolicyDocument");
    assert_eq!(out["malformed"]["status"], 400);
    assert_eq!(out["details_roles"], json!(["app"]));
    assert_eq!(out["details_policies"], json!(["s3-read"]));
    assert_eq!(out["entities"], json!(["app"]));
    assert_eq!(
        out["admin"]["Arn"],
        "arn:aws:iam::aws:policy/AdministratorAccess"
    );
}

#[test]
fn boto3_enables_virtual_mfa_with_real_totp_codes() {
    if !clients_available() {
        return;
    }
    let (_dir, server) = start();
    let out = scenario(&server, "mfa");
    assert_eq!(
        out["serial"],
        "arn:aws:iam::123456789012:mfa/mfa-user-phone"
    );
    assert_eq!(out["seed_len"], 20);
    assert_eq!(out["wrong"]["code"], "InvalidAuthenticationCode");
    assert_eq!(out["wrong"]["status"], 403);
    assert_eq!(out["listed"], json!([out["serial"]]));
    assert_eq!(out["virtual_user"], json!(["mfa-user"]));
    assert_eq!(out["conflict"]["code"], "DeleteConflict");
}

#[test]
fn boto3_account_tags_passwords_and_credential_report() {
    if !clients_available() {
        return;
    }
    let (_dir, server) = start();
    let out = scenario(&server, "account");
    assert_eq!(out["tags"], json!([{"Key": "team", "Value": "sec"}]));
    assert_eq!(out["reserved"]["code"], "InvalidInput");
    assert_eq!(out["weak"]["code"], "PasswordPolicyViolation");
    assert_eq!(out["min_length"], 20);
    assert_eq!(out["aliases"], json!(["portcullis-test"]));
    assert_eq!(out["format"], "text/csv");
    let lines: Vec<&str> = out["report_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines[0].starts_with("user,arn,user_creation_time,password_enabled,"));
    assert!(lines[1].starts_with("<root_account>,arn:aws:iam::123456789012:root,"));
    assert!(lines[2].starts_with("report-user,arn:aws:iam::123456789012:user/report-user,"));
    assert_eq!(lines[2].split(',').nth(3), Some("true"), "password_enabled");
    assert_eq!(out["users"], 1);
    assert_eq!(out["users_quota"], 5000);
    assert_eq!(out["missing"]["code"], "NoSuchEntity");
    assert_eq!(out["missing"]["status"], 404);
    assert_eq!(out["missing"]["type"], "Sender");
    assert_eq!(
        out["missing"]["message"],
        "The user with name nobody cannot be found."
    );
}

/// Regression: in dev mode a key Portcullis did not issue acts as an account's root user, but a
/// key it did issue and then deactivated or deleted must be refused, never fall back to root.
#[test]
fn dev_mode_refuses_deactivated_and_deleted_issued_keys() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let dev_root = Credentials::new("test", "test");
    json_ok(&server.aws(&dev_root, &["iam", "create-user", "--user-name", "carol"]));
    let key = json_ok(&server.aws(
        &dev_root,
        &["iam", "create-access-key", "--user-name", "carol"],
    ));
    let carol = Credentials::new(
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    let identity = json_ok(&server.aws(&carol, &["sts", "get-caller-identity"]));
    assert_eq!(identity["Arn"], "arn:aws:iam::000000000000:user/carol");

    let update = [
        "iam",
        "update-access-key",
        "--user-name",
        "carol",
        "--access-key-id",
        &carol.access_key_id,
    ];
    let deactivated = server.aws(
        &dev_root,
        &[&update[..], &["--status", "Inactive"]].concat(),
    );
    assert!(
        deactivated.status.success(),
        "{}",
        String::from_utf8_lossy(&deactivated.stderr)
    );
    let err = stderr_err(&server.aws(&carol, &["sts", "get-caller-identity"]));
    assert!(
        err.contains("InvalidClientTokenId"),
        "an inactive issued key must be refused: {err}"
    );

    let delete = [
        "iam",
        "delete-access-key",
        "--user-name",
        "carol",
        "--access-key-id",
        &carol.access_key_id,
    ];
    let deleted = server.aws(&dev_root, &delete);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let err = stderr_err(&server.aws(&carol, &["sts", "get-caller-identity"]));
    assert!(
        err.contains("InvalidClientTokenId"),
        "a deleted issued key must be refused: {err}"
    );
}

#[test]
fn access_key_last_used_records_time_service_and_region() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let dev_root = Credentials::new("test", "test");
    json_ok(&server.aws(&dev_root, &["iam", "create-user", "--user-name", "dana"]));
    let key = json_ok(&server.aws(
        &dev_root,
        &["iam", "create-access-key", "--user-name", "dana"],
    ));
    let key_id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    let dana = Credentials::new(
        &key_id,
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );

    let unused = json_ok(&server.aws(
        &dev_root,
        &[
            "iam",
            "get-access-key-last-used",
            "--access-key-id",
            &key_id,
        ],
    ));
    assert_eq!(
        unused["AccessKeyLastUsed"]["ServiceName"], "N/A",
        "{unused}"
    );

    json_ok(&server.aws(&dana, &["sts", "get-caller-identity"]));
    // Uses are written in batches every few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let used = loop {
        let out = json_ok(&server.aws(
            &dev_root,
            &[
                "iam",
                "get-access-key-last-used",
                "--access-key-id",
                &key_id,
            ],
        ));
        if out["AccessKeyLastUsed"]["ServiceName"] != "N/A" || std::time::Instant::now() > deadline
        {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(used["UserName"], "dana", "{used}");
    assert_eq!(used["AccessKeyLastUsed"]["ServiceName"], "sts", "{used}");
    assert_eq!(used["AccessKeyLastUsed"]["Region"], "us-east-1", "{used}");
    assert!(
        used["AccessKeyLastUsed"]["LastUsedDate"]
            .as_str()
            .is_some_and(|d| d.starts_with("20")),
        "{used}"
    );
}

#[test]
fn role_last_used_and_the_access_advisor_report_attempts() {
    if !clients_available() {
        return;
    }
    let (_dir, server) = start();
    let out = scenario(&server, "usage");
    // Never used: an empty RoleLastUsed, as AWS returns it.
    assert_eq!(out["never"], json!({}), "{out}");
    assert_eq!(out["denied"], "AccessDenied");
    // Assumed from eu-west-1, then used by its session in ap-south-1: the latest use wins.
    assert_eq!(out["last_used_region"], "ap-south-1", "{out}");
    assert!(out["last_used_date"].as_str().unwrap().starts_with("20"));
    assert_eq!(out["job_status"], "COMPLETED");
    assert_eq!(out["job_type"], "ACTION_LEVEL");
    assert_eq!(out["user_services"], json!(["iam", "sts"]));
    assert_eq!(out["iam_entity"], "arn:aws:iam::123456789012:user/carol");
    assert_eq!(out["iam_region"], "eu-west-1");
    assert_eq!(out["iam_total"], 1);
    // A denied attempt counts as an attempt.
    assert_eq!(out["iam_actions"], json!(["GetUser", "ListUsers"]));
    assert_eq!(out["sts_attempted"], true);
    assert_eq!(out["role_services"], json!({"kms": "ap-south-1"}));
    assert_eq!(out["entities"], json!([["USER", "carol", true]]));
    assert_eq!(
        out["granting"],
        json!({"iam": [["own", "INLINE", "USER"]], "kms": []})
    );
    assert_eq!(out["missing_job"], "NoSuchEntity");
    assert_eq!(out["bad_arn"], "NoSuchEntity");
}

#[test]
fn an_mfa_code_is_accepted_once() {
    if !clients_available() {
        return;
    }
    let (_dir, server) = start();
    let out = scenario(&server, "mfa_reuse");
    assert_eq!(out["first"], "ASIA", "{out}");
    assert_eq!(out["again"]["code"], "AccessDenied", "{out}");
    assert_eq!(out["again"]["status"], 403);
    assert_eq!(out["enable_again"]["code"], "InvalidAuthenticationCode");
}

#[test]
fn iam_quotas_come_from_the_config_file() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(&config, "[iam.quotas]\nusers-per-account = 1\n").unwrap();
    let server = Server::start(dir.path(), &["--dev", "--config", config.to_str().unwrap()]);
    json_ok(&server.aws(&root(), &["iam", "create-user", "--user-name", "first"]));
    let err = stderr_err(&server.aws(&root(), &["iam", "create-user", "--user-name", "second"]));
    assert!(
        err.contains("(LimitExceeded)")
            && err.contains("Cannot exceed quota for UsersPerAccount: 1"),
        "{err}"
    );
    let summary = json_ok(&server.aws(&root(), &["iam", "get-account-summary"]));
    assert_eq!(summary["SummaryMap"]["UsersQuota"], 1);
    assert_eq!(summary["SummaryMap"]["Users"], 1);
}
