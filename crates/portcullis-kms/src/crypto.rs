//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
//! GenerateDataKeyPair*, GenerateRandom, Sign, Verify, GetPublicKey, GenerateMac, VerifyMac
//! and DeriveSharedSecret. Each resolves the key, authorizes (grant or key policy), checks the
//! key's state and usage, and then calls the [`crate::backend`].

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_core::Secret;
use serde_json::{Value, json};

use crate::backend::{self, KeySpec, KeyUsage, MessageType};
use crate::blob::{self, PlainBytes};
use crate::record::{self, Input, KeyRecord};
use crate::{Caller, Extra, Kms, KmsError, Resolved, Scope, check_usable, check_usage, usage_str};

const SYMMETRIC: &str = "SYMMETRIC_DEFAULT";

fn dry_run(i: &Input<'_>) -> Result<(), KmsError> {
    check_dry_run(i.bool("DryRun"))
}

/// AWS answers a DryRun request that would have succeeded with DryRunOperationException.
fn check_dry_run(dry_run: bool) -> Result<(), KmsError> {
    if dry_run {
        return Err(KmsError::DryRun(
            "The request would have succeeded, but the DryRun option is set.".to_owned(),
        ));
    }
    Ok(())
}

/// Encrypt's input, typed.
pub struct EncryptRequest<'a> {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: &'a str,
    /// At most 4,096 bytes.
    pub plaintext: &'a [u8],
    /// Bound to the ciphertext (symmetric keys); Decrypt must present the same.
    pub encryption_context: &'a BTreeMap<String, String>,
    /// `SYMMETRIC_DEFAULT` (AWS's default), or `RSAES_OAEP_SHA_1`/`_256` for RSA keys.
    pub encryption_algorithm: &'a str,
    /// Grant tokens (at most 10).
    pub grant_tokens: &'a [String],
    /// Check only: answers DryRunOperationException when the call would succeed.
    pub dry_run: bool,
}

/// Encrypt's output.
#[derive(Debug)]
pub struct EncryptResponse {
    /// The ciphertext blob.
    pub ciphertext_blob: Vec<u8>,
    /// The key's ARN.
    pub key_id: KeyArn,
}

/// Decrypt's input, typed.
pub struct DecryptRequest<'a> {
    /// A ciphertext blob from Encrypt, GenerateDataKey* or ReEncrypt.
    pub ciphertext_blob: &'a [u8],
    /// The encryption context it was encrypted with.
    pub encryption_context: &'a BTreeMap<String, String>,
    /// Optional for symmetric blobs (they name their key); required for RSA.
    pub key_id: Option<&'a str>,
    /// `SYMMETRIC_DEFAULT` or an RSAES_OAEP algorithm.
    pub encryption_algorithm: &'a str,
    /// Grant tokens (at most 10).
    pub grant_tokens: &'a [String],
    /// Check only.
    pub dry_run: bool,
}

/// Decrypt's output.
pub struct DecryptResponse {
    /// The plaintext (zeroized on drop).
    pub plaintext: Secret<PlainBytes>,
    /// The key's ARN.
    pub key_id: KeyArn,
}

/// GenerateDataKey's input, typed (`KeySpec` AES_256 is 32 bytes, AES_128 16).
pub struct GenerateDataKeyRequest<'a> {
    /// Key id, key ARN, alias name or alias ARN of a symmetric encryption key.
    pub key_id: &'a str,
    /// 1 to 1,024.
    pub number_of_bytes: usize,
    /// Bound to the encrypted copy.
    pub encryption_context: &'a BTreeMap<String, String>,
    /// Grant tokens (at most 10).
    pub grant_tokens: &'a [String],
    /// Check only.
    pub dry_run: bool,
}

/// GenerateDataKey's output.
pub struct GenerateDataKeyResponse {
    /// The data key (zeroized on drop).
    pub plaintext: Secret<Vec<u8>>,
    /// The data key encrypted under the KMS key.
    pub ciphertext_blob: Vec<u8>,
    /// The key's ARN.
    pub key_id: KeyArn,
}

/// The ARN of the key a response names, shared with the key record the call used rather than
/// copied into a new string.
#[derive(Clone)]
pub struct KeyArn(Arc<KeyRecord>);

impl KeyArn {
    /// The key ARN, `arn:aws:kms:region:account:key/id`.
    pub fn as_str(&self) -> &str {
        &self.0.arn
    }
}

