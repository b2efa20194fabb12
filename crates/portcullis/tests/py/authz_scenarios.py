"""Authorization scenarios against Portcullis with boto3.

Usage: authz_scenarios.py SCENARIO [OTHER_ACCOUNT]. The environment's credentials are the root user of the
account (dev mode: a 12-digit access key id names the account). Every step's outcome is
recorded as "ok" or the error botocore raised ({code, message, status}); the whole record is
printed as one JSON object for the Rust test to assert on.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import struct
import sys
import time

import boto3
import botocore.exceptions

ENDPOINT = os.environ["PORTCULLIS_ENDPOINT"]
ROOT = {
    "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
}
ACCOUNT = os.environ["AWS_ACCESS_KEY_ID"]
out = {}


def client(service, creds=None):
    creds = creds or ROOT
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1", **creds)


def step(name, fn):
    try:
        value = fn()
        out[name] = "ok"
        return value
    except botocore.exceptions.ClientError as e:
        out[name] = {
            "code": e.response["Error"]["Code"],
            "message": e.response["Error"].get("Message", ""),
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
        }
        return None


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", condition=None):
    s = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        s["Condition"] = condition
    return s


def user_with_key(name, iam=None, **kwargs):
    iam = iam or client("iam")
    iam.create_user(UserName=name, **kwargs)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def session_creds(response):
    c = response["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }


def trust(principal, condition=None, actions=("sts:AssumeRole",)):
    s = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions)}
    if condition:
        s["Condition"] = condition
    return doc(s)


def totp(seed_b32, at):
    key = base64.b32decode(seed_b32)
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000
    return f"{code:06d}"


def least_privilege():
    iam = client("iam")
    alice = user_with_key("alice")
    out["identity"] = client("sts", alice).get_caller_identity()["Arn"]
    step("list_users_denied", lambda: client("iam", alice).list_users())
    iam.put_user_policy(UserName="alice", PolicyName="self",
                        PolicyDocument=doc(allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/alice")))
    iam.create_user(UserName="bob")
    step("get_self", lambda: client("iam", alice).get_user(UserName="alice"))
    step("get_bob_denied", lambda: client("iam", alice).get_user(UserName="bob"))


def group_permissions():
    iam = client("iam")
    alice = user_with_key("alice")
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    step("before_membership", lambda: client("iam", alice).list_users())
    iam.add_user_to_group(GroupName="readers", UserName="alice")
    step("member_lists", lambda: client("iam", alice).list_users())
    step("member_cannot_create", lambda: client("iam", alice).create_user(UserName="x"))
    iam.remove_user_from_group(GroupName="readers", UserName="alice")
    step("after_removal", lambda: client("iam", alice).list_users())


def explicit_deny():
    iam = client("iam")
    alice = user_with_key("alice")
    iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.put_user_policy(UserName="alice", PolicyName="no-delete",
                        PolicyDocument=doc({"Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"}))
    iam.create_user(UserName="victim")
    step("create_allowed", lambda: client("iam", alice).create_user(UserName="made"))
    step("delete_denied", lambda: client("iam", alice).delete_user(UserName="victim"))


def boundary():
    iam = client("iam")
    admin = user_with_key("admin", PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    step("read_allowed", lambda: client("iam", admin).list_users())
    step("write_capped", lambda: client("iam", admin).create_user(UserName="x"))
    iam.delete_user_permissions_boundary(UserName="admin")
    step("uncapped", lambda: client("iam", admin).create_user(UserName="y"))


def assume_role():
    iam = client("iam")
    alice = user_with_key("alice")
    iam.put_user_policy(UserName="alice", PolicyName="p",
                        PolicyDocument=doc(allow(["sts:AssumeRole", "iam:CreateUser"])))
    role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:root"))
    iam.attach_role_policy(RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    arn = role["Role"]["Arn"]
    step("alice_creates", lambda: client("iam", alice).create_user(UserName="by-alice"))
    r = client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="s1")
    session = session_creds(r)
    out["assumed"] = r["AssumedRoleUser"]
    out["session_identity"] = client("sts", session).get_caller_identity()["Arn"]
    step("session_lists", lambda: client("iam", session).list_users())
    step("session_cannot_create", lambda: client("iam", session).create_user(UserName="by-session"))
    step("root_cannot_assume", lambda: client("sts").assume_role(RoleArn=arn, RoleSessionName="rs"))
    step("too_long", lambda: client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="ss", DurationSeconds=7200))
    step("bad_token", lambda: client("iam", {**session, "aws_session_token": "PCST" + "A" * 40}).list_users())
    # Session policies narrow what the role allows.
    narrowed = session_creds(client("sts", alice).assume_role(
        RoleArn=arn, RoleSessionName="s2", Policy=doc(allow("iam:GetRole"))))
    step("narrowed_get_role", lambda: client("iam", narrowed).get_role(RoleName="reader"))
    step("narrowed_list_denied", lambda: client("iam", narrowed).list_users())


def cross_account():
    other = sys.argv[2]
    other_root = {"aws_access_key_id": other, "aws_secret_access_key": "x"}
    role = client("iam", other_root).create_role(
        RoleName="partner",
        AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:root", {"StringEquals": {"sts:ExternalId": "secret-42"}}))
    client("iam", other_root).attach_role_policy(
        RoleName="partner", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    arn = role["Role"]["Arn"]
    alice = user_with_key("alice")
    step("no_identity_policy", lambda: client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="xs", ExternalId="secret-42"))
    client("iam").put_user_policy(UserName="alice", PolicyName="assume",
                                  PolicyDocument=doc(allow("sts:AssumeRole", arn)))
    step("no_external_id", lambda: client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="xs"))
    step("wrong_external_id", lambda: client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="xs", ExternalId="nope"))
    r = step("with_external_id", lambda: client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="xs", ExternalId="secret-42"))
    if r:
        s = session_creds(r)
        out["session_account"] = client("sts", s).get_caller_identity()["Account"]
        step("session_lists_other_account", lambda: client("iam", s).list_roles())


def mfa_only():
    iam = client("iam")
    alice = user_with_key("alice")
    iam.put_user_policy(UserName="alice", PolicyName="mfa", PolicyDocument=doc(
        allow("iam:ListUsers", condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})))
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-mfa")["VirtualMFADevice"]
    seed = device["Base32StringSeed"]
    seed = seed.decode() if isinstance(seed, bytes) else seed
    serial = device["SerialNumber"]
    now = time.time()
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial,
                          AuthenticationCode1=totp(seed, now - 30), AuthenticationCode2=totp(seed, now))
    step("without_mfa", lambda: client("iam", alice).list_users())
    step("wrong_code", lambda: client("sts", alice).get_session_token(SerialNumber=serial, TokenCode="000000" if totp(seed, time.time()) != "000000" else "111111"))
    plain = session_creds(client("sts", alice).get_session_token())
    step("session_without_mfa", lambda: client("iam", plain).list_users())
    # The codes used to enable the device are used up: the next step's code (within the
    # accepted window of one step either side) is a fresh one.
    r = client("sts", alice).get_session_token(SerialNumber=serial, TokenCode=totp(seed, now + 30))
    mfa = session_creds(r)
    step("session_with_mfa", lambda: client("iam", mfa).list_users())
    out["mfa_identity"] = client("sts", mfa).get_caller_identity()["Arn"]


def tags():
    iam = client("iam")
    alice = user_with_key("alice", Tags=[{"Key": "team", "Value": "blue"}])
    iam.put_user_policy(UserName="alice", PolicyName="tags", PolicyDocument=doc(
        allow("iam:DeleteUser", condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
        allow("iam:CreateUser", condition={"StringEquals": {"aws:RequestTag/team": "blue"},
                                           "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}})))
    iam.create_user(UserName="blue-user", Tags=[{"Key": "team", "Value": "blue"}])
    iam.create_user(UserName="red-user", Tags=[{"Key": "team", "Value": "red"}])
    step("delete_same_team", lambda: client("iam", alice).delete_user(UserName="blue-user"))
    step("delete_other_team", lambda: client("iam", alice).delete_user(UserName="red-user"))
    step("create_tagged", lambda: client("iam", alice).create_user(UserName="n1", Tags=[{"Key": "team", "Value": "blue"}]))
    step("create_wrong_tag", lambda: client("iam", alice).create_user(UserName="n2", Tags=[{"Key": "team", "Value": "red"}]))
    step("create_untagged", lambda: client("iam", alice).create_user(UserName="n3"))


def revoke():
    iam = client("iam")
    alice = user_with_key("alice")
    iam.put_user_policy(UserName="alice", PolicyName="p", PolicyDocument=doc(allow("sts:AssumeRole")))
    arn = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:root"))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="ops", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    old = session_creds(client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="old"))
    step("old_before", lambda: client("iam", old).list_users())
    time.sleep(1.2)
    cutoff = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    iam.put_role_policy(RoleName="ops", PolicyName="AWSRevokeOlderSessions", PolicyDocument=doc(
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}))
    step("old_after", lambda: client("iam", old).list_users())
    time.sleep(1.2)
    new = session_creds(client("sts", alice).assume_role(RoleArn=arn, RoleSessionName="new"))
    step("new_after", lambda: client("iam", new).list_users())


def decode():
    iam = client("iam")
    alice = user_with_key("alice")
    bob = user_with_key("bob")
    iam.put_user_policy(UserName="bob", PolicyName="d", PolicyDocument=doc(allow("sts:DecodeAuthorizationMessage")))
    try:
        client("iam", alice).list_users()
        return
    except botocore.exceptions.ClientError as e:
        message = e.response["Error"]["Message"]
    encoded = message.split("Encoded authorization failure message: ")[-1]
    step("alice_cannot_decode", lambda: client("sts", alice).decode_authorization_message(EncodedMessage=encoded))
    decoded = client("sts", bob).decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"]
    out["decoded"] = json.loads(decoded)
    step("garbage", lambda: client("sts", bob).decode_authorization_message(EncodedMessage="bm9wZQ"))


def federation():
    iam = client("iam")
    alice = user_with_key("alice")
    iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.put_user_policy(UserName="alice", PolicyName="fed", PolicyDocument=doc(allow("sts:GetFederationToken")))
    r = client("sts", alice).get_federation_token(Name="carol", Policy=doc(allow("iam:ListUsers")))
    out["federated"] = r["FederatedUser"]
    fed = session_creds(r)
    out["federated_identity"] = client("sts", fed).get_caller_identity()
    step("fed_lists_users", lambda: client("iam", fed).list_users())
    step("fed_cannot_list_roles", lambda: client("iam", fed).list_roles())
    out["key_account"] = client("sts").get_access_key_info(AccessKeyId=fed["aws_access_key_id"])["Account"]


SCENARIOS = {f.__name__: f for f in [least_privilege, group_permissions, explicit_deny, boundary, assume_role,
                                      cross_account, mfa_only, tags, revoke, decode, federation]}

try:
    SCENARIOS[sys.argv[1]]()
except botocore.exceptions.ClientError as e:
    out["unexpected"] = {"code": e.response["Error"]["Code"], "message": e.response["Error"].get("Message", "")}
print(json.dumps(out, default=str))
