//! The ciphertext blob of symmetric KMS keys: what Encrypt, GenerateDataKey and ReEncrypt
//! return and Decrypt reads back without being told the key.
//!
//! Format, version 2, the one written (all integers big-endian):
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0  | 1  | format version, `0x02` |
//! | 1  | 12 | the key's account, ASCII digits |
//! | 13 | 16 | the key id (a UUID) as 16 bytes |
//! | 29 | 4  | the key material version (1 for the first material, +1 per rotation) |
//! | 33 | 24 | random nonce *N* (192 bits) |
//! | 57 | n  | AES-256-GCM ciphertext of the plaintext |
//! | 57+n | 16 | GCM tag |
//!
//! The body is XAES-256-GCM ([C2SP](https://c2sp.org/XAES-256-GCM)) under the key
//! `HMAC-SHA256(material, "portcullis-kms-v2 XAES-256-GCM key")`, with nonce *N*: each message
//! gets its own AES-256-GCM key *Kx*, derived from that key and the first 96 bits of *N* with
//! the AES block cipher (NIST SP 800-108r1 counter-mode KDF over CMAC-AES-256, two AES
//! blocks), and the last 96 bits of *N* as GCM nonce. So the GCM nonce-reuse bound of one key
//! never comes near, however many messages one key version encrypts (XAES-256-GCM: 2^80
//! messages with a collision risk of 2^-32), as with version 1; the derivation costs two AES
//! blocks instead of an HMAC-SHA256.
//!
//! Format, version 1, still read (blobs written before version 2):
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0  | 1  | format version, `0x01` |
//! | 1  | 32 | account, key id and material version, as in version 2 |
//! | 33 | 16 | random salt |
//! | 49 | 12 | random nonce |
//! | 61 | n  | AES-256-GCM ciphertext of the plaintext |
//! | 61+n | 16 | GCM tag |
//!
//! Each message's AES-256 key is `HMAC-SHA256(material, "portcullis-kms-v1" || salt)`, and the
//! nonce the GCM nonce.
//!
//! A node built before version 2 answers InvalidCiphertextException for a version-2 blob: nodes
//! sharing one store should all run a version-2 build before any of them encrypts (there is no
//! switch to keep writing version 1).
//!
//! In both versions the additional authenticated data is the whole header followed by the
//! canonical encryption context ([`context_aad`]), so changing any byte of the blob, or
//! decrypting with another context, fails authentication: the blob cannot be re-pointed at
//! another key, account or version, and the encryption context must match exactly, as AWS
//! requires.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_256, EncryptingKey, UnboundCipherKey};
use aws_lc_rs::hmac;
use portcullis_core::Secret;
use zeroize::Zeroize;

use crate::KmsError;

/// First byte of a version-1 blob (read, no longer written).
pub const VERSION_1: u8 = 1;
/// First byte of a version-2 blob, the version written.
pub const VERSION_2: u8 = 2;
/// Length of the header of a version-2 blob (everything before the ciphertext).
pub const HEADER_LEN: usize = 57;
/// Length of the header of a version-1 blob.
pub const HEADER_LEN_V1: usize = 61;
/// Bytes a version-2 blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + 16;
/// Length of the random nonce of a version-2 blob.
const NONCE_LEN: usize = 24;

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
    let dashes = [8, 13, 18, 23].map(|i| text.get(i) == Some(&b'-'));
    if dashes.contains(&false) {
        return None;
    }
    // The 32 digits side by side, then decoded all alike and checked once at the end: no
    // branch per character, so the compiler vectorizes it (this runs on every call that names
    // a key and every blob written).
    let mut digits = [0u8; 32];
    for (from, to, len) in [(0, 0, 8), (9, 8, 4), (14, 12, 4), (19, 16, 4), (24, 20, 12)] {
        if let (Some(dst), Some(src)) = (digits.get_mut(to..to + len), text.get(from..from + len)) {
            dst.copy_from_slice(src);
        }
    }
    let values = digits.map(hex_value);
    let bad = values.iter().fold(0, |bad, v| bad | v);
    let mut out = [0u8; 16];
    for (slot, pair) in out.iter_mut().zip(values.chunks_exact(2)) {
        if let [hi, lo] = pair {
            *slot = (hi << 4) | (lo & 0x0f);
        }
    }
    (bad & 0x80 == 0).then_some(out)
}

