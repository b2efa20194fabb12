//! End to end: IAM enforced on every call, STS and temporary credentials, driven by boto3
//! and the AWS CLI against the real binary in dev mode (issue 4).
//!
//! Each scenario runs `tests/py/authz_scenarios.py` as the root user of its own account (in
//! dev mode a 12-digit access key id names the account), which records every step's outcome
//! as botocore saw it: "ok", or the error code, message and HTTP status.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "end-to-end test code: a failed unwrap is a failed test"
)]

mod support;

use serde_json::Value;
use support::{Credentials, Server, clients_available, json_ok};

fn root(account: &str) -> Credentials {
    Credentials::new(account, "dev-mode-root-secret")
}

fn scenario(server: &Server, account: &str, name: &str, args: &[&str]) -> Value {
    let mut all = vec![name];
    all.extend_from_slice(args);
    let out = json_ok(&server.python(&root(account), "authz_scenarios.py", &all));
    assert!(out.get("unexpected").is_none(), "{name}: {out:#}");
    out
}

fn ok(out: &Value, step: &str) {
    assert_eq!(out[step], "ok", "{step}: {out:#}");
}

/// Asserts a query-protocol denial (AccessDenied, 403) whose message starts with `starts`.
fn denied(out: &Value, step: &str, starts: &str) {
    let e = &out[step];
    assert_eq!(e["code"], "AccessDenied", "{step}: {out:#}");
    assert_eq!(e["status"], 403, "{step}: {out:#}");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with(starts), "{step}: {message}");
    assert!(
        message.contains(". Encoded authorization failure message: "),
        "{step}: {message}"
    );
}

fn start() -> Option<(tempfile::TempDir, Server)> {
    if !clients_available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    Some((dir, server))
}

#[test]
fn least_privilege_new_users_can_do_nothing_but_what_a_policy_grants() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000001";
    let out = scenario(&server, a, "least_privilege", &[]);
    assert_eq!(out["identity"], format!("arn:aws:iam::{a}:user/alice"));
    denied(
        &out,
        "list_users_denied",
        &format!(
            "User: arn:aws:iam::{a}:user/alice is not authorized to perform: iam:ListUsers \
             because no identity-based policy allows the iam:ListUsers action"
        ),
    );
    ok(&out, "get_self");
    denied(
        &out,
        "get_bob_denied",
        &format!(
            "User: arn:aws:iam::{a}:user/alice is not authorized to perform: iam:GetUser on \
             resource: arn:aws:iam::{a}:user/bob because no identity-based policy allows"
        ),
    );

    // The AWS CLI sees the same denial.
    let err =
        support::stderr_err(&server.aws(&root(a), &["iam", "get-user", "--user-name", "nobody"]));
    assert!(
        err.contains("NoSuchEntity"),
        "root is allowed, the user is missing: {err}"
    );
}

#[test]
fn group_granted_permissions_follow_membership() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000002";
    let out = scenario(&server, a, "group_permissions", &[]);
    denied(
        &out,
        "before_membership",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
    ok(&out, "member_lists");
    denied(
        &out,
        "member_cannot_create",
        &format!("User: arn:aws:iam::{a}:user/alice is not authorized to perform: iam:CreateUser"),
    );
    denied(
        &out,
        "after_removal",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
}

#[test]
fn explicit_deny_wins_over_administrator_access() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000003";
    let out = scenario(&server, a, "explicit_deny", &[]);
    ok(&out, "create_allowed");
    denied(
        &out,
        "delete_denied",
        &format!(
            "User: arn:aws:iam::{a}:user/alice is not authorized to perform: iam:DeleteUser on \
             resource: arn:aws:iam::{a}:user/victim with an explicit deny in an identity-based policy"
        ),
    );
}

#[test]
fn a_permissions_boundary_caps_an_administrator() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000004";
    let out = scenario(&server, a, "boundary", &[]);
    ok(&out, "read_allowed");
    let e = &out["write_capped"];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("because no permissions boundary allows the iam:CreateUser action"),
        "{out:#}"
    );
    ok(&out, "uncapped");
}

