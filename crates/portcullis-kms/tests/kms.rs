//! End-to-end tests of the KMS operations over an in-memory store.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn symmetric_key_lifecycle_aliases_and_tags() {
    let env = env().await;
    let me = root(OWNER);
    let out = env
        .ok(
            &me,
            "CreateKey",
            json!({"Description": "d", "Tags": [{"TagKey": "team", "TagValue": "a"}]}),
        )
        .await;
    let md = &out["KeyMetadata"];
    let key = md["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(md["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["Enabled"], true);
    assert_eq!(md["Origin"], "AWS_KMS");
    assert_eq!(md["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
    assert_eq!(
        md["Arn"],
        format!("arn:aws:kms:us-east-1:{OWNER}:key/{key}")
    );

    env.ok(
        &me,
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": key}),
    )
    .await;
    let e = env
        .err(
            &me,
            "CreateAlias",
            json!({"AliasName": "alias/app", "TargetKeyId": key}),
        )
        .await;
    assert_eq!(e.code, "AlreadyExistsException");
    let e = env
        .err(
            &me,
            "CreateAlias",
            json!({"AliasName": "alias/aws/s3", "TargetKeyId": key}),
        )
        .await;
    assert_eq!(e.code, "NotAuthorizedException");

    // Every way of naming the key resolves.
    let arn = format!("arn:aws:kms:us-east-1:{OWNER}:key/{key}");
    let alias_arn = format!("arn:aws:kms:us-east-1:{OWNER}:alias/app");
    for name in [key.as_str(), arn.as_str(), "alias/app", alias_arn.as_str()] {
        let d = env.ok(&me, "DescribeKey", json!({"KeyId": name})).await;
        assert_eq!(d["KeyMetadata"]["KeyId"], key.as_str(), "{name}");
    }
    let e = env
        .err(&me, "DescribeKey", json!({"KeyId": "alias/none"}))
        .await;
    assert_eq!(e.code, "NotFoundException");
    let e = env
        .err(&me, "DescribeKey", json!({"KeyId": "nonsense"}))
        .await;
    assert_eq!(e.code, "NotFoundException");

    let aliases = env.ok(&me, "ListAliases", json!({"KeyId": key})).await;
    assert_eq!(aliases["Aliases"][0]["AliasName"], "alias/app");
    let keys = env.ok(&me, "ListKeys", json!({})).await;
    assert_eq!(keys["Keys"][0]["KeyId"], key.as_str());
    assert_eq!(keys["Truncated"], false);

    env.ok(
        &me,
        "UpdateKeyDescription",
        json!({"KeyId": key, "Description": "new"}),
    )
    .await;
    env.ok(
        &me,
        "TagResource",
        json!({"KeyId": key, "Tags": [{"TagKey": "env", "TagValue": "prod"}]}),
    )
    .await;
    env.ok(
        &me,
        "UntagResource",
        json!({"KeyId": key, "TagKeys": ["team"]}),
    )
    .await;
    let tags = env.ok(&me, "ListResourceTags", json!({"KeyId": key})).await;
    assert_eq!(tags["Tags"], json!([{"TagKey": "env", "TagValue": "prod"}]));
    let e = env
        .err(
            &me,
            "TagResource",
            json!({"KeyId": key, "Tags": [{"TagKey": "aws:x", "TagValue": "v"}]}),
        )
        .await;
    assert_eq!(e.code, "TagException");
    assert_eq!(
        env.ok(&me, "DescribeKey", json!({"KeyId": key})).await["KeyMetadata"]["Description"],
        "new"
    );

    let p = env
        .ok(
            &me,
            "GetKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default"}),
        )
        .await;
    assert!(
        p["Policy"]
            .as_str()
            .unwrap()
            .contains(&format!("arn:aws:iam::{OWNER}:root"))
    );
    assert_eq!(
        env.ok(&me, "ListKeyPolicies", json!({"KeyId": key})).await["PolicyNames"],
        json!(["default"])
    );
    let e = env
        .err(
            &me,
            "PutKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default", "Policy": "{}"}),
        )
        .await;
    assert_eq!(e.code, "MalformedPolicyDocumentException");
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OWNER}:root")}, "Action": "kms:*", "Resource": "*"}]}).to_string();
    env.ok(
        &me,
        "PutKeyPolicy",
        json!({"KeyId": key, "PolicyName": "default", "Policy": policy}),
    )
    .await;

    env.ok(&me, "DeleteAlias", json!({"AliasName": "alias/app"}))
        .await;
    assert_eq!(
        env.err(&me, "DeleteAlias", json!({"AliasName": "alias/app"}))
            .await
            .code,
        "NotFoundException"
    );
}

