//! The ciphertext blob of symmetric KMS keys: what Encrypt, GenerateDataKey and ReEncrypt
//! return and Decrypt reads back without being told the key.
//!
//! Format, version 1 (all integers big-endian):
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0  | 1  | format version, `0x01` |
//! | 1  | 12 | the key's account, ASCII digits |
//! | 13 | 16 | the key id (a UUID) as 16 bytes |
//! | 29 | 4  | the key material version (1 for the first material, +1 per rotation) |
//! | 33 | 16 | random salt |
//! | 49 | 12 | random nonce |
//! | 61 | n  | AES-256-GCM ciphertext of the plaintext |
//! | 61+n | 16 | GCM tag |
//!
//! Each message gets its own AES-256 key, `HMAC-SHA256(material, "portcullis-kms-v1" || salt)`,
//! so the GCM nonce-reuse bound of one key never comes near, however many messages one key
//! version encrypts. The additional authenticated data is the whole 61-byte header followed by
//! the canonical encryption context ([`context_aad`]), so changing any byte of the blob, or
//! decrypting with another context, fails authentication: the blob cannot be re-pointed at
//! another key, account or version, and the encryption context must match exactly, as AWS
//! requires.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use portcullis_core::Secret;
use zeroize::Zeroize as _;

use crate::KmsError;

/// First byte of a version-1 blob.
pub const VERSION_1: u8 = 1;
/// Length of the header (everything before the ciphertext).
pub const HEADER_LEN: usize = 61;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + 16;

/// What the header of a blob says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// The 12-digit account of the key.
    pub account: String,
    /// The key id (UUID text).
    pub key_id: String,
    /// The key material version.
    pub material: u32,
}

/// The 16 bytes of a UUID in its 8-4-4-4-12 text form; `None` if it is not one.
pub fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.split('-').collect();
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    if groups != [8, 4, 4, 4, 12] {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        let pair = hex.get(i * 2..i * 2 + 2)?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}

/// The encryption context as bytes: the number of pairs, then each key and value
/// length-prefixed, in byte order of the keys (a `BTreeMap` iterates so), so that equal
/// contexts, and only they, encode alike.
pub fn context_aad(context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(context.len() as u32).to_be_bytes());
    for (k, v) in context {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

fn message_key(material: &[u8], salt: &[u8]) -> Result<LessSafeKey, KmsError> {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, material));
    ctx.update(b"portcullis-kms-v1");
    ctx.update(salt);
    let tag = ctx.sign();
    let key = UnboundKey::new(&AES_256_GCM, tag.as_ref())
        .map_err(|_| KmsError::Crypto("AES-256-GCM key setup"))?;
    Ok(LessSafeKey::new(key))
}

/// Reads the header of a blob; anything that is not a version-1 blob is an invalid ciphertext.
pub fn parse_header(blob: &[u8]) -> Result<BlobHeader, KmsError> {
    if blob.len() < OVERHEAD || blob.first() != Some(&VERSION_1) {
        return Err(KmsError::invalid_ciphertext());
    }
    let account = blob
        .get(1..13)
        .and_then(|b| std::str::from_utf8(b).ok())
        .filter(|a| a.bytes().all(|c| c.is_ascii_digit()))
        .ok_or_else(KmsError::invalid_ciphertext)?
        .to_owned();
    let key_id = uuid_text(blob.get(13..29).ok_or_else(KmsError::invalid_ciphertext)?);
    let mut version = [0u8; 4];
    version.copy_from_slice(blob.get(29..33).ok_or_else(KmsError::invalid_ciphertext)?);
    Ok(BlobHeader {
        account,
        key_id,
        material: u32::from_be_bytes(version),
    })
}

