//! Accounts: the unit of isolation. Every entity belongs to exactly one 12-digit account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A 12-digit AWS account id, such as `123456789012`.
///
/// Parse, don't validate: a value of this type always holds exactly twelve ASCII digits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

/// The text given is not a 12-digit account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account id must be exactly 12 digits, got {0:?}")]
pub struct InvalidAccountId(pub String);

impl AccountId {
    /// Parses a 12-digit account id.
    pub fn parse(text: &str) -> Result<Self, InvalidAccountId> {
        if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidAccountId(text.to_owned()))
        }
    }

    /// A fresh random account id. The first digit is never 0, so ids read as AWS's do.
    pub fn random() -> Self {
        let mut digits = String::with_capacity(12);
        let bytes = crate::id::random_bytes::<12>();
        for (i, b) in bytes.iter().enumerate() {
            let d = if i == 0 { 1 + b % 9 } else { b % 10 };
            digits.push(char::from(b'0' + d));
        }
        Self(digits)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccountId {
    type Err = InvalidAccountId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for AccountId {
    type Error = InvalidAccountId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(AccountId::parse("000000000000").is_ok());
        assert!(AccountId::parse("12345678901").is_err());
        assert!(AccountId::parse("1234567890123").is_err());
        assert!(AccountId::parse("12345678901a").is_err());
        assert!(AccountId::parse("").is_err());
    }

    #[test]
    fn random_ids_are_valid_and_differ() {
        let a = AccountId::random();
        let b = AccountId::random();
        assert!(AccountId::parse(a.as_str()).is_ok());
        assert!(!a.as_str().starts_with('0'));
        assert_ne!(a, b);
    }
}