#[tokio::test]
async fn encrypt_decrypt_context_and_tampering() {
    let env = env().await;
    let me = root(OWNER);
    let key = env.create(&me, json!({})).await;
    let ctx = json!({"purpose": "test", "tenant": "a"});
    let out = env
        .ok(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"secret"), "EncryptionContext": ctx}),
        )
        .await;
    let blob = out["CiphertextBlob"].as_str().unwrap().to_owned();

    // Decrypt needs no KeyId: the blob names the key.
    let plain = env
        .ok(
            &me,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx}),
        )
        .await;
    assert_eq!(unb64(&plain["Plaintext"]), b"secret");
    assert_eq!(
        plain["KeyId"],
        format!("arn:aws:kms:us-east-1:{OWNER}:key/{key}")
    );

    for wrong in [
        json!({}),
        json!({"purpose": "test"}),
        json!({"purpose": "test", "tenant": "b"}),
    ] {
        let e = env
            .err(
                &me,
                "Decrypt",
                json!({"CiphertextBlob": blob, "EncryptionContext": wrong}),
            )
            .await;
        assert_eq!(e.code, "InvalidCiphertextException");
    }

    let raw = unb64(&json!(blob));
    for i in [0usize, 5, 20, 30, 40, 55, raw.len() - 1] {
        let mut bad = raw.clone();
        bad[i] ^= 0x80;
        let e = env
            .err(
                &me,
                "Decrypt",
                json!({"CiphertextBlob": b64(&bad), "EncryptionContext": ctx}),
            )
            .await;
        assert!(
            e.code == "InvalidCiphertextException" || e.code == "NotFoundException",
            "byte {i}: {e}"
        );
    }
    let e = env
        .err(&me, "Decrypt", json!({"CiphertextBlob": b64(b"short")}))
        .await;
    assert_eq!(e.code, "InvalidCiphertextException");

    // Naming another key is IncorrectKeyException.
    let other = env.create(&me, json!({})).await;
    let e = env
        .err(
            &me,
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": ctx, "KeyId": other}),
        )
        .await;
    assert_eq!(e.code, "IncorrectKeyException");

    // ReEncrypt moves it to the other key with a new context.
    let re = env
        .ok(&me, "ReEncrypt", json!({"CiphertextBlob": blob, "SourceEncryptionContext": ctx, "DestinationKeyId": other, "DestinationEncryptionContext": {"x": "y"}}))
        .await;
    let plain = env
        .ok(
            &me,
            "Decrypt",
            json!({"CiphertextBlob": re["CiphertextBlob"], "EncryptionContext": {"x": "y"}}),
        )
        .await;
    assert_eq!(unb64(&plain["Plaintext"]), b"secret");
    assert_eq!(plain["KeyId"], re["KeyId"]);

    let e = env
        .err(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"x"), "DryRun": true}),
        )
        .await;
    assert_eq!(e.code, "DryRunOperationException");
}

#[tokio::test]
async fn disabled_and_pending_deletion_keys_refuse_use_and_are_deleted_when_due() {
    let env = env().await;
    let me = root(OWNER);
    let key = env.create(&me, json!({})).await;
    let blob = env
        .ok(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"x")}),
        )
        .await["CiphertextBlob"]
        .clone();

    env.ok(&me, "DisableKey", json!({"KeyId": key})).await;
    let e = env
        .err(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"x")}),
        )
        .await;
    assert_eq!(e.code, "DisabledException");
    assert!(e.message.ends_with("is disabled."));
    assert_eq!(
        env.err(&me, "Decrypt", json!({"CiphertextBlob": blob}))
            .await
            .code,
        "DisabledException"
    );
    env.ok(&me, "EnableKey", json!({"KeyId": key})).await;
    env.ok(&me, "Decrypt", json!({"CiphertextBlob": blob}))
        .await;

    let e = env
        .err(
            &me,
            "ScheduleKeyDeletion",
            json!({"KeyId": key, "PendingWindowInDays": 6}),
        )
        .await;
    assert_eq!(e.code, "ValidationException");
    let s = env
        .ok(
            &me,
            "ScheduleKeyDeletion",
            json!({"KeyId": key, "PendingWindowInDays": 7}),
        )
        .await;
    assert_eq!(s["KeyState"], "PendingDeletion");
    assert_eq!(s["PendingWindowInDays"], 7);
    let e = env
        .err(&me, "Decrypt", json!({"CiphertextBlob": blob}))
        .await;
    assert_eq!(e.code, "KMSInvalidStateException");
    assert!(e.message.ends_with("is pending deletion."));
    assert_eq!(
        env.err(&me, "EnableKey", json!({"KeyId": key})).await.code,
        "KMSInvalidStateException"
    );

    env.ok(&me, "CancelKeyDeletion", json!({"KeyId": key}))
        .await;
    let d = env.ok(&me, "DescribeKey", json!({"KeyId": key})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");

    env.ok(
        &me,
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": key}),
    )
    .await;
    env.ok(
        &me,
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    )
    .await;
    env.clock.advance(Duration::from_secs(6 * 86_400));
    env.kms.run_due_work().await.unwrap();
    env.ok(&me, "DescribeKey", json!({"KeyId": key})).await;
    env.clock.advance(Duration::from_secs(86_400 + 1));
    env.kms.run_due_work().await.unwrap();
    assert_eq!(
        env.err(&me, "DescribeKey", json!({"KeyId": key}))
            .await
            .code,
        "NotFoundException"
    );
    assert_eq!(
        env.err(&me, "DescribeKey", json!({"KeyId": "alias/doomed"}))
            .await
            .code,
        "NotFoundException"
    );
    assert_eq!(
        env.err(&me, "Decrypt", json!({"CiphertextBlob": blob}))
            .await
            .code,
        "InvalidCiphertextException"
    );
}

