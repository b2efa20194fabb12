//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
//! GenerateDataKeyPair*, GenerateRandom, Sign, Verify, GetPublicKey, GenerateMac, VerifyMac
//! and DeriveSharedSecret. Each resolves the key, authorizes (grant or key policy), checks the
//! key's state and usage, and then calls the [`crate::backend`].

use std::collections::BTreeMap;

use portcullis_core::Secret;
use serde_json::{Value, json};

use crate::backend::{self, KeySpec, KeyUsage, MessageType};
use crate::blob::{self, BlobHeader};
use crate::record::{self, Input};
use crate::{
    Caller, Kms, KmsError, Resolved, Scope, check_usable, check_usage, key_arn, usage_str,
};

const SYMMETRIC: &str = "SYMMETRIC_DEFAULT";

fn dry_run(i: &Input<'_>) -> Result<(), KmsError> {
    if i.bool("DryRun") {
        return Err(KmsError::DryRun(
            "The request would have succeeded, but the DryRun option is set.".to_owned(),
        ));
    }
    Ok(())
}

fn no_recipient(i: &Input<'_>) -> Result<(), KmsError> {
    if i.0.get("Recipient").is_some() {
        return Err(KmsError::Unsupported(
            "Attested (Recipient) requests from Nitro enclaves are not supported by this KMS."
                .to_owned(),
        ));
    }
    Ok(())
}

/// The encryption algorithm must be one the key supports (AWS: InvalidKeyUsageException).
fn check_encryption_algorithm(
    key: &crate::record::KeyRecord,
    algorithm: &str,
) -> Result<(), KmsError> {
    if key
        .key_spec
        .encryption_algorithms(key.key_usage)
        .contains(&algorithm)
    {
        Ok(())
    } else {
        Err(KmsError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            key.key_spec.as_str()
        )))
    }
}

/// Operations that need a symmetric encryption key (GenerateDataKey*, ReEncrypt targets of
/// data keys): AWS answers InvalidKeyUsageException for any other key.
fn check_symmetric(key: &crate::record::KeyRecord, op: &str) -> Result<(), KmsError> {
    check_usage(key, KeyUsage::ENCRYPT_DECRYPT, op)?;
    if key.key_spec != KeySpec::SYMMETRIC_DEFAULT {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key spec is {} which is not valid for {op}.",
            key.arn,
            key.key_spec.as_str()
        )));
    }
    Ok(())
}

impl Kms {
    /// Resolves, authorizes and checks a key for a cryptographic operation.
    async fn usable_key(
        &self,
        ctx: &Caller<'_>,
        key_id: &str,
        action: &str,
        context: Option<&BTreeMap<String, String>>,
        extra: Vec<(String, Vec<String>)>,
        i: &Input<'_>,
    ) -> Result<Resolved, KmsError> {
        let r = self.resolve(ctx, key_id, Scope::CrossAccount).await?;
        self.authorize(ctx, action, &r, context, extra, &i.strings("GrantTokens"))
            .await?;
        check_usable(&r.key)?;
        Ok(r)
    }

    /// Encrypts under `key` (already authorized and usable) with `algorithm`.
    fn encrypt_under(
        &self,
        key: &crate::record::KeyRecord,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
        algorithm: &str,
        op: &str,
    ) -> Result<Vec<u8>, KmsError> {
        check_usage(key, KeyUsage::ENCRYPT_DECRYPT, op)?;
        check_encryption_algorithm(key, algorithm)?;
        if algorithm == SYMMETRIC {
            let (version, material) = self.current_material(key)?;
            let header = BlobHeader {
                account: key.account.clone(),
                key_id: key.key_id.clone(),
                material: version,
            };
            return blob::seal(&header, material.expose(), plaintext, context);
        }
        if !context.is_empty() {
            return Err(KmsError::Validation(
                "EncryptionContext is not supported with asymmetric KMS keys.".to_owned(),
            ));
        }
        let public = self.public_key(key)?;
        backend::rsa_encrypt(&public, algorithm, plaintext)
    }

    /// The DER SPKI of an asymmetric key.
    fn public_key(&self, key: &crate::record::KeyRecord) -> Result<Vec<u8>, KmsError> {
        key.current()
            .and_then(|m| m.public_key.as_deref())
            .and_then(record::unb64)
            .ok_or_else(|| KmsError::InvalidState(format!("{} is pending import.", key.arn)))
    }

