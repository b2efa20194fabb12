//! The software key backend: KMS key specs, key usages and algorithms, and every cryptographic
//! operation on key material, over aws-lc-rs. Pure and synchronous; knows nothing of the store,
//! of policies or of the wire.
//!
//! Key material as this module holds it (always inside a [`Secret`]):
//! - `SYMMETRIC_DEFAULT`: 32 raw bytes (AES-256);
//! - `HMAC_*`: raw bytes of the size AWS uses for the spec (28, 32, 48 or 64);
//! - `RSA_*`, `ECC_*`: the private key as unencrypted PKCS#8 DER; the public key is kept
//!   beside it as DER `SubjectPublicKeyInfo` (what GetPublicKey returns).

use aws_lc_rs::agreement;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded as _};
use aws_lc_rs::rsa::{
    self, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _};
use portcullis_core::Secret;
use serde::{Deserialize, Serialize};

use crate::KmsError;

/// `KeySpec` of a KMS key (CreateKey), in AWS's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_camel_case_types)]
pub enum KeySpec {
    /// AES-256-GCM.
    SYMMETRIC_DEFAULT,
    /// RSA, 2048-bit modulus.
    RSA_2048,
    /// RSA, 3072-bit modulus.
    RSA_3072,
    /// RSA, 4096-bit modulus.
    RSA_4096,
    /// NIST P-256.
    ECC_NIST_P256,
    /// NIST P-384.
    ECC_NIST_P384,
    /// NIST P-521.
    ECC_NIST_P521,
    /// secp256k1.
    ECC_SECG_P256K1,
    /// HMAC with SHA-224.
    HMAC_224,
    /// HMAC with SHA-256.
    HMAC_256,
    /// HMAC with SHA-384.
    HMAC_384,
    /// HMAC with SHA-512.
    HMAC_512,
}

/// `KeyUsage` of a KMS key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_camel_case_types)]
pub enum KeyUsage {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*.
    ENCRYPT_DECRYPT,
    /// Sign, Verify.
    SIGN_VERIFY,
    /// GenerateMac, VerifyMac.
    GENERATE_VERIFY_MAC,
    /// DeriveSharedSecret.
    KEY_AGREEMENT,
}

