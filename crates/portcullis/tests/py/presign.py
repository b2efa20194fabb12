"""Presigns an STS GetCallerIdentity URL with boto3 (as EKS- and Vault-style authenticators do),
fetches it with a plain GET, and prints {"status": int, "body": str, "url": str} as JSON."""

import json
import os
import urllib.error
import urllib.request

import boto3

client = boto3.client("sts", endpoint_url=os.environ["PORTCULLIS_ENDPOINT"])
url = client.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
try:
    with urllib.request.urlopen(url, timeout=30) as resp:
        status, body = resp.status, resp.read().decode()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read().decode()
print(json.dumps({"status": status, "body": body, "url": url}))