#[tokio::test]
async fn rotation_keeps_old_ciphertext_decryptable() {
    let env = env().await;
    let me = root(OWNER);
    let key = env.create(&me, json!({})).await;
    let old = env
        .ok(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"v1")}),
        )
        .await["CiphertextBlob"]
        .clone();

    let st = env
        .ok(&me, "GetKeyRotationStatus", json!({"KeyId": key}))
        .await;
    assert_eq!(st["KeyRotationEnabled"], false);
    let e = env
        .err(
            &me,
            "EnableKeyRotation",
            json!({"KeyId": key, "RotationPeriodInDays": 89}),
        )
        .await;
    assert_eq!(e.code, "ValidationException");
    env.ok(
        &me,
        "EnableKeyRotation",
        json!({"KeyId": key, "RotationPeriodInDays": 90}),
    )
    .await;
    let st = env
        .ok(&me, "GetKeyRotationStatus", json!({"KeyId": key}))
        .await;
    assert_eq!(st["KeyRotationEnabled"], true);
    assert_eq!(st["RotationPeriodInDays"], 90);

    env.ok(&me, "RotateKeyOnDemand", json!({"KeyId": key}))
        .await;
    let mid = env
        .ok(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"v2")}),
        )
        .await["CiphertextBlob"]
        .clone();
    assert_ne!(
        unb64(&old)[29..33],
        unb64(&mid)[29..33],
        "new material version in the blob"
    );

    env.clock.advance(Duration::from_secs(91 * 86_400));
    env.kms.run_due_work().await.unwrap();
    let rotations = env.ok(&me, "ListKeyRotations", json!({"KeyId": key})).await;
    let kinds: Vec<&str> = rotations["Rotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["RotationType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ON_DEMAND", "AUTOMATIC"]);

    assert_eq!(
        unb64(&env.ok(&me, "Decrypt", json!({"CiphertextBlob": old})).await["Plaintext"]),
        b"v1"
    );
    assert_eq!(
        unb64(&env.ok(&me, "Decrypt", json!({"CiphertextBlob": mid})).await["Plaintext"]),
        b"v2"
    );

    let rsa = env
        .create(
            &me,
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await;
    assert_eq!(
        env.err(&me, "EnableKeyRotation", json!({"KeyId": rsa}))
            .await
            .code,
        "UnsupportedOperationException"
    );
    assert_eq!(
        env.err(&me, "RotateKeyOnDemand", json!({"KeyId": rsa}))
            .await
            .code,
        "UnsupportedOperationException"
    );
}

#[tokio::test]
async fn data_keys_and_data_key_pairs() {
    let env = env().await;
    let me = root(OWNER);
    let key = env.create(&me, json!({})).await;
    let e = env.err(&me, "GenerateDataKey", json!({"KeyId": key})).await;
    assert_eq!(e.code, "ValidationException");
    let dk = env
        .ok(
            &me,
            "GenerateDataKey",
            json!({"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": {"f": "1"}}),
        )
        .await;
    let plain = unb64(&dk["Plaintext"]);
    assert_eq!(plain.len(), 32);
    let back = env
        .ok(
            &me,
            "Decrypt",
            json!({"CiphertextBlob": dk["CiphertextBlob"], "EncryptionContext": {"f": "1"}}),
        )
        .await;
    assert_eq!(unb64(&back["Plaintext"]), plain);

    // The data key encrypts a file that decrypts with the key recovered through Decrypt.
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let file = b"file contents".to_vec();
    let mut sealed = file.clone();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &plain).unwrap())
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut sealed,
        )
        .unwrap();
    let recovered = unb64(&back["Plaintext"]);
    let opened = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &recovered).unwrap())
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut sealed,
        )
        .unwrap()
        .to_vec();
    assert_eq!(opened, file);

    let dk = env
        .ok(
            &me,
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": key, "NumberOfBytes": 64}),
        )
        .await;
    assert!(dk.get("Plaintext").is_none());
    assert_eq!(
        unb64(
            &env.ok(
                &me,
                "Decrypt",
                json!({"CiphertextBlob": dk["CiphertextBlob"]})
            )
            .await["Plaintext"]
        )
        .len(),
        64
    );

    for spec in ["ECC_NIST_P256", "RSA_2048"] {
        let pair = env
            .ok(
                &me,
                "GenerateDataKeyPair",
                json!({"KeyId": key, "KeyPairSpec": spec}),
            )
            .await;
        let private = env
            .ok(
                &me,
                "Decrypt",
                json!({"CiphertextBlob": pair["PrivateKeyCiphertextBlob"]}),
            )
            .await;
        assert_eq!(private["Plaintext"], pair["PrivateKeyPlaintext"]);
        assert!(!unb64(&pair["PublicKey"]).is_empty());
    }
    let pair = env
        .ok(
            &me,
            "GenerateDataKeyPairWithoutPlaintext",
            json!({"KeyId": key, "KeyPairSpec": "ECC_NIST_P384"}),
        )
        .await;
    assert!(pair.get("PrivateKeyPlaintext").is_none());

    let r = env
        .ok(&me, "GenerateRandom", json!({"NumberOfBytes": 17}))
        .await;
    assert_eq!(unb64(&r["Plaintext"]).len(), 17);

    let signing = env
        .create(
            &me,
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await;
    let e = env
        .err(
            &me,
            "GenerateDataKey",
            json!({"KeyId": signing, "KeySpec": "AES_256"}),
        )
        .await;
    assert_eq!(e.code, "InvalidKeyUsageException");
    let e = env
        .err(
            &me,
            "Encrypt",
            json!({"KeyId": signing, "Plaintext": b64(b"x")}),
        )
        .await;
    assert_eq!(e.code, "InvalidKeyUsageException");
}

