//! The authenticated caller of a request.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::{AccountId, Arn};

/// What kind of identity signed the request; CloudTrail's `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrincipalKind {
    /// The account's root user: every permission in its account.
    Root,
    /// An IAM user.
    IamUser,
    /// A session of an assumed role.
    AssumedRole,
    /// A federated user from GetFederationToken.
    FederatedUser,
}

impl PrincipalKind {
    /// The value CloudTrail records in `userIdentity.type` and IAM in `aws:PrincipalType`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "Root",
            Self::IamUser => "IAMUser",
            Self::AssumedRole => "AssumedRole",
            Self::FederatedUser => "FederatedUser",
        }
    }
}

/// Who made a request, as established by SigV4 authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The account the principal belongs to.
    pub account: AccountId,
    /// `arn:aws:iam::123456789012:root`, `...:user/alice`, `arn:aws:sts::...:assumed-role/r/s`.
    pub arn: Arn,
    /// Root, user, role session, federated user.
    pub kind: PrincipalKind,
    /// GetCallerIdentity's `UserId`: the account id for root, the unique id (`AIDA...`) for a
    /// user, `AROA...:session-name` for a role session.
    pub user_id: String,
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// Whether the credentials were issued with multi-factor authentication.
    pub mfa_authenticated: bool,
    /// When multi-factor authentication happened, for `aws:MultiFactorAuthAge`.
    pub mfa_authenticated_at: Option<SystemTime>,
    /// When temporary credentials were issued, for `aws:TokenIssueTime`.
    pub token_issued_at: Option<SystemTime>,
    /// The principal's tags (user or role tags, and session tags), for `aws:PrincipalTag/*`.
    pub tags: BTreeMap<String, String>,
}

impl Principal {
    /// The root user of `account`, authenticated with `access_key_id`.
    pub fn root(account: AccountId, access_key_id: String) -> Self {
        let arn = Arn::new(crate::PARTITION, "iam", "", account.as_str(), "root");
        Self {
            user_id: account.as_str().to_owned(),
            account,
            arn,
            kind: PrincipalKind::Root,
            access_key_id,
            mfa_authenticated: false,
            mfa_authenticated_at: None,
            token_issued_at: None,
            tags: BTreeMap::new(),
        }
    }

    /// The name CloudTrail records in `userName` and IAM in `aws:username`: the user's name
    /// for IAM users, none for other kinds.
    pub fn user_name(&self) -> Option<&str> {
        match self.kind {
            PrincipalKind::IamUser => self.arn.resource().rsplit('/').next(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_principal_has_aws_shape() {
        let account = AccountId::parse("123456789012").unwrap();
        let root = Principal::root(account, "AKIAEXAMPLE".into());
        assert_eq!(root.arn.as_str(), "arn:aws:iam::123456789012:root");
        assert_eq!(root.user_id, "123456789012");
        assert_eq!(root.kind.as_str(), "Root");
        assert_eq!(root.user_name(), None);
    }
}