/// The value of a hex digit, or 0x80 for any other byte (written to compile to selects, not
/// branches).
fn hex_value(b: u8) -> u8 {
    let digit = b.wrapping_sub(b'0');
    let letter = (b | 0x20).wrapping_sub(b'a');
    if digit < 10 {
        digit
    } else if letter < 6 {
        letter + 10
    } else {
        0x80
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
    encode_context(context, |part| out.extend_from_slice(part));
}

/// [`context_aad`]'s encoding, handed to `push` piece by piece.
fn encode_context(context: &BTreeMap<String, String>, mut push: impl FnMut(&[u8])) {
    push(&(context.len() as u32).to_be_bytes());
    for (k, v) in context {
        for part in [k, v] {
            push(&(part.len() as u32).to_be_bytes());
            push(part.as_bytes());
        }
    }
}

/// Additional authenticated data up to this many bytes is built on the stack: a header and a
/// few short context pairs, the common case, cost no allocation.
const STACK_AAD: usize = 256;

/// Calls `f` with the additional authenticated data: the header, then the encoded context.
fn with_aad<R>(header: &[u8], context: &BTreeMap<String, String>, f: impl FnOnce(&[u8]) -> R) -> R {
    let len = header.len()
        + 4
        + context
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>();
    if len > STACK_AAD {
        let mut aad = Vec::with_capacity(len);
        aad.extend_from_slice(header);
        context_aad(context, &mut aad);
        return f(&aad);
    }
    let mut buf = [0u8; STACK_AAD];
    let mut at = 0;
    let mut push = |part: &[u8]| {
        // INVARIANT: `len` counted every part, so each fits; a miss would only leave `at`
        // short and the AAD (and so authentication) wrong, never read out of bounds.
        if let Some(slot) = buf.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part);
            at += part.len();
        }
    };
    push(header);
    encode_context(context, &mut push);
    f(buf.get(..at).unwrap_or_default())
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

/// What derives the per-message keys of one key material version, set up once: HMAC-SHA256
/// keyed with the material (version 1; aws-lc clears it when dropped) and the XAES-256-GCM
/// key derivation (version 2).
pub struct MessageKeys {
    v1: hmac::Key,
    // INVARIANT: `Some` unless aws-lc refused a 32-byte AES-256 key; sealing and opening a
    // version-2 blob answer an error then.
    v2: Option<Xaes>,
}

impl MessageKeys {
    /// Sets up the derivations for `material`.
    pub fn new(material: &[u8]) -> Self {
        let v1 = hmac::Key::new(hmac::HMAC_SHA256, material);
        let mut key = [0u8; 32];
        key.copy_from_slice(hmac::sign(&v1, b"portcullis-kms-v2 XAES-256-GCM key").as_ref());
        let v2 = Xaes::new(&key).ok();
        key.zeroize();
        Self { v1, v2 }
    }

    /// The AES-256-GCM key of a version-1 blob with `salt`.
    fn v1_key(&self, salt: &[u8]) -> Result<LessSafeKey, KmsError> {
        let mut ctx = hmac::Context::with_key(&self.v1);
        ctx.update(b"portcullis-kms-v1");
        ctx.update(salt);
        let tag = ctx.sign();
        let key = UnboundKey::new(&AES_256_GCM, tag.as_ref())
            .map_err(|_| KmsError::Crypto("AES-256-GCM key setup"))?;
        Ok(LessSafeKey::new(key))
    }

    /// The AES-256-GCM key and nonce of a version-2 blob with nonce `nonce`.
    fn v2_key(&self, nonce: &[u8; NONCE_LEN]) -> Result<(LessSafeKey, Nonce), KmsError> {
        // let-else rather than `ok_or(error)`: the hot path then builds (and drops) no error.
        let Some(xaes) = self.v2.as_ref() else {
            return Err(KmsError::Crypto("XAES-256-GCM key setup"));
        };
        let mut kx = [0u8; 32];
        let key = xaes.derive(nonce, &mut kx).and_then(|()| {
            UnboundKey::new(&AES_256_GCM, &kx)
                .map_err(|_| KmsError::Crypto("AES-256-GCM key setup"))
        });
        kx.zeroize();
        let Some((_, nx)) = nonce.split_last_chunk::<12>() else {
            return Err(KmsError::Crypto("nonce"));
        };
        Ok((LessSafeKey::new(key?), Nonce::assume_unique_for_key(*nx)))
    }
}

/// The key derivation of XAES-256-GCM (C2SP, "Detailed key derivation algorithm") for one
/// input key *K*: the AES-256 block cipher under *K* and the CMAC subkey *K1*, both computed
/// once per key.
struct Xaes {
    aes: EncryptingKey,
    k1: u128,
}

