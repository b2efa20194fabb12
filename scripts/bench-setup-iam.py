"""Prepares the IAM benchmark on a server: a user `bench` with 6 attached AWS managed policies and
an access key, and a role `bench-role` the user may assume. Prints the user's key as JSON.

Usage: bench-setup-iam.py ENDPOINT   (the caller's credentials come from the environment)
"""

import json
import sys

import boto3

iam = boto3.client("iam", endpoint_url=sys.argv[1])
account = boto3.client("sts", endpoint_url=sys.argv[1]).get_caller_identity()["Account"]
iam.create_user(UserName="bench")
for name in ["ReadOnlyAccess", "IAMReadOnlyAccess", "SecurityAudit", "PowerUserAccess",
             "AWSKeyManagementServicePowerUser", "IAMFullAccess"]:
    iam.attach_user_policy(UserName="bench", PolicyArn=f"arn:aws:iam::aws:policy/{name}")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=json.dumps(trust))
key = iam.create_access_key(UserName="bench")["AccessKey"]
print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"], "account": account}))
