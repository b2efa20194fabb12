//! Short ASCII text of a fixed length, kept on the stack: ids and timestamps that are written
//! into a larger document and need no allocation of their own.

use std::fmt;
use std::ops::Deref;

/// `N` bytes of ASCII text (every constructor in this crate writes ASCII only).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsciiText<const N: usize>([u8; N]);

impl<const N: usize> AsciiText<N> {
    /// `bytes` as text, if they are ASCII.
    pub fn new(bytes: [u8; N]) -> Option<Self> {
        bytes.is_ascii().then_some(Self(bytes))
    }

    /// Bytes this crate wrote as ASCII (hex digits, dashes, decimal digits). Not checked: were
    /// they not ASCII after all, [`AsciiText::as_str`] would give an empty string, nothing
    /// worse.
    pub(crate) fn written(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // ASCII by construction, so always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> Deref for AsciiText<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for AsciiText<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Display for AsciiText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for AsciiText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> PartialEq<str> for AsciiText<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for AsciiText<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ascii_is_text() {
        assert_eq!(AsciiText::new(*b"abc").unwrap(), "abc");
        assert!(AsciiText::new([0xc3, 0xa9]).is_none());
    }
}
