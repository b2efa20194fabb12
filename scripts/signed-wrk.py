"""Writes a wrk Lua script that replays one SigV4-signed query-protocol request.

Usage: signed-wrk.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY OUT.lua [SERVICE [BODY [TARGET]]]
SERVICE defaults to sts and BODY to an STS GetCallerIdentity form. With TARGET (an X-Amz-Target
such as TrentService.Encrypt) the body is sent as AWS JSON 1.1. The signature stays valid for
15 minutes, the window AWS (and Portcullis) allow.
"""

import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, key_id, secret, out = sys.argv[1:5]
service = sys.argv[5] if len(sys.argv) > 5 else "sts"
body = sys.argv[6] if len(sys.argv) > 6 else "Action=GetCallerIdentity&Version=2011-06-15"
headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "User-Agent": "portcullis-bench"}
if len(sys.argv) > 7:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": sys.argv[7],
               "User-Agent": "portcullis-bench"}
request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
botocore.auth.SigV4Auth(Credentials(key_id, secret), service, "us-east-1").add_auth(request)
escaped = body.replace("\\", "\\\\").replace('"', '\\"')
lines = ['wrk.method = "POST"', f'wrk.body = "{escaped}"']
for name, value in request.headers.items():
    lines.append(f'wrk.headers["{name}"] = "{value}"')
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