impl KeySpec {
    /// Parses AWS's name of a key spec.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }

    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SYMMETRIC_DEFAULT => "SYMMETRIC_DEFAULT",
            Self::RSA_2048 => "RSA_2048",
            Self::RSA_3072 => "RSA_3072",
            Self::RSA_4096 => "RSA_4096",
            Self::ECC_NIST_P256 => "ECC_NIST_P256",
            Self::ECC_NIST_P384 => "ECC_NIST_P384",
            Self::ECC_NIST_P521 => "ECC_NIST_P521",
            Self::ECC_SECG_P256K1 => "ECC_SECG_P256K1",
            Self::HMAC_224 => "HMAC_224",
            Self::HMAC_256 => "HMAC_256",
            Self::HMAC_384 => "HMAC_384",
            Self::HMAC_512 => "HMAC_512",
        }
    }

    fn is_rsa(self) -> bool {
        matches!(self, Self::RSA_2048 | Self::RSA_3072 | Self::RSA_4096)
    }

    fn is_ecc(self) -> bool {
        matches!(
            self,
            Self::ECC_NIST_P256 | Self::ECC_NIST_P384 | Self::ECC_NIST_P521 | Self::ECC_SECG_P256K1
        )
    }

    fn is_hmac(self) -> bool {
        matches!(
            self,
            Self::HMAC_224 | Self::HMAC_256 | Self::HMAC_384 | Self::HMAC_512
        )
    }

    /// Whether the key has a public half (GetPublicKey).
    pub fn is_asymmetric(self) -> bool {
        self.is_rsa() || self.is_ecc()
    }

    /// The key usages AWS allows for this spec (CreateKey "KeySpec and KeyUsage" table).
    pub fn allows(self, usage: KeyUsage) -> bool {
        match usage {
            KeyUsage::ENCRYPT_DECRYPT => self == Self::SYMMETRIC_DEFAULT || self.is_rsa(),
            KeyUsage::SIGN_VERIFY => self.is_rsa() || self.is_ecc(),
            KeyUsage::GENERATE_VERIFY_MAC => self.is_hmac(),
            KeyUsage::KEY_AGREEMENT => matches!(
                self,
                Self::ECC_NIST_P256 | Self::ECC_NIST_P384 | Self::ECC_NIST_P521
            ),
        }
    }

    /// DescribeKey's `EncryptionAlgorithms`.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        match (self, usage) {
            (Self::SYMMETRIC_DEFAULT, _) => &["SYMMETRIC_DEFAULT"],
            (s, KeyUsage::ENCRYPT_DECRYPT) if s.is_rsa() => {
                &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
            }
            _ => &[],
        }
    }

    /// DescribeKey's `SigningAlgorithms`.
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage != KeyUsage::SIGN_VERIFY {
            return &[];
        }
        match self {
            s if s.is_rsa() => &[
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
            ],
            Self::ECC_NIST_P256 | Self::ECC_SECG_P256K1 => &["ECDSA_SHA_256"],
            Self::ECC_NIST_P384 => &["ECDSA_SHA_384"],
            Self::ECC_NIST_P521 => &["ECDSA_SHA_512"],
            _ => &[],
        }
    }

    /// DescribeKey's `MacAlgorithms`.
    pub fn mac_algorithms(self) -> &'static [&'static str] {
        match self {
            Self::HMAC_224 => &["HMAC_SHA_224"],
            Self::HMAC_256 => &["HMAC_SHA_256"],
            Self::HMAC_384 => &["HMAC_SHA_384"],
            Self::HMAC_512 => &["HMAC_SHA_512"],
            _ => &[],
        }
    }

    /// DescribeKey's `KeyAgreementAlgorithms`.
    pub fn key_agreement_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage == KeyUsage::KEY_AGREEMENT {
            &["ECDH"]
        } else {
            &[]
        }
    }

    /// Length of the raw key for symmetric and HMAC specs (AWS: HMAC keys are as long as the
    /// hash's block-size-independent output: 224, 256, 384 and 512 bits).
    pub fn raw_key_len(self) -> Option<usize> {
        match self {
            Self::SYMMETRIC_DEFAULT => Some(32),
            Self::HMAC_224 => Some(28),
            Self::HMAC_256 => Some(32),
            Self::HMAC_384 => Some(48),
            Self::HMAC_512 => Some(64),
            _ => None,
        }
    }

    fn ecdsa(
        self,
    ) -> Option<(
        &'static EcdsaSigningAlgorithm,
        &'static signature::EcdsaVerificationAlgorithm,
    )> {
        Some(match self {
            Self::ECC_NIST_P256 => (
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &signature::ECDSA_P256_SHA256_ASN1,
            ),
            Self::ECC_NIST_P384 => (
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                &signature::ECDSA_P384_SHA384_ASN1,
            ),
            Self::ECC_NIST_P521 => (
                &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                &signature::ECDSA_P521_SHA512_ASN1,
            ),
            Self::ECC_SECG_P256K1 => (
                &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
                &signature::ECDSA_P256K1_SHA256_ASN1,
            ),
            _ => return None,
        })
    }

    fn rsa_size(self) -> Option<KeySize> {
        match self {
            Self::RSA_2048 => Some(KeySize::Rsa2048),
            Self::RSA_3072 => Some(KeySize::Rsa3072),
            Self::RSA_4096 => Some(KeySize::Rsa4096),
            _ => None,
        }
    }
}

/// Key material and, for asymmetric specs, its public key (DER SPKI).
pub type GeneratedKey = (Secret<Vec<u8>>, Option<Vec<u8>>);

/// Runs `f` on the blocking pool. For RSA key generation, which takes from tens of milliseconds
/// (2048 bits) to seconds (4096 bits): the server's worker threads each serve many connections
/// and must not be held that long by one request.
pub async fn off_worker<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KmsError> + Send + 'static,
) -> Result<T, KmsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| KmsError::Crypto("key generation was interrupted"))?
}

/// [`generate`], off the worker thread when `spec` is RSA.
pub async fn generate_off_worker(spec: KeySpec) -> Result<GeneratedKey, KmsError> {
    if spec.rsa_size().is_some() {
        off_worker(move || generate(spec)).await
    } else {
        generate(spec)
    }
}