#[test]
fn assuming_a_role_replaces_permissions_and_session_policies_narrow_them() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000005";
    let out = scenario(&server, a, "assume_role", &[]);
    ok(&out, "alice_creates");
    assert_eq!(
        out["assumed"]["Arn"],
        format!("arn:aws:sts::{a}:assumed-role/reader/s1")
    );
    assert!(
        out["assumed"]["AssumedRoleId"]
            .as_str()
            .unwrap()
            .starts_with("AROA")
    );
    assert_eq!(out["session_identity"], out["assumed"]["Arn"]);
    ok(&out, "session_lists");
    denied(
        &out,
        "session_cannot_create",
        &format!(
            "User: arn:aws:sts::{a}:assumed-role/reader/s1 is not authorized to perform: iam:CreateUser"
        ),
    );
    assert_eq!(out["root_cannot_assume"]["code"], "AccessDenied");
    assert_eq!(
        out["root_cannot_assume"]["message"],
        "Roots cannot assume roles"
    );
    assert_eq!(out["too_long"]["code"], "ValidationError");
    assert_eq!(out["too_long"]["status"], 400);
    assert_eq!(out["bad_token"]["code"], "InvalidClientTokenId");
    ok(&out, "narrowed_get_role");
    let e = &out["narrowed_list_denied"];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("because no session policy allows"),
        "{out:#}"
    );
}

#[test]
fn cross_account_role_needs_both_sides_and_the_external_id() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let (a, b) = ("111100000006", "222200000006");
    let out = scenario(&server, a, "cross_account", &[b]);
    denied(
        &out,
        "no_identity_policy",
        &format!(
            "User: arn:aws:iam::{a}:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{b}:role/partner"
        ),
    );
    denied(
        &out,
        "no_external_id",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
    denied(
        &out,
        "wrong_external_id",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
    ok(&out, "with_external_id");
    assert_eq!(out["session_account"], b);
    ok(&out, "session_lists_other_account");
}

#[test]
fn an_mfa_only_action_needs_an_mfa_session() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000007";
    let out = scenario(&server, a, "mfa_only", &[]);
    denied(
        &out,
        "without_mfa",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
    assert_eq!(out["wrong_code"]["code"], "AccessDenied", "{out:#}");
    denied(
        &out,
        "session_without_mfa",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
    ok(&out, "session_with_mfa");
    assert_eq!(out["mfa_identity"], format!("arn:aws:iam::{a}:user/alice"));
}

#[test]
fn tag_based_access_compares_resource_request_and_principal_tags() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000008";
    let out = scenario(&server, a, "tags", &[]);
    ok(&out, "delete_same_team");
    denied(
        &out,
        "delete_other_team",
        &format!(
            "User: arn:aws:iam::{a}:user/alice is not authorized to perform: iam:DeleteUser on resource: arn:aws:iam::{a}:user/red-user"
        ),
    );
    ok(&out, "create_tagged");
    denied(
        &out,
        "create_wrong_tag",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
    denied(
        &out,
        "create_untagged",
        &format!("User: arn:aws:iam::{a}:user/alice"),
    );
}

#[test]
fn sessions_issued_before_a_revocation_are_denied() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000009";
    let out = scenario(&server, a, "revoke", &[]);
    ok(&out, "old_before");
    let e = &out["old_after"];
    assert_eq!(e["code"], "AccessDenied", "{out:#}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("with an explicit deny in an identity-based policy")
    );
    ok(&out, "new_after");
}

#[test]
fn denials_decode_for_principals_allowed_to_decode() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000010";
    let out = scenario(&server, a, "decode", &[]);
    denied(
        &out,
        "alice_cannot_decode",
        &format!(
            "User: arn:aws:iam::{a}:user/alice is not authorized to perform: sts:DecodeAuthorizationMessage"
        ),
    );
    assert_eq!(out["decoded"]["allowed"], false);
    assert_eq!(out["decoded"]["context"]["action"], "iam:ListUsers");
    assert_eq!(
        out["decoded"]["context"]["principal"]["arn"],
        format!("arn:aws:iam::{a}:user/alice")
    );
    assert_eq!(
        out["garbage"]["code"],
        "InvalidAuthorizationMessageException"
    );
}

