//! Key policies as the engine decides them: the lockout safety check, and the condition keys
//! KMS passes (kms:ResourceAliases, kms:RequestAlias, kms:ViaService).

mod common;

use std::sync::Arc;

use common::*;
use portcullis_kms::Caller;
use serde_json::{Value, json};

fn policy(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn root_arn() -> String {
    format!("arn:aws:iam::{OWNER}:root")
}

#[tokio::test]
async fn lockout_safety_check_refuses_a_policy_the_caller_could_not_change_again() {
    let env = env_with(Arc::new(KeyPolicyOnly)).await;
    let owner = root(OWNER);
    let alice = format!("arn:aws:iam::{OWNER}:user/alice");
    // Allows alice everything but names no one who could call PutKeyPolicy as the root.
    let alice_only = policy(json!([{"Effect": "Allow", "Principal": {"AWS": alice},
        "Action": "kms:*", "Resource": "*"}]));
    let e = env
        .err(&owner, "CreateKey", json!({"Policy": alice_only}))
        .await;
    assert_eq!(e.code, "MalformedPolicyDocumentException");
    assert_eq!(
        e.message,
        "The new key policy will not allow you to update the key policy in the future."
    );
    // Everything but PutKeyPolicy is not enough either.
    let no_put = policy(json!([{"Effect": "Allow", "Principal": {"AWS": root_arn()},
        "NotAction": "kms:PutKeyPolicy", "Resource": "*"}]));
    let e = env
        .err(&owner, "CreateKey", json!({"Policy": no_put}))
        .await;
    assert_eq!(e.code, "MalformedPolicyDocumentException");
    // A Deny of PutKeyPolicy wins over an Allow of everything.
    let denied = policy(json!([
        {"Effect": "Allow", "Principal": {"AWS": root_arn()}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:PutKeyPolicy", "Resource": "*"}]));
    let e = env
        .err(&owner, "CreateKey", json!({"Policy": denied}))
        .await;
    assert_eq!(e.code, "MalformedPolicyDocumentException");

    // Allowed to change the policy again: accepted.
    let manageable = policy(json!([{"Effect": "Allow", "Principal": {"AWS": root_arn()},
        "Action": ["kms:PutKeyPolicy", "kms:Encrypt"], "Resource": "*"}]));
    let key = env.create(&owner, json!({"Policy": manageable})).await;
    // PutKeyPolicy checks the new policy the same way.
    let e = env
        .err(
            &owner,
            "PutKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default", "Policy": alice_only}),
        )
        .await;
    assert_eq!(e.code, "MalformedPolicyDocumentException");
    assert!(
        e.message
            .contains("will not allow you to update the key policy")
    );
    // Bypassing the check: the caller may lock itself out, and then is locked out.
    env.ok(
        &owner,
        "PutKeyPolicy",
        json!({"KeyId": key, "PolicyName": "default", "Policy": alice_only,
               "BypassPolicyLockoutSafetyCheck": true}),
    )
    .await;
    let e = env
        .err(
            &owner,
            "PutKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default", "Policy": manageable}),
        )
        .await;
    assert_eq!(e.code, "AccessDeniedException");
    let bypassed = env
        .create(
            &owner,
            json!({"Policy": alice_only, "BypassPolicyLockoutSafetyCheck": true}),
        )
        .await;
    let e = env
        .err(&owner, "DescribeKey", json!({"KeyId": bypassed}))
        .await;
    assert_eq!(e.code, "AccessDeniedException");
    // Without a Policy, CreateKey writes the default policy: no check to fail.
    env.create(&owner, json!({})).await;
}

#[tokio::test]
async fn the_lockout_check_passes_request_conditions_like_a_real_call() {
    let env = env_with(Arc::new(KeyPolicyOnly)).await;
    let owner = root(OWNER);
    // Only the key's own account may manage it (kms:CallerAccount is passed to the check).
    let by_account = policy(json!([{"Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": "kms:*", "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": OWNER}}}]));
    env.create(&owner, json!({"Policy": by_account})).await;
    let other = policy(json!([{"Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": "kms:*", "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": OTHER}}}]));
    let e = env.err(&owner, "CreateKey", json!({"Policy": other})).await;
    assert_eq!(e.code, "MalformedPolicyDocumentException");
}

