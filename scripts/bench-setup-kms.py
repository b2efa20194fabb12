"""Prepares the KMS benchmark on a server: a symmetric key, and the JSON bodies of an Encrypt of
4 KiB and of a Decrypt of its ciphertext. Prints {"encrypt": BODY, "decrypt": BODY} as JSON.

Usage: bench-setup-kms.py ENDPOINT   (credentials come from the environment)
"""

import base64
import json
import os
import sys

import boto3

kms = boto3.client("kms", endpoint_url=sys.argv[1])
key_id = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
plaintext = os.urandom(4096)
blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
encrypt = {"KeyId": key_id, "Plaintext": base64.b64encode(plaintext).decode()}
decrypt = {"CiphertextBlob": base64.b64encode(blob).decode()}
print(json.dumps({"encrypt": json.dumps(encrypt), "decrypt": json.dumps(decrypt)}))