impl Xaes {
    fn new(key: &[u8; 32]) -> Result<Self, KmsError> {
        let setup = |_| KmsError::Crypto("XAES-256-GCM key setup");
        let aes = EncryptingKey::ecb(UnboundCipherKey::new(&AES_256, key).map_err(setup)?)
            .map_err(setup)?;
        // L = AES-256_K(0^128); K1 = L << 1, xor 0x87 into the last byte if L's top bit was
        // set (NIST SP 800-38B, 6.1), computed without branching on that secret bit.
        let mut l = [0u8; 16];
        aes.encrypt(&mut l).map_err(setup)?;
        let doubled = u128::from_be_bytes(l);
        let k1 = (doubled << 1) ^ ((doubled >> 127) * 0x87);
        l.zeroize();
        Ok(Self { aes, k1 })
    }

    /// Kx = AES-256_K(M1 xor K1) || AES-256_K(M2 xor K1), where Mi = 0x00 || i || "X" || 0x00
    /// || N[:12]: written to `kx`.
    fn derive(&self, nonce: &[u8; NONCE_LEN], kx: &mut [u8; 32]) -> Result<(), KmsError> {
        // N[:12] as the low 96 bits of a block; Mi puts 0x00 || i || "X" || 0x00 above them.
        let mut head = [0u8; 16];
        if let (Some(low), Some(n)) = (head.last_chunk_mut::<12>(), nonce.first_chunk::<12>()) {
            *low = *n;
        }
        let head = u128::from_be_bytes(head);
        let m1 = (0x0001_5800_u128 << 96) | head;
        let m2 = (0x0002_5800_u128 << 96) | head;
        for (block, m) in kx.chunks_exact_mut(16).zip([m1, m2]) {
            block.copy_from_slice(&(m ^ self.k1).to_be_bytes());
        }
        self.aes
            .encrypt(kx)
            .map(|_| ())
            .map_err(|_| KmsError::Crypto("XAES-256-GCM key derivation"))
    }
}

impl Drop for Xaes {
    fn drop(&mut self) {
        self.k1.zeroize();
    }
}

/// Random bytes for one blob's nonce (in version 1, its salt and nonce). They are public
/// (written in the blob) and need only be unpredictable and unique, so they come from the
/// per-thread pool of public random bytes ([`portcullis_core::id::public_random_bytes`]):
/// a random-source call per message would be most of Encrypt's overhead. Secrets (data keys,
/// key material) never come from the pool.
fn salt_and_nonce() -> Result<[u8; NONCE_LEN], KmsError> {
    Ok(portcullis_core::id::public_random_bytes::<NONCE_LEN>())
}