    /// Finds, authorizes and opens a ciphertext for Decrypt (`action` "Decrypt") or ReEncrypt
    /// ("ReEncryptFrom").
    #[expect(
        clippy::too_many_arguments,
        reason = "the members of Decrypt and of ReEncrypt's source half, named as AWS names them"
    )]
    async fn decrypt_blob(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
        ciphertext: &[u8],
        context: &BTreeMap<String, String>,
        key_id: Option<&str>,
        algorithm: &str,
        action: &str,
    ) -> Result<(Resolved, Secret<Vec<u8>>), KmsError> {
        let tokens = i.strings("GrantTokens");
        if algorithm != SYMMETRIC {
            // AWS: decrypting with an asymmetric key needs its KeyId; the ciphertext is the
            // raw RSAES-OAEP output and names no key.
            let key_id = key_id.ok_or_else(KmsError::invalid_ciphertext)?;
            let r = self.resolve(ctx, key_id, Scope::CrossAccount).await?;
            self.authorize(
                ctx,
                action,
                &r,
                Some(context),
                vec![(
                    "kms:EncryptionAlgorithm".to_owned(),
                    vec![algorithm.to_owned()],
                )],
                &tokens,
            )
            .await?;
            check_usable(&r.key)?;
            check_usage(&r.key, KeyUsage::ENCRYPT_DECRYPT, "Decrypt")?;
            check_encryption_algorithm(&r.key, algorithm)?;
            if !context.is_empty() {
                return Err(KmsError::Validation(
                    "EncryptionContext is not supported with asymmetric KMS keys.".to_owned(),
                ));
            }
            let (_, material) = self.current_material(&r.key)?;
            let plain = backend::rsa_decrypt(material.expose(), algorithm, ciphertext)?;
            return Ok((r, plain));
        }
        let header = blob::parse_header(ciphertext)?;
        let r = match key_id {
            Some(named) => {
                let r = self.resolve(ctx, named, Scope::CrossAccount).await?;
                if r.key.key_spec != KeySpec::SYMMETRIC_DEFAULT
                    && r.key.key_usage == KeyUsage::ENCRYPT_DECRYPT
                {
                    return Err(KmsError::InvalidKeyUsage(format!(
                        "Algorithm {SYMMETRIC} is incompatible with key spec {}.",
                        r.key.key_spec.as_str()
                    )));
                }
                if r.key.key_id != header.key_id || r.key.account != header.account {
                    return Err(KmsError::IncorrectKey(
                        "The key ID in the request does not identify a KMS key that can perform this operation.".to_owned(),
                    ));
                }
                r
            }
            None => {
                let arn = key_arn(
                    &ctx.region,
                    &header.account,
                    &format!("key/{}", header.key_id),
                );
                self.resolve(ctx, &arn, Scope::CrossAccount)
                    .await
                    .map_err(|e| match e {
                        KmsError::NotFound(_) => KmsError::invalid_ciphertext(),
                        other => other,
                    })?
            }
        };
        self.authorize(
            ctx,
            action,
            &r,
            Some(context),
            vec![(
                "kms:EncryptionAlgorithm".to_owned(),
                vec![SYMMETRIC.to_owned()],
            )],
            &tokens,
        )
        .await?;
        check_usable(&r.key)?;
        check_usage(&r.key, KeyUsage::ENCRYPT_DECRYPT, "Decrypt")?;
        let material = self.material(&r.key, header.material)?;
        let plain = blob::open(ciphertext, material.expose(), context)?;
        Ok((r, plain))
    }

    pub(crate) async fn encrypt(&self, ctx: &Caller<'_>, i: &Input<'_>) -> Result<Value, KmsError> {
        let plaintext = Secret::new(i.req_blob("Plaintext")?);
        let context = i.map("EncryptionContext");
        let algorithm = i.str("EncryptionAlgorithm").unwrap_or(SYMMETRIC);
        let extra = vec![(
            "kms:EncryptionAlgorithm".to_owned(),
            vec![algorithm.to_owned()],
        )];
        let r = self
            .usable_key(ctx, i.req("KeyId")?, "Encrypt", Some(&context), extra, i)
            .await?;
        if plaintext.expose().len() > 4096 {
            return Err(KmsError::Validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096".to_owned()));
        }
        let blob =
            self.encrypt_under(&r.key, plaintext.expose(), &context, algorithm, "Encrypt")?;
        dry_run(i)?;
        Ok(
            json!({"CiphertextBlob": record::b64(&blob), "KeyId": r.key.arn, "EncryptionAlgorithm": algorithm}),
        )
    }

    pub(crate) async fn decrypt(&self, ctx: &Caller<'_>, i: &Input<'_>) -> Result<Value, KmsError> {
        no_recipient(i)?;
        let ciphertext = i.req_blob("CiphertextBlob")?;
        let context = i.map("EncryptionContext");
        let algorithm = i.str("EncryptionAlgorithm").unwrap_or(SYMMETRIC);
        let (r, plain) = self
            .decrypt_blob(
                ctx,
                i,
                &ciphertext,
                &context,
                i.str("KeyId"),
                algorithm,
                "Decrypt",
            )
            .await?;
        dry_run(i)?;
        Ok(
            json!({"KeyId": r.key.arn, "Plaintext": record::b64(plain.expose()), "EncryptionAlgorithm": algorithm}),
        )
    }

    pub(crate) async fn re_encrypt(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let ciphertext = i.req_blob("CiphertextBlob")?;
        let source_context = i.map("SourceEncryptionContext");
        let dest_context = i.map("DestinationEncryptionContext");
        let source_alg = i.str("SourceEncryptionAlgorithm").unwrap_or(SYMMETRIC);
        let dest_alg = i.str("DestinationEncryptionAlgorithm").unwrap_or(SYMMETRIC);
        let (source, plain) = self
            .decrypt_blob(
                ctx,
                i,
                &ciphertext,
                &source_context,
                i.str("SourceKeyId"),
                source_alg,
                "ReEncryptFrom",
            )
            .await?;
        let dest_id = i.req("DestinationKeyId")?;
        let dest = self.resolve(ctx, dest_id, Scope::CrossAccount).await?;
        let same = dest.key.key_id == source.key.key_id;
        let extra = vec![
            (
                "kms:EncryptionAlgorithm".to_owned(),
                vec![dest_alg.to_owned()],
            ),
            ("kms:ReEncryptOnSameKey".to_owned(), vec![same.to_string()]),
        ];
        self.authorize(
            ctx,
            "ReEncryptTo",
            &dest,
            Some(&dest_context),
            extra,
            &i.strings("GrantTokens"),
        )
        .await?;
        check_usable(&dest.key)?;
        let blob = self.encrypt_under(
            &dest.key,
            plain.expose(),
            &dest_context,
            dest_alg,
            "ReEncrypt",
        )?;
        dry_run(i)?;
        Ok(json!({
            "CiphertextBlob": record::b64(&blob),
            "SourceKeyId": source.key.arn,
            "KeyId": dest.key.arn,
            "SourceEncryptionAlgorithm": source_alg,
            "DestinationEncryptionAlgorithm": dest_alg,
        }))
    }

    pub(crate) async fn generate_data_key(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
        with_plaintext: bool,
    ) -> Result<Value, KmsError> {
        no_recipient(i)?;
        let op = if with_plaintext {
            "GenerateDataKey"
        } else {
            "GenerateDataKeyWithoutPlaintext"
        };
        let len = match (i.str("KeySpec"), i.int("NumberOfBytes")) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(KmsError::Validation(
                    "Please specify either number of bytes or key spec.".to_owned(),
                ));
            }
            (Some("AES_256"), None) => 32,
            (Some("AES_128"), None) => 16,
            (Some(other), None) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
                )));
            }
            (None, Some(n)) if (1..=1024).contains(&n) => usize::try_from(n).unwrap_or(32),
            (None, Some(n)) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
                )));
            }
        };
        let context = i.map("EncryptionContext");
        let r = self
            .usable_key(ctx, i.req("KeyId")?, op, Some(&context), vec![], i)
            .await?;
        check_symmetric(&r.key, op)?;
        let data_key = backend::random(len)?;
        let blob = self.encrypt_under(&r.key, data_key.expose(), &context, SYMMETRIC, op)?;
        dry_run(i)?;
        let mut out = json!({"CiphertextBlob": record::b64(&blob), "KeyId": r.key.arn});
        if with_plaintext {
            record::set(&mut out, "Plaintext", json!(record::b64(data_key.expose())));
        }
        Ok(out)
    }

    pub(crate) async fn generate_data_key_pair(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
        with_plaintext: bool,
    ) -> Result<Value, KmsError> {
        no_recipient(i)?;
        let op = if with_plaintext {
            "GenerateDataKeyPair"
        } else {
            "GenerateDataKeyPairWithoutPlaintext"
        };
        let pair_spec = i.req("KeyPairSpec")?.to_owned();
        let context = i.map("EncryptionContext");
        let extra = vec![("kms:DataKeyPairSpec".to_owned(), vec![pair_spec.clone()])];
        let r = self
            .usable_key(ctx, i.req("KeyId")?, op, Some(&context), extra, i)
            .await?;
        check_symmetric(&r.key, op)?;
        let (private, public) = backend::data_key_pair(&pair_spec)?;
        let blob = self.encrypt_under(&r.key, private.expose(), &context, SYMMETRIC, op)?;
        dry_run(i)?;
        let mut out = json!({
            "PrivateKeyCiphertextBlob": record::b64(&blob),
            "PublicKey": record::b64(&public),
            "KeyId": r.key.arn,
            "KeyPairSpec": pair_spec,
        });
        if with_plaintext {
            record::set(
                &mut out,
                "PrivateKeyPlaintext",
                json!(record::b64(private.expose())),
            );
        }
        Ok(out)
    }

    pub(crate) async fn generate_random(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        no_recipient(i)?;
        if i.str("CustomKeyStoreId").is_some() {
            return Err(KmsError::Unsupported(
                "Custom key stores are not supported by this KMS.".to_owned(),
            ));
        }
        let n = i.int("NumberOfBytes").unwrap_or(32);
        if !(1..=1024).contains(&n) {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
            )));
        }
        self.authorize_account(ctx, "GenerateRandom", vec![])
            .await?;
        let bytes = backend::random(usize::try_from(n).unwrap_or(32))?;
        Ok(json!({"Plaintext": record::b64(bytes.expose())}))
    }

    fn message_type(i: &Input<'_>) -> Result<MessageType, KmsError> {
        match i.str("MessageType").unwrap_or("RAW") {
            "RAW" => Ok(MessageType::Raw),
            "DIGEST" => Ok(MessageType::Digest),
            other => Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'messageType' failed to satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]"
            ))),
        }
    }

    pub(crate) async fn sign(&self, ctx: &Caller<'_>, i: &Input<'_>) -> Result<Value, KmsError> {
        let message = Secret::new(i.req_blob("Message")?);
        let algorithm = i.req("SigningAlgorithm")?;
        let kind = Self::message_type(i)?;
        let extra = vec![
            (
                "kms:SigningAlgorithm".to_owned(),
                vec![algorithm.to_owned()],
            ),
            (
                "kms:MessageType".to_owned(),
                vec![i.str("MessageType").unwrap_or("RAW").to_owned()],
            ),
        ];
        let r = self
            .usable_key(ctx, i.req("KeyId")?, "Sign", None, extra, i)
            .await?;
        check_usage(&r.key, KeyUsage::SIGN_VERIFY, "Sign")?;
        let signature =
            self.signer(&r.key)?
                .sign(r.key.key_spec, algorithm, message.expose(), kind)?;
        dry_run(i)?;
        Ok(
            json!({"KeyId": r.key.arn, "Signature": record::b64(&signature), "SigningAlgorithm": algorithm}),
        )
    }

    pub(crate) async fn verify(&self, ctx: &Caller<'_>, i: &Input<'_>) -> Result<Value, KmsError> {
        let message = Secret::new(i.req_blob("Message")?);
        let signature = i.req_blob("Signature")?;
        let algorithm = i.req("SigningAlgorithm")?;
        let kind = Self::message_type(i)?;
        let extra = vec![
            (
                "kms:SigningAlgorithm".to_owned(),
                vec![algorithm.to_owned()],
            ),
            (
                "kms:MessageType".to_owned(),
                vec![i.str("MessageType").unwrap_or("RAW").to_owned()],
            ),
        ];
        let r = self
            .usable_key(ctx, i.req("KeyId")?, "Verify", None, extra, i)
            .await?;
        check_usage(&r.key, KeyUsage::SIGN_VERIFY, "Verify")?;
        let public = self.public_key(&r.key)?;
        if !backend::verify(
            r.key.key_spec,
            &public,
            algorithm,
            message.expose(),
            kind,
            &signature,
        )? {
            return Err(KmsError::InvalidSignature(String::new()));
        }
        dry_run(i)?;
        Ok(json!({"KeyId": r.key.arn, "SignatureValid": true, "SigningAlgorithm": algorithm}))
    }

    pub(crate) async fn get_public_key(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self
            .usable_key(ctx, i.req("KeyId")?, "GetPublicKey", None, vec![], i)
            .await?;
        let key = &r.key;
        if !key.key_spec.is_asymmetric() {
            return Err(KmsError::Unsupported(format!(
                "{} key spec is {} which is not valid for GetPublicKey.",
                key.arn,
                key.key_spec.as_str()
            )));
        }
        let public = self.public_key(key)?;
        let mut out = json!({
            "KeyId": key.arn,
            "PublicKey": record::b64(&public),
            "CustomerMasterKeySpec": key.key_spec.as_str(),
            "KeySpec": key.key_spec.as_str(),
            "KeyUsage": usage_str(key.key_usage),
        });
        let lists = [
            (
                "EncryptionAlgorithms",
                key.key_spec.encryption_algorithms(key.key_usage),
            ),
            (
                "SigningAlgorithms",
                key.key_spec.signing_algorithms(key.key_usage),
            ),
            (
                "KeyAgreementAlgorithms",
                key.key_spec.key_agreement_algorithms(key.key_usage),
            ),
        ];
        for (name, list) in lists {
            if !list.is_empty() {
                record::set(&mut out, name, json!(list));
            }
        }
        Ok(out)
    }

    pub(crate) async fn generate_mac(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let message = Secret::new(i.req_blob("Message")?);
        let algorithm = i.req("MacAlgorithm")?;
        let extra = vec![("kms:MacAlgorithm".to_owned(), vec![algorithm.to_owned()])];
        let r = self
            .usable_key(ctx, i.req("KeyId")?, "GenerateMac", None, extra, i)
            .await?;
        check_usage(&r.key, KeyUsage::GENERATE_VERIFY_MAC, "GenerateMac")?;
        let (_, material) = self.current_material(&r.key)?;
        let mac = backend::mac(
            r.key.key_spec,
            material.expose(),
            algorithm,
            message.expose(),
        )?;
        dry_run(i)?;
        Ok(json!({"Mac": record::b64(&mac), "MacAlgorithm": algorithm, "KeyId": r.key.arn}))
    }

    pub(crate) async fn verify_mac(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let message = Secret::new(i.req_blob("Message")?);
        let mac = i.req_blob("Mac")?;
        let algorithm = i.req("MacAlgorithm")?;
        let extra = vec![("kms:MacAlgorithm".to_owned(), vec![algorithm.to_owned()])];
        let r = self
            .usable_key(ctx, i.req("KeyId")?, "VerifyMac", None, extra, i)
            .await?;
        check_usage(&r.key, KeyUsage::GENERATE_VERIFY_MAC, "VerifyMac")?;
        let (_, material) = self.current_material(&r.key)?;
        if !backend::verify_mac(
            r.key.key_spec,
            material.expose(),
            algorithm,
            message.expose(),
            &mac,
        )? {
            return Err(KmsError::InvalidMac(String::new()));
        }
        dry_run(i)?;
        Ok(json!({"KeyId": r.key.arn, "MacValid": true, "MacAlgorithm": algorithm}))
    }

    pub(crate) async fn derive_shared_secret(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        no_recipient(i)?;
        let algorithm = i.req("KeyAgreementAlgorithm")?;
        if algorithm != "ECDH" {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{algorithm}' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]"
            )));
        }
        let peer = i.req_blob("PublicKey")?;
        let extra = vec![(
            "kms:KeyAgreementAlgorithm".to_owned(),
            vec![algorithm.to_owned()],
        )];
        let r = self
            .usable_key(ctx, i.req("KeyId")?, "DeriveSharedSecret", None, extra, i)
            .await?;
        check_usage(&r.key, KeyUsage::KEY_AGREEMENT, "DeriveSharedSecret")?;
        let (_, material) = self.current_material(&r.key)?;
        let secret = backend::derive_shared_secret(r.key.key_spec, material.expose(), &peer)?;
        dry_run(i)?;
        Ok(json!({
            "KeyId": r.key.arn,
            "SharedSecret": record::b64(secret.expose()),
            "KeyAgreementAlgorithm": algorithm,
            "KeyOrigin": r.key.origin,
        }))
    }
}
