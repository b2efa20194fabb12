#!/usr/bin/env python3
"""Signs requests with botocore, as the AWS CLI and boto3 send them, and prints them as JSON.

Run: python3 sign_fixtures.py > botocore_signed.json
The clock is fixed so that the output is reproducible; no request leaves the machine (a
before-send hook captures each request and stops it).
"""
import datetime
import json
import sys

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSResponse

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLETOKEN+abc="
NOW = datetime.datetime(2026, 11, 28, 19, 30, 0)


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return NOW

    @classmethod
    def now(cls, tz=None):
        return NOW.replace(tzinfo=tz) if tz else NOW


botocore.auth.datetime.datetime = FixedDatetime

captured = []


def capture(request, **kwargs):
    captured.append(
        {
            "method": request.method,
            "url": request.url,
            "headers": [[k, v.decode() if isinstance(v, bytes) else v] for k, v in request.headers.items()],
            "body": (request.body or b"").decode() if isinstance(request.body or b"", bytes) else request.body,
        }
    )
    return AWSResponse(request.url, 200, {}, None)


def client(service, token=None):
    session = botocore.session.get_session()
    c = session.create_client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:4566",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
    )
    c.meta.events.register("before-send", capture)
    return c


def call(name, fn):
    try:
        fn()
    except Exception:  # the empty fake response does not parse; the request is captured
        pass
    captured[-1]["name"] = name


call("sts-get-caller-identity", lambda: client("sts").get_caller_identity())
call("sts-assume-role-token", lambda: client("sts", TOKEN).assume_role(RoleArn="arn:aws:iam::123456789012:role/r a", RoleSessionName="s~1"))
call("iam-create-user-tags", lambda: client("iam").create_user(UserName="bob", Path="/div/", Tags=[{"Key": "team", "Value": "a b&c"}]))
call("kms-describe-key", lambda: client("kms").describe_key(KeyId="alias/my key"))
call("organizations-list-accounts", lambda: client("organizations").list_accounts())
call("guardduty-get-findings", lambda: client("guardduty").get_findings(DetectorId="d1", FindingIds=["f1"]))
call("guardduty-list-tags", lambda: client("guardduty").list_tags_for_resource(ResourceArn="arn:aws:guardduty:us-east-1:123456789012:detector/d1"))

# Without HttpMethod botocore signs the presigned URL for the operation's own method (POST);
# EKS-style token generators pass HttpMethod="GET".
presigned = client("sts").generate_presigned_url("get_caller_identity", ExpiresIn=60)
captured.append({"name": "sts-presigned-post", "method": "POST", "url": presigned, "headers": [], "body": ""})
presigned = client("sts").generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
captured.append({"name": "sts-presigned-get", "method": "GET", "url": presigned, "headers": [], "body": ""})

json.dump(
    {
        "botocore_version": botocore.__version__,
        "secret_access_key": SECRET,
        "now": NOW.strftime("%Y%m%dT%H%M%SZ"),
        "requests": captured,
    },
    sys.stdout,
    indent=1,
)
sys.stdout.write("\n")
