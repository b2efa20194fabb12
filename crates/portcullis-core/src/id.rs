//! AWS-style identifiers, generated from the operating system's CSPRNG.
//!
//! IAM unique ids and access key ids are a four-letter prefix naming the kind of entity
//! (`AIDA` user, `AROA` role, `AKIA` long-term key, `ASIA` temporary key, ...) followed by
//! upper-case base-32 characters, as AWS issues them.

/// Four-letter prefixes AWS uses for the unique ids of IAM entities and keys.
pub mod prefix {
    /// IAM user.
    pub const USER: &str = "AIDA";
    /// IAM group.
    pub const GROUP: &str = "AGPA";
    /// IAM role.
    pub const ROLE: &str = "AROA";
    /// Customer managed policy.
    pub const POLICY: &str = "ANPA";
    /// Instance profile.
    pub const INSTANCE_PROFILE: &str = "AIPA";
    /// Long-term access key.
    pub const ACCESS_KEY: &str = "AKIA";
    /// Temporary (STS) access key.
    pub const TEMPORARY_ACCESS_KEY: &str = "ASIA";
}

use std::time::{SystemTime, UNIX_EPOCH};

use crate::AsciiText;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `N` bytes from the operating system's CSPRNG.
///
/// The CSPRNG failing is not a condition any caller can recover from, and continuing with
/// predictable identifiers or keys would be a security defect, so this aborts the process.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        std::process::abort();
    }
    bytes
}

/// `N` random bytes for values that are public once made (request and event ids, KMS blob
/// nonces), which need
/// only be unique and unpredictable: taken from a per-thread pool filled from the operating
/// system's CSPRNG 4 KiB at a time, so that an id does not cost a system call. Secrets (keys,
/// passwords) never come from the pool: they use [`random_bytes`]. The pool is not fork-safe:
/// a process that forks must not make ids from the same pool in both (Portcullis never forks).
pub fn public_random_bytes<const N: usize>() -> [u8; N] {
    const POOL: usize = 4096;
    struct Pool {
        bytes: [u8; POOL],
        used: usize,
    }
    thread_local! {
        static PUBLIC: std::cell::RefCell<Pool> =
            const { std::cell::RefCell::new(Pool { bytes: [0; POOL], used: POOL }) };
    }
    let mut out = [0u8; N];
    let taken = PUBLIC.with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return false;
        };
        if N > POOL {
            return false;
        }
        if pool.used + N > POOL {
            if getrandom::fill(&mut pool.bytes).is_err() {
                return false;
            }
            pool.used = 0;
        }
        let start = pool.used;
        let Some(chunk) = pool.bytes.get(start..start + N) else {
            return false;
        };
        out.copy_from_slice(chunk);
        pool.used += N;
        true
    });
    if taken { out } else { random_bytes::<N>() }
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    // Rejection-free because both alphabets have a power-of-two size (32 and 64).
    let mask = alphabet.len() - 1;
    let mut out = String::with_capacity(len);
    let mut pool = random_bytes::<64>();
    for i in 0..len {
        if i % 64 == 0 && i > 0 {
            pool = random_bytes::<64>();
        }
        let byte = pool.get(i % 64).copied().unwrap_or(0);
        let c = alphabet
            .get(usize::from(byte) & mask)
            .copied()
            .unwrap_or(b'A');
        out.push(char::from(c));
    }
    out
}

/// An IAM unique id: `prefix` followed by 17 base-32 characters (21 in all, as AWS's).
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(BASE32, 17))
}

/// An access key id: `AKIA` or `ASIA` followed by 16 base-32 characters (20 in all).
pub fn access_key_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(BASE32, 16))
}

/// An access key id whose first 40 bits (after the prefix) carry `number` (below 2^40, such as
/// a 12-digit account id) and whose last 40 bits are random: `prefix` and 16 base-32
/// characters, 8 for each half.
pub fn access_key_id_with_number(prefix: &str, number: u64) -> String {
    // A key id is public (it names the key in every request), so its random half may come
    // from the pool of public random bytes; the key's secret never does.
    let random = public_random_bytes::<5>()
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let halves = [number & 0xff_ffff_ffff, random];
    let mut out = String::with_capacity(prefix.len() + 16);
    out.push_str(prefix);
    for half in halves {
        for shift in (0..8).rev() {
            let digit = usize::try_from((half >> (shift * 5)) & 0x1f).unwrap_or(0);
            out.push(char::from(BASE32.get(digit).copied().unwrap_or(b'A')));
        }
    }
    out
}