#[tokio::test]
async fn every_asymmetric_and_hmac_key_spec() {
    let env = env().await;
    let me = root(OWNER);
    let signing = [
        ("ECC_NIST_P256", vec!["ECDSA_SHA_256"]),
        ("ECC_NIST_P384", vec!["ECDSA_SHA_384"]),
        ("ECC_NIST_P521", vec!["ECDSA_SHA_512"]),
        ("ECC_SECG_P256K1", vec!["ECDSA_SHA_256"]),
        (
            "RSA_2048",
            vec![
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
            ],
        ),
        ("RSA_3072", vec!["RSASSA_PSS_SHA_384"]),
        ("RSA_4096", vec!["RSASSA_PKCS1_V1_5_SHA_512"]),
    ];
    for (spec, algs) in signing {
        let key = env
            .create(&me, json!({"KeySpec": spec, "KeyUsage": "SIGN_VERIFY"}))
            .await;
        let pk = env.ok(&me, "GetPublicKey", json!({"KeyId": key})).await;
        assert_eq!(pk["KeySpec"], spec);
        for alg in algs {
            let sig = env
                .ok(
                    &me,
                    "Sign",
                    json!({"KeyId": key, "Message": b64(b"msg"), "SigningAlgorithm": alg}),
                )
                .await;
            let ok = env.ok(&me, "Verify", json!({"KeyId": key, "Message": b64(b"msg"), "Signature": sig["Signature"], "SigningAlgorithm": alg})).await;
            assert_eq!(ok["SignatureValid"], true);
            let e = env.err(&me, "Verify", json!({"KeyId": key, "Message": b64(b"msh"), "Signature": sig["Signature"], "SigningAlgorithm": alg})).await;
            assert_eq!(e.code, "KMSInvalidSignatureException", "{spec} {alg}");
        }
        let e = env
            .err(
                &me,
                "Sign",
                json!({"KeyId": key, "Message": b64(b"msg"), "SigningAlgorithm": "ECDSA_SHA_999"}),
            )
            .await;
        assert_eq!(e.code, "InvalidKeyUsageException");
    }
    // DIGEST mode: the caller hashes.
    let key = env
        .create(
            &me,
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"big message");
    let sig = env.ok(&me, "Sign", json!({"KeyId": key, "Message": b64(digest.as_ref()), "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_256"})).await;
    env.ok(&me, "Verify", json!({"KeyId": key, "Message": b64(b"big message"), "Signature": sig["Signature"], "SigningAlgorithm": "ECDSA_SHA_256"})).await;
    let e = env.err(&me, "Sign", json!({"KeyId": key, "Message": b64(b"not a digest"), "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_256"})).await;
    assert_eq!(e.code, "ValidationException");

    // RSA encryption keys.
    for spec in ["RSA_2048", "RSA_3072"] {
        let key = env
            .create(&me, json!({"KeySpec": spec, "KeyUsage": "ENCRYPT_DECRYPT"}))
            .await;
        for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
            let ct = env
                .ok(
                    &me,
                    "Encrypt",
                    json!({"KeyId": key, "Plaintext": b64(b"rsa"), "EncryptionAlgorithm": alg}),
                )
                .await;
            let e = env
                .err(
                    &me,
                    "Decrypt",
                    json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionAlgorithm": alg}),
                )
                .await;
            assert_eq!(e.code, "InvalidCiphertextException");
            let pt = env.ok(&me, "Decrypt", json!({"KeyId": key, "CiphertextBlob": ct["CiphertextBlob"], "EncryptionAlgorithm": alg})).await;
            assert_eq!(unb64(&pt["Plaintext"]), b"rsa");
        }
        let e = env
            .err(
                &me,
                "Encrypt",
                json!({"KeyId": key, "Plaintext": b64(b"x")}),
            )
            .await;
        assert_eq!(e.code, "InvalidKeyUsageException");
    }

    // HMAC keys.
    for (spec, alg, len) in [
        ("HMAC_224", "HMAC_SHA_224", 28),
        ("HMAC_256", "HMAC_SHA_256", 32),
        ("HMAC_384", "HMAC_SHA_384", 48),
        ("HMAC_512", "HMAC_SHA_512", 64),
    ] {
        let key = env
            .create(
                &me,
                json!({"KeySpec": spec, "KeyUsage": "GENERATE_VERIFY_MAC"}),
            )
            .await;
        let mac = env
            .ok(
                &me,
                "GenerateMac",
                json!({"KeyId": key, "Message": b64(b"m"), "MacAlgorithm": alg}),
            )
            .await;
        assert_eq!(unb64(&mac["Mac"]).len(), len);
        let ok = env
            .ok(
                &me,
                "VerifyMac",
                json!({"KeyId": key, "Message": b64(b"m"), "Mac": mac["Mac"], "MacAlgorithm": alg}),
            )
            .await;
        assert_eq!(ok["MacValid"], true);
        let e = env
            .err(
                &me,
                "VerifyMac",
                json!({"KeyId": key, "Message": b64(b"n"), "Mac": mac["Mac"], "MacAlgorithm": alg}),
            )
            .await;
        assert_eq!(e.code, "KMSInvalidMacException");
        assert_eq!(
            env.err(&me, "GetPublicKey", json!({"KeyId": key}))
                .await
                .code,
            "UnsupportedOperationException"
        );
    }
    let e = env
        .err(
            &me,
            "CreateKey",
            json!({"KeySpec": "HMAC_256", "KeyUsage": "ENCRYPT_DECRYPT"}),
        )
        .await;
    assert_eq!(e.code, "ValidationException");

    // Key agreement: both sides derive the same secret.
    let key = env
        .create(
            &me,
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}),
        )
        .await;
    let kms_public = unb64(&env.ok(&me, "GetPublicKey", json!({"KeyId": key})).await["PublicKey"]);
    let (peer_private, peer_public) =
        portcullis_kms::backend::generate(portcullis_kms::backend::KeySpec::ECC_NIST_P256).unwrap();
    let out = env.ok(&me, "DeriveSharedSecret", json!({"KeyId": key, "KeyAgreementAlgorithm": "ECDH", "PublicKey": b64(&peer_public.unwrap())})).await;
    let ours = portcullis_kms::backend::derive_shared_secret(
        portcullis_kms::backend::KeySpec::ECC_NIST_P256,
        peer_private.expose(),
        &kms_public,
    )
    .unwrap();
    assert_eq!(unb64(&out["SharedSecret"]), ours.expose().as_slice());
}

