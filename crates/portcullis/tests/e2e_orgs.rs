//! End to end: AWS Organizations with SCPs enforced on member accounts, driven by boto3 and
//! the AWS CLI against the real binary in dev mode (issue 5).
//!
//! `tests/py/orgs_scenarios.py` builds an organization (two levels of OUs, three accounts),
//! then attaches an SCP that denies a service, an allow-list SCP with FullAWSAccess detached,
//! an SCP that denies leaving, and an SCP with a region condition, probing each time the
//! administrator and the root user of member accounts and the management account.
//! `tests/py/orgs_lifecycle.py` drives CreateAccount and CloseAccount, which finish in the
//! background as in AWS, the refusal of a closed account's principals, and invitations by
//! email; the AWS CLI polls an account request, and a request survives a restart.
//! `tests/py/orgs_root_access.py` drives IAM's centralized root access features and STS
//! AssumeRoot with the root task policies.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a panic is a failed test"
)]

mod support;

use serde_json::Value;
use support::{Credentials, Server, clients_available, json_ok, stderr_err};

const MGMT: &str = "210000000001";

fn root(account: &str) -> Credentials {
    Credentials::new(account, "dev-mode-root-secret")
}

fn start() -> Option<(tempfile::TempDir, Server)> {
    if !clients_available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    Some((dir, server))
}

#[track_caller]
fn ok(out: &Value, step: &str) {
    assert_eq!(out[step], "ok", "{step}: {:#}", out[step]);
}

/// A denial of the service's protocol (`AccessDenied` for IAM's query protocol,
/// `AccessDeniedException` for JSON), whose message names a service control policy.
#[track_caller]
fn denied_by_scp(out: &Value, step: &str) {
    let e = &out[step];
    let code = e["code"].as_str().unwrap_or_default();
    assert!(
        code == "AccessDenied" || code == "AccessDeniedException",
        "{step}: {e:#}"
    );
    let message = e["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("service control policy"),
        "{step}: {message}"
    );
}

#[track_caller]
fn error(out: &Value, step: &str, code: &str) {
    assert_eq!(out[step]["code"], code, "{step}: {:#}", out[step]);
}

