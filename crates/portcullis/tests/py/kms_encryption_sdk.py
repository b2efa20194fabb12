"""The AWS Encryption SDK for Python encrypts and decrypts through Portcullis KMS (the SDK's
boto3 clients find Portcullis through AWS_ENDPOINT_URL). Prints {"ok": true} or raises."""

import json
import os

import aws_encryption_sdk
import boto3
from aws_encryption_sdk import CommitmentPolicy

os.environ["AWS_ENDPOINT_URL"] = os.environ["PORTCULLIS_ENDPOINT"]
kms = boto3.client("kms")
key_arn = kms.create_key(Description="encryption sdk")["KeyMetadata"]["Arn"]
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
plaintext = os.urandom(10_000)
ciphertext, header = client.encrypt(source=plaintext, key_provider=provider, encryption_context={"app": "e2e"})
assert ciphertext != plaintext
decrypted, decrypt_header = client.decrypt(source=ciphertext, key_provider=provider)
assert decrypted == plaintext
assert decrypt_header.encryption_context["app"] == "e2e"
print(json.dumps({"ok": True}))
