"""Key policies through Portcullis with the real policy engine, in dev mode (account
123456789012's root is reached with the access key id 123456789012): the key policy lockout
safety check for the root user and an IAM user, the kms:ResourceAliases, kms:RequestAlias and
kms:ViaService condition keys, and AWS managed keys. Prints {"ok": [...]}."""

import json
import os

import boto3
import botocore.exceptions

endpoint = os.environ["PORTCULLIS_ENDPOINT"]
ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
root = boto3.Session(aws_access_key_id=ACCOUNT, aws_secret_access_key="x", region_name="us-east-1")
iam = root.client("iam", endpoint_url=endpoint)
kms_root = root.client("kms", endpoint_url=endpoint)
done = []


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user(name, *statements):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                            region_name="us-east-1")
    return session.client("kms", endpoint_url=endpoint), f"arn:aws:iam::{ACCOUNT}:user/{name}"


def error(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return "ok", ""


LOCKOUT = "The new key policy will not allow you to update the key policy in the future."
delegate = {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT},
            "Action": "kms:*", "Resource": "*"}

# The root user: a policy that names only someone else is refused, unless the check is bypassed.
someone_else = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/nobody"},
                    "Action": "kms:*", "Resource": "*"})
iam.create_user(UserName="nobody")
assert error(kms_root.create_key, Policy=someone_else) == ("MalformedPolicyDocumentException", LOCKOUT)
key_id = kms_root.create_key(Policy=doc(delegate))["KeyMetadata"]["KeyId"]
assert error(kms_root.put_key_policy, KeyId=key_id, PolicyName="default", Policy=someone_else) == \
    ("MalformedPolicyDocumentException", LOCKOUT)
locked = kms_root.create_key(Policy=someone_else, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
assert error(kms_root.describe_key, KeyId=locked)[0] == "AccessDeniedException"
done.append("lockout_root")

# An IAM user: the key policy delegates to the account, so the user's own IAM policy must allow
# kms:PutKeyPolicy for the policy to pass the check.
creator, creator_arn = user("creator", {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"})
assert error(creator.create_key, Policy=doc(delegate)) == ("MalformedPolicyDocumentException", LOCKOUT)
iam.put_user_policy(UserName="creator", PolicyName="put", PolicyDocument=doc(
    {"Effect": "Allow", "Action": "kms:PutKeyPolicy", "Resource": "*"}))
assert error(creator.create_key, Policy=doc(delegate)) == ("ok", "")
# A key policy that names the user itself is enough without the IAM permission.
iam.delete_user_policy(UserName="creator", PolicyName="put")
names_user = doc({"Effect": "Allow", "Principal": {"AWS": creator_arn}, "Action": "kms:*", "Resource": "*"})
assert error(creator.create_key, Policy=names_user) == ("ok", "")
done.append("lockout_iam_user")

# kms:ResourceAliases in an IAM policy: the key's aliases decide, however the key is named.
analyst, _ = user("analyst", {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                              "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/team-*"}}})
assert error(analyst.encrypt, KeyId=key_id, Plaintext=b"x")[0] == "AccessDeniedException"
kms_root.create_alias(AliasName="alias/team-blue", TargetKeyId=key_id)
assert error(analyst.encrypt, KeyId=key_id, Plaintext=b"x") == ("ok", "")
kms_root.delete_alias(AliasName="alias/team-blue")
assert error(analyst.encrypt, KeyId=key_id, Plaintext=b"x")[0] == "AccessDeniedException"
done.append("resource_aliases")

# kms:RequestAlias: only a request that names the key by that alias matches.
kms_root.create_alias(AliasName="alias/team-red", TargetKeyId=key_id)
writer, _ = user("writer", {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*",
                            "Condition": {"StringEquals": {"kms:RequestAlias": "alias/team-red"}}})
assert error(writer.generate_data_key, KeyId="alias/team-red", KeySpec="AES_256") == ("ok", "")
assert error(writer.generate_data_key, KeyId=key_id, KeySpec="AES_256")[0] == "AccessDeniedException"
done.append("request_alias")

# kms:ViaService: direct calls carry none. An Allow that needs it never matches them; a Deny
# with StringNotEquals (or ...IfExists) denies them.
reader, _ = user("reader", {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}})
blob = kms_root.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
assert error(reader.decrypt, CiphertextBlob=blob)[0] == "AccessDeniedException"
for operator in ["StringNotEquals", "StringNotEqualsIfExists"]:
    only_s3 = doc(delegate, {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt",
                             "Resource": "*",
                             "Condition": {operator: {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}})
    kms_root.put_key_policy(KeyId=key_id, PolicyName="default", Policy=only_s3)
    assert error(kms_root.encrypt, KeyId=key_id, Plaintext=b"x")[0] == "AccessDeniedException", operator
    assert error(kms_root.decrypt, CiphertextBlob=blob) == ("ok", "")
done.append("via_service")

# AWS managed keys: a predefined alias is listed without a key until DescribeKey creates it.
def s3_alias():
    return next(a for a in kms_root.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/s3")


assert "TargetKeyId" not in s3_alias()
managed = kms_root.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
assert managed["KeyManager"] == "AWS" and managed["KeyState"] == "Enabled", managed
assert kms_root.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == managed["KeyId"]
assert s3_alias()["TargetKeyId"] == managed["KeyId"]
assert kms_root.get_key_rotation_status(KeyId=managed["KeyId"])["KeyRotationEnabled"] is True
policy = kms_root.get_key_policy(KeyId=managed["KeyId"], PolicyName="default")["Policy"]
assert "s3.us-east-1.amazonaws.com" in policy, policy
for call, kwargs in [(kms_root.disable_key, {}), (kms_root.schedule_key_deletion, {"PendingWindowInDays": 7}),
                     (kms_root.put_key_policy, {"PolicyName": "default", "Policy": doc(delegate)}),
                     (kms_root.enable_key_rotation, {}), (kms_root.tag_resource, {"Tags": [{"TagKey": "a", "TagValue": "b"}]}),
                     (kms_root.encrypt, {"Plaintext": b"x"})]:
    assert error(call, KeyId=managed["KeyId"], **kwargs)[0] == "AccessDeniedException", call
assert error(kms_root.delete_alias, AliasName="alias/aws/s3")[0] == "NotAuthorizedException"
# An IAM user allowed kms:* by IAM may read it (the policy delegates metadata access to the
# account) but not use it directly.
admin, _ = user("admin", {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
assert admin.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == managed["KeyId"]
assert error(admin.generate_data_key, KeyId="alias/aws/s3", KeySpec="AES_256")[0] == "AccessDeniedException"
done.append("aws_managed_keys")

print(json.dumps({"ok": done}))