#[test]
fn scps_bind_member_accounts_and_never_the_management_account() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let out = json_ok(&server.python(&root(MGMT), "orgs_scenarios.py", &[]));

    // The tree: two levels of OUs, three accounts plus the management account.
    assert_eq!(out["account_count"], 4, "{out:#}");
    assert_eq!(out["prod_parents"][0], out["prod"]);
    assert_eq!(out["prod_ou_parent"], out["workloads"]);

    // FullAWSAccess alone allows everything the administrator's policies allow.
    for s in ["iam_read", "iam_write", "kms"] {
        ok(&out, &format!("before_prod_admin_{s}"));
    }

    // 1. An SCP denying KMS on the Prod OU binds Prod's administrator and root user only.
    for who in ["deny_kms_prod_admin", "deny_kms_prod_root"] {
        ok(&out, &format!("{who}_iam_read"));
        ok(&out, &format!("{who}_iam_write"));
        denied_by_scp(&out, &format!("{who}_kms"));
    }
    for who in [
        "deny_kms_dev_admin",
        "deny_kms_mgmt_admin",
        "deny_kms_mgmt_root",
    ] {
        for s in ["iam_read", "iam_write", "kms"] {
            ok(&out, &format!("{who}_{s}"));
        }
    }

    // The policy simulator includes the member account's SCPs.
    assert_eq!(
        out["simulated"],
        serde_json::json!({"kms:ListKeys": ["explicitDeny", false], "iam:ListUsers": ["allowed", true]})
    );

    // 2. An allow-list SCP: only what it lists passes, for the administrator and the root.
    error(
        &out,
        "detach_from_unattached_target",
        "PolicyNotAttachedException",
    );
    for who in ["allow_list_sandbox_admin", "allow_list_sandbox_root"] {
        ok(&out, &format!("{who}_iam_read"));
        denied_by_scp(&out, &format!("{who}_iam_write"));
        denied_by_scp(&out, &format!("{who}_kms"));
    }
    for s in ["iam_read", "iam_write", "kms"] {
        ok(&out, &format!("allow_list_mgmt_admin_{s}"));
        ok(&out, &format!("allow_list_removed_sandbox_admin_{s}"));
    }
    error(&out, "detach_only_scp", "ConstraintViolationException");
    assert_eq!(
        out["detach_only_scp"]["reason"], "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        "botocore parses the Reason member: {}",
        out["detach_only_scp"]
    );

    // 3. Leaving is denied by the SCP for member accounts; the management account is not
    // bound by SCPs, and is refused by Organizations itself.
    denied_by_scp(&out, "leave_denied_dev_admin");
    denied_by_scp(&out, "leave_denied_dev_root");
    error(
        &out,
        "leave_mgmt_admin",
        "MasterCannotLeaveOrganizationException",
    );
    ok(&out, "describe_org_dev_admin");

    // 4. The region condition.
    for who in ["dev_admin", "dev_root"] {
        ok(&out, &format!("region_{who}_us_east_1"));
        denied_by_scp(&out, &format!("region_{who}_eu_west_1"));
    }
    ok(&out, "region_mgmt_admin_us_east_1");
    ok(&out, "region_mgmt_admin_eu_west_1");
    let dev = out["accounts"]["dev"].as_str().unwrap();
    assert_eq!(out["targets_for_region_policy"][0], dev);
    assert_eq!(
        out["dev_policies"],
        serde_json::json!(["FullAWSAccess", "UsEast1Only"])
    );

    // 5. OrganizationAccountAccessRole: the management account's administrator administers a
    // member account, within that account's SCPs.
    let prod = out["accounts"]["prod"].as_str().unwrap();
    assert_eq!(
        out["role_identity"],
        format!("arn:aws:sts::{prod}:assumed-role/OrganizationAccountAccessRole/ops")
    );
    ok(&out, "role_session_iam_read");
    ok(&out, "role_session_iam_write");
    denied_by_scp(&out, "role_session_kms");

    // 6. Org context keys in conditions.
    denied_by_scp(&out, "path_dev_admin");
    ok(&out, "path_sandbox_admin");
    ok(&out, "org_id_sandbox_admin");

    // 7. RCPs bind resources of member accounts, never the management account's.
    ok(&out, "rcp_before");
    assert_eq!(
        out["rcp_attached"],
        serde_json::json!(["p-RCPFullAWSAccess"])
    );
    let e = &out["rcp_outsider_denied"];
    assert_eq!(e["code"], "AccessDenied", "{e:#}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("resource control policy"),
        "{e:#}"
    );
    ok(&out, "rcp_management_resource");
    ok(&out, "rcp_member_allowed");
    error(&out, "rcp_full_access_detach", "InvalidInputException");
    ok(&out, "rcp_after");

    // Without the leave SCP, a member account leaves.
    ok(&out, "leave_dev_root");
    assert_eq!(out["account_count_after_leave"], 3);

    // AWS's errors.
    error(
        &out,
        "err_duplicate_attachment",
        "DuplicatePolicyAttachmentException",
    );
    error(&out, "err_policy_in_use", "PolicyInUseException");
    error(&out, "err_child_not_found", "ChildNotFoundException");
    error(
        &out,
        "err_type_not_enabled",
        "PolicyTypeNotEnabledException",
    );
    error(&out, "err_not_in_use", "AWSOrganizationsNotInUseException");

    // The AWS CLI sees the same organization and errors.
    let cli = json_ok(&server.aws(&root(MGMT), &["organizations", "describe-organization"]));
    assert_eq!(cli["Organization"]["Id"], out["org_id"]);
    assert_eq!(cli["Organization"]["MasterAccountId"], MGMT);
    let accounts = json_ok(&server.aws(&root(MGMT), &["organizations", "list-accounts"]));
    assert_eq!(accounts["Accounts"].as_array().unwrap().len(), 3);
    let roots = json_ok(&server.aws(&root(MGMT), &["organizations", "list-roots"]));
    assert_eq!(
        roots["Roots"][0]["PolicyTypes"][0]["Type"],
        "SERVICE_CONTROL_POLICY"
    );
    let err = stderr_err(&server.aws(
        &root(MGMT),
        &[
            "organizations",
            "create-organizational-unit",
            "--parent-id",
            out["prod"].as_str().unwrap(),
            "--name",
            "x",
            "--tags",
            "Key=aws:x,Value=y",
        ],
    ));
    assert!(err.contains("InvalidInputException"), "{err}");
    let err = stderr_err(&server.aws(&root(prod), &["organizations", "list-accounts"]));
    assert!(err.contains("AccessDeniedException"), "{err}");
}

