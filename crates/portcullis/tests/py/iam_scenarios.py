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


def user_clients(name, policy):
    """A user with an access key and an inline policy, and its sts/iam/kms clients."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = boto3.session.Session(aws_access_key_id=key["AccessKeyId"],
                                    aws_secret_access_key=key["SecretAccessKey"])
    return {svc: session.client(svc, endpoint_url=endpoint, region_name="eu-west-1")
            for svc in ("sts", "iam", "kms")}


def wait_for(read, ready, seconds=20):
    """Usage data is written in batches every few seconds: poll until it shows."""
    deadline = time.time() + seconds
    while True:
        value = read()
        if ready(value) or time.time() > deadline:
            return value
        time.sleep(0.5)


def usage():
    account = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1").get_caller_identity()["Account"]
    allow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sts:AssumeRole", "iam:GetUser", "iam:ListRoles"], "Resource": "*"}]}
    carol = user_clients("carol", allow)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::%s:user/carol" % account}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="worker", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName="worker", PolicyName="keys", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}))
    never = iam.get_role(RoleName="worker")["Role"].get("RoleLastUsed")
    carol["iam"].get_user(UserName="carol")
    denied = error(carol["iam"].list_users)  # an attempt, though denied
    creds = carol["sts"].assume_role(RoleArn=role["Arn"], RoleSessionName="job")["Credentials"]
    worker = boto3.client("kms", endpoint_url=endpoint, region_name="ap-south-1",
                          aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
    worker.list_keys()
    last_used = wait_for(lambda: iam.get_role(RoleName="worker")["Role"].get("RoleLastUsed", {}),
                         lambda v: v.get("Region") == "ap-south-1")

    def report(arn, granularity="SERVICE_LEVEL"):
        job = iam.generate_service_last_accessed_details(Arn=arn, Granularity=granularity)["JobId"]
        return job, iam.get_service_last_accessed_details(JobId=job)

    carol_arn = "arn:aws:iam::%s:user/carol" % account
    job, user_report = report(carol_arn, "ACTION_LEVEL")
    services = {s["ServiceNamespace"]: s for s in user_report["ServicesLastAccessed"]}
    iam_line = services["iam"]
    _, role_report = report(role["Arn"])
    entities = iam.get_service_last_accessed_details_with_entities(JobId=job, ServiceNamespace="iam")
    granting = iam.list_policies_granting_service_access(Arn=carol_arn, ServiceNamespaces=["iam", "kms"])
    missing_job = error(iam.get_service_last_accessed_details, JobId="00000000-0000-4000-8000-000000000000")
    bad_arn = error(iam.generate_service_last_accessed_details, Arn="arn:aws:iam::%s:user/nobody" % account)
    return {
        "never": never, "denied": denied and denied["code"], "last_used_region": last_used.get("Region"),
        "last_used_date": str(last_used.get("LastUsedDate")),
        "job_status": user_report["JobStatus"], "job_type": user_report["JobType"],
        "user_services": sorted(services),
        "iam_entity": iam_line.get("LastAuthenticatedEntity"), "iam_region": iam_line.get("LastAuthenticatedRegion"),
        "iam_total": iam_line.get("TotalAuthenticatedEntities"),
        "iam_actions": sorted(a["ActionName"] for a in iam_line.get("TrackedActionsLastAccessed", [])),
        "sts_attempted": "LastAuthenticated" in services["sts"],
        "role_services": {s["ServiceNamespace"]: s.get("LastAuthenticatedRegion")
                          for s in role_report["ServicesLastAccessed"]},
        "entities": [(e["EntityInfo"]["Type"], e["EntityInfo"]["Name"], "LastAuthenticated" in e)
                     for e in entities["EntityDetailsList"]],
        "granting": {g["ServiceNamespace"]: [(p["PolicyName"], p["PolicyType"], p.get("EntityType"))
                                             for p in g["Policies"]]
                     for g in granting["PoliciesGrantingServiceAccess"]},
        "missing_job": missing_job and missing_job["code"], "bad_arn": bad_arn and bad_arn["code"],
    }


def mfa_reuse():
    """A TOTP code is accepted once: presented again, STS refuses it."""
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}
    dave = user_clients("dave", allow)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="dave-phone")["VirtualMFADevice"]
    serial = device["SerialNumber"]
    seed = base64.b32decode(device["Base32StringSeed"])
    step = int(time.time()) // 30
    iam.enable_mfa_device(UserName="dave", SerialNumber=serial,
                          AuthenticationCode1=totp(seed, step - 1), AuthenticationCode2=totp(seed, step))
    enable_again = error(iam.resync_mfa_device, UserName="dave", SerialNumber=serial,
                         AuthenticationCode1=totp(seed, step - 1), AuthenticationCode2=totp(seed, step))
    code = totp(seed, step + 1)
    first = dave["sts"].get_session_token(SerialNumber=serial, TokenCode=code)["Credentials"]
    again = error(dave["sts"].get_session_token, SerialNumber=serial, TokenCode=code)
    return {"first": first["AccessKeyId"][:4], "again": again, "enable_again": enable_again}


print(json.dumps({"pagination": pagination, "policies": policies, "mfa": mfa, "account": account,
                  "usage": usage, "mfa_reuse": mfa_reuse}[sys.argv[1]](),
                 default=str))
