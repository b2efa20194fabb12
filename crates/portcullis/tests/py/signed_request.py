"""Sends one request signed by botocore's own SigV4 signer and prints the outcome as JSON.

Usage: signed_request.py '<json spec>'
spec: {"service": "sts", "method": "POST", "path": "/", "form": {...}, "query": {...},
       "headers": {...}, "body": "...", "body_size": N, "time_offset": seconds,
       "sign": true, "presign": false, "expires": 900}
Credentials and the endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
PORTCULLIS_ENDPOINT. Output: {"status": int, "headers": {...}, "body": str}.
"""

import datetime
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def _shifted_clock(offset_seconds):
    """botocore's signers take the signing time from botocore.auth.get_current_datetime."""
    real = botocore.auth.get_current_datetime

    def shifted(remove_tzinfo=True):
        return real(remove_tzinfo) + datetime.timedelta(seconds=offset_seconds)

    botocore.auth.get_current_datetime = shifted


def main():
    spec = json.loads(sys.argv[1])
    endpoint = os.environ["PORTCULLIS_ENDPOINT"]
    service = spec.get("service", "sts")
    method = spec.get("method", "POST")
    url = endpoint + spec.get("path", "/")
    if spec.get("query"):
        url += "?" + urllib.parse.urlencode(spec["query"])
    headers = dict(spec.get("headers", {}))
    if "body_size" in spec:
        body = b"A" * spec["body_size"]
    elif "form" in spec:
        body = urllib.parse.urlencode(spec["form"]).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    else:
        body = spec.get("body", "").encode()
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    creds = Credentials(
        os.environ["AWS_ACCESS_KEY_ID"],
        spec.get("secret", os.environ["AWS_SECRET_ACCESS_KEY"]),
        os.environ.get("AWS_SESSION_TOKEN"),
    )
    if spec.get("sign", True):
        _shifted_clock(spec.get("time_offset", 0))
        if spec.get("presign"):
            signer = botocore.auth.SigV4QueryAuth(creds, service, "us-east-1", expires=spec.get("expires", 900))
        else:
            signer = botocore.auth.SigV4Auth(creds, service, "us-east-1")
        signer.add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=prepared.body or None, method=method,
                                 headers=dict(prepared.headers.items()))
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(req, context=context, timeout=30) as resp:
            status, resp_headers, text = resp.status, dict(resp.headers.items()), resp.read().decode()
    except urllib.error.HTTPError as e:
        status, resp_headers, text = e.code, dict(e.headers.items()), e.read().decode()
    print(json.dumps({"status": status, "headers": resp_headers, "body": text}))


if __name__ == "__main__":
    main()
