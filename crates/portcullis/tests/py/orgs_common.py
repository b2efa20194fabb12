"""Helpers shared by the Organizations scripts: clients for dev-mode accounts, a step recorder,
and a CreateAccount that waits for the account as a real client does.

Every checked call is recorded in `out` as "ok" or the error botocore raised
({code, message, status, reason}); a script prints `out` as one JSON object for the Rust test.
"""

import json
import os
import time

import boto3
import botocore.exceptions

ENDPOINT = os.environ["PORTCULLIS_ENDPOINT"]
MGMT = os.environ["AWS_ACCESS_KEY_ID"]
out = {}


def root(account):
    return {"aws_access_key_id": account, "aws_secret_access_key": "dev-mode-root-secret"}


def client(service, creds, region="us-east-1"):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=region, **creds)


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
            # Modeled members of the error shape, as botocore parses them (e.g. Reason).
            "reason": e.response.get("Reason"),
        }
        return None


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def admin_of(account):
    """A user with AdministratorAccess in `account`, made by the account's root user."""
    iam = client("iam", root(account))
    iam.create_user(UserName="admin")
    iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def create_account(orgs, email, name, timeout=10.0):
    """CreateAccount answers IN_PROGRESS; poll DescribeCreateAccountStatus until it ends, as
    AWS's documentation tells clients to. Returns the final status."""
    status = orgs.create_account(Email=email, AccountName=name)["CreateAccountStatus"]
    deadline = time.monotonic() + timeout
    while status["State"] == "IN_PROGRESS":
        if time.monotonic() > deadline:
            raise TimeoutError(f"account request {status['Id']} still IN_PROGRESS")
        time.sleep(0.1)
        status = orgs.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    return status


def wait_for_account_state(orgs, account, state, timeout=10.0):
    """Polls DescribeAccount until the account's State is `state`; returns the states seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        current = orgs.describe_account(AccountId=account)["Account"]["State"]
        if not seen or seen[-1] != current:
            seen.append(current)
        if current == state:
            return seen
        if time.monotonic() > deadline:
            raise TimeoutError(f"account {account} still {current}")
        time.sleep(0.1)