/// A key policy: the root may manage the key; cryptographic use depends on conditions.
fn conditional_policy() -> String {
    policy(json!([
        {"Sid": "manage", "Effect": "Allow", "Principal": {"AWS": root_arn()},
         "Action": ["kms:DescribeKey", "kms:PutKeyPolicy", "kms:CreateAlias", "kms:DeleteAlias",
                    "kms:UpdateAlias"], "Resource": "*"},
        {"Sid": "encrypt by the key's alias", "Effect": "Allow", "Principal": {"AWS": root_arn()},
         "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/finance-*"}}},
        {"Sid": "data keys when named by alias", "Effect": "Allow",
         "Principal": {"AWS": root_arn()}, "Action": "kms:GenerateDataKey", "Resource": "*",
         "Condition": {"StringEquals": {"kms:RequestAlias": "alias/finance-key"}}},
        {"Sid": "decrypt through S3 only", "Effect": "Allow", "Principal": {"AWS": root_arn()},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
    ]))
}

#[tokio::test]
async fn resource_aliases_follow_the_keys_aliases_however_the_key_is_named() {
    let env = env_with(Arc::new(KeyPolicyOnly)).await;
    let owner = root(OWNER);
    let key = env
        .create(&owner, json!({"Policy": conditional_policy()}))
        .await;
    let encrypt = json!({"KeyId": key, "Plaintext": b64(b"x")});
    let e = env.err(&owner, "Encrypt", encrypt.clone()).await;
    assert_eq!(e.code, "AccessDeniedException");
    env.ok(
        &owner,
        "CreateAlias",
        json!({"AliasName": "alias/other", "TargetKeyId": key}),
    )
    .await;
    let e = env.err(&owner, "Encrypt", encrypt.clone()).await;
    assert_eq!(
        e.code, "AccessDeniedException",
        "an alias that does not match"
    );
    env.ok(
        &owner,
        "CreateAlias",
        json!({"AliasName": "alias/finance-key", "TargetKeyId": key}),
    )
    .await;
    // Seen at once (the alias write drops the cached aliases), by key id as well as by alias.
    env.ok(&owner, "Encrypt", encrypt.clone()).await;
    env.ok(
        &owner,
        "Encrypt",
        json!({"KeyId": "alias/other", "Plaintext": b64(b"x")}),
    )
    .await;
    env.ok(
        &owner,
        "DeleteAlias",
        json!({"AliasName": "alias/finance-key"}),
    )
    .await;
    let e = env.err(&owner, "Encrypt", encrypt).await;
    assert_eq!(e.code, "AccessDeniedException");
}

#[tokio::test]
async fn request_alias_needs_the_key_named_by_that_alias() {
    let env = env_with(Arc::new(KeyPolicyOnly)).await;
    let owner = root(OWNER);
    let key = env
        .create(&owner, json!({"Policy": conditional_policy()}))
        .await;
    env.ok(
        &owner,
        "CreateAlias",
        json!({"AliasName": "alias/finance-key", "TargetKeyId": key}),
    )
    .await;
    env.ok(
        &owner,
        "CreateAlias",
        json!({"AliasName": "alias/second-name", "TargetKeyId": key}),
    )
    .await;
    let gdk = |id: &str| json!({"KeyId": id, "KeySpec": "AES_256"});
    env.ok(&owner, "GenerateDataKey", gdk("alias/finance-key"))
        .await;
    let arn = format!("arn:aws:kms:us-east-1:{OWNER}:alias/finance-key");
    env.ok(&owner, "GenerateDataKey", gdk(&arn)).await;
    for other in [key.as_str(), "alias/second-name"] {
        let e = env.err(&owner, "GenerateDataKey", gdk(other)).await;
        assert_eq!(e.code, "AccessDeniedException", "{other}");
    }
}

