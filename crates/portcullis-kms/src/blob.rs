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
use zeroize::Zeroize;

use crate::KmsError;

/// First byte of a version-1 blob.
pub const VERSION_1: u8 = 1;
/// Length of the header (everything before the ciphertext).
pub const HEADER_LEN: usize = 61;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + 16;

/// What the header of a blob says. Kept as the blob's bytes, so reading it allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    // INVARIANT: ASCII digits (checked by `parse_header`).
    account: [u8; 12],
    // INVARIANT: the key id as lower-case UUID text, ASCII.
    key_id: [u8; 36],
    /// The key material version.
    pub material: u32,
}

impl BlobHeader {
    /// The 12-digit account of the key.
    pub fn account(&self) -> &str {
        std::str::from_utf8(&self.account).unwrap_or_default()
    }

    /// The key id (UUID text).
    pub fn key_id(&self) -> &str {
        std::str::from_utf8(&self.key_id).unwrap_or_default()
    }
}

/// The 16 bytes of a UUID in its 8-4-4-4-12 text form; `None` if it is not one.
pub fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    let text: &[u8; 36] = text.as_bytes().try_into().ok()?;
    if [8, 13, 18, 23].iter().any(|&i| text.get(i) != Some(&b'-')) {
        return None;
    }
    let mut out = [0u8; 16];
    let mut at = 0;
    for slot in &mut out {
        if matches!(at, 8 | 13 | 18 | 23) {
            at += 1;
        }
        let hi = hex_value(*text.get(at)?)?;
        let lo = hex_value(*text.get(at + 1)?)?;
        *slot = hi << 4 | lo;
        at += 2;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn uuid_text(bytes: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        for nibble in [b >> 4, b & 0x0f] {
            if let (Some(slot), Some(hex)) = (out.get_mut(at), HEX.get(usize::from(nibble))) {
                *slot = *hex;
            }
            at += 1;
        }
    }
    out
}

/// The encryption context as bytes: the number of pairs, then each key and value
/// length-prefixed, in byte order of the keys (a `BTreeMap` iterates so), so that equal
/// contexts, and only they, encode alike. Appended to `out`.
pub fn context_aad(context: &BTreeMap<String, String>, out: &mut Vec<u8>) {
    out.extend_from_slice(&(context.len() as u32).to_be_bytes());
    for (k, v) in context {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
}

/// The additional authenticated data: the header, then the encoded context.
fn aad(header: &[u8], context: &BTreeMap<String, String>) -> Vec<u8> {
    let len = context
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum::<usize>();
    let mut aad = Vec::with_capacity(header.len() + 4 + len);
    aad.extend_from_slice(header);
    context_aad(context, &mut aad);
    aad
}

/// Plaintext bytes, to keep in a [`Secret`]: wiped with one bulk fill that the compiler may not
/// elide when dropped. (`zeroize` wipes a `Vec<u8>` one byte at a time, which for 4 KiB costs
/// more than decrypting it; it wipes a slice in bulk.)
#[derive(Clone, Default)]
pub struct PlainBytes(Vec<u8>);

impl PlainBytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for PlainBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for PlainBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Zeroize for PlainBytes {
    fn zeroize(&mut self) {
        self.0.spare_capacity_mut().zeroize();
        self.0.as_mut_slice().zeroize();
        self.0.clear();
    }
}

/// What derives the per-message keys of one key material version: HMAC-SHA256 keyed with the
/// material, set up once (aws-lc clears it when dropped).
pub struct MessageKeys(hmac::Key);

impl MessageKeys {
    /// Sets up the derivation for `material`.
    pub fn new(material: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, material))
    }

    fn for_salt(&self, salt: &[u8]) -> Result<LessSafeKey, KmsError> {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"portcullis-kms-v1");
        ctx.update(salt);
        let tag = ctx.sign();
        let key = UnboundKey::new(&AES_256_GCM, tag.as_ref())
            .map_err(|_| KmsError::Crypto("AES-256-GCM key setup"))?;
        Ok(LessSafeKey::new(key))
    }
}

/// Random bytes for one blob's salt and nonce. They are public (written in the blob) and need
/// only be unpredictable and unique, so they are drawn from a per-thread pool filled from
/// aws-lc's DRBG 4 KiB at a time: one DRBG call (with its prediction-resistance RDRAND) costs
/// about as much as the AES-GCM of a 4 KiB message, and per message it would be most of
/// Encrypt's overhead. Secrets (data keys, key material) never come from the pool. The pool
/// is not fork-safe: a process that forks must not encrypt with the same pool in both
/// processes (Portcullis never forks).
fn salt_and_nonce() -> Result<[u8; 28], KmsError> {
    const POOL: usize = 4096;
    struct Pool {
        bytes: [u8; POOL],
        used: usize,
    }
    thread_local! {
        static RANDOM: std::cell::RefCell<Pool> =
            const { std::cell::RefCell::new(Pool { bytes: [0; POOL], used: POOL }) };
    }
    RANDOM.with(|pool| {
        let mut pool = pool
            .try_borrow_mut()
            .map_err(|_| KmsError::Crypto("random pool"))?;
        if pool.used + 28 > POOL {
            aws_lc_rs::rand::fill(&mut pool.bytes)
                .map_err(|_| KmsError::Crypto("random source"))?;
            pool.used = 0;
        }
        let mut out = [0u8; 28];
        let start = pool.used;
        out.copy_from_slice(
            pool.bytes
                .get(start..start + 28)
                .ok_or(KmsError::Crypto("random pool"))?,
        );
        pool.used += 28;
        Ok(out)
    })
}

