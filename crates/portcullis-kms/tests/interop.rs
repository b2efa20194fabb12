//! Property test of Encrypt/Decrypt, and interoperability of signatures with OpenSSL.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use proptest::prelude::*;
use serde_json::json;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn decrypt_of_encrypt_is_identity(
        plaintext in proptest::collection::vec(any::<u8>(), 1..=4096),
        context in proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,12}", 0..4),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (back, wrong) = rt.block_on(async {
            let env = env().await;
            let me = root(OWNER);
            let key = env.create(&me, json!({})).await;
            let ct = env.ok(&me, "Encrypt", json!({"KeyId": key, "Plaintext": b64(&plaintext), "EncryptionContext": context})).await;
            let back = env.ok(&me, "Decrypt", json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": context})).await;
            let mut other: BTreeMap<String, String> = context.clone();
            other.insert("zzz-extra".into(), "1".into());
            let wrong = env.call(&me, "Decrypt", json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": other})).await;
            (unb64(&back["Plaintext"]), wrong)
        });
        prop_assert_eq!(back, plaintext);
        prop_assert_eq!(wrong.unwrap_err().code, "InvalidCiphertextException");
    }
}

fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `openssl dgst -verify` with the public key from GetPublicKey (DER SPKI).
fn openssl_verifies(
    public_der: &[u8],
    message: &[u8],
    signature: &[u8],
    hash: &str,
    extra: &[&str],
) -> std::io::Result<bool> {
    let dir = tempfile::tempdir()?;
    let (pk, msg, sig) = (
        dir.path().join("pk.der"),
        dir.path().join("msg"),
        dir.path().join("sig"),
    );
    std::fs::write(&pk, public_der)?;
    std::fs::write(&msg, message)?;
    std::fs::write(&sig, signature)?;
    let mut cmd = Command::new("openssl");
    cmd.args(["dgst", &format!("-{hash}"), "-verify"])
        .arg(&pk)
        .args(["-keyform", "DER"]);
    for x in extra {
        cmd.arg(x);
    }
    cmd.arg("-signature").arg(&sig).arg(&msg);
    let out = cmd.output()?;
    Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK"))
}

#[tokio::test]
async fn openssl_verifies_signatures_with_the_public_key() {
    if !have_openssl() {
        eprintln!("openssl not found; skipping");
        return;
    }
    let env = env().await;
    let me = root(OWNER);
    let cases: [(&str, &str, &str, &[&str]); 4] = [
        ("ECC_NIST_P256", "ECDSA_SHA_256", "sha256", &[]),
        ("ECC_NIST_P384", "ECDSA_SHA_384", "sha384", &[]),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", "sha256", &[]),
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            "sha256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
        ),
    ];
    for (spec, alg, hash, extra) in cases {
        let key = env
            .create(&me, json!({"KeySpec": spec, "KeyUsage": "SIGN_VERIFY"}))
            .await;
        let public = unb64(&env.ok(&me, "GetPublicKey", json!({"KeyId": key})).await["PublicKey"]);
        let message = b"signed by portcullis";
        let sig = unb64(
            &env.ok(
                &me,
                "Sign",
                json!({"KeyId": key, "Message": b64(message), "SigningAlgorithm": alg}),
            )
            .await["Signature"],
        );
        assert!(
            openssl_verifies(&public, message, &sig, hash, extra).unwrap(),
            "{spec} {alg}"
        );
        assert!(
            !openssl_verifies(&public, b"something else", &sig, hash, extra).unwrap(),
            "{spec} {alg} must not verify another message"
        );
    }
}