#[tokio::test]
async fn via_service_is_absent_from_direct_calls_and_set_by_in_process_services() {
    let env = env_with(Arc::new(KeyPolicyOnly)).await;
    let owner = root(OWNER);
    let key = env
        .create(&owner, json!({"Policy": conditional_policy()}))
        .await;
    env.ok(
        &owner,
        "CreateAlias",
        json!({"AliasName": "alias/finance-key", "TargetKeyId": key}),
    )
    .await;
    let blob = env
        .ok(
            &owner,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"secret")}),
        )
        .await["CiphertextBlob"]
        .clone();
    let decrypt = json!({"CiphertextBlob": blob});
    // An Allow that needs kms:ViaService does not match a direct call.
    let e = env.err(&owner, "Decrypt", decrypt.clone()).await;
    assert_eq!(e.code, "AccessDeniedException");
    let s3 = Caller::via_service(&owner, "s3.us-east-1.amazonaws.com");
    let out = env
        .kms
        .call_as(&s3, "Decrypt", decrypt.clone())
        .await
        .unwrap();
    assert_eq!(unb64(&out["Plaintext"]), b"secret");
    let sqs = Caller::via_service(&owner, "sqs.us-east-1.amazonaws.com");
    let e = env
        .kms
        .call_as(&sqs, "Decrypt", decrypt.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code, "AccessDeniedException");

    // A Deny with StringNotEquals: a missing key makes a negated operator true, so direct
    // calls are denied as well as calls through any other service (IAM User Guide, condition
    // operators); with ...IfExists the same.
    for operator in ["StringNotEquals", "StringNotEqualsIfExists"] {
        let mut statements: Value = serde_json::from_str(&conditional_policy()).unwrap();
        statements["Statement"].as_array_mut().unwrap().push(
            json!({"Effect": "Deny", "Principal": {"AWS": "*"},
                "Action": "kms:Encrypt", "Resource": "*",
                "Condition": {operator: {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}),
        );
        env.ok(
            &owner,
            "PutKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default", "Policy": statements.to_string()}),
        )
        .await;
        let encrypt = json!({"KeyId": key, "Plaintext": b64(b"x")});
        let e = env.err(&owner, "Encrypt", encrypt.clone()).await;
        assert_eq!(e.code, "AccessDeniedException", "{operator}");
        env.kms
            .call_as(&s3, "Encrypt", encrypt.clone())
            .await
            .unwrap();
        let e = env.kms.call_as(&sqs, "Encrypt", encrypt).await.unwrap_err();
        assert_eq!(e.code, "AccessDeniedException", "{operator}");
    }
}