/// Reads the header of a blob; anything that is not a version-1 or version-2 blob is an
/// invalid ciphertext.
pub fn parse_header(blob: &[u8]) -> Result<BlobHeader, KmsError> {
    let header_len = match blob.first() {
        Some(&VERSION_2) => HEADER_LEN,
        Some(&VERSION_1) => HEADER_LEN_V1,
        _ => return Err(KmsError::invalid_ciphertext()),
    };
    if blob.len() < header_len + 16 {
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
    let Some(key_bytes) = uuid_bytes(key_id) else {
        return Err(KmsError::Crypto("key id is not a UUID"));
    };
    if account.len() != 12 {
        return Err(KmsError::Crypto("account is not 12 digits"));
    }
    let random = salt_and_nonce()?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(VERSION_2);
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(&key_bytes);
    out.extend_from_slice(&material.to_be_bytes());
    out.extend_from_slice(&random);
    let (key, nonce) = keys.v2_key(&random)?;
    out.extend_from_slice(plaintext);
    let Some((header, body)) = out.split_at_mut_checked(HEADER_LEN) else {
        return Err(KmsError::Crypto("blob header"));
    };
    let tag = with_aad(header, context, |aad| {
        key.seal_in_place_separate_tag(nonce, Aad::from(aad), body)
    })
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
    let (header_len, (key, nonce)) = match blob.first() {
        Some(&VERSION_2) => {
            let random = blob
                .get(33..HEADER_LEN)
                .and_then(|n| n.try_into().ok())
                .ok_or_else(KmsError::invalid_ciphertext)?;
            (HEADER_LEN, keys.v2_key(random)?)
        }
        Some(&VERSION_1) => {
            let salt = blob.get(33..49).ok_or_else(KmsError::invalid_ciphertext)?;
            let nonce = blob
                .get(49..HEADER_LEN_V1)
                .and_then(|n| Nonce::try_assume_unique_for_key(n).ok())
                .ok_or_else(KmsError::invalid_ciphertext)?;
            (HEADER_LEN_V1, (keys.v1_key(salt)?, nonce))
        }
        _ => return Err(KmsError::invalid_ciphertext()),
    };
    let (header, body) = blob
        .split_at_checked(header_len)
        .ok_or_else(KmsError::invalid_ciphertext)?;
    let mut in_out = PlainBytes(body.to_vec());
    let opened = with_aad(header, context, |aad| {
        key.open_in_place(nonce, Aad::from(aad), &mut in_out.0)
            .map(|plain| plain.len())
    });
    let len = match opened {
        Ok(len) => len,
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

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Written by the version-1 `seal` (as of commit 9f256b1) with `keys(9)`, and checked
    /// against an independent implementation of the version-1 format: blobs from before
    /// version 2 must still decrypt.
    const V1_BLOB: &str = "013131313132323232333333331234abcd12ab34cd56ef1234567890ab0000000303a2b280f41b465f95cd5999fd3d983ea3ef71b8392a1cd955922dda816685d6632e7171aee6df50793d59f2a90ef263e6c241bb720356a849067667c4376b946cf75d446edc84";

    #[test]
    fn a_version_1_blob_still_opens() {
        let blob = unhex(V1_BLOB);
        assert_eq!(blob[0], VERSION_1);
        let header = parse_header(&blob).unwrap();
        assert_eq!(
            (header.account(), header.key_id(), header.material),
            (ACCOUNT, KEY, 3)
        );
        let ctx = BTreeMap::from([("purpose".to_owned(), "v1 fixture".to_owned())]);
        assert_eq!(
            open(&blob, &keys(9), &ctx).unwrap().expose().as_slice(),
            b"written as a version-1 blob"
        );
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad, &keys(9), &ctx).is_err(), "byte {i}");
        }
        assert!(open(&blob, &keys(8), &ctx).is_err());
        assert!(open(&blob, &keys(9), &BTreeMap::new()).is_err());
    }

    #[test]
    fn blobs_are_written_as_version_2() {
        let blob = seal((ACCOUNT, KEY, 3), &keys(9), b"hello", &BTreeMap::new()).unwrap();
        assert_eq!(blob[0], VERSION_2);
        assert_eq!(blob.len(), HEADER_LEN + 5 + 16);
        // The same material and nonce never give a version-1 and a version-2 blob one key:
        // the bytes relabelled as version 1 do not open.
        let mut relabelled = blob.clone();
        relabelled[0] = VERSION_1;
        assert!(open(&relabelled, &keys(9), &BTreeMap::new()).is_err());
    }

    /// The test vectors of the XAES-256-GCM specification (c2sp.org/XAES-256-GCM).
    #[test]
    fn xaes_256_gcm_specification_vectors() {
        let nonce: &[u8; 24] = b"ABCDEFGHIJKLMNOPQRSTUVWX";
        for (key, kx, aad, ciphertext) in [
            (
                [0x01; 32],
                "c8612c9ed53fe43e8e005b828a1631a0bbcb6ab2f46514ec4f439fcfd0fa969b",
                &b""[..],
                "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271",
            ),
            (
                [0x03; 32],
                "e9c621d4cdd9b11b00a6427ad7e559aeedd66b3857646677748f8ca796cb3fd8",
                &b"c2sp.org/XAES-256-GCM"[..],
                "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d",
            ),
        ] {
            let xaes = Xaes::new(&key).unwrap();
            let mut derived = [0u8; 32];
            xaes.derive(nonce, &mut derived).unwrap();
            assert_eq!(derived.to_vec(), unhex(kx));
            let keys = MessageKeys {
                v1: hmac::Key::new(hmac::HMAC_SHA256, &key),
                v2: Some(xaes),
            };
            let (gcm, nx) = keys.v2_key(nonce).unwrap();
            let mut in_out = b"XAES-256-GCM".to_vec();
            gcm.seal_in_place_append_tag(nx, Aad::from(aad), &mut in_out)
                .unwrap();
            assert_eq!(in_out, unhex(ciphertext));
        }
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
    fn uuid_digits_are_exactly_the_hex_digits() {
        let id = |c: char| format!("1234abcd-12ab-34cd-56ef-1234567890a{c}");
        for c in "0123456789abcdefABCDEF".chars() {
            assert!(uuid_bytes(&id(c)).is_some(), "{c}");
        }
        for c in "gG@`/:[{ \0é".chars().filter(|c| c.len_utf8() == 1) {
            assert!(uuid_bytes(&id(c)).is_none(), "{c:?}");
        }
        assert_eq!(
            uuid_bytes("1234ABCD-12AB-34CD-56EF-1234567890AB"),
            uuid_bytes("1234abcd-12ab-34cd-56ef-1234567890ab")
        );
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