/// The number [`access_key_id_with_number`] put in `key_id`, if it has that form.
pub fn number_of_key_id(key_id: &str) -> Option<u64> {
    if key_id.len() != 20 {
        return None;
    }
    key_id.get(4..12)?.bytes().try_fold(0u64, |acc, c| {
        let digit = BASE32.iter().position(|&b| b == c)?;
        Some((acc << 5) | u64::try_from(digit).ok()?)
    })
}

/// A 40-character secret access key.
pub fn secret_access_key() -> String {
    random_from(SECRET_ALPHABET, 40)
}

/// A request id in the 8-4-4-4-12 hexadecimal form AWS uses (a random UUID, version 4).
pub fn request_id() -> String {
    uuid_text(with_version(public_random_bytes::<16>(), 4)).to_string()
}

/// An event id in the same form, ordered by time: its first 48 bits are the milliseconds since
/// the Unix epoch at `time` and the rest is random (a UUID of version 7, RFC 9562). Ids made
/// later sort after ids made earlier, so an index over them grows at its end instead of
/// touching a random page for every insert.
pub fn time_ordered_id(time: SystemTime) -> AsciiText<36> {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut bytes = public_random_bytes::<16>();
    for (byte, stamp) in bytes.iter_mut().zip(millis.to_be_bytes().iter().skip(2)) {
        *byte = *stamp;
    }
    uuid_text(with_version(bytes, 7))
}

/// The milliseconds since the Unix epoch that [`time_ordered_id`] put in `id`; `None` if `id`
/// is not a version-7 UUID in its text form.
pub fn millis_of_time_ordered_id(id: &str) -> Option<u64> {
    let text = id.as_bytes();
    if text.len() != 36 || text.get(14) != Some(&b'7') || text.get(8) != Some(&b'-') {
        return None;
    }
    // The first 48 bits: 8 hex digits, the dash, 4 more.
    text.get(..8)?
        .iter()
        .chain(text.get(9..13)?)
        .try_fold(0u64, |acc, &c| {
            let digit = char::from(c).to_digit(16)?;
            Some(acc << 4 | u64::from(digit))
        })
}

/// Sets the version nibble and the RFC 9562 variant bits.
fn with_version(mut bytes: [u8; 16], version: u8) -> [u8; 16] {
    if let Some(x) = bytes.get_mut(6) {
        *x = (*x & 0x0f) | (version << 4);
    }
    if let Some(x) = bytes.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    bytes
}

/// The 8-4-4-4-12 hexadecimal form of a UUID.
fn uuid_text(bytes: [u8; 16]) -> AsciiText<36> {
    let mut out = [b'-'; 36];
    // Where each byte's two digits go: the dashes stand at 8, 13, 18 and 23.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    for (&at, &byte) in AT.iter().zip(&bytes) {
        if let Some([high, low]) = out.get_mut(at..at + 2) {
            *high = hex_digit(byte >> 4);
            *low = hex_digit(byte & 0x0f);
        }
    }
    AsciiText::written(out)
}

/// `bytes` in lower-case hexadecimal (digests and signatures, as SigV4 and the audit chain
/// write them).
pub fn lower_hex(bytes: &[u8]) -> String {
    let digits: Vec<u8> = bytes
        .iter()
        .flat_map(|&b| [hex_digit(b >> 4), hex_digit(b & 0x0f)])
        .collect();
    String::from_utf8(digits).unwrap_or_default()
}

/// A SHA-256 digest or HMAC-SHA256 tag in lower-case hexadecimal, on the stack (the request
/// path writes several a request).
pub fn digest_hex(digest: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &byte) in out.chunks_exact_mut(2).zip(digest) {
        if let [high, low] = pair {
            *high = hex_digit(byte >> 4);
            *low = hex_digit(byte & 0x0f);
        }
    }
    out
}

