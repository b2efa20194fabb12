//! Secrets as a type: zeroized on drop, redacted when printed, compared in constant time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret value: a secret access key, key material, a TOTP seed, a session token.
///
/// `Secret` has no `Display`, and its `Debug` prints `Secret([REDACTED])`, so a secret cannot
/// reach a log line by accident. The value is wiped from memory when dropped. Read it with
/// [`Secret::expose`], which names the intent at every place a secret is used.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself. Every caller is a place where the secret is used on purpose.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize + AsRef<[u8]>> Secret<T> {
    /// Compares with `other` in time that depends only on the lengths, never on the contents.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(self.0.as_ref(), other)
    }
}

/// Constant-time equality of two byte strings (time depends only on their lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Secret<T> {}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(String::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        let printed = format!("{s:?}");
        assert_eq!(printed, "Secret([REDACTED])");
        assert!(!printed.contains("wJalr"));
    }

    #[test]
    fn compares_by_value() {
        let s = Secret::new(b"abc".to_vec());
        assert!(s.ct_eq(b"abc"));
        assert!(!s.ct_eq(b"abd"));
        assert!(!s.ct_eq(b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