/// New key material for `spec`, with its public key (DER SPKI) for asymmetric specs.
pub fn generate(spec: KeySpec) -> Result<GeneratedKey, KmsError> {
    if let Some(len) = spec.raw_key_len() {
        return Ok((random(len)?, None));
    }
    if let Some(size) = spec.rsa_size() {
        let pair =
            rsa::KeyPair::generate(size).map_err(|_| KmsError::Crypto("RSA key generation"))?;
        let pkcs8: Pkcs8V1Der<'_> = pair
            .as_der()
            .map_err(|_| KmsError::Crypto("RSA PKCS#8 encoding"))?;
        let spki: PublicKeyX509Der<'_> = pair
            .public_key()
            .as_der()
            .map_err(|_| KmsError::Crypto("RSA public key encoding"))?;
        return Ok((
            Secret::new(pkcs8.as_ref().to_vec()),
            Some(spki.as_ref().to_vec()),
        ));
    }
    let (alg, _) = spec.ecdsa().ok_or(KmsError::Crypto("unknown key spec"))?;
    let pair = EcdsaKeyPair::generate(alg).map_err(|_| KmsError::Crypto("EC key generation"))?;
    ec_parts(&pair)
}

fn ec_parts(pair: &EcdsaKeyPair) -> Result<GeneratedKey, KmsError> {
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|_| KmsError::Crypto("EC PKCS#8 encoding"))?;
    let spki: PublicKeyX509Der<'_> = pair
        .public_key()
        .as_der()
        .map_err(|_| KmsError::Crypto("EC public key encoding"))?;
    Ok((
        Secret::new(pkcs8.as_ref().to_vec()),
        Some(spki.as_ref().to_vec()),
    ))
}

/// The public key (DER SPKI) of imported asymmetric key material, which also proves that the
/// material is a private key of `spec`.
pub fn public_key_of(spec: KeySpec, material: &[u8]) -> Result<Option<Vec<u8>>, KmsError> {
    if let Some(len) = spec.raw_key_len() {
        return if material.len() == len {
            Ok(None)
        } else {
            Err(KmsError::IncorrectKeyMaterial(
                "The key material is not valid for the key spec.".to_owned(),
            ))
        };
    }
    let bad = || {
        KmsError::IncorrectKeyMaterial("The key material is not valid for the key spec.".to_owned())
    };
    if let Some(size) = spec.rsa_size() {
        let pair = rsa::KeyPair::from_pkcs8(material).map_err(|_| bad())?;
        let bits = match size {
            KeySize::Rsa2048 => 2048,
            KeySize::Rsa3072 => 3072,
            _ => 4096,
        };
        if pair.public_modulus_len() * 8 != bits {
            return Err(bad());
        }
        let spki: PublicKeyX509Der<'_> = pair.public_key().as_der().map_err(|_| bad())?;
        return Ok(Some(spki.as_ref().to_vec()));
    }
    let (alg, _) = spec.ecdsa().ok_or_else(bad)?;
    let pair = EcdsaKeyPair::from_pkcs8(alg, material).map_err(|_| bad())?;
    Ok(ec_parts(&pair)?.1)
}

/// `n` random bytes from aws-lc's DRBG.
pub fn random(n: usize) -> Result<Secret<Vec<u8>>, KmsError> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KmsError::Crypto("random source"))?;
    Ok(Secret::new(bytes))
}

/// RSA-OAEP algorithms by AWS name (`EncryptionAlgorithmSpec` and import wrapping algorithms).
fn oaep(name: &str) -> Option<&'static OaepAlgorithm> {
    match name {
        "RSAES_OAEP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_1" => Some(&OAEP_SHA1_MGF1SHA1),
        "RSAES_OAEP_SHA_256" | "RSA_AES_KEY_WRAP_SHA_256" => Some(&OAEP_SHA256_MGF1SHA256),
        _ => None,
    }
}

