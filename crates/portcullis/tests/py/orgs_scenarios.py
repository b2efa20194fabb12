"""Organizations scenarios against Portcullis with boto3: SCPs enforced on member accounts.

Usage: orgs_scenarios.py. The environment's credentials are the root user of the management
account (dev mode: a 12-digit access key id names the account, and reaches that account's
root user). Every checked call is recorded as "ok" or the error botocore raised
({code, message, status, reason}); the record is printed as one JSON object for the Rust test.
"""

import json

from orgs_common import MGMT, admin_of, client, create_account, doc, out, root, step


def scp(orgs, name, *statements):
    p = orgs.create_policy(Name=name, Description=name, Type="SERVICE_CONTROL_POLICY",
                           Content=doc(*statements))
    return p["Policy"]["PolicySummary"]["Id"]


def probe(prefix, creds, region="us-east-1"):
    """The same three calls for every principal: an IAM read, an IAM write, a KMS call."""
    step(f"{prefix}_iam_read", lambda: client("iam", creds).list_users())
    step(f"{prefix}_iam_write", lambda: client("iam", creds).create_policy(
        PolicyName=f"probe-{len(out)}", PolicyDocument=doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})))
    step(f"{prefix}_kms", lambda: client("kms", creds, region).list_keys())


def main():
    mgmt = root(MGMT)
    orgs = client("organizations", mgmt)
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]
    out["org_id"] = org["Id"]
    root_id = orgs.list_roots()["Roots"][0]["Id"]
    out["root_id"] = root_id
    orgs.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")

    # Two levels of OUs: Workloads/Prod, and Sandbox.
    workloads = orgs.create_organizational_unit(ParentId=root_id, Name="Workloads")["OrganizationalUnit"]["Id"]
    prod = orgs.create_organizational_unit(ParentId=workloads, Name="Prod")["OrganizationalUnit"]["Id"]
    sandbox = orgs.create_organizational_unit(ParentId=root_id, Name="Sandbox")["OrganizationalUnit"]["Id"]
    accounts = {}
    for name, parent in [("prod", prod), ("sandbox", sandbox), ("dev", workloads)]:
        account = create_account(orgs, f"{name}@example.com", name)["AccountId"]
        orgs.move_account(AccountId=account, SourceParentId=root_id, DestinationParentId=parent)
        accounts[name] = account
    out["accounts"] = accounts
    out["account_count"] = len(orgs.list_accounts()["Accounts"])
    out["prod_parents"] = [p["Id"] for p in orgs.list_parents(ChildId=accounts["prod"])["Parents"]]
    out["prod_ou_parent"] = orgs.list_parents(ChildId=prod)["Parents"][0]["Id"]
    out["workloads"] = workloads
    out["prod"] = prod
    out["sandbox"] = sandbox

    admins = {name: admin_of(account) for name, account in accounts.items()}
    mgmt_admin = admin_of(MGMT)

    # Before any SCP but FullAWSAccess: everything allowed.
    probe("before_prod_admin", admins["prod"])

    # 1. An SCP that denies a service (KMS) on the Prod OU.
    deny_kms = scp(orgs, "DenyKMS", {"Effect": "Deny", "Action": "kms:*", "Resource": "*"})
    orgs.attach_policy(PolicyId=deny_kms, TargetId=prod)
    probe("deny_kms_prod_admin", admins["prod"])
    probe("deny_kms_prod_root", root(accounts["prod"]))
    probe("deny_kms_dev_admin", admins["dev"])
    probe("deny_kms_mgmt_admin", mgmt_admin)
    probe("deny_kms_mgmt_root", mgmt)
    sim = client("iam", admins["prod"]).simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{accounts['prod']}:user/admin", ActionNames=["kms:ListKeys", "iam:ListUsers"])
    out["simulated"] = {r["EvalActionName"]: [r["EvalDecision"], r.get("OrganizationsDecisionDetail", {}).get("AllowedByOrganizations")]
                        for r in sim["EvaluationResults"]}

    # 2. An allow-list SCP on Sandbox, FullAWSAccess detached there.
    allow_read = scp(orgs, "AllowIAMRead", {"Effect": "Allow", "Action": ["iam:List*", "iam:Get*", "sts:*"], "Resource": "*"})
    orgs.attach_policy(PolicyId=allow_read, TargetId=sandbox)
    step("detach_from_unattached_target", lambda: orgs.detach_policy(PolicyId=allow_read, TargetId=accounts["sandbox"]))
    orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=sandbox)
    probe("allow_list_sandbox_admin", admins["sandbox"])
    probe("allow_list_sandbox_root", root(accounts["sandbox"]))
    probe("allow_list_mgmt_admin", mgmt_admin)
    step("detach_only_scp", lambda: orgs.detach_policy(PolicyId=allow_read, TargetId=sandbox))
    # A change takes effect on the next request: FullAWSAccess back, the write passes.
    orgs.attach_policy(PolicyId="p-FullAWSAccess", TargetId=sandbox)
    orgs.detach_policy(PolicyId=allow_read, TargetId=sandbox)
    probe("allow_list_removed_sandbox_admin", admins["sandbox"])

    # 3. An SCP that denies leaving the organization, on the root.
    deny_leave = scp(orgs, "DenyLeave", {"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"})
    orgs.attach_policy(PolicyId=deny_leave, TargetId=root_id)
    step("leave_denied_dev_admin", lambda: client("organizations", admins["dev"]).leave_organization())
    step("leave_denied_dev_root", lambda: client("organizations", root(accounts["dev"])).leave_organization())
    step("leave_mgmt_admin", lambda: client("organizations", mgmt_admin).leave_organization())
    step("describe_org_dev_admin", lambda: client("organizations", admins["dev"]).describe_organization())

    # 4. An SCP with a region condition, on the dev account.
    region_only = scp(orgs, "UsEast1Only", {"Effect": "Deny", "Action": "kms:*", "Resource": "*",
                                             "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}}})
    orgs.attach_policy(PolicyId=region_only, TargetId=accounts["dev"])
    for who, creds in [("dev_admin", admins["dev"]), ("dev_root", root(accounts["dev"])), ("mgmt_admin", mgmt_admin)]:
        step(f"region_{who}_us_east_1", lambda: client("kms", creds, "us-east-1").list_keys())
        step(f"region_{who}_eu_west_1", lambda: client("kms", creds, "eu-west-1").list_keys())
    out["targets_for_region_policy"] = [t["TargetId"] for t in orgs.list_targets_for_policy(PolicyId=region_only)["Targets"]]
    out["dev_policies"] = sorted(p["Name"] for p in orgs.list_policies_for_target(
        TargetId=accounts["dev"], Filter="SERVICE_CONTROL_POLICY")["Policies"])

    # 5. The management account's administrator reaches a member account through
    # OrganizationAccountAccessRole; the member account's SCPs bind the session.
    role_arn = f"arn:aws:iam::{accounts['prod']}:role/OrganizationAccountAccessRole"
    creds = client("sts", mgmt_admin).assume_role(RoleArn=role_arn, RoleSessionName="ops")["Credentials"]
    session = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
               "aws_session_token": creds["SessionToken"]}
    out["role_identity"] = client("sts", session).get_caller_identity()["Arn"]
    probe("role_session", session)

    # 6. Org context keys: an SCP on Workloads keyed on aws:PrincipalOrgPaths, and
    # aws:ResourceAccount / aws:PrincipalOrgID seen by conditions.
    path = f"{org['Id']}/{root_id}/{workloads}/*"
    by_path = scp(orgs, "NoUsersUnderWorkloads", {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*",
                  "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [path]}}})
    orgs.attach_policy(PolicyId=by_path, TargetId=root_id)
    step("path_dev_admin", lambda: client("iam", admins["dev"]).create_user(UserName="u1"))
    step("path_sandbox_admin", lambda: client("iam", admins["sandbox"]).create_user(UserName="u1"))
    orgs.detach_policy(PolicyId=by_path, TargetId=root_id)
    own = scp(orgs, "OwnOrgOnly", {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*",
              "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": org["Id"],
                                                "aws:ResourceAccount": "${aws:PrincipalAccount}"}}})
    orgs.attach_policy(PolicyId=own, TargetId=root_id)
    step("org_id_sandbox_admin", lambda: client("iam", admins["sandbox"]).create_user(UserName="u2"))
    orgs.detach_policy(PolicyId=own, TargetId=root_id)

    # 7. RCPs: a role in a member account trusts an outside account; an RCP that admits only
    # the organization's principals stops the outsider, and RCPFullAWSAccess stays attached.
    outsider = "299999999998"
    outsider_admin = admin_of(outsider)
    for account in (accounts["prod"], MGMT):
        client("iam", root(account)).create_role(
            RoleName="partner", AssumeRolePolicyDocument=doc(
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{outsider}:root"}, "Action": "sts:AssumeRole"}))
    partner = f"arn:aws:iam::{accounts['prod']}:role/partner"
    mgmt_partner = f"arn:aws:iam::{MGMT}:role/partner"
    sts_outsider = client("sts", outsider_admin)
    step("rcp_before", lambda: sts_outsider.assume_role(RoleArn=partner, RoleSessionName="partner"))
    orgs.enable_policy_type(RootId=root_id, PolicyType="RESOURCE_CONTROL_POLICY")
    out["rcp_attached"] = [p["Id"] for p in orgs.list_policies_for_target(
        TargetId=accounts["prod"], Filter="RESOURCE_CONTROL_POLICY")["Policies"]]
    rcp = orgs.create_policy(Name="OrgOnly", Description="", Type="RESOURCE_CONTROL_POLICY", Content=doc(
        {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*",
         "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org["Id"]}}}))["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=rcp, TargetId=root_id)
    step("rcp_outsider_denied", lambda: sts_outsider.assume_role(RoleArn=partner, RoleSessionName="partner"))
    step("rcp_management_resource", lambda: sts_outsider.assume_role(RoleArn=mgmt_partner, RoleSessionName="partner"))
    step("rcp_member_allowed", lambda: client("sts", mgmt_admin).assume_role(RoleArn=role_arn, RoleSessionName="ops"))
    step("rcp_full_access_detach", lambda: orgs.detach_policy(PolicyId="p-RCPFullAWSAccess", TargetId=root_id))
    orgs.detach_policy(PolicyId=rcp, TargetId=root_id)
    step("rcp_after", lambda: sts_outsider.assume_role(RoleArn=partner, RoleSessionName="partner"))
    orgs.disable_policy_type(RootId=root_id, PolicyType="RESOURCE_CONTROL_POLICY")

    # The leave SCP removed, a member account leaves.
    orgs.detach_policy(PolicyId=deny_leave, TargetId=root_id)
    step("leave_dev_root", lambda: client("organizations", root(accounts["dev"])).leave_organization())
    out["account_count_after_leave"] = len(orgs.list_accounts()["Accounts"])

    # AWS's errors.
    step("err_duplicate_attachment", lambda: orgs.attach_policy(PolicyId=deny_kms, TargetId=prod))
    step("err_policy_in_use", lambda: orgs.delete_policy(PolicyId=deny_kms))
    step("err_child_not_found", lambda: orgs.list_parents(ChildId="ou-zzzz-zzzzzzzz"))
    step("err_type_not_enabled", lambda: orgs.attach_policy(PolicyId="p-RCPFullAWSAccess", TargetId=prod))
    step("err_not_in_use", lambda: client("organizations", root("299999999999")).describe_organization())


main()
print(json.dumps(out, default=str))