#[tokio::test]
async fn describe_key_creates_the_aws_managed_key_of_a_predefined_alias() {
    let env = env_with(Arc::new(KeyPolicyOnly)).await;
    let owner = root(OWNER);
    let listed = env.ok(&owner, "ListAliases", json!({})).await;
    let s3 = |listed: &Value| {
        listed["Aliases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["AliasName"] == "alias/aws/s3")
            .cloned()
            .unwrap()
    };
    // Predefined, with no key yet: listed without a TargetKeyId.
    assert!(s3(&listed).get("TargetKeyId").is_none());
    assert_eq!(
        s3(&listed)["AliasArn"],
        format!("arn:aws:kms:us-east-1:{OWNER}:alias/aws/s3")
    );
    let e = env
        .err(
            &owner,
            "DescribeKey",
            json!({"KeyId": "alias/aws/nosuchservice"}),
        )
        .await;
    assert_eq!(e.code, "NotFoundException");

    let first = env
        .ok(&owner, "DescribeKey", json!({"KeyId": "alias/aws/s3"}))
        .await["KeyMetadata"]
        .clone();
    assert_eq!(first["KeyManager"], "AWS");
    assert_eq!(first["KeyState"], "Enabled");
    assert_eq!(first["KeySpec"], "SYMMETRIC_DEFAULT");
    let key = first["KeyId"].as_str().unwrap().to_owned();
    let alias_arn = format!("arn:aws:kms:us-east-1:{OWNER}:alias/aws/s3");
    let again = env
        .ok(&owner, "DescribeKey", json!({"KeyId": alias_arn}))
        .await;
    assert_eq!(again["KeyMetadata"]["KeyId"], key.as_str(), "created once");
    let listed = env.ok(&owner, "ListAliases", json!({})).await;
    assert_eq!(s3(&listed)["TargetKeyId"], key.as_str());
    let listed = env.ok(&owner, "ListAliases", json!({"KeyId": key})).await;
    assert_eq!(listed["Aliases"].as_array().unwrap().len(), 1);

    // Rotated every year, and that is not configurable.
    let status = env
        .ok(&owner, "GetKeyRotationStatus", json!({"KeyId": key}))
        .await;
    assert_eq!(status["KeyRotationEnabled"], true);
    assert_eq!(status["RotationPeriodInDays"], 365);
    env.clock
        .advance(std::time::Duration::from_secs(366 * 86_400));
    env.kms.run_due_work().await.unwrap();
    let rotations = env
        .ok(&owner, "ListKeyRotations", json!({"KeyId": key}))
        .await;
    assert_eq!(rotations["Rotations"][0]["RotationType"], "AUTOMATIC");

    // Its policy lets the account use it only through S3, and read its metadata directly.
    let policy = env
        .ok(
            &owner,
            "GetKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default"}),
        )
        .await;
    assert!(
        policy["Policy"]
            .as_str()
            .unwrap()
            .contains("s3.us-east-1.amazonaws.com")
    );
    let encrypt = json!({"KeyId": "alias/aws/s3", "Plaintext": b64(b"x")});
    let e = env.err(&owner, "Encrypt", encrypt.clone()).await;
    assert_eq!(e.code, "AccessDeniedException");
    let via_s3 = Caller::via_service(&owner, "s3.us-east-1.amazonaws.com");
    env.kms.call_as(&via_s3, "Encrypt", encrypt).await.unwrap();
}

#[tokio::test]
async fn customers_cannot_manage_aws_managed_keys() {
    // Even where the access implementation would allow everything in the account.
    let env = env().await;
    let owner = root(OWNER);
    let key = env
        .ok(&owner, "DescribeKey", json!({"KeyId": "alias/aws/ebs"}))
        .await["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = env.create(&owner, json!({})).await;
    let manage = [
        ("DisableKey", json!({"KeyId": key})),
        (
            "ScheduleKeyDeletion",
            json!({"KeyId": key, "PendingWindowInDays": 7}),
        ),
        (
            "PutKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default",
                   "Policy": portcullis_kms::managed::key_policy(OWNER, "us-east-1", "ebs", "ec2")}),
        ),
        ("EnableKeyRotation", json!({"KeyId": key})),
        ("DisableKeyRotation", json!({"KeyId": key})),
        ("RotateKeyOnDemand", json!({"KeyId": key})),
        (
            "UpdateKeyDescription",
            json!({"KeyId": key, "Description": "mine"}),
        ),
        (
            "TagResource",
            json!({"KeyId": key, "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        ),
        (
            "CreateAlias",
            json!({"AliasName": "alias/my-ebs", "TargetKeyId": key}),
        ),
    ];
    for (op, input) in manage {
        let e = env.err(&owner, op, input).await;
        assert_eq!(e.code, "AccessDeniedException", "{op}");
        assert!(
            e.message.contains("no resource-based policy allows"),
            "{op}: {}",
            e.message
        );
    }
    for (op, input) in [
        (
            "UpdateAlias",
            json!({"AliasName": "alias/aws/ebs", "TargetKeyId": other}),
        ),
        ("DeleteAlias", json!({"AliasName": "alias/aws/ebs"})),
        (
            "CreateAlias",
            json!({"AliasName": "alias/aws/mine", "TargetKeyId": other}),
        ),
    ] {
        let e = env.err(&owner, op, input).await;
        assert_eq!(e.code, "NotAuthorizedException", "{op}");
    }
    let described = env.ok(&owner, "DescribeKey", json!({"KeyId": key})).await;
    assert_eq!(described["KeyMetadata"]["KeyState"], "Enabled");
}