impl std::ops::Deref for KeyArn {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for KeyArn {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for KeyArn {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for KeyArn {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for KeyArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for KeyArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
        extra: Extra<'_>,
        grant_tokens: &[String],
    ) -> Result<Resolved, KmsError> {
        let r = self.resolve(ctx, key_id, Scope::CrossAccount).await?;
        self.authorize(ctx, action, &r, context, extra, grant_tokens)
            .await?;
        check_usable(&r.key)?;
        Ok(r)
    }

    /// Encrypts under `key` (already authorized and usable) with `algorithm`.
    fn encrypt_under(
        &self,
        (key, now): (&crate::record::KeyRecord, std::time::Instant),
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
        algorithm: &str,
        op: &str,
    ) -> Result<Vec<u8>, KmsError> {
        check_usage(key, KeyUsage::ENCRYPT_DECRYPT, op)?;
        check_encryption_algorithm(key, algorithm)?;
        if algorithm == SYMMETRIC {
            let (version, open) = self.current_material_at(key, now)?;
            let Some(keys) = open.message_keys.as_ref() else {
                return Err(KmsError::Crypto("symmetric key without message keys"));
            };
            return blob::seal(
                (&key.account, &key.key_id, version),
                keys,
                plaintext,
                context,
            );
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
        tokens: &[String],
        ciphertext: &[u8],
        context: &BTreeMap<String, String>,
        key_id: Option<&str>,
        algorithm: &str,
        action: &str,
    ) -> Result<(Resolved, Secret<PlainBytes>), KmsError> {
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
                &[("kms:EncryptionAlgorithm", &[algorithm])],
                tokens,
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
            let plain = backend::rsa_decrypt(material.material.expose(), algorithm, ciphertext)?;
            return Ok((r, Secret::new(PlainBytes::from(plain.expose().clone()))));
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
                if r.key.key_id != header.key_id() || r.key.account != header.account() {
                    return Err(KmsError::IncorrectKey(
                        "The key ID in the request does not identify a KMS key that can perform this operation.".to_owned(),
                    ));
                }
                r
            }
            None => self
                .resolve_id(header.account(), &ctx.region, header.key_id(), None)
                .await
                .map_err(|e| match e {
                    KmsError::NotFound(_) => KmsError::invalid_ciphertext(),
                    other => other,
                })?,
        };
        self.authorize(
            ctx,
            action,
            &r,
            Some(context),
            &[("kms:EncryptionAlgorithm", &[SYMMETRIC])],
            tokens,
        )
        .await?;
        check_usable(&r.key)?;
        check_usage(&r.key, KeyUsage::ENCRYPT_DECRYPT, "Decrypt")?;
        let open = self.opened(&r.key, header.material, r.read_at)?;
        let Some(keys) = open.message_keys.as_ref() else {
            return Err(KmsError::Crypto("symmetric key without message keys"));
        };
        let plain = blob::open(ciphertext, keys, context)?;
        Ok((r, plain))
    }