/// RSA-OAEP encryption with the public key (Encrypt with an RSA key).
pub fn rsa_encrypt(spki: &[u8], algorithm: &str, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    let alg = oaep(algorithm).ok_or(KmsError::Crypto("unknown OAEP algorithm"))?;
    let key = PublicEncryptingKey::from_der(spki)
        .ok()
        .and_then(|k| OaepPublicEncryptingKey::new(k).ok())
        .ok_or(KmsError::Crypto("RSA public key"))?;
    if plaintext.len() > key.max_plaintext_size(alg) {
        return Err(KmsError::Validation(format!(
            "Plaintext is too long for {algorithm} with this key: at most {} bytes.",
            key.max_plaintext_size(alg)
        )));
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(alg, plaintext, &mut out, None)
        .map_err(|_| KmsError::Crypto("RSA-OAEP encryption"))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// RSA-OAEP decryption with the private key; any failure is an invalid ciphertext.
pub fn rsa_decrypt(
    pkcs8: &[u8],
    algorithm: &str,
    ciphertext: &[u8],
) -> Result<Secret<Vec<u8>>, KmsError> {
    let alg = oaep(algorithm).ok_or(KmsError::Crypto("unknown OAEP algorithm"))?;
    let key = PrivateDecryptingKey::from_pkcs8(pkcs8)
        .ok()
        .and_then(|k| OaepPrivateDecryptingKey::new(k).ok())
        .ok_or(KmsError::Crypto("RSA private key"))?;
    let mut out = vec![0u8; key.min_output_size()];
    let len = match key.decrypt(alg, ciphertext, &mut out, None) {
        Ok(plain) => plain.len(),
        Err(_) => return Err(KmsError::invalid_ciphertext()),
    };
    out.truncate(len);
    Ok(Secret::new(out))
}

/// A fresh RSA key pair for wrapping imported key material (GetParametersForImport):
/// `(private PKCS#8, public SPKI)`.
pub fn wrapping_key(spec: &str) -> Result<(Secret<Vec<u8>>, Vec<u8>), KmsError> {
    let size = match spec {
        "RSA_2048" => KeySize::Rsa2048,
        "RSA_3072" => KeySize::Rsa3072,
        "RSA_4096" => KeySize::Rsa4096,
        _ => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{spec}' at 'wrappingKeySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096]"
            )));
        }
    };
    let key =
        PrivateDecryptingKey::generate(size).map_err(|_| KmsError::Crypto("RSA key generation"))?;
    let pkcs8: Pkcs8V1Der<'_> = key
        .as_der()
        .map_err(|_| KmsError::Crypto("RSA PKCS#8 encoding"))?;
    let spki: PublicKeyX509Der<'_> = key
        .public_key()
        .as_der()
        .map_err(|_| KmsError::Crypto("RSA public key encoding"))?;
    Ok((Secret::new(pkcs8.as_ref().to_vec()), spki.as_ref().to_vec()))
}

/// Unwraps imported key material (ImportKeyMaterial). `RSAES_OAEP_*`: the material encrypted
/// directly with RSA-OAEP. `RSA_AES_KEY_WRAP_*`: an ephemeral AES-256 key encrypted with
/// RSA-OAEP, followed by the material wrapped with it by AES key wrap with padding (RFC 5649).
pub fn unwrap_import(
    wrapping_pkcs8: &[u8],
    algorithm: &str,
    wrapped: &[u8],
) -> Result<Secret<Vec<u8>>, KmsError> {
    let invalid = || {
        KmsError::InvalidCiphertext(
            "The wrapped key material could not be decrypted with the import parameters."
                .to_owned(),
        )
    };
    if algorithm.starts_with("RSAES_OAEP") {
        return rsa_decrypt(wrapping_pkcs8, algorithm, wrapped).map_err(|_| invalid());
    }
    let key = PrivateDecryptingKey::from_pkcs8(wrapping_pkcs8)
        .map_err(|_| KmsError::Crypto("RSA private key"))?;
    let split = key.key_size_bytes();
    if wrapped.len() <= split {
        return Err(invalid());
    }
    let (rsa_part, kwp_part) = wrapped.split_at(split);
    let aes = rsa_decrypt(wrapping_pkcs8, algorithm, rsa_part).map_err(|_| invalid())?;
    let kek = AesKek::new(&AES_256, aes.expose()).map_err(|_| invalid())?;
    let mut out = vec![0u8; kwp_part.len()];
    let len = kek
        .unwrap_with_padding(kwp_part, &mut out)
        .map_err(|_| invalid())?
        .len();
    out.truncate(len);
    Ok(Secret::new(out))
}