#[tokio::test]
async fn grants_allow_other_accounts_within_their_constraints() {
    let env = env().await;
    let me = root(OWNER);
    let bob = user(OTHER, "bob");
    let key = env.create(&me, json!({})).await;
    let arn = format!("arn:aws:kms:us-east-1:{OWNER}:key/{key}");

    let e = env
        .err(
            &bob,
            "Encrypt",
            json!({"KeyId": arn, "Plaintext": b64(b"x")}),
        )
        .await;
    assert_eq!(e.code, "AccessDeniedException");
    assert!(
        e.message
            .contains("is not authorized to perform: kms:Encrypt"),
        "{}",
        e.message
    );
    // Management operations never reach another account's key.
    assert_eq!(
        env.err(&bob, "DisableKey", json!({"KeyId": arn}))
            .await
            .code,
        "NotFoundException"
    );

    let grant = env
        .ok(
            &me,
            "CreateGrant",
            json!({
                "KeyId": key,
                "GranteePrincipal": bob.principal.arn.to_string(),
                "RetiringPrincipal": format!("arn:aws:iam::{OWNER}:user/ops"),
                "Operations": ["Encrypt", "Decrypt"],
                "Constraints": {"EncryptionContextSubset": {"tenant": "bob"}},
                "Name": "bob"
            }),
        )
        .await;
    let token = grant["GrantToken"].as_str().unwrap().to_owned();
    let again = env
        .ok(
            &me,
            "CreateGrant",
            json!({
                "KeyId": key,
                "GranteePrincipal": bob.principal.arn.to_string(),
                "RetiringPrincipal": format!("arn:aws:iam::{OWNER}:user/ops"),
                "Operations": ["Decrypt", "Encrypt"],
                "Constraints": {"EncryptionContextSubset": {"tenant": "bob"}},
                "Name": "bob"
            }),
        )
        .await;
    assert_eq!(again["GrantId"], grant["GrantId"]);

    let ct = env
        .ok(&bob, "Encrypt", json!({"KeyId": arn, "Plaintext": b64(b"x"), "EncryptionContext": {"tenant": "bob", "extra": "1"}, "GrantTokens": [token]}))
        .await;
    let pt = env.ok(&bob, "Decrypt", json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"tenant": "bob", "extra": "1"}})).await;
    assert_eq!(unb64(&pt["Plaintext"]), b"x");
    let e = env
        .err(
            &bob,
            "Encrypt",
            json!({"KeyId": arn, "Plaintext": b64(b"x"), "EncryptionContext": {"tenant": "eve"}}),
        )
        .await;
    assert_eq!(e.code, "AccessDeniedException");
    let e = env
        .err(
            &bob,
            "GenerateDataKey",
            json!({"KeyId": arn, "KeySpec": "AES_256", "EncryptionContext": {"tenant": "bob"}}),
        )
        .await;
    assert_eq!(e.code, "AccessDeniedException", "operation not granted");
    let e = env
        .err(
            &bob,
            "Encrypt",
            json!({"KeyId": arn, "Plaintext": b64(b"x"), "GrantTokens": ["bogus"]}),
        )
        .await;
    assert_eq!(e.code, "InvalidGrantTokenException");

    let grants = env.ok(&me, "ListGrants", json!({"KeyId": key})).await;
    assert_eq!(grants["Grants"].as_array().unwrap().len(), 1);
    assert_eq!(
        grants["Grants"][0]["Constraints"]["EncryptionContextSubset"]["tenant"],
        "bob"
    );
    let retirable = env
        .ok(
            &me,
            "ListRetirableGrants",
            json!({"RetiringPrincipal": format!("arn:aws:iam::{OWNER}:user/ops")}),
        )
        .await;
    assert_eq!(retirable["Grants"].as_array().unwrap().len(), 1);

    // Bob may not retire (RetireGrant is not among his operations); the key's owner may revoke.
    let e = env
        .err(&bob, "RetireGrant", json!({"GrantToken": token}))
        .await;
    assert_eq!(e.code, "AccessDeniedException");
    env.ok(
        &me,
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": grant["GrantId"]}),
    )
    .await;
    let e = env.err(&bob, "Decrypt", json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"tenant": "bob", "extra": "1"}})).await;
    assert_eq!(e.code, "AccessDeniedException");
    assert_eq!(
        env.err(
            &me,
            "RevokeGrant",
            json!({"KeyId": key, "GrantId": grant["GrantId"]})
        )
        .await
        .code,
        "NotFoundException"
    );

    // A grant the retiring principal retires.
    let ops = user(OWNER, "ops");
    let g = env.ok(&me, "CreateGrant", json!({"KeyId": key, "GranteePrincipal": bob.principal.arn.to_string(), "RetiringPrincipal": ops.principal.arn.to_string(), "Operations": ["DescribeKey"]})).await;
    env.ok(&bob, "DescribeKey", json!({"KeyId": arn})).await;
    env.ok(
        &ops,
        "RetireGrant",
        json!({"KeyId": arn, "GrantId": g["GrantId"]}),
    )
    .await;
    assert_eq!(
        env.err(&bob, "DescribeKey", json!({"KeyId": arn}))
            .await
            .code,
        "AccessDeniedException"
    );

    let e = env.err(&me, "CreateGrant", json!({"KeyId": key, "GranteePrincipal": "x", "Operations": ["Sign"], "Constraints": {"EncryptionContextEquals": {"a": "b"}}})).await;
    assert_eq!(e.code, "ValidationException");
}

