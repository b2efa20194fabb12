"""Creates KMS keys with boto3 in a loop and prints "KEY_ID REQUEST_ID" for each acknowledged
CreateKey, flushed, until the server goes away."""

import os

import boto3
import botocore.config

config = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
kms = boto3.client("kms", endpoint_url=os.environ["PORTCULLIS_ENDPOINT"], config=config)
while True:
    try:
        response = kms.create_key(Description="durability")
    except Exception:  # the server was killed: stop
        break
    print(response["KeyMetadata"]["KeyId"], response["ResponseMetadata"]["RequestId"], flush=True)