/// '0'..'9', then 'a'..'f' (39 = 'a' - '0' - 10), without a table or a branch.
pub(crate) fn hex_digit(nibble: u8) -> u8 {
    b'0' + nibble + u8::from(nibble > 9) * 39
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_have_aws_shapes() {
        let user = unique_id(prefix::USER);
        assert_eq!(user.len(), 21);
        assert!(user.starts_with("AIDA"));
        assert!(user.bytes().all(|b| BASE32.contains(&b)));

        let key = access_key_id(prefix::ACCESS_KEY);
        assert_eq!(key.len(), 20);
        assert!(key.starts_with("AKIA"));

        let secret = secret_access_key();
        assert_eq!(secret.len(), 40);
        assert_ne!(secret, secret_access_key());
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'));
        assert!(matches!(
            groups[3].chars().next(),
            Some('8' | '9' | 'a' | 'b')
        ));
        assert_ne!(id, request_id());
    }

    #[test]
    fn time_ordered_ids_give_back_their_millisecond() {
        let at = UNIX_EPOCH + Duration::from_micros(1_795_915_640_724_936);
        assert_eq!(
            millis_of_time_ordered_id(&time_ordered_id(at)),
            Some(1_795_915_640_724)
        );
        assert_eq!(
            millis_of_time_ordered_id(&time_ordered_id(UNIX_EPOCH)),
            Some(0)
        );
        assert_eq!(millis_of_time_ordered_id(&request_id()), None, "version 4");
        assert_eq!(millis_of_time_ordered_id("e-1"), None);
        assert_eq!(
            millis_of_time_ordered_id("zzzzzzzz-ef94-7875-b44b-e006936568df"),
            None
        );
    }

    #[test]
    fn lower_hex_matches_the_plain_definition() {
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lower_hex(&all), expected);
        assert_eq!(lower_hex(&[]), "");
        let digest: [u8; 32] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        assert_eq!(
            digest_hex(&digest).as_slice(),
            lower_hex(&digest).as_bytes()
        );
    }

    #[test]
    fn uuid_text_is_8_4_4_4_12_lower_hex() {
        let bytes = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(uuid_text(bytes), "00112233-4455-6677-8899-aabbccddeeff");
    }

    #[test]
    fn public_ids_stay_distinct_across_pool_refills_and_threads() {
        // 16 bytes an id: 2,000 ids on each of four threads drain each thread's 4 KiB pool
        // about eight times.
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| request_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(all.insert(id), "an id came twice");
            }
        }
        assert_eq!(all.len(), 8_000);
        // Not a constant pool: two draws differ, and the pool is not all zeros.
        assert_ne!(public_random_bytes::<32>(), public_random_bytes::<32>());
        assert_ne!(public_random_bytes::<32>(), [0u8; 32]);
    }

    #[test]
    fn key_ids_carry_a_number() {
        for number in [0, 1, 123_456_789_012, 999_999_999_999, (1 << 40) - 1] {
            let a = access_key_id_with_number(prefix::TEMPORARY_ACCESS_KEY, number);
            let b = access_key_id_with_number(prefix::TEMPORARY_ACCESS_KEY, number);
            assert_eq!((a.len(), &a[..4]), (20, "ASIA"));
            assert!(a.bytes().skip(4).all(|c| BASE32.contains(&c)));
            assert_eq!(number_of_key_id(&a), Some(number));
            assert_ne!(a, b, "the low half is random");
        }
        assert_eq!(number_of_key_id("ASIA1234"), None);
        assert_eq!(number_of_key_id("ASIA11111111AAAAAAAA"), None);
    }

    #[test]
    fn time_ordered_ids_sort_by_time() {
        let earlier = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_000);
        let later = earlier + Duration::from_millis(1);
        let (a, b) = (time_ordered_id(earlier), time_ordered_id(later));
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), 36);
        assert_eq!(
            a.split('-').nth(2).and_then(|g| g.chars().next()),
            Some('7')
        );
        // 1,764,000,000,000 ms is 0x019a_b697_e800.
        assert!(a.starts_with("019ab697-e800-7"), "{a}");
        assert_ne!(a, time_ordered_id(earlier));
    }
}