/// Wraps key material the way a client does for ImportKeyMaterial (tests, tools).
pub fn wrap_for_import(
    wrapping_spki: &[u8],
    algorithm: &str,
    material: &[u8],
) -> Result<Vec<u8>, KmsError> {
    if algorithm.starts_with("RSAES_OAEP") {
        return rsa_encrypt(wrapping_spki, algorithm, material);
    }
    let aes = random(32)?;
    let mut out = rsa_encrypt(wrapping_spki, algorithm, aes.expose())?;
    let kek = AesKek::new(&AES_256, aes.expose()).map_err(|_| KmsError::Crypto("AES key wrap"))?;
    let mut wrapped = vec![0u8; material.len() + 16];
    let len = kek
        .wrap_with_padding(material, &mut wrapped)
        .map_err(|_| KmsError::Crypto("AES key wrap"))?
        .len();
    wrapped.truncate(len);
    out.extend_from_slice(&wrapped);
    Ok(out)
}

/// The hash of a signing algorithm, and whether it is RSA-PSS, RSA PKCS#1 v1.5 or ECDSA.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SigFamily {
    Pss,
    Pkcs1,
    Ecdsa,
}

fn signing_algorithm(name: &str) -> Option<(SigFamily, &'static digest::Algorithm)> {
    Some(match name {
        "RSASSA_PSS_SHA_256" => (SigFamily::Pss, &digest::SHA256),
        "RSASSA_PSS_SHA_384" => (SigFamily::Pss, &digest::SHA384),
        "RSASSA_PSS_SHA_512" => (SigFamily::Pss, &digest::SHA512),
        "RSASSA_PKCS1_V1_5_SHA_256" => (SigFamily::Pkcs1, &digest::SHA256),
        "RSASSA_PKCS1_V1_5_SHA_384" => (SigFamily::Pkcs1, &digest::SHA384),
        "RSASSA_PKCS1_V1_5_SHA_512" => (SigFamily::Pkcs1, &digest::SHA512),
        "ECDSA_SHA_256" => (SigFamily::Ecdsa, &digest::SHA256),
        "ECDSA_SHA_384" => (SigFamily::Ecdsa, &digest::SHA384),
        "ECDSA_SHA_512" => (SigFamily::Ecdsa, &digest::SHA512),
        _ => return None,
    })
}

fn rsa_encoding(
    family: SigFamily,
    hash: &'static digest::Algorithm,
) -> &'static dyn signature::RsaEncoding {
    match (family, hash.output_len()) {
        (SigFamily::Pss, 32) => &signature::RSA_PSS_SHA256,
        (SigFamily::Pss, 48) => &signature::RSA_PSS_SHA384,
        (SigFamily::Pss, _) => &signature::RSA_PSS_SHA512,
        (_, 32) => &signature::RSA_PKCS1_SHA256,
        (_, 48) => &signature::RSA_PKCS1_SHA384,
        _ => &signature::RSA_PKCS1_SHA512,
    }
}

fn rsa_verification(
    family: SigFamily,
    hash: &'static digest::Algorithm,
) -> &'static signature::RsaParameters {
    match (family, hash.output_len()) {
        (SigFamily::Pss, 32) => &signature::RSA_PSS_2048_8192_SHA256,
        (SigFamily::Pss, 48) => &signature::RSA_PSS_2048_8192_SHA384,
        (SigFamily::Pss, _) => &signature::RSA_PSS_2048_8192_SHA512,
        (_, 32) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (_, 48) => &signature::RSA_PKCS1_2048_8192_SHA384,
        _ => &signature::RSA_PKCS1_2048_8192_SHA512,
    }
}

/// What `Message` is in Sign and Verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// The message itself, hashed here.
    Raw,
    /// The digest of the message, of the signing algorithm's hash length.
    Digest,
}

