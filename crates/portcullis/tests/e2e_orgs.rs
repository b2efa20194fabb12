//! End to end: AWS Organizations with SCPs enforced on member accounts, driven by boto3 and
//! the AWS CLI against the real binary in dev mode (issue 5).
//!
//! `tests/py/orgs_scenarios.py` builds an organization (two levels of OUs, three accounts),
//! then attaches an SCP that denies a service, an allow-list SCP with FullAWSAccess detached,
//! an SCP that denies leaving, and an SCP with a region condition, probing each time the
//! administrator and the root user of member accounts and the management account.

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