/// Reads the header of a blob; anything that is not a version-1 blob is an invalid ciphertext.
pub fn parse_header(blob: &[u8]) -> Result<BlobHeader, KmsError> {
    if blob.len() < OVERHEAD || blob.first() != Some(&VERSION_1) {
        return Err(KmsError::invalid_ciphertext());
    }
    let mut account = [0u8; 12];
    account.copy_from_slice(blob.get(1..13).ok_or_else(KmsError::invalid_ciphertext)?);
    if !account.iter().all(u8::is_ascii_digit) {
        return Err(KmsError::invalid_ciphertext());
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(blob.get(13..29).ok_or_else(KmsError::invalid_ciphertext)?);
    let mut version = [0u8; 4];
    version.copy_from_slice(blob.get(29..33).ok_or_else(KmsError::invalid_ciphertext)?);
    Ok(BlobHeader {
        account,
        key_id: uuid_text(&id),
        material: u32::from_be_bytes(version),
    })
}

/// Encrypts `plaintext` under material version `material` of key `key_id` of `account`
/// (whose message keys are `keys`), with `context` bound as additional authenticated data.
pub fn seal(
    (account, key_id, material): (&str, &str, u32),
    keys: &MessageKeys,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, KmsError> {
    let key_bytes = uuid_bytes(key_id).ok_or(KmsError::Crypto("key id is not a UUID"))?;
    if account.len() != 12 {
        return Err(KmsError::Crypto("account is not 12 digits"));
    }
    let random = salt_and_nonce()?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(VERSION_1);
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(&key_bytes);
    out.extend_from_slice(&material.to_be_bytes());
    out.extend_from_slice(&random);
    let (salt, nonce) = random.split_at(16);
    let key = keys.for_salt(salt)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KmsError::Crypto("nonce"))?;
    let aad = aad(&out, context);
    out.extend_from_slice(plaintext);
    let body = out
        .get_mut(HEADER_LEN..)
        .ok_or(KmsError::Crypto("blob header"))?;
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(&aad), body)
        .map_err(|_| KmsError::Crypto("AES-256-GCM seal"))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Decrypts a blob with the message keys of the material its header names. A wrong context, a
/// changed byte or the wrong material is InvalidCiphertextException (AWS gives no more detail).
pub fn open(
    blob: &[u8],
    keys: &MessageKeys,
    context: &BTreeMap<String, String>,
) -> Result<Secret<PlainBytes>, KmsError> {
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
    let key = keys.for_salt(salt)?;
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| KmsError::invalid_ciphertext())?;
    let aad = aad(header, context);
    let mut in_out = PlainBytes(body.to_vec());
    let len = match key.open_in_place(nonce, Aad::from(&aad), &mut in_out.0) {
        Ok(plain) => plain.len(),
        Err(_) => {
            in_out.zeroize();
            return Err(KmsError::invalid_ciphertext());
        }
    };
    in_out.0.truncate(len);
    Ok(Secret::new(in_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";
    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn keys(byte: u8) -> MessageKeys {
        MessageKeys::new(&[byte; 32])
    }

    #[test]
    fn round_trip_and_header() {
        let ctx = BTreeMap::from([("purpose".to_owned(), "test".to_owned())]);
        let blob = seal((ACCOUNT, KEY, 3), &keys(9), b"hello", &ctx).unwrap();
        assert_eq!(blob.len(), 5 + OVERHEAD);
        let header = parse_header(&blob).unwrap();
        assert_eq!(
            (header.account(), header.key_id(), header.material),
            (ACCOUNT, KEY, 3)
        );
        assert_eq!(
            open(&blob, &keys(9), &ctx).unwrap().expose().as_slice(),
            b"hello"
        );
    }

    #[test]
    fn every_tampered_byte_and_wrong_context_is_refused() {
        let ctx = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        let blob = seal((ACCOUNT, KEY, 3), &keys(9), b"hello world", &ctx).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad, &keys(9), &ctx).is_err(), "byte {i}");
        }
        assert!(open(&blob, &keys(9), &BTreeMap::new()).is_err());
        let other = BTreeMap::from([("a".to_owned(), "c".to_owned())]);
        assert!(open(&blob, &keys(9), &other).is_err());
        assert!(open(&blob, &keys(8), &ctx).is_err());
        assert!(open(&blob[..blob.len() - 1], &keys(9), &ctx).is_err());
    }

    #[test]
    fn salts_and_nonces_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(salt_and_nonce().unwrap()));
        }
    }

    #[test]
    fn context_encoding_is_unambiguous() {
        let a = BTreeMap::from([("ab".to_owned(), "c".to_owned())]);
        let b = BTreeMap::from([("a".to_owned(), "bc".to_owned())]);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        context_aad(&a, &mut x);
        context_aad(&b, &mut y);
        assert_ne!(x, y);
    }

    #[test]
    fn uuid_parsing() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(uuid_text(&uuid_bytes(id).unwrap()), id.as_bytes());
        assert!(uuid_bytes("not-a-uuid").is_none());
        assert!(uuid_bytes("1234abcd-12ab-34cd-56ef-1234567890zz").is_none());
        assert!(uuid_bytes("1234abcd-12ab-34cd-56ef+1234567890ab").is_none());
        assert!(uuid_bytes("1234abcd012ab-34cd-56ef-1234567890ab").is_none());
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