/// The message as aws-lc-rs's digest input: in DIGEST mode the bytes must be exactly one hash
/// output long (AWS: "Digest is invalid length for algorithm").
fn digest_of(
    hash: &'static digest::Algorithm,
    message: &[u8],
    kind: MessageType,
) -> Result<digest::Digest, KmsError> {
    match kind {
        MessageType::Raw => Ok(digest::digest(hash, message)),
        MessageType::Digest => digest::Digest::import_less_safe(message, hash).map_err(|_| {
            KmsError::Validation(format!(
                "Digest is invalid length for algorithm {}.",
                match hash.output_len() {
                    32 => "SHA256",
                    48 => "SHA384",
                    _ => "SHA512",
                }
            ))
        }),
    }
}

/// Checks that `algorithm` is one of the key's signing algorithms; AWS answers otherwise with
/// InvalidKeyUsageException.
fn check_signing_algorithm(
    spec: KeySpec,
    algorithm: &str,
) -> Result<(SigFamily, &'static digest::Algorithm), KmsError> {
    match signing_algorithm(algorithm) {
        Some(found)
            if spec
                .signing_algorithms(KeyUsage::SIGN_VERIFY)
                .contains(&algorithm) =>
        {
            Ok(found)
        }
        _ => Err(KmsError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            spec.as_str()
        ))),
    }
}

/// A parsed private signing key. Parsing validates the key (for ECDSA it computes the public
/// point), which costs about as much as a signature, so callers keep these for reuse.
pub enum Signer {
    /// An ECDSA key of the spec's curve.
    Ecdsa(EcdsaKeyPair),
    /// An RSA key.
    Rsa(rsa::KeyPair),
}

impl Signer {
    /// Parses the PKCS#8 private key of a `spec` key.
    pub fn new(spec: KeySpec, pkcs8: &[u8]) -> Result<Self, KmsError> {
        if let Some((alg, _)) = spec.ecdsa() {
            let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8)
                .map_err(|_| KmsError::Crypto("EC private key"))?;
            return Ok(Self::Ecdsa(pair));
        }
        let pair =
            rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| KmsError::Crypto("RSA private key"))?;
        Ok(Self::Rsa(pair))
    }

    /// Sign (RAW or DIGEST): DER ECDSA signatures, RSA signatures of modulus length.
    pub fn sign(
        &self,
        spec: KeySpec,
        algorithm: &str,
        message: &[u8],
        kind: MessageType,
    ) -> Result<Vec<u8>, KmsError> {
        let (family, hash) = check_signing_algorithm(spec, algorithm)?;
        let digest = digest_of(hash, message, kind)?;
        match (self, family) {
            (Self::Ecdsa(pair), SigFamily::Ecdsa) => {
                let sig = pair
                    .sign_digest(&digest)
                    .map_err(|_| KmsError::Crypto("ECDSA signing"))?;
                Ok(sig.as_ref().to_vec())
            }
            (Self::Rsa(pair), SigFamily::Pss | SigFamily::Pkcs1) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign_digest(rsa_encoding(family, hash), &digest, &mut sig)
                    .map_err(|_| KmsError::Crypto("RSA signing"))?;
                Ok(sig)
            }
            _ => Err(KmsError::Crypto("signing key does not match its key spec")),
        }
    }
}

/// Sign (RAW or DIGEST) with a PKCS#8 private key: [`Signer::new`] then [`Signer::sign`].
pub fn sign(
    spec: KeySpec,
    pkcs8: &[u8],
    algorithm: &str,
    message: &[u8],
    kind: MessageType,
) -> Result<Vec<u8>, KmsError> {
    check_signing_algorithm(spec, algorithm)?;
    Signer::new(spec, pkcs8)?.sign(spec, algorithm, message, kind)
}

/// Verify: `Ok(true)` when the signature is valid.
pub fn verify(
    spec: KeySpec,
    spki: &[u8],
    algorithm: &str,
    message: &[u8],
    kind: MessageType,
    sig: &[u8],
) -> Result<bool, KmsError> {
    let (family, hash) = check_signing_algorithm(spec, algorithm)?;
    let digest = digest_of(hash, message, kind)?;
    let ok = if family == SigFamily::Ecdsa {
        let (_, alg) = spec.ecdsa().ok_or(KmsError::Crypto("EC key"))?;
        signature::UnparsedPublicKey::new(alg, spki)
            .verify_digest(&digest, sig)
            .is_ok()
    } else {
        signature::UnparsedPublicKey::new(rsa_verification(family, hash), spki)
            .verify_digest(&digest, sig)
            .is_ok()
    };
    Ok(ok)
}