#[test]
fn federation_tokens_intersect_the_users_policies_with_the_session_policy() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000011";
    let out = scenario(&server, a, "federation", &[]);
    assert_eq!(
        out["federated"]["Arn"],
        format!("arn:aws:sts::{a}:federated-user/carol")
    );
    assert_eq!(out["federated_identity"]["UserId"], format!("{a}:carol"));
    ok(&out, "fed_lists_users");
    denied(
        &out,
        "fed_cannot_list_roles",
        &format!("User: arn:aws:sts::{a}:federated-user/carol"),
    );
    assert_eq!(out["key_account"], a);
}

#[test]
fn the_policy_simulator_answers_through_the_aws_cli() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let a = "111100000012";
    let creds = root(a);
    json_ok(&server.aws(&creds, &["iam", "create-user", "--user-name", "sim"]));
    let attached = server.aws(
        &creds,
        &[
            "iam",
            "attach-user-policy",
            "--user-name",
            "sim",
            "--policy-arn",
            "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
        ],
    );
    assert!(attached.status.success(), "{attached:?}");
    let out = json_ok(&server.aws(
        &creds,
        &[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            &format!("arn:aws:iam::{a}:user/sim"),
            "--action-names",
            "iam:ListUsers",
            "iam:CreateUser",
        ],
    ));
    let results = out["EvaluationResults"].as_array().unwrap();
    assert_eq!(results[0]["EvalActionName"], "iam:ListUsers");
    assert_eq!(results[0]["EvalDecision"], "allowed");
    assert_eq!(
        results[0]["MatchedStatements"][0]["SourcePolicyId"],
        "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    );
    assert_eq!(results[1]["EvalDecision"], "implicitDeny");

    let out = json_ok(&server.aws(
        &creds,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateUser","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"blue"}}}]}"#,
            "--action-names",
            "iam:CreateUser",
            "--context-entries",
            "ContextKeyName=aws:RequestTag/team,ContextKeyValues=blue,ContextKeyType=string",
        ],
    ));
    assert_eq!(out["EvaluationResults"][0]["EvalDecision"], "allowed");
}

#[test]
fn web_identity_tokens_assume_roles_through_the_trust_policy() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (file_issuer, loopback_issuer) =
        ("https://oidc.file.test", "https://oidc.loopback.test/ci");
    let config = format!(
        "{file_issuer}={},{loopback_issuer}=http://127.0.0.1:{port}/jwks.json",
        jwks.display()
    );
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &["--dev"], &[("PORTCULLIS_OIDC_JWKS", &config)]);
    let a = "111100000013";
    let out = json_ok(&server.python(
        &root(a),
        "authz_web_identity.py",
        &[
            file_issuer,
            jwks.to_str().unwrap(),
            loopback_issuer,
            &port.to_string(),
        ],
    ));
    ok(&out, "file_ok");
    assert_eq!(
        out["file_response"]["SubjectFromWebIdentityToken"],
        "ci-job"
    );
    assert_eq!(out["file_response"]["Audience"], "portcullis-test");
    assert_eq!(
        out["file_response"]["Arn"],
        format!("arn:aws:sts::{a}:assumed-role/ci-file/ci")
    );
    ok(&out, "session_lists_roles");
    denied(
        &out,
        "session_cannot_create",
        &format!("User: arn:aws:sts::{a}:assumed-role/ci-file/ci"),
    );
    ok(&out, "loopback_ok");
    assert_eq!(out["wrong_subject"]["code"], "AccessDenied", "{out:#}");
    assert_eq!(
        out["wrong_audience"]["code"], "InvalidIdentityToken",
        "{out:#}"
    );
    assert_eq!(out["expired"]["code"], "ExpiredTokenException", "{out:#}");
    assert_eq!(out["forged"]["code"], "InvalidIdentityToken", "{out:#}");
    assert_eq!(out["garbage"]["code"], "InvalidIdentityToken", "{out:#}");
}