/// Encrypts `plaintext` under `material` (version `header.material` of the key) with
/// `context` bound as additional authenticated data.
pub fn seal(
    header: &BlobHeader,
    material: &[u8],
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, KmsError> {
    let key_bytes = uuid_bytes(&header.key_id).ok_or(KmsError::Crypto("key id is not a UUID"))?;
    if header.account.len() != 12 {
        return Err(KmsError::Crypto("account is not 12 digits"));
    }
    let mut random = [0u8; 28];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| KmsError::Crypto("random source"))?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(VERSION_1);
    out.extend_from_slice(header.account.as_bytes());
    out.extend_from_slice(&key_bytes);
    out.extend_from_slice(&header.material.to_be_bytes());
    out.extend_from_slice(&random);
    let (salt, nonce) = random.split_at(16);
    let key = message_key(material, salt)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KmsError::Crypto("nonce"))?;
    let mut aad = out.clone();
    aad.extend_from_slice(&context_aad(context));
    let mut in_out = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(&aad), &mut in_out)
        .map_err(|_| KmsError::Crypto("AES-256-GCM seal"))?;
    out.extend_from_slice(&in_out);
    in_out.zeroize();
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Decrypts a blob with the material its header names. A wrong context, a changed byte or the
/// wrong material is InvalidCiphertextException (AWS gives no more detail).
pub fn open(
    blob: &[u8],
    material: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Secret<Vec<u8>>, KmsError> {
    let header = blob
        .get(..HEADER_LEN)
        .ok_or_else(KmsError::invalid_ciphertext)?;
    let body = blob
        .get(HEADER_LEN..)
        .ok_or_else(KmsError::invalid_ciphertext)?;
    let salt = header
        .get(33..49)
        .ok_or_else(KmsError::invalid_ciphertext)?;
    let nonce = header
        .get(49..61)
        .ok_or_else(KmsError::invalid_ciphertext)?;
    let key = message_key(material, salt)?;
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| KmsError::invalid_ciphertext())?;
    let mut aad = header.to_vec();
    aad.extend_from_slice(&context_aad(context));
    let mut in_out = body.to_vec();
    let len = match key.open_in_place(nonce, Aad::from(&aad), &mut in_out) {
        Ok(plain) => plain.len(),
        Err(_) => {
            in_out.zeroize();
            return Err(KmsError::invalid_ciphertext());
        }
    };
    in_out.truncate(len);
    Ok(Secret::new(in_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BlobHeader {
        BlobHeader {
            account: "111122223333".into(),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            material: 3,
        }
    }

    #[test]
    fn round_trip_and_header() {
        let ctx = BTreeMap::from([("purpose".to_owned(), "test".to_owned())]);
        let blob = seal(&header(), &[9u8; 32], b"hello", &ctx).unwrap();
        assert_eq!(blob.len(), 5 + OVERHEAD);
        assert_eq!(parse_header(&blob).unwrap(), header());
        assert_eq!(open(&blob, &[9u8; 32], &ctx).unwrap().expose(), b"hello");
    }

    #[test]
    fn every_tampered_byte_and_wrong_context_is_refused() {
        let ctx = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        let blob = seal(&header(), &[9u8; 32], b"hello world", &ctx).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad, &[9u8; 32], &ctx).is_err(), "byte {i}");
        }
        assert!(open(&blob, &[9u8; 32], &BTreeMap::new()).is_err());
        let other = BTreeMap::from([("a".to_owned(), "c".to_owned())]);
        assert!(open(&blob, &[9u8; 32], &other).is_err());
        assert!(open(&blob, &[8u8; 32], &ctx).is_err());
        assert!(open(&blob[..blob.len() - 1], &[9u8; 32], &ctx).is_err());
    }

    #[test]
    fn context_encoding_is_unambiguous() {
        let a = BTreeMap::from([("ab".to_owned(), "c".to_owned())]);
        let b = BTreeMap::from([("a".to_owned(), "bc".to_owned())]);
        assert_ne!(context_aad(&a), context_aad(&b));
    }

    #[test]
    fn uuid_parsing() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(uuid_text(&uuid_bytes(id).unwrap()), id);
        assert!(uuid_bytes("not-a-uuid").is_none());
        assert!(uuid_bytes("1234abcd-12ab-34cd-56ef-1234567890zz").is_none());
    }

    #[test]
    fn garbage_headers_are_invalid_ciphertext() {
        assert!(parse_header(&[]).is_err());
        assert!(parse_header(&[2u8; 100]).is_err());
        let mut b = vec![1u8; 100];
        b[1] = b'x';
        assert!(parse_header(&b).is_err());
    }
}