    /// Encrypt, typed: bytes in, ciphertext blob out (the JSON call is a thin wrapper).
    pub async fn encrypt(
        &self,
        ctx: &Caller<'_>,
        req: &EncryptRequest<'_>,
    ) -> Result<EncryptResponse, KmsError> {
        let algorithm = req.encryption_algorithm;
        let extra: Extra<'_> = &[("kms:EncryptionAlgorithm", &[algorithm])];
        let r = self
            .usable_key(
                ctx,
                req.key_id,
                "Encrypt",
                Some(req.encryption_context),
                extra,
                req.grant_tokens,
            )
            .await?;
        if req.plaintext.len() > 4096 {
            return Err(KmsError::Validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096".to_owned()));
        }
        let ciphertext_blob = self.encrypt_under(
            (&r.key, r.read_at),
            req.plaintext,
            req.encryption_context,
            algorithm,
            "Encrypt",
        )?;
        check_dry_run(req.dry_run)?;
        Ok(EncryptResponse {
            ciphertext_blob,
            key_id: KeyArn(r.key),
        })
    }

    pub(crate) async fn encrypt_call(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let plaintext = Secret::new(PlainBytes::from(i.req_blob("Plaintext")?));
        let context = i.map("EncryptionContext");
        let algorithm = i.str("EncryptionAlgorithm").unwrap_or(SYMMETRIC);
        let out = self
            .encrypt(
                ctx,
                &EncryptRequest {
                    key_id: i.req("KeyId")?,
                    plaintext: plaintext.expose().as_slice(),
                    encryption_context: &context,
                    encryption_algorithm: algorithm,
                    grant_tokens: &i.strings("GrantTokens"),
                    dry_run: i.bool("DryRun"),
                },
            )
            .await?;
        Ok(json!({
            "CiphertextBlob": record::b64(&out.ciphertext_blob),
            "KeyId": out.key_id.as_str(),
            "EncryptionAlgorithm": algorithm,
        }))
    }

    /// Decrypt, typed: a ciphertext blob in, plaintext out (the JSON call is a thin wrapper).
    pub async fn decrypt(
        &self,
        ctx: &Caller<'_>,
        req: &DecryptRequest<'_>,
    ) -> Result<DecryptResponse, KmsError> {
        let (r, plaintext) = self
            .decrypt_blob(
                ctx,
                req.grant_tokens,
                req.ciphertext_blob,
                req.encryption_context,
                req.key_id,
                req.encryption_algorithm,
                "Decrypt",
            )
            .await?;
        check_dry_run(req.dry_run)?;
        Ok(DecryptResponse {
            plaintext,
            key_id: KeyArn(r.key),
        })
    }

    pub(crate) async fn decrypt_call(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        no_recipient(i)?;
        let ciphertext = i.req_blob("CiphertextBlob")?;
        let context = i.map("EncryptionContext");
        let algorithm = i.str("EncryptionAlgorithm").unwrap_or(SYMMETRIC);
        let out = self
            .decrypt(
                ctx,
                &DecryptRequest {
                    ciphertext_blob: &ciphertext,
                    encryption_context: &context,
                    key_id: i.str("KeyId"),
                    encryption_algorithm: algorithm,
                    grant_tokens: &i.strings("GrantTokens"),
                    dry_run: i.bool("DryRun"),
                },
            )
            .await?;
        Ok(json!({
            "KeyId": out.key_id.as_str(),
            "Plaintext": record::b64(out.plaintext.expose().as_slice()),
            "EncryptionAlgorithm": algorithm,
        }))
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
                &i.strings("GrantTokens"),
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
        let extra: Extra<'_> = &[
            ("kms:EncryptionAlgorithm", &[dest_alg]),
            (
                "kms:ReEncryptOnSameKey",
                &[if same { "true" } else { "false" }],
            ),
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
            (&dest.key, dest.read_at),
            plain.expose().as_slice(),
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

    /// GenerateDataKey, typed: a new data key, in plaintext and encrypted under the key (the
    /// JSON call is a thin wrapper).
    pub async fn generate_data_key(
        &self,
        ctx: &Caller<'_>,
        req: &GenerateDataKeyRequest<'_>,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.data_key(ctx, req, "GenerateDataKey").await
    }

    /// GenerateDataKeyWithoutPlaintext, typed: as [`Kms::generate_data_key`], authorized as
    /// its own action; the caller drops the plaintext.
    pub async fn generate_data_key_without_plaintext(
        &self,
        ctx: &Caller<'_>,
        req: &GenerateDataKeyRequest<'_>,
    ) -> Result<Vec<u8>, KmsError> {
        let out = self
            .data_key(ctx, req, "GenerateDataKeyWithoutPlaintext")
            .await?;
        Ok(out.ciphertext_blob)
    }

    async fn data_key(
        &self,
        ctx: &Caller<'_>,
        req: &GenerateDataKeyRequest<'_>,
        op: &str,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let n = req.number_of_bytes;
        if !(1..=1024).contains(&n) {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
            )));
        }
        let r = self
            .usable_key(
                ctx,
                req.key_id,
                op,
                Some(req.encryption_context),
                &[],
                req.grant_tokens,
            )
            .await?;
        check_symmetric(&r.key, op)?;
        let plaintext = backend::random(n)?;
        let ciphertext_blob = self.encrypt_under(
            (&r.key, r.read_at),
            plaintext.expose(),
            req.encryption_context,
            SYMMETRIC,
            op,
        )?;
        check_dry_run(req.dry_run)?;
        Ok(GenerateDataKeyResponse {
            plaintext,
            ciphertext_blob,
            key_id: KeyArn(r.key),
        })
    }

