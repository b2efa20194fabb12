//! Secrets at rest: the master key.
//!
//! Secret access keys, KMS key material and TOTP seeds are stored sealed with AES-256-GCM under a
//! 32-byte master key that never enters the database: it lives in a file with mode 0600 in the
//! data dir (created on first start) or is supplied by the operator (`PORTCULLIS_MASTER_KEY`,
//! base64). A sealed value is bound to its place with additional authenticated data
//! ([`place_aad`]), so a ciphertext copied from one item to another does not open.
//! Purpose-specific sub-keys (the audit chain's HMAC key) are derived with HKDF-SHA256.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use aws_lc_rs::aead::{self, AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use portcullis_core::Secret;
use zeroize::Zeroize as _;

use crate::StoreError;

/// Length of the master key in bytes.
pub const KEY_LEN: usize = 32;

/// First byte of every sealed value: the format (AES-256-GCM, 96-bit random nonce, 128-bit tag).
const SEAL_V1: u8 = 1;

/// HKDF salt: fixes the derivation to this product and version.
const HKDF_SALT: &[u8] = b"portcullis-master-key-v1";

/// The key that seals secrets at rest. Its `Debug` is redacted and its bytes are wiped on drop.
pub struct MasterKey {
    bytes: Secret<Vec<u8>>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// Reads the key file at `path`, or creates it (mode 0600, 32 random bytes) if absent. A file
    /// that group or others may read or write is refused, as is one that is not 32 bytes.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        let key_err = |reason: String| StoreError::KeyFile {
            path: path.to_owned(),
            reason,
        };
        match open_private(path) {
            Ok(mut file) => {
                let mut bytes = Vec::with_capacity(KEY_LEN);
                file.read_to_end(&mut bytes)
                    .map_err(|e| key_err(e.to_string()))?;
                if bytes.len() != KEY_LEN {
                    let len = bytes.len();
                    bytes.zeroize();
                    return Err(key_err(format!("expected {KEY_LEN} bytes, found {len}")));
                }
                Ok(Self {
                    bytes: Secret::new(bytes),
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let key = Self::generate()?;
                match create_private(path, key.bytes.expose()) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "created a new master key file");
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => Self::load_or_create(path),
                    Err(e) => Err(key_err(e.to_string())),
                }
            }
            Err(e) => Err(key_err(e.to_string())),
        }
    }

    /// A key given as base64 text (standard alphabet, padding optional, surrounding whitespace
    /// ignored), e.g. from `PORTCULLIS_MASTER_KEY`.
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let text = text.trim().trim_end_matches('=');
        let mut bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidKey("not base64".to_owned()))?;
        if bytes.len() != KEY_LEN {
            let len = bytes.len();
            bytes.zeroize();
            return Err(StoreError::InvalidKey(format!(
                "expected {KEY_LEN} bytes, found {len}"
            )));
        }
        Ok(Self {
            bytes: Secret::new(bytes),
        })
    }

    /// A fresh random key (dev mode with in-memory state, tests).
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = vec![0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Crypto("random source"))?;
        Ok(Self {
            bytes: Secret::new(bytes),
        })
    }

    /// The key as base64, to hand to an operator who supplies it by env on other nodes.
    pub fn to_base64(&self) -> Secret<String> {
        Secret::new(base64::engine::general_purpose::STANDARD.encode(self.bytes.expose()))
    }

    /// Seals `plaintext` with AES-256-GCM under a random 96-bit nonce; `aad` binds the result to
    /// its place (see [`place_aad`]). Output: version byte, nonce, ciphertext and tag.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, self.bytes.expose())
            .map_err(|_| StoreError::Crypto("AES-256-GCM key setup"))?;
        let mut in_out = plaintext.to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
            .map_err(|_| {
                in_out.zeroize();
                StoreError::Crypto("AES-256-GCM seal")
            })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        out.push(SEAL_V1);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// Opens what [`MasterKey::seal`] produced for the same `aad`. A wrong key, another place's
    /// `aad` or any changed byte gives [`StoreError::Unseal`].
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Secret<Vec<u8>>, StoreError> {
        let Some((&version, rest)) = sealed.split_first() else {
            return Err(StoreError::Unseal);
        };
        if version != SEAL_V1 || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(StoreError::Unseal);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StoreError::Unseal)?;
        let key = aead::LessSafeKey::new(
            aead::UnboundKey::new(&AES_256_GCM, self.bytes.expose())
                .map_err(|_| StoreError::Crypto("AES-256-GCM key setup"))?,
        );
        let mut in_out = ciphertext.to_vec();
        let len = match key.open_in_place(nonce, Aad::from(aad), &mut in_out) {
            Ok(plain) => plain.len(),
            Err(_) => {
                in_out.zeroize();
                return Err(StoreError::Unseal);
            }
        };
        in_out.truncate(len);
        Ok(Secret::new(in_out))
    }

    /// A 32-byte sub-key for `purpose`, e.g. `derive("audit-chain")` for the audit HMAC key.
    ///
    /// HKDF-SHA256 (RFC 5869) with a fixed salt and `purpose` as info. One output block is all
    /// that is needed, so Expand is its first step, `T(1) = HMAC(PRK, info || 0x01)`, which
    /// cannot fail (aws-lc-rs's `hkdf` API returns a `Result` for lengths we never ask for).
    pub fn derive(&self, purpose: &str) -> Secret<Vec<u8>> {
        hkdf_sha256_32(HKDF_SALT, self.bytes.expose(), purpose.as_bytes())
    }
}