fn hmac_algorithm(spec: KeySpec, algorithm: &str) -> Result<hmac::Algorithm, KmsError> {
    let alg = match (spec, algorithm) {
        (KeySpec::HMAC_224, "HMAC_SHA_224") => hmac::HMAC_SHA224,
        (KeySpec::HMAC_256, "HMAC_SHA_256") => hmac::HMAC_SHA256,
        (KeySpec::HMAC_384, "HMAC_SHA_384") => hmac::HMAC_SHA384,
        (KeySpec::HMAC_512, "HMAC_SHA_512") => hmac::HMAC_SHA512,
        _ => {
            return Err(KmsError::InvalidKeyUsage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                spec.as_str()
            )));
        }
    };
    Ok(alg)
}

/// GenerateMac.
pub fn mac(
    spec: KeySpec,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let alg = hmac_algorithm(spec, algorithm)?;
    Ok(hmac::sign(&hmac::Key::new(alg, key), message)
        .as_ref()
        .to_vec())
}

/// VerifyMac, in constant time.
pub fn verify_mac(
    spec: KeySpec,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
    tag: &[u8],
) -> Result<bool, KmsError> {
    let alg = hmac_algorithm(spec, algorithm)?;
    Ok(hmac::verify(&hmac::Key::new(alg, key), message, tag).is_ok())
}

/// DeriveSharedSecret (ECDH): the raw shared secret (the x coordinate) with a peer public key
/// given as DER SPKI (or an uncompressed point).
pub fn derive_shared_secret(
    spec: KeySpec,
    pkcs8: &[u8],
    peer: &[u8],
) -> Result<Secret<Vec<u8>>, KmsError> {
    let alg = match spec {
        KeySpec::ECC_NIST_P256 => &agreement::ECDH_P256,
        KeySpec::ECC_NIST_P384 => &agreement::ECDH_P384,
        KeySpec::ECC_NIST_P521 => &agreement::ECDH_P521,
        _ => {
            return Err(KmsError::InvalidKeyUsage(
                "The key spec does not support key agreement.".to_owned(),
            ));
        }
    };
    let private = agreement::PrivateKey::from_private_key_der(alg, pkcs8)
        .map_err(|_| KmsError::Crypto("EC private key"))?;
    let peer = agreement::UnparsedPublicKey::new(alg, peer);
    agreement::agree(&private, peer, (), |secret| {
        Ok(Secret::new(secret.to_vec()))
    })
    .map_err(|()| {
        KmsError::Validation(
            "The public key is not a valid public key for the key spec of the KMS key.".to_owned(),
        )
    })
}

