"""boto3 against Portcullis: GetCallerIdentity, and the error botocore raises for a bad secret.
Prints a JSON summary."""

import json
import os

import boto3
import botocore.exceptions

endpoint = os.environ["PORTCULLIS_ENDPOINT"]
sts = boto3.client("sts", endpoint_url=endpoint)
identity = sts.get_caller_identity()
bad = boto3.client("sts", endpoint_url=endpoint, aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                   aws_secret_access_key="wrong" + os.environ["AWS_SECRET_ACCESS_KEY"][5:])
try:
    bad.get_caller_identity()
    error = None
except botocore.exceptions.ClientError as e:
    error = {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"],
             "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
             "request_id": e.response["ResponseMetadata"].get("RequestId")}
print(json.dumps({"identity": {k: identity[k] for k in ("UserId", "Account", "Arn")},
                  "request_id": identity["ResponseMetadata"]["RequestId"], "bad_secret": error}))
