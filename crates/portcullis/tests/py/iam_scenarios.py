"""boto3 against the Portcullis IAM API: one scenario per argument, each printing a JSON summary
that the Rust test asserts on. Errors are reported as botocore raises them."""

import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import time

import boto3
import botocore.exceptions

endpoint = os.environ["PORTCULLIS_ENDPOINT"]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def error(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                "type": e.response["Error"].get("Type")}
    return None


def totp(seed, step):
    mac = hmac.new(seed, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000
    return "%06d" % code


def pagination():
    for i in range(7):
        iam.create_user(UserName="page-%02d" % i, Path="/paged/")
    pages = list(iam.get_paginator("list_users").paginate(PathPrefix="/paged/", PaginationConfig={"PageSize": 3}))
    first = iam.list_users(PathPrefix="/paged/", MaxItems=3)
    return {"pages": [[u["UserName"] for u in p["Users"]] for p in pages],
            "first_truncated": first["IsTruncated"], "has_marker": "Marker" in first}


def policies():
    arn = iam.create_policy(PolicyName="s3-read", PolicyDocument=json.dumps(S3), Description="read")["Policy"]["Arn"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(S3))
    too_many = error(iam.create_policy_version, PolicyArn=arn, PolicyDocument=json.dumps(S3))
    default_delete = error(iam.delete_policy_version, PolicyArn=arn, VersionId="v1")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"]
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(TRUST), MaxSessionDuration=7200)
    iam.attach_role_policy(RoleName="app", PolicyArn=arn)
    iam.attach_role_policy(RoleName="app", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    attached_delete = error(iam.delete_policy, PolicyArn=arn)
    role = iam.get_role(RoleName="app")["Role"]
    iam.put_role_policy(RoleName="app", PolicyName="inline", PolicyDocument=json.dumps(S3))
    inline = iam.get_role_policy(RoleName="app", PolicyName="inline")["PolicyDocument"]
    malformed = error(iam.create_role, RoleName="bad", AssumeRolePolicyDocument=json.dumps(S3))
    details = iam.get_account_authorization_details(Filter=["Role", "LocalManagedPolicy"])
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    admin = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
    return {"too_many": too_many, "default_delete": default_delete,
            "versions": sorted(v["VersionId"] for v in versions),
            "default": [v["VersionId"] for v in versions if v["IsDefaultVersion"]],
            "doc": doc, "attached_delete": attached_delete,
            "trust": role["AssumeRolePolicyDocument"], "max_session": role["MaxSessionDuration"],
            "inline": inline, "malformed": malformed,
            "details_roles": [r["RoleName"] for r in details["RoleDetailList"]],
            "details_role_inline": details["RoleDetailList"][0]["RolePolicyList"][0]["PolicyDocument"],
            "details_policies": [p["PolicyName"] for p in details["Policies"]],
            "entities": [r["RoleName"] for r in entities["PolicyRoles"]],
            "admin": {"Arn": admin["Arn"], "AttachmentCount": admin["AttachmentCount"]}}


def mfa():
    iam.create_user(UserName="mfa-user")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="mfa-user-phone")["VirtualMFADevice"]
    serial = device["SerialNumber"]
    seed = base64.b32decode(device["Base32StringSeed"])
    step = int(time.time()) // 30
    wrong = error(iam.enable_mfa_device, UserName="mfa-user", SerialNumber=serial,
                  AuthenticationCode1="000000", AuthenticationCode2="000001")
    iam.enable_mfa_device(UserName="mfa-user", SerialNumber=serial,
                          AuthenticationCode1=totp(seed, step - 1), AuthenticationCode2=totp(seed, step))
    listed = iam.list_mfa_devices(UserName="mfa-user")["MFADevices"]
    virtual = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    conflict = error(iam.delete_user, UserName="mfa-user")
    iam.deactivate_mfa_device(UserName="mfa-user", SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    iam.delete_user(UserName="mfa-user")
    return {"serial": serial, "seed_len": len(seed), "wrong": wrong,
            "listed": [d["SerialNumber"] for d in listed],
            "virtual_user": [d["User"]["UserName"] for d in virtual], "conflict": conflict}


def account():
    iam.create_user(UserName="report-user", Tags=[{"Key": "team", "Value": "sec"}])
    tags = iam.list_user_tags(UserName="report-user")["Tags"]
    reserved = error(iam.tag_user, UserName="report-user", Tags=[{"Key": "aws:x", "Value": "y"}])
    iam.create_login_profile(UserName="report-user", Password="Str0ng-Passw0rd!")
    iam.update_account_password_policy(MinimumPasswordLength=20)
    weak = error(iam.update_login_profile, UserName="report-user", Password="Short-1!")
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    iam.create_account_alias(AccountAlias="portcullis-test")
    aliases = iam.list_account_aliases()["AccountAliases"]
    state = iam.generate_credential_report()["State"]
    while state != "COMPLETE":
        state = iam.generate_credential_report()["State"]
    report = iam.get_credential_report()
    summary = iam.get_account_summary()["SummaryMap"]
    missing = error(iam.get_user, UserName="nobody")
    return {"tags": tags, "reserved": reserved, "weak": weak,
            "min_length": policy["MinimumPasswordLength"], "aliases": aliases,
            "report_lines": report["Content"].decode().splitlines(), "format": report["ReportFormat"],
            "users": summary["Users"], "users_quota": summary["UsersQuota"], "missing": missing}


print(json.dumps({"pagination": pagination, "policies": policies, "mfa": mfa, "account": account}[sys.argv[1]](),
                 default=str))