#[tokio::test]
async fn imported_key_material() {
    use portcullis_kms::backend;
    let env = env().await;
    let me = root(OWNER);
    let key = env.create(&me, json!({"Origin": "EXTERNAL"})).await;
    let d = env.ok(&me, "DescribeKey", json!({"KeyId": key})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "PendingImport");
    assert_eq!(
        env.err(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"x")})
        )
        .await
        .code,
        "KMSInvalidStateException"
    );

    let material = [42u8; 32];
    let import = |alg: &'static str, material: [u8; 32], model: serde_json::Value| {
        let env = &env;
        let me = &me;
        let key = key.clone();
        async move {
            let p = env
                .ok(
                    me,
                    "GetParametersForImport",
                    json!({"KeyId": key, "WrappingAlgorithm": alg, "WrappingKeySpec": "RSA_2048"}),
                )
                .await;
            let wrapped =
                backend::wrap_for_import(&unb64(&p["PublicKey"]), alg, &material).unwrap();
            let mut input = json!({"KeyId": key, "ImportToken": p["ImportToken"], "EncryptedKeyMaterial": b64(&wrapped)});
            for (k, v) in model.as_object().unwrap() {
                input[k] = v.clone();
            }
            env.call(me, "ImportKeyMaterial", input).await
        }
    };
    import(
        "RSA_AES_KEY_WRAP_SHA_256",
        material,
        json!({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
    )
    .await
    .unwrap();
    let ct = env
        .ok(
            &me,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"imported")}),
        )
        .await["CiphertextBlob"]
        .clone();

    env.ok(&me, "DeleteImportedKeyMaterial", json!({"KeyId": key}))
        .await;
    assert_eq!(
        env.err(&me, "Decrypt", json!({"CiphertextBlob": ct}))
            .await
            .code,
        "KMSInvalidStateException"
    );
    let e = import(
        "RSAES_OAEP_SHA_256",
        [1u8; 32],
        json!({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "IncorrectKeyMaterialException");

    // The same material again, now expiring in a day.
    let valid_to = env.kms_now() + 86_400;
    import("RSAES_OAEP_SHA_256", material, json!({"ValidTo": valid_to}))
        .await
        .unwrap();
    assert_eq!(
        unb64(&env.ok(&me, "Decrypt", json!({"CiphertextBlob": ct})).await["Plaintext"]),
        b"imported"
    );
    env.clock.advance(Duration::from_secs(86_401));
    env.kms.run_due_work().await.unwrap();
    let d = env.ok(&me, "DescribeKey", json!({"KeyId": key})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "PendingImport");

    let e = env.err(&me, "ImportKeyMaterial", json!({"KeyId": key, "ImportToken": b64(b"wrong"), "EncryptedKeyMaterial": b64(b"x"), "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"})).await;
    assert_eq!(e.code, "InvalidImportTokenException");
    let normal = env.create(&me, json!({})).await;
    let e = env.err(&me, "GetParametersForImport", json!({"KeyId": normal, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"})).await;
    assert_eq!(e.code, "UnsupportedOperationException");
}

#[tokio::test]
async fn out_of_scope_operations_say_so() {
    let env = env().await;
    let me = root(OWNER);
    assert_eq!(
        env.err(&me, "ReplicateKey", json!({})).await.code,
        "UnsupportedOperationException"
    );
    assert_eq!(
        env.err(&me, "CreateCustomKeyStore", json!({})).await.code,
        "UnsupportedOperationException"
    );
    assert_eq!(
        env.err(&me, "CreateKey", json!({"MultiRegion": true}))
            .await
            .code,
        "UnsupportedOperationException"
    );
    assert_eq!(
        env.err(&me, "NoSuchOperation", json!({})).await.code,
        "UnknownOperationException"
    );
}

trait Now {
    fn kms_now(&self) -> u64;
}

impl Now for Env {
    fn kms_now(&self) -> u64 {
        use portcullis_core::Clock as _;
        self.clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

#[tokio::test]
async fn other_nodes_see_key_changes_within_the_cache_ttl() {
    use std::sync::Arc;
    let master = Arc::new(portcullis_store::MasterKey::generate().unwrap());
    let store = portcullis_store::open(
        &portcullis_store::StoreLocation::SqliteInMemory,
        master.derive("audit-chain"),
    )
    .await
    .unwrap();
    let node = |ttl: Duration| {
        portcullis_kms::Kms::new(
            store.clone(),
            master.clone(),
            Arc::new(portcullis_kms::AccountOnlyAccess),
            Arc::new(portcullis_core::SystemClock),
        )
        .with_key_cache_ttl(ttl)
    };
    let (a, b, uncached) = (
        node(Duration::from_secs(1)),
        node(Duration::from_millis(300)),
        node(Duration::ZERO),
    );
    let me = root(OWNER);
    let key = a.call(&me, "CreateKey", json!({})).await.unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let encrypt = json!({"KeyId": key, "Plaintext": b64(b"x")});
    b.call(&me, "Encrypt", encrypt.clone()).await.unwrap();
    a.call(&me, "DisableKey", json!({"KeyId": key}))
        .await
        .unwrap();
    // The writer sees its own change at once, an uncached node too; a caching node within
    // its TTL.
    assert_eq!(
        a.call(&me, "Encrypt", encrypt.clone())
            .await
            .unwrap_err()
            .code,
        "DisabledException"
    );
    assert_eq!(
        uncached
            .call(&me, "Encrypt", encrypt.clone())
            .await
            .unwrap_err()
            .code,
        "DisabledException"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        b.call(&me, "Encrypt", encrypt).await.unwrap_err().code,
        "DisabledException"
    );
}

#[tokio::test]
async fn disabled_keys_do_not_rotate_and_grantees_delegate_at_most_their_operations() {
    let env = env().await;
    let me = root(OWNER);
    let key = env.create(&me, json!({})).await;
    env.ok(
        &me,
        "EnableKeyRotation",
        json!({"KeyId": key, "RotationPeriodInDays": 90}),
    )
    .await;
    env.ok(&me, "DisableKey", json!({"KeyId": key})).await;
    env.clock.advance(Duration::from_secs(100 * 86_400));
    env.kms.run_due_work().await.unwrap();
    env.ok(&me, "EnableKey", json!({"KeyId": key})).await;
    let rotations = env.ok(&me, "ListKeyRotations", json!({"KeyId": key})).await;
    assert_eq!(
        rotations["Rotations"].as_array().unwrap().len(),
        0,
        "no rotation while disabled"
    );
    // Enabled again, the overdue rotation happens at the next run.
    env.kms.run_due_work().await.unwrap();
    let rotations = env.ok(&me, "ListKeyRotations", json!({"KeyId": key})).await;
    assert_eq!(rotations["Rotations"].as_array().unwrap().len(), 1);

    // A grantee with CreateGrant may pass on its own operations, not more.
    let bob = user(OTHER, "bob");
    let carol = user(OTHER, "carol");
    let arn = format!("arn:aws:kms:us-east-1:{OWNER}:key/{key}");
    env.ok(&me, "CreateGrant", json!({"KeyId": key, "GranteePrincipal": bob.principal.arn.to_string(), "Operations": ["CreateGrant", "Encrypt"]})).await;
    let e = env.err(&bob, "CreateGrant", json!({"KeyId": arn, "GranteePrincipal": carol.principal.arn.to_string(), "Operations": ["Decrypt"]})).await;
    assert_eq!(e.code, "AccessDeniedException");
    env.ok(&bob, "CreateGrant", json!({"KeyId": arn, "GranteePrincipal": carol.principal.arn.to_string(), "Operations": ["Encrypt"]})).await;
    env.ok(
        &carol,
        "Encrypt",
        json!({"KeyId": arn, "Plaintext": b64(b"x")}),
    )
    .await;
    assert_eq!(
        env.err(&carol, "DescribeKey", json!({"KeyId": arn}))
            .await
            .code,
        "AccessDeniedException"
    );
}

#[tokio::test]
async fn every_form_of_key_identifier_resolves_and_others_are_not_found() {
    let env = env().await;
    let owner = root(OWNER);
    let key = env.create(&owner, json!({})).await;
    env.ok(
        &owner,
        "CreateAlias",
        json!({"AliasName": "alias/named", "TargetKeyId": key}),
    )
    .await;
    let key_arn = format!("arn:aws:kms:us-east-1:{OWNER}:key/{key}");
    let alias_arn = format!("arn:aws:kms:us-east-1:{OWNER}:alias/named");
    for id in [key.as_str(), &key_arn, "alias/named", &alias_arn] {
        let out = env.ok(&owner, "DescribeKey", json!({"KeyId": id})).await;
        assert_eq!(out["KeyMetadata"]["KeyId"], key.as_str(), "{id}");
    }
    for (id, message) in [
        (
            format!("arn:aws:kms:us-east-1:{OWNER}:other/{key}"),
            "Invalid keyId",
        ),
        ("not-a-key".to_owned(), "Invalid keyId"),
        ("alias/missing".to_owned(), "is not found"),
        (
            format!("arn:aws:kms:eu-west-1:{OWNER}:key/{key}"),
            "does not exist",
        ),
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab".to_owned(),
            "does not exist",
        ),
    ] {
        let e = env.err(&owner, "DescribeKey", json!({"KeyId": id})).await;
        assert_eq!(e.code, "NotFoundException", "{id}");
        assert!(e.message.contains(message), "{id}: {}", e.message);
    }
}
