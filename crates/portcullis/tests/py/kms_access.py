"""KMS access control through Portcullis with non-root principals, in dev mode (account
123456789012's root is reached with the access key id 123456789012). Prints {"ok": [...]}."""

import json
import os

import boto3
import botocore.exceptions

endpoint = os.environ["PORTCULLIS_ENDPOINT"]
ACCOUNT = "123456789012"
root = boto3.Session(aws_access_key_id=ACCOUNT, aws_secret_access_key="x", region_name="us-east-1")
iam = root.client("iam", endpoint_url=endpoint)
kms_root = root.client("kms", endpoint_url=endpoint)
done = []


def user(name, policy=None):
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                            region_name="us-east-1")
    return session.client("kms", endpoint_url=endpoint), f"arn:aws:iam::{ACCOUNT}:user/{name}"


def code(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"


allow_kms = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"],
                                                      "Resource": "*"}]}
key_id = kms_root.create_key()["KeyMetadata"]["KeyId"]

# A new user has no permissions: the default key policy delegates to IAM, and IAM allows nothing.
nobody, nobody_arn = user("nobody")
assert code(nobody.encrypt, KeyId=key_id, Plaintext=b"x") == "AccessDeniedException"
done.append("no_policy_denied")

# An IAM policy allows the user, because the default key policy delegates to the account.
alice, alice_arn = user("alice", allow_kms)
blob = alice.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
assert code(alice.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=7) == "AccessDeniedException"
done.append("iam_policy_allows_through_delegation")

# A key policy that names only the root user and does not delegate: IAM policies no longer count.
strict = {"Version": "2012-10-17", "Statement": [{"Sid": "root only", "Effect": "Allow",
          "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*",
          "Condition": {"StringEquals": {"aws:PrincipalType": "Account"}}}]}
strict_key = kms_root.create_key(Policy=json.dumps(strict), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
assert code(alice.encrypt, KeyId=strict_key, Plaintext=b"x") == "AccessDeniedException"
done.append("key_policy_without_delegation_denies")

# A key policy that names the user directly allows it without any IAM policy.
direct = {"Version": "2012-10-17", "Statement": [
    {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
     "Resource": "*"},
    {"Sid": "nobody may encrypt", "Effect": "Allow", "Principal": {"AWS": nobody_arn}, "Action": "kms:Encrypt",
     "Resource": "*"}]}
direct_key = kms_root.create_key(Policy=json.dumps(direct))["KeyMetadata"]["KeyId"]
assert code(nobody.encrypt, KeyId=direct_key, Plaintext=b"x") == "ok"
assert code(nobody.decrypt, CiphertextBlob=blob) == "AccessDeniedException"
done.append("key_policy_names_the_user")

# A grant lets a user with no permissions use the key for the granted operations only.
kms_root.create_grant(KeyId=key_id, GranteePrincipal=nobody_arn, Operations=["Decrypt"])
assert nobody.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
assert code(nobody.encrypt, KeyId=key_id, Plaintext=b"y") == "AccessDeniedException"
done.append("grant_allows_granted_operations")

# An explicit deny in the IAM policy wins over the key policy's delegation.
iam.put_user_policy(UserName="alice", PolicyName="deny", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}))
assert code(alice.decrypt, CiphertextBlob=blob) == "AccessDeniedException"
done.append("explicit_deny_wins")

# Cross-account: a user of another account needs both sides — the key policy must allow that
# account, and the user's own IAM policy must allow the key.
OTHER = "210987654321"
other_root = boto3.Session(aws_access_key_id=OTHER, aws_secret_access_key="x", region_name="us-east-1")
other_iam = other_root.client("iam", endpoint_url=endpoint)
other_iam.create_user(UserName="bob")
key_arn = kms_root.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
other_iam.put_user_policy(UserName="bob", PolicyName="p", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key_arn}]}))
bob_key = other_iam.create_access_key(UserName="bob")["AccessKey"]
bob = boto3.Session(aws_access_key_id=bob_key["AccessKeyId"], aws_secret_access_key=bob_key["SecretAccessKey"],
                    region_name="us-east-1").client("kms", endpoint_url=endpoint)
assert code(bob.encrypt, KeyId=key_arn, Plaintext=b"x") == "AccessDeniedException"  # key policy: own account only
shared = {"Version": "2012-10-17", "Statement": [
    {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
     "Resource": "*"},
    {"Sid": "other account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
     "Action": "kms:Encrypt", "Resource": "*"}]}
kms_root.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(shared))
assert code(bob.encrypt, KeyId=key_arn, Plaintext=b"x") == "ok"
other_iam.delete_user_policy(UserName="bob", PolicyName="p")
assert code(bob.encrypt, KeyId=key_arn, Plaintext=b"x") == "AccessDeniedException"  # its own side says no
done.append("cross_account_needs_both_sides")

print(json.dumps({"ok": done}))
