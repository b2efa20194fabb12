"""Organizations account lifecycle against Portcullis with boto3: CreateAccount and CloseAccount
finish in the background, closed accounts are refused, invitations by email.

Usage: orgs_lifecycle.py. The environment's credentials are the root user of the management
account (dev mode). Prints one JSON object for the Rust test (see orgs_common).
"""

import json
import time

from orgs_common import MGMT, admin_of, client, create_account, out, root, step, wait_for_account_state


def session_of(creds):
    return {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}


def main():
    orgs = client("organizations", root(MGMT))
    orgs.create_organization(FeatureSet="ALL")
    mgmt_admin = admin_of(MGMT)

    # CreateAccount answers IN_PROGRESS, without the account; polling sees it succeed.
    first = orgs.create_account(Email="build@example.com", AccountName="build")["CreateAccountStatus"]
    out["create_answer"] = first
    started = time.monotonic()
    status = first
    while status["State"] == "IN_PROGRESS" and time.monotonic() - started < 10:
        time.sleep(0.05)
        status = orgs.describe_create_account_status(CreateAccountRequestId=first["Id"])["CreateAccountStatus"]
    out["create_seconds"] = time.monotonic() - started
    out["create_final"] = status
    build = status["AccountId"]
    out["by_state"] = {s: [r["Id"] for r in orgs.list_create_account_status(States=[s])["CreateAccountStatuses"]]
                       for s in ["IN_PROGRESS", "SUCCEEDED", "FAILED"]}
    out["duplicate_email"] = create_account(orgs, "BUILD@example.com", "again")
    out["by_state_after"] = {s: len(orgs.list_create_account_status(States=[s])["CreateAccountStatuses"])
                             for s in ["SUCCEEDED", "FAILED"]}
    out["listed"] = sorted(a["Id"] for a in orgs.list_accounts()["Accounts"])

    # A member account with an administrator, a role session from the management account, and
    # a key of its root user's own.
    doomed = create_account(orgs, "doomed@example.com", "doomed")["AccountId"]
    out["doomed"] = doomed
    doomed_admin = admin_of(doomed)
    role_arn = f"arn:aws:iam::{doomed}:role/OrganizationAccountAccessRole"
    sts_mgmt = client("sts", mgmt_admin)
    session = session_of(sts_mgmt.assume_role(RoleArn=role_arn, RoleSessionName="before")["Credentials"])
    step("before_admin", lambda: client("iam", doomed_admin).list_users())
    step("before_root", lambda: client("iam", root(doomed)).list_users())
    step("before_session", lambda: client("sts", session).get_caller_identity())

    # CloseAccount: PENDING_CLOSURE at once, then SUSPENDED.
    step("close", lambda: orgs.close_account(AccountId=doomed))
    out["close_states"] = wait_for_account_state(orgs, doomed, "SUSPENDED")
    out["closed_status"] = orgs.describe_account(AccountId=doomed)["Account"]["Status"]
    step("closed_admin", lambda: client("iam", doomed_admin).list_users())
    step("closed_root", lambda: client("iam", root(doomed)).list_users())
    step("closed_root_sts", lambda: client("sts", root(doomed)).get_caller_identity())
    step("closed_session", lambda: client("sts", session).get_caller_identity())
    step("closed_assume", lambda: sts_mgmt.assume_role(RoleArn=role_arn, RoleSessionName="after"))
    step("closed_again", lambda: orgs.close_account(AccountId=doomed))
    step("close_management", lambda: orgs.close_account(AccountId=MGMT))
    out["closed_email_reuse"] = create_account(orgs, "doomed@example.com", "reborn")
    # Other accounts are untouched.
    step("other_account_after_close", lambda: client("iam", root(build)).list_users())
    out["listed_after_close"] = len(orgs.list_accounts()["Accounts"])

    # Invitations by email: the account whose root user has the address.
    client("organizations", root(build)).leave_organization()
    invite = step("invite_email", lambda: orgs.invite_account_to_organization(
        Target={"Id": "Build@Example.com", "Type": "EMAIL"}))
    out["invite_parties"] = invite["Handshake"]["Parties"] if invite else None
    handshakes = client("organizations", root(build)).list_handshakes_for_account()["Handshakes"]
    out["build_handshakes"] = [h["Id"] for h in handshakes]
    if invite:
        step("accept_email_invite", lambda: client("organizations", root(build)).accept_handshake(
            HandshakeId=invite["Handshake"]["Id"]))
    out["build_email"] = orgs.describe_account(AccountId=build)["Account"]["Email"]
    step("invite_unknown_email", lambda: orgs.invite_account_to_organization(
        Target={"Id": "nobody@example.com", "Type": "EMAIL"}))
    step("invite_bad_type", lambda: orgs.invite_account_to_organization(
        Target={"Id": "o-abcdefghij", "Type": "ORGANIZATION"}))


main()
print(json.dumps(out, default=str))
