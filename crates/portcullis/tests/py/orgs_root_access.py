"""Centralized root access against Portcullis with boto3: IAM's organization features and STS
AssumeRoot with the root task policies.

Usage: orgs_root_access.py. The environment's credentials are the root user of the management
account (dev mode). Prints one JSON object for the Rust test (see orgs_common).
"""

import datetime
import json

from orgs_common import MGMT, admin_of, client, create_account, doc, out, root, step

TASK = "arn:aws:iam::aws:policy/root-task/"


def session_of(creds):
    return {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}


def user_with(account, name, *statements):
    iam = client("iam", root(account))
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def main():
    orgs = client("organizations", root(MGMT))
    orgs.create_organization(FeatureSet="ALL")
    member = create_account(orgs, "member@example.com", "member")["AccountId"]
    out["member"] = member
    outsider = "299999999997"
    mgmt_admin = admin_of(MGMT)
    member_admin = admin_of(member)
    iam = client("iam", mgmt_admin)
    sts = client("sts", mgmt_admin)
    # The member account's root user has an access key of its own.
    root_key = client("iam", root(member)).create_access_key()["AccessKey"]
    root_creds = {"aws_access_key_id": root_key["AccessKeyId"], "aws_secret_access_key": root_key["SecretAccessKey"]}
    out["root_key"] = root_key["AccessKeyId"]
    step("root_key_works", lambda: client("sts", root_creds).get_caller_identity())

    def assume(task, target=member, who=sts, **kw):
        return who.assume_root(TargetPrincipal=target, TaskPolicyArn={"arn": TASK + task}, **kw)

    # IAM's features need trusted access for IAM first.
    step("list_without_trusted_access", lambda: iam.list_organizations_features())
    step("enable_without_trusted_access", lambda: iam.enable_organizations_root_sessions())
    orgs.enable_aws_service_access(ServicePrincipal="iam.amazonaws.com")
    out["features_initially"] = iam.list_organizations_features()
    step("member_enables", lambda: client("iam", member_admin).enable_organizations_root_credentials_management())
    step("member_lists", lambda: client("iam", member_admin).list_organizations_features())
    step("outsider_lists", lambda: client("iam", root(outsider)).list_organizations_features())
    step("assume_before_enabled", lambda: assume("IAMAuditRootUserCredentials"))

    out["enabled_credentials"] = iam.enable_organizations_root_credentials_management()

    # An audit session: the member's root user, restricted by the task policy.
    creds = assume("IAMAuditRootUserCredentials", DurationSeconds=600)["Credentials"]
    out["audit_expires_in"] = (creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    audit = session_of(creds)
    out["audit_identity"] = client("sts", audit).get_caller_identity()
    keys = step("audit_list_root_keys", lambda: client("iam", audit).list_access_keys())
    out["audit_root_keys"] = [k["AccessKeyId"] for k in keys["AccessKeyMetadata"]] if keys else None
    step("audit_list_users", lambda: client("iam", audit).list_users())
    step("audit_delete_key", lambda: client("iam", audit).delete_access_key(AccessKeyId=root_key["AccessKeyId"]))
    step("audit_by_arn", lambda: assume("IAMAuditRootUserCredentials", target=f"arn:aws:iam::{member}:root"))

    # The unlock tasks need root sessions, not yet enabled.
    step("unlock_before_sessions", lambda: assume("S3UnlockBucketPolicy"))
    out["enabled_sessions"] = iam.enable_organizations_root_sessions()
    step("unlock_after_sessions", lambda: assume("S3UnlockBucketPolicy"))

    # A delete session removes the root user's access key: it stops working.
    delete = session_of(assume("IAMDeleteRootUserCredentials")["Credentials"])
    step("delete_root_key", lambda: client("iam", delete).delete_access_key(AccessKeyId=root_key["AccessKeyId"]))
    step("root_key_after_delete", lambda: client("sts", root_creds).get_caller_identity())

    # AWS's refusals.
    step("not_a_task_policy", lambda: sts.assume_root(
        TargetPrincipal=member, TaskPolicyArn={"arn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
    step("too_long", lambda: assume("IAMAuditRootUserCredentials", DurationSeconds=901))
    step("target_management", lambda: assume("IAMAuditRootUserCredentials", target=MGMT))
    step("target_outsider", lambda: assume("IAMAuditRootUserCredentials", target=outsider))
    step("root_caller", lambda: assume("IAMAuditRootUserCredentials", who=client("sts", root(MGMT))))
    step("member_caller", lambda: assume("IAMAuditRootUserCredentials", who=client("sts", member_admin)))
    reader = user_with(MGMT, "reader", {"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"})
    step("no_permission", lambda: assume("IAMAuditRootUserCredentials", who=client("sts", reader)))
    auditor = user_with(MGMT, "auditor", {"Effect": "Allow", "Action": "sts:AssumeRoot", "Resource": f"arn:aws:iam::{member}:root",
                                          "Condition": {"StringEquals": {"sts:TaskPolicyArn": TASK + "IAMAuditRootUserCredentials"}}})
    step("auditor_audits", lambda: assume("IAMAuditRootUserCredentials", who=client("sts", auditor)))
    step("auditor_deletes", lambda: assume("IAMDeleteRootUserCredentials", who=client("sts", auditor)))

    # The member account's SCPs bind root sessions like its other principals.
    root_id = orgs.list_roots()["Roots"][0]["Id"]
    orgs.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    deny = orgs.create_policy(Name="NoKeyListing", Description="", Type="SERVICE_CONTROL_POLICY", Content=doc(
        {"Effect": "Deny", "Action": "iam:ListAccessKeys", "Resource": "*"}))["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=deny, TargetId=member)
    scoped = session_of(assume("IAMAuditRootUserCredentials")["Credentials"])
    step("scp_binds_root_session", lambda: client("iam", scoped).list_access_keys())
    step("scp_spares_other_task_actions", lambda: client("iam", scoped).get_account_summary())
    orgs.detach_policy(PolicyId=deny, TargetId=member)

    # Disabled again: no more sessions of that kind.
    out["disabled_sessions"] = iam.disable_organizations_root_sessions()
    step("unlock_after_disable", lambda: assume("S3UnlockBucketPolicy"))
    out["features_finally"] = iam.list_organizations_features()


main()
print(json.dumps(out, default=str))
