"""Calls the server with boto3 in a loop and prints "ID REQUEST_ID" for each acknowledged call,
flushed, until the server goes away. PORTCULLIS_LOOP picks the call: `create-key` (KMS
CreateKey; ID is the new key's id, the default) or `caller-identity` (STS GetCallerIdentity,
a read; ID is the account)."""

import os

import boto3
import botocore.config

config = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
endpoint = os.environ["PORTCULLIS_ENDPOINT"]
if os.environ.get("PORTCULLIS_LOOP", "create-key") == "caller-identity":
    sts = boto3.client("sts", endpoint_url=endpoint, config=config)

    def call():
        response = sts.get_caller_identity()
        return response["Account"], response
else:
    kms = boto3.client("kms", endpoint_url=endpoint, config=config)

    def call():
        response = kms.create_key(Description="durability")
        return response["KeyMetadata"]["KeyId"], response

while True:
    try:
        made, response = call()
    except Exception:  # the server was killed: stop
        break
    print(made, response["ResponseMetadata"]["RequestId"], flush=True)