#[test]
fn accounts_are_made_and_closed_in_the_background_and_closed_accounts_refused() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let out = json_ok(&server.python(&root(MGMT), "orgs_lifecycle.py", &[]));

    // CreateAccount answers IN_PROGRESS without the account; polling sees SUCCEEDED soon.
    let answer = &out["create_answer"];
    assert_eq!(answer["State"], "IN_PROGRESS", "{out:#}");
    assert!(answer.get("AccountId").is_none(), "{answer}");
    assert!(answer.get("CompletedTimestamp").is_none(), "{answer}");
    let done = &out["create_final"];
    assert_eq!(done["State"], "SUCCEEDED", "{out:#}");
    assert!(done["CompletedTimestamp"].is_string(), "{done}");
    let build = done["AccountId"].as_str().unwrap();
    let seconds = out["create_seconds"].as_f64().unwrap();
    assert!(seconds < 2.0, "took {seconds} s");
    assert_eq!(out["by_state"]["IN_PROGRESS"], serde_json::json!([]));
    assert_eq!(out["by_state"]["SUCCEEDED"][0], answer["Id"]);
    assert_eq!(out["by_state"]["FAILED"], serde_json::json!([]));
    assert_eq!(out["duplicate_email"]["State"], "FAILED");
    assert_eq!(
        out["duplicate_email"]["FailureReason"],
        "EMAIL_ALREADY_EXISTS"
    );
    assert_eq!(
        out["by_state_after"],
        serde_json::json!({"SUCCEEDED": 1, "FAILED": 1})
    );
    let mut listed = vec![MGMT.to_owned(), build.to_owned()];
    listed.sort();
    assert_eq!(out["listed"], serde_json::json!(listed));

    // Before closing, the member account's principals work.
    for s in ["before_admin", "before_root", "before_session"] {
        ok(&out, s);
    }
    // CloseAccount: PENDING_CLOSURE first, then SUSPENDED (Status and State).
    ok(&out, "close");
    let states: Vec<&str> = out["close_states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(states.last(), Some(&"SUSPENDED"), "{states:?}");
    assert!(
        states
            .iter()
            .all(|s| ["PENDING_CLOSURE", "SUSPENDED"].contains(s)),
        "{states:?}"
    );
    assert_eq!(out["closed_status"], "SUSPENDED");
    // Its administrator, root user and role sessions are refused, as credentials AWS no
    // longer accepts are; its roles cannot be assumed.
    for s in [
        "closed_admin",
        "closed_root",
        "closed_root_sts",
        "closed_session",
    ] {
        error(&out, s, "InvalidClientTokenId");
        assert_eq!(out[s]["status"], 403, "{s}: {:#}", out[s]);
    }
    error(&out, "closed_assume", "AccessDenied");
    let doomed = out["doomed"].as_str().unwrap();
    assert_eq!(
        out["closed_assume"]["message"],
        format!(
            "User: arn:aws:iam::{MGMT}:user/admin is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{doomed}:role/OrganizationAccountAccessRole"
        )
    );
    error(&out, "closed_again", "AccountAlreadyClosedException");
    error(&out, "close_management", "ConstraintViolationException");
    assert_eq!(
        out["close_management"]["reason"],
        "CANNOT_CLOSE_MANAGEMENT_ACCOUNT"
    );
    // A closed account's email cannot be reused; it still counts in the organization.
    assert_eq!(
        out["closed_email_reuse"]["FailureReason"],
        "EMAIL_ALREADY_EXISTS"
    );
    ok(&out, "other_account_after_close");
    assert_eq!(out["listed_after_close"], 3);

    // Invitations by email reach the account whose root user has the address.
    ok(&out, "invite_email");
    assert_eq!(out["invite_parties"][1]["Type"], "EMAIL", "{out:#}");
    assert_eq!(out["build_handshakes"].as_array().unwrap().len(), 1);
    ok(&out, "accept_email_invite");
    assert_eq!(out["build_email"], "build@example.com");
    error(&out, "invite_unknown_email", "InvalidInputException");
    assert_eq!(
        out["invite_unknown_email"]["reason"],
        "INVALID_EMAIL_ADDRESS_TARGET"
    );
    error(&out, "invite_bad_type", "InvalidInputException");
}

