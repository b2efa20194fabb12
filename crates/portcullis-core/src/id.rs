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

/// A 40-character secret access key.
pub fn secret_access_key() -> String {
    random_from(SECRET_ALPHABET, 40)
}

/// A request id in the 8-4-4-4-12 hexadecimal form AWS uses (a random UUID, version 4).
pub fn request_id() -> String {
    let mut b = random_bytes::<16>();
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
