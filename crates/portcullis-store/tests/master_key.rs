//! The master key: sealing secrets at rest and the key file.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;
use portcullis_store::{MasterKey, StoreError, place_aad};

fn key(byte: u8) -> MasterKey {
    MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

#[test]
fn seal_open_round_trip() {
    let k = key(1);
    let aad = place_aad("iam.access-key", "123456789012", "AKIAEXAMPLE");
    let secret = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let sealed = k.seal(secret, &aad).unwrap();
    assert_eq!(sealed.len(), 1 + 12 + secret.len() + 16);
    assert!(
        !sealed.windows(8).any(|w| secret.windows(8).any(|s| s == w)),
        "plaintext visible"
    );
    assert_eq!(k.open(&sealed, &aad).unwrap().expose().as_slice(), secret);
    // A fresh nonce every time.
    assert_ne!(k.seal(secret, &aad).unwrap(), sealed);
    // Empty plaintext works too.
    let empty = k.seal(b"", &aad).unwrap();
    assert!(k.open(&empty, &aad).unwrap().expose().is_empty());
}

#[test]
fn wrong_place_wrong_key_and_tampering_are_refused() {
    let k = key(1);
    let aad = place_aad("iam.access-key", "123456789012", "AKIAONE");
    let sealed = k.seal(b"secret", &aad).unwrap();
    let other_place = place_aad("iam.access-key", "123456789012", "AKIATWO");
    assert!(matches!(
        k.open(&sealed, &other_place),
        Err(StoreError::Unseal)
    ));
    assert!(matches!(
        key(2).open(&sealed, &aad),
        Err(StoreError::Unseal)
    ));
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        assert!(
            matches!(k.open(&bad, &aad), Err(StoreError::Unseal)),
            "byte {i}"
        );
    }
    for len in 0..sealed.len() {
        assert!(
            matches!(k.open(&sealed[..len], &aad), Err(StoreError::Unseal)),
            "length {len}"
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(k.open(&longer, &aad), Err(StoreError::Unseal)));
}

#[test]
fn key_file_is_created_0600_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let k1 = MasterKey::load_or_create(&path).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let k2 = MasterKey::load_or_create(&path).unwrap();
    let sealed = k1.seal(b"x", b"aad").unwrap();
    assert_eq!(k2.open(&sealed, b"aad").unwrap().expose().as_slice(), b"x");
    assert_eq!(
        k1.derive("audit-chain").expose(),
        k2.derive("audit-chain").expose()
    );
    // Two fresh files hold different keys.
    let k3 = MasterKey::load_or_create(&dir.path().join("other.key")).unwrap();
    assert!(matches!(k3.open(&sealed, b"aad"), Err(StoreError::Unseal)));
}

#[test]
fn key_file_readable_by_others_or_of_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    MasterKey::load_or_create(&path).unwrap();
    for mode in [0o640, 0o604, 0o620, 0o644] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match MasterKey::load_or_create(&path) {
            Err(StoreError::KeyFile { reason, .. }) => {
                assert!(reason.contains("chmod 600"), "{reason}")
            }
            other => panic!("mode {mode:o}: {other:?}"),
        }
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&path, [0u8; 31]).unwrap();
    assert!(matches!(
        MasterKey::load_or_create(&path),
        Err(StoreError::KeyFile { .. })
    ));
    // A key file in a directory that does not exist is an error, not a panic.
    assert!(MasterKey::load_or_create(&dir.path().join("missing/master.key")).is_err());
}

#[test]
fn base64_keys() {
    let text = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let k = MasterKey::from_base64(&format!("  {text}\n")).unwrap();
    assert_eq!(k.to_base64().expose(), &text);
    let unpadded = text.trim_end_matches('=');
    assert!(MasterKey::from_base64(unpadded).is_ok());
    assert!(matches!(
        MasterKey::from_base64("not base64!"),
        Err(StoreError::InvalidKey(_))
    ));
    let short = base64::engine::general_purpose::STANDARD.encode([9u8; 16]);
    assert!(matches!(
        MasterKey::from_base64(&short),
        Err(StoreError::InvalidKey(_))
    ));
    assert!(matches!(
        MasterKey::from_base64(""),
        Err(StoreError::InvalidKey(_))
    ));
}

proptest::proptest! {
    #[test]
    fn seal_open_any_plaintext(plain in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
                               aad in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let k = key(3);
        let sealed = k.seal(&plain, &aad).unwrap();
        let opened = k.open(&sealed, &aad).unwrap();
        proptest::prop_assert_eq!(opened.expose(), &plain);
        let mut other = aad.clone();
        other.push(0);
        proptest::prop_assert!(k.open(&sealed, &other).is_err());
    }
}