/// `aws organizations create-account`, then polling `describe-create-account-status` as a user
/// does; and a request the server had no time to finish is finished after a restart.
#[test]
fn the_cli_polls_an_account_request_and_a_restart_finishes_pending_ones() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();
    json_ok(&server.aws(&creds, &["organizations", "create-organization"]));
    let create = |email: &str| {
        let out = json_ok(&server.aws(
            &creds,
            &[
                "organizations",
                "create-account",
                "--email",
                email,
                "--account-name",
                email.split('@').next().unwrap(),
            ],
        ));
        assert_eq!(out["CreateAccountStatus"]["State"], "IN_PROGRESS", "{out}");
        out["CreateAccountStatus"]["Id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Polls describe-create-account-status until the request is no longer IN_PROGRESS.
    let finished = |server: &Server, id: &str| {
        let started = std::time::Instant::now();
        loop {
            let status = json_ok(&server.aws(
                &creds,
                &[
                    "organizations",
                    "describe-create-account-status",
                    "--create-account-request-id",
                    id,
                ],
            ))["CreateAccountStatus"]
                .clone();
            if status["State"] != "IN_PROGRESS" || started.elapsed().as_secs() > 10 {
                return status;
            }
        }
    };
    let id = create("cli@example.com");
    let status = finished(&server, &id);
    assert_eq!(status["State"], "SUCCEEDED", "{status}");
    assert_eq!(status["AccountId"].as_str().unwrap().len(), 12);

    // A request made just before the server is killed is finished by the next start.
    let pending = create("restart@example.com");
    server.kill();
    let server = Server::start(dir.path(), &[]);
    let status = finished(&server, &pending);
    assert_eq!(status["State"], "SUCCEEDED", "{status}");
    let accounts = json_ok(&server.aws(&creds, &["organizations", "list-accounts"]));
    assert_eq!(accounts["Accounts"].as_array().unwrap().len(), 3);
}

#[test]
fn assume_root_opens_task_scoped_root_sessions_once_root_access_is_centralized() {
    let Some((_dir, server)) = start() else {
        return;
    };
    let out = json_ok(&server.python(&root(MGMT), "orgs_root_access.py", &[]));
    let member = out["member"].as_str().unwrap();
    ok(&out, "root_key_works");

    // IAM's organization features: trusted access first, the management account enables.
    error(
        &out,
        "list_without_trusted_access",
        "ServiceAccessNotEnabledException",
    );
    error(
        &out,
        "enable_without_trusted_access",
        "ServiceAccessNotEnabledException",
    );
    assert_eq!(
        out["features_initially"]["EnabledFeatures"],
        serde_json::json!([])
    );
    assert!(
        out["features_initially"]["OrganizationId"]
            .as_str()
            .unwrap()
            .starts_with("o-")
    );
    error(
        &out,
        "member_enables",
        "CallerIsNotManagementAccountException",
    );
    error(
        &out,
        "member_lists",
        "AccountNotManagementOrDelegatedAdministratorException",
    );
    error(&out, "outsider_lists", "OrganizationNotFoundException");
    error(&out, "assume_before_enabled", "AccessDenied");
    assert_eq!(
        out["enabled_credentials"]["EnabledFeatures"],
        serde_json::json!(["RootCredentialsManagement"])
    );

    // The audit session is the member's root user, for at most what was asked.
    assert_eq!(
        out["audit_identity"]["Arn"],
        format!("arn:aws:iam::{member}:root")
    );
    assert_eq!(out["audit_identity"]["Account"], member);
    let expires_in = out["audit_expires_in"].as_f64().unwrap();
    assert!((550.0..=600.0).contains(&expires_in), "{expires_in}");
    ok(&out, "audit_list_root_keys");
    assert_eq!(out["audit_root_keys"], serde_json::json!([out["root_key"]]));
    // The task policy bounds it: no other IAM read, no deletion.
    for s in ["audit_list_users", "audit_delete_key"] {
        error(&out, s, "AccessDenied");
        let message = out[s]["message"].as_str().unwrap();
        assert!(message.contains("session policy"), "{s}: {message}");
        assert!(
            message.starts_with(&format!(
                "User: arn:aws:iam::{member}:root is not authorized"
            )),
            "{s}: {message}"
        );
    }
    ok(&out, "audit_by_arn");

    // The unlock tasks need root sessions.
    error(&out, "unlock_before_sessions", "AccessDenied");
    assert_eq!(
        out["enabled_sessions"]["EnabledFeatures"],
        serde_json::json!(["RootCredentialsManagement", "RootSessions"])
    );
    ok(&out, "unlock_after_sessions");

    // A delete session removes the root user's key, which then stops working.
    ok(&out, "delete_root_key");
    error(&out, "root_key_after_delete", "InvalidClientTokenId");

    // AWS's refusals.
    error(&out, "not_a_task_policy", "ValidationError");
    error(&out, "too_long", "ValidationError");
    for s in [
        "target_management",
        "target_outsider",
        "root_caller",
        "member_caller",
        "no_permission",
        "auditor_deletes",
    ] {
        error(&out, s, "AccessDenied");
        assert!(
            out[s]["message"]
                .as_str()
                .unwrap()
                .contains("sts:AssumeRoot"),
            "{s}: {:#}",
            out[s]
        );
    }
    ok(&out, "auditor_audits");

    denied_by_scp(&out, "scp_binds_root_session");
    ok(&out, "scp_spares_other_task_actions");

    assert_eq!(
        out["disabled_sessions"]["EnabledFeatures"],
        serde_json::json!(["RootCredentialsManagement"])
    );
    error(&out, "unlock_after_disable", "AccessDenied");
    assert_eq!(
        out["features_finally"]["EnabledFeatures"],
        serde_json::json!(["RootCredentialsManagement"])
    );

    // The AWS CLI opens the same sessions.
    let cli = json_ok(&server.aws(&root(MGMT), &["iam", "list-organizations-features"]));
    assert_eq!(cli["EnabledFeatures"][0], "RootCredentialsManagement");
}
