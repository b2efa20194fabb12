"""AssumeRoleWithWebIdentity with tokens this script signs.

Usage: authz_web_identity.py ISSUER JWKS_FILE LOOPBACK_ISSUER LOOPBACK_PORT. The server was
started with PORTCULLIS_OIDC_JWKS naming JWKS_FILE for ISSUER and
http://127.0.0.1:LOOPBACK_PORT/jwks.json for LOOPBACK_ISSUER; this script writes the file and
serves the URL, creates the OIDC providers and a role as the account's root user (from the
environment), then assumes the role with good and bad tokens. Prints a JSON record of outcomes.
"""

import base64
import http.server
import json
import os
import sys
import threading
import time

import boto3
import botocore.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ENDPOINT = os.environ["PORTCULLIS_ENDPOINT"]
ACCOUNT = os.environ["AWS_ACCESS_KEY_ID"]
issuer, jwks_file, loopback_issuer, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
out = {}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key, kid):
    numbers = key.public_key().public_numbers()
    as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": b64(as_bytes(numbers.n)), "e": b64(as_bytes(numbers.e))}


def token(key, kid, claims):
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64(signature)}"


signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwks = json.dumps({"keys": [jwk(signing, "k1")]})
with open(jwks_file, "w") as f:
    f.write(jwks)


class Jwks(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = jwks.encode()
        self.send_response(200 if self.path == "/jwks.json" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


httpd = http.server.HTTPServer(("127.0.0.1", port), Jwks)
threading.Thread(target=httpd.serve_forever, daemon=True).start()

root = boto3.client("iam", endpoint_url=ENDPOINT, region_name="us-east-1")
sts = boto3.client("sts", endpoint_url=ENDPOINT, region_name="us-east-1")
roles = {}
for iss in (issuer, loopback_issuer):
    host = iss[len("https://"):]
    provider = root.create_open_id_connect_provider(
        Url=iss, ClientIDList=["portcullis-test"], ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:sub": "ci-job", f"{host}:aud": "portcullis-test"}}}]}
    name = "ci-" + ("file" if iss == issuer else "loopback")
    roles[iss] = root.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    root.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")


def claims(iss, **over):
    now = int(time.time())
    c = {"iss": iss, "sub": "ci-job", "aud": "portcullis-test", "iat": now, "exp": now + 600}
    c.update(over)
    return c


def step(name, fn):
    try:
        value = fn()
        out[name] = "ok"
        return value
    except botocore.exceptions.ClientError as e:
        out[name] = {"code": e.response["Error"]["Code"], "message": e.response["Error"].get("Message", ""),
                     "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
        return None


def assume(iss, tok):
    return sts.assume_role_with_web_identity(RoleArn=roles[iss], RoleSessionName="ci", WebIdentityToken=tok)


r = step("file_ok", lambda: assume(issuer, token(signing, "k1", claims(issuer))))
if r:
    out["file_response"] = {k: r[k] for k in ("SubjectFromWebIdentityToken", "Provider", "Audience")}
    out["file_response"]["Arn"] = r["AssumedRoleUser"]["Arn"]
    c = r["Credentials"]
    session = boto3.client("iam", endpoint_url=ENDPOINT, region_name="us-east-1",
                           aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                           aws_session_token=c["SessionToken"])
    step("session_lists_roles", lambda: session.list_roles())
    step("session_cannot_create", lambda: session.create_user(UserName="nope"))
step("loopback_ok", lambda: assume(loopback_issuer, token(signing, "k1", claims(loopback_issuer))))
step("wrong_subject", lambda: assume(issuer, token(signing, "k1", claims(issuer, sub="someone-else"))))
step("wrong_audience", lambda: assume(issuer, token(signing, "k1", claims(issuer, aud="other-client"))))
step("expired", lambda: assume(issuer, token(signing, "k1", claims(issuer, exp=int(time.time()) - 60))))
step("forged", lambda: assume(issuer, token(stranger, "k1", claims(issuer))))
step("garbage", lambda: assume(issuer, "not-a-jwt"))
httpd.shutdown()
print(json.dumps(out))
