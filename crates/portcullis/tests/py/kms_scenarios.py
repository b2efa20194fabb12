"""KMS through Portcullis with boto3, the AWS CLI's library: every assertion here is a check a
user relies on. Prints {"ok": [names of scenarios passed]} or raises."""

import base64
import json
import os
import subprocess
import sys
import tempfile

import boto3
import botocore.exceptions

endpoint = os.environ["PORTCULLIS_ENDPOINT"]
kms = boto3.client("kms", endpoint_url=endpoint)
done = []


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} unexpectedly succeeded")


def symmetric():
    key = kms.create_key(Description="e2e symmetric")["KeyMetadata"]
    assert key["KeySpec"] == "SYMMETRIC_DEFAULT" and key["KeyState"] == "Enabled", key
    key_id = key["KeyId"]
    kms.create_alias(AliasName="alias/e2e-sym", TargetKeyId=key_id)
    context = {"purpose": "e2e", "tenant": "t1"}
    blob = kms.encrypt(KeyId="alias/e2e-sym", Plaintext=b"secret data", EncryptionContext=context)["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)  # no KeyId needed
    assert out["Plaintext"] == b"secret data" and out["KeyId"] == key["Arn"], out
    assert error_code(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"purpose": "other"}) == "InvalidCiphertextException"
    assert error_code(kms.decrypt, CiphertextBlob=blob) == "InvalidCiphertextException"
    tampered = bytearray(blob)
    tampered[-5] ^= 0x01
    assert error_code(kms.decrypt, CiphertextBlob=bytes(tampered), EncryptionContext=context) == "InvalidCiphertextException"
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    assert error_code(kms.decrypt, CiphertextBlob=blob, EncryptionContext=context, KeyId=other) == "IncorrectKeyException"

    kms.disable_key(KeyId=key_id)
    assert error_code(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "DisabledException"
    assert error_code(kms.decrypt, CiphertextBlob=blob, EncryptionContext=context) == "DisabledException"
    kms.enable_key(KeyId=key_id)
    deletion = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert deletion["KeyState"] == "PendingDeletion", deletion
    assert error_code(kms.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    assert error_code(kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=3) in ("ValidationException", "KMSInvalidStateException")
    kms.cancel_key_deletion(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"secret data"
    assert error_code(kms.describe_key, KeyId="alias/no-such-alias") == "NotFoundException"
    done.append("symmetric")
    return key_id, blob, context


def rotation(key_id, blob, context):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90, status
    kms.rotate_key_on_demand(KeyId=key_id)
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND", rotations
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"secret data"
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"after rotation"
    done.append("rotation")


def data_keys(key_id):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    dk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"file": "f1"})
    assert len(dk["Plaintext"]) == 32
    nonce = os.urandom(12)
    sealed = AESGCM(dk["Plaintext"]).encrypt(nonce, b"file contents" * 100, None)
    # Later: only the encrypted copy of the data key is kept; KMS gives the key back.
    key = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"file": "f1"})["Plaintext"]
    assert AESGCM(key).decrypt(nonce, sealed, None) == b"file contents" * 100
    assert "Plaintext" not in kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=64)
    random = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    assert len(random) == 32
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    assert pair["KeyPairSpec"] == "ECC_NIST_P256" and pair["PublicKey"] and pair["PrivateKeyPlaintext"]
    done.append("data_keys")


def openssl_verify(public_der, message, signature, digest):
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("pub.der", "msg", "sig")}
        for name, data in (("pub.der", public_der), ("msg", message), ("sig", signature)):
            with open(paths[name], "wb") as f:
                f.write(data)
        pem = os.path.join(d, "pub.pem")
        subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-in", paths["pub.der"], "-out", pem], check=True)
        result = subprocess.run(["openssl", "dgst", f"-{digest}", "-verify", pem, "-signature", paths["sig"], paths["msg"]],
                                capture_output=True, text=True)
        return result.returncode == 0 and "Verified OK" in result.stdout


def signatures():
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert key["SigningAlgorithms"] == ["ECDSA_SHA_256"], key
    message = b"sign me"
    signature = kms.sign(KeyId=key["KeyId"], Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert kms.verify(KeyId=key["KeyId"], Message=message, Signature=signature, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    assert error_code(kms.verify, KeyId=key["KeyId"], Message=b"other", Signature=signature,
                      SigningAlgorithm="ECDSA_SHA_256") == "KMSInvalidSignatureException"
    public = kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    assert openssl_verify(public, message, signature, "sha256"), "OpenSSL rejects the KMS signature"
    assert error_code(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == "InvalidKeyUsageException"

    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    sig = kms.sign(KeyId=rsa, Message=message, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    assert openssl_verify(kms.get_public_key(KeyId=rsa)["PublicKey"], message, sig, "sha256")

    rsa_enc = kms.create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=rsa_enc, Plaintext=b"rsa", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert kms.decrypt(KeyId=rsa_enc, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"rsa"

    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert kms.verify_mac(KeyId=mac_key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
    assert error_code(kms.verify_mac, KeyId=mac_key, Message=b"n", Mac=mac, MacAlgorithm="HMAC_SHA_256") == "KMSInvalidMacException"
    done.append("signatures")


def grants(key_id):
    account = boto3.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{account}:root",
                             Operations=["Encrypt", "Decrypt"],
                             Constraints={"EncryptionContextSubset": {"tenant": "t1"}})
    listed = kms.list_grants(KeyId=key_id)["Grants"]
    assert any(g["GrantId"] == grant["GrantId"] for g in listed), listed
    kms.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    assert not kms.list_grants(KeyId=key_id)["Grants"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{account}:root", policy
    done.append("grants_and_policy")


key_id, blob, context = symmetric()
rotation(key_id, blob, context)
data_keys(key_id)
signatures()
grants(key_id)
print(json.dumps({"ok": done}))