/// HKDF-SHA256 with a 32-byte output (RFC 5869, sections 2.2 and 2.3 with L = HashLen).
fn hkdf_sha256_32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Secret<Vec<u8>> {
    let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()));
    ctx.update(info);
    ctx.update(&[1]);
    Secret::new(ctx.sign().as_ref().to_vec())
}

/// The additional authenticated data that binds a sealed secret to the item holding it:
/// length-prefixed `kind`, `account`, `id`, so that no two places encode alike.
pub fn place_aad(kind: &str, account: &str, id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + kind.len() + account.len() + id.len());
    for part in [kind, account, id] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::PermissionsExt as _;
    let file = fs::File::open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(std::io::Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "mode {:o} lets group or others access it; run chmod 600",
                mode & 0o777
            ),
        ));
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::File::open(path)
}

/// Creates `path` exclusively with mode 0600, writes `bytes` and syncs the file and its
/// directory, so that the key survives a crash right after first start.
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Leave no truncated key behind for the next start to refuse.
        let _ = fs::remove_file(path);
        return Err(e);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_case_1() {
        // RFC 5869 A.1: the first 32 bytes of OKM are T(1).
        let ikm = [0x0b; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = hkdf_sha256_32(&salt, &ikm, &info);
        assert_eq!(
            hex::encode(okm.expose()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn derive_depends_on_purpose_and_key() {
        let a =
            MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
                .unwrap();
        let b = MasterKey::generate().unwrap();
        assert_ne!(a.derive("audit-chain").expose(), a.derive("other").expose());
        assert_ne!(
            a.derive("audit-chain").expose(),
            b.derive("audit-chain").expose()
        );
        assert_eq!(
            a.derive("audit-chain").expose(),
            a.derive("audit-chain").expose()
        );
        assert_eq!(a.derive("x").expose().len(), 32);
    }

    #[test]
    fn debug_is_redacted() {
        let k =
            MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([0x41u8; 32]))
                .unwrap();
        assert_eq!(format!("{k:?}"), "MasterKey([REDACTED])");
    }

    #[test]
    fn place_aad_is_unambiguous() {
        assert_ne!(place_aad("a", "bc", ""), place_aad("ab", "c", ""));
    }
}
