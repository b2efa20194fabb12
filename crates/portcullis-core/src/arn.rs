//! Amazon Resource Names: `arn:partition:service:region:account-id:resource`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A parsed ARN. The resource part keeps any further `:` or `/` it contains.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Arn {
    text: String,
    // INVARIANT: byte offsets of the five `:` separators in `text`, in order.
    colons: [usize; 5],
}

/// The text given is not an ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid ARN: {0:?}")]
pub struct InvalidArn(pub String);

impl Arn {
    /// Parses `arn:partition:service:region:account:resource`. Partition, service and resource
    /// must be non-empty; region and account may be empty (as in IAM and S3 ARNs).
    pub fn parse(text: &str) -> Result<Self, InvalidArn> {
        let invalid = || InvalidArn(text.to_owned());
        let mut colons = [0usize; 5];
        let mut found = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b':' {
                if let Some(slot) = colons.get_mut(found) {
                    *slot = i;
                }
                found += 1;
                if found == 5 {
                    break;
                }
            }
        }
        if found < 5 || !text.starts_with("arn:") {
            return Err(invalid());
        }
        let arn = Self {
            text: text.to_owned(),
            colons,
        };
        if arn.partition().is_empty() || arn.service().is_empty() || arn.resource().is_empty() {
            return Err(invalid());
        }
        Ok(arn)
    }

    /// Builds an ARN from its parts.
    pub fn new(
        partition: &str,
        service: &str,
        region: &str,
        account: &str,
        resource: &str,
    ) -> Self {
        let text = format!("arn:{partition}:{service}:{region}:{account}:{resource}");
        let c0 = 3;
        let c1 = c0 + 1 + partition.len();
        let c2 = c1 + 1 + service.len();
        let c3 = c2 + 1 + region.len();
        let c4 = c3 + 1 + account.len();
        Self {
            text,
            colons: [c0, c1, c2, c3, c4],
        }
    }

    fn part(&self, index: usize) -> &str {
        let start = self.colons.get(index).map_or(0, |c| c + 1);
        let end = self
            .colons
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }

    /// `aws`, `aws-cn`, ...
    pub fn partition(&self) -> &str {
        self.part(0)
    }
    /// `iam`, `sts`, `kms`, ...
    pub fn service(&self) -> &str {
        self.part(1)
    }
    /// Empty for global services.
    pub fn region(&self) -> &str {
        self.part(2)
    }
    /// The 12-digit account, or empty.
    pub fn account(&self) -> &str {
        self.part(3)
    }
    /// Everything after the fifth colon.
    pub fn resource(&self) -> &str {
        self.part(4)
    }
    /// The whole ARN as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Arn {
    type Err = InvalidArn;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Arn {
    type Error = InvalidArn;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Arn> for String {
    fn from(arn: Arn) -> String {
        arn.text
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Arn({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_parts_and_keeps_colons_in_resource() {
        let arn = Arn::parse("arn:aws:iam::123456789012:user/division/alice").unwrap();
        assert_eq!(arn.partition(), "aws");
        assert_eq!(arn.service(), "iam");
        assert_eq!(arn.region(), "");
        assert_eq!(arn.account(), "123456789012");
        assert_eq!(arn.resource(), "user/division/alice");

        let arn = Arn::parse("arn:aws:logs:us-east-1:123456789012:log-group:g:*").unwrap();
        assert_eq!(arn.resource(), "log-group:g:*");
    }

    #[test]
    fn rejects_non_arns() {
        for bad in [
            "",
            "arn",
            "arn:aws:iam::123",
            "urn:aws:iam::1:x",
            "arn::iam::1:x",
            "arn:aws:iam::1:",
        ] {
            assert!(Arn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_agrees_with_parse() {
        let arn = Arn::new("aws", "sts", "", "000000000000", "assumed-role/r/s");
        assert_eq!(arn, Arn::parse(arn.as_str()).unwrap());
        assert_eq!(arn.resource(), "assumed-role/r/s");
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in ".*") {
            let _ = Arn::parse(&text);
        }

        #[test]
        fn parts_round_trip(p in "[a-z-]{1,8}", s in "[a-z0-9]{1,8}", r in "[a-z0-9-]{0,12}",
                            a in "[0-9]{0,12}", res in "[ -~]{1,40}") {
            let arn = Arn::new(&p, &s, &r, &a, &res);
            let parsed = Arn::parse(arn.as_str()).unwrap();
            prop_assert_eq!(parsed.partition(), p.as_str());
            prop_assert_eq!(parsed.service(), s.as_str());
            prop_assert_eq!(parsed.region(), r.as_str());
            prop_assert_eq!(parsed.account(), a.as_str());
            prop_assert_eq!(parsed.resource(), res.as_str());
        }
    }
}
