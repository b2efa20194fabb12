"""Calls STS GetCallerIdentity with boto3 in a loop and prints each acknowledged request id on
its own line, flushed, until the server goes away or COUNT calls are done."""

import sys

import boto3
import botocore.config
import os

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
config = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
client = boto3.client("sts", endpoint_url=os.environ["PORTCULLIS_ENDPOINT"], config=config)
for _ in range(count):
    try:
        response = client.get_caller_identity()
    except Exception:  # the server was killed: stop
        break
    print(response["ResponseMetadata"]["RequestId"], flush=True)