/// A key pair for GenerateDataKeyPair (`KeyPairSpec`): `(private PKCS#8, public SPKI)`.
pub fn data_key_pair(spec: &str) -> Result<(Secret<Vec<u8>>, Vec<u8>), KmsError> {
    let spec = match KeySpec::parse(spec) {
        Some(s) if s.is_asymmetric() => s,
        _ => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{spec}' at 'keyPairSpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1]"
            )));
        }
    };
    let (private, public) = generate(spec)?;
    Ok((private, public.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signing_spec_signs_and_verifies_raw_and_digest() {
        for spec in [
            KeySpec::ECC_NIST_P256,
            KeySpec::ECC_NIST_P384,
            KeySpec::ECC_NIST_P521,
            KeySpec::ECC_SECG_P256K1,
            KeySpec::RSA_2048,
        ] {
            let (private, public) = generate(spec).unwrap();
            let public = public.unwrap();
            for alg in spec.signing_algorithms(KeyUsage::SIGN_VERIFY) {
                let sig = sign(spec, private.expose(), alg, b"hello", MessageType::Raw).unwrap();
                assert!(
                    verify(spec, &public, alg, b"hello", MessageType::Raw, &sig).unwrap(),
                    "{alg}"
                );
                assert!(
                    !verify(spec, &public, alg, b"hellO", MessageType::Raw, &sig).unwrap(),
                    "{alg}"
                );
                let (_, hash) = signing_algorithm(alg).unwrap();
                let d = digest::digest(hash, b"hello");
                assert!(
                    verify(spec, &public, alg, d.as_ref(), MessageType::Digest, &sig).unwrap(),
                    "{alg}"
                );
                let sig2 =
                    sign(spec, private.expose(), alg, d.as_ref(), MessageType::Digest).unwrap();
                assert!(
                    verify(spec, &public, alg, b"hello", MessageType::Raw, &sig2).unwrap(),
                    "{alg}"
                );
                assert!(sign(spec, private.expose(), alg, b"short", MessageType::Digest).is_err());
            }
        }
    }

    #[test]
    fn wrong_algorithm_for_spec_is_invalid_key_usage() {
        let (private, _) = generate(KeySpec::ECC_NIST_P384).unwrap();
        let err = sign(
            KeySpec::ECC_NIST_P384,
            private.expose(),
            "ECDSA_SHA_256",
            b"m",
            MessageType::Raw,
        )
        .unwrap_err();
        assert!(matches!(err, KmsError::InvalidKeyUsage(_)));
    }

    #[test]
    fn rsa_oaep_round_trip_and_import_wrapping() {
        let (private, public) = generate(KeySpec::RSA_2048).unwrap();
        let public = public.unwrap();
        for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
            let ct = rsa_encrypt(&public, alg, b"secret").unwrap();
            assert_eq!(
                rsa_decrypt(private.expose(), alg, &ct).unwrap().expose(),
                b"secret"
            );
        }
        let (wpriv, wpub) = wrapping_key("RSA_2048").unwrap();
        for alg in [
            "RSAES_OAEP_SHA_256",
            "RSA_AES_KEY_WRAP_SHA_256",
            "RSAES_OAEP_SHA_1",
            "RSA_AES_KEY_WRAP_SHA_1",
        ] {
            let wrapped = wrap_for_import(&wpub, alg, &[7u8; 32]).unwrap();
            assert_eq!(
                unwrap_import(wpriv.expose(), alg, &wrapped)
                    .unwrap()
                    .expose(),
                &[7u8; 32]
            );
        }
    }

    #[test]
    fn hmac_and_ecdh() {
        let key = random(28).unwrap();
        let tag = mac(KeySpec::HMAC_224, key.expose(), "HMAC_SHA_224", b"m").unwrap();
        assert_eq!(tag.len(), 28);
        assert!(verify_mac(KeySpec::HMAC_224, key.expose(), "HMAC_SHA_224", b"m", &tag).unwrap());
        assert!(!verify_mac(KeySpec::HMAC_224, key.expose(), "HMAC_SHA_224", b"n", &tag).unwrap());
        assert!(mac(KeySpec::HMAC_224, key.expose(), "HMAC_SHA_256", b"m").is_err());

        let (a_priv, a_pub) = generate(KeySpec::ECC_NIST_P256).unwrap();
        let (b_priv, b_pub) = generate(KeySpec::ECC_NIST_P256).unwrap();
        let ab =
            derive_shared_secret(KeySpec::ECC_NIST_P256, a_priv.expose(), &b_pub.unwrap()).unwrap();
        let ba =
            derive_shared_secret(KeySpec::ECC_NIST_P256, b_priv.expose(), &a_pub.unwrap()).unwrap();
        assert_eq!(ab.expose(), ba.expose());
        assert_eq!(ab.expose().len(), 32);
    }

    #[test]
    fn imported_material_is_checked_against_spec() {
        assert!(public_key_of(KeySpec::SYMMETRIC_DEFAULT, &[0u8; 32]).is_ok());
        assert!(public_key_of(KeySpec::SYMMETRIC_DEFAULT, &[0u8; 16]).is_err());
        let (p, public) = generate(KeySpec::ECC_NIST_P256).unwrap();
        assert_eq!(
            public_key_of(KeySpec::ECC_NIST_P256, p.expose()).unwrap(),
            public
        );
        assert!(public_key_of(KeySpec::ECC_NIST_P384, p.expose()).is_err());
    }
}