    pub(crate) async fn generate_data_key_call(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
        with_plaintext: bool,
    ) -> Result<Value, KmsError> {
        no_recipient(i)?;
        let number_of_bytes = match (i.str("KeySpec"), i.int("NumberOfBytes")) {
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
            (None, Some(n)) => usize::try_from(n).unwrap_or(0),
        };
        let context = i.map("EncryptionContext");
        let req = GenerateDataKeyRequest {
            key_id: i.req("KeyId")?,
            number_of_bytes,
            encryption_context: &context,
            grant_tokens: &i.strings("GrantTokens"),
            dry_run: i.bool("DryRun"),
        };
        let op = if with_plaintext {
            "GenerateDataKey"
        } else {
            "GenerateDataKeyWithoutPlaintext"
        };
        let out = self.data_key(ctx, &req, op).await?;
        let mut json = json!({"CiphertextBlob": record::b64(&out.ciphertext_blob), "KeyId": out.key_id.as_str()});
        if with_plaintext {
            record::set(
                &mut json,
                "Plaintext",
                json!(record::b64(out.plaintext.expose())),
            );
        }
        Ok(json)
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
        let extra: Extra<'_> = &[("kms:DataKeyPairSpec", &[pair_spec.as_str()])];
        let r = self
            .usable_key(
                ctx,
                i.req("KeyId")?,
                op,
                Some(&context),
                extra,
                &i.strings("GrantTokens"),
            )
            .await?;
        check_symmetric(&r.key, op)?;
        let (private, public) = {
            let spec = pair_spec.clone();
            backend::off_worker(move || backend::data_key_pair(&spec)).await?
        };
        let blob = self.encrypt_under(
            (&r.key, r.read_at),
            private.expose(),
            &context,
            SYMMETRIC,
            op,
        )?;
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
        self.authorize_account(ctx, "GenerateRandom", &[]).await?;
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
        let extra: Extra<'_> = &[
            ("kms:SigningAlgorithm", &[algorithm]),
            ("kms:MessageType", &[i.str("MessageType").unwrap_or("RAW")]),
        ];
        let r = self
            .usable_key(
                ctx,
                i.req("KeyId")?,
                "Sign",
                None,
                extra,
                &i.strings("GrantTokens"),
            )
            .await?;
        check_usage(&r.key, KeyUsage::SIGN_VERIFY, "Sign")?;
        let signature = self
            .current_material(&r.key)?
            .1
            .signer
            .as_ref()
            .ok_or(KmsError::Crypto("signing key without a parsed signer"))?
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
        let extra: Extra<'_> = &[
            ("kms:SigningAlgorithm", &[algorithm]),
            ("kms:MessageType", &[i.str("MessageType").unwrap_or("RAW")]),
        ];
        let r = self
            .usable_key(
                ctx,
                i.req("KeyId")?,
                "Verify",
                None,
                extra,
                &i.strings("GrantTokens"),
            )
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
            .usable_key(
                ctx,
                i.req("KeyId")?,
                "GetPublicKey",
                None,
                &[],
                &i.strings("GrantTokens"),
            )
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
        let extra: Extra<'_> = &[("kms:MacAlgorithm", &[algorithm])];
        let r = self
            .usable_key(
                ctx,
                i.req("KeyId")?,
                "GenerateMac",
                None,
                extra,
                &i.strings("GrantTokens"),
            )
            .await?;
        check_usage(&r.key, KeyUsage::GENERATE_VERIFY_MAC, "GenerateMac")?;
        let (_, material) = self.current_material(&r.key)?;
        let mac = backend::mac(
            r.key.key_spec,
            material.material.expose(),
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
        let extra: Extra<'_> = &[("kms:MacAlgorithm", &[algorithm])];
        let r = self
            .usable_key(
                ctx,
                i.req("KeyId")?,
                "VerifyMac",
                None,
                extra,
                &i.strings("GrantTokens"),
            )
            .await?;
        check_usage(&r.key, KeyUsage::GENERATE_VERIFY_MAC, "VerifyMac")?;
        let (_, material) = self.current_material(&r.key)?;
        if !backend::verify_mac(
            r.key.key_spec,
            material.material.expose(),
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
        let extra: Extra<'_> = &[("kms:KeyAgreementAlgorithm", &[algorithm])];
        let r = self
            .usable_key(
                ctx,
                i.req("KeyId")?,
                "DeriveSharedSecret",
                None,
                extra,
                &i.strings("GrantTokens"),
            )
            .await?;
        check_usage(&r.key, KeyUsage::KEY_AGREEMENT, "DeriveSharedSecret")?;
        let (_, material) = self.current_material(&r.key)?;
        let secret =
            backend::derive_shared_secret(r.key.key_spec, material.material.expose(), &peer)?;
        dry_run(i)?;
        Ok(json!({
            "KeyId": r.key.arn,
            "SharedSecret": record::b64(secret.expose()),
            "KeyAgreementAlgorithm": algorithm,
            "KeyOrigin": r.key.origin,
        }))
    }
}
