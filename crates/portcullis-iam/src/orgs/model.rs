//! The stored shape of an organization and the pure rules over it: the tree of roots, OUs and
//! accounts, policies and their attachments, and the SCP/RCP chain of an account.
//!
//! One organization is one store document (kind [`ORG_KIND`]); every change rewrites it with a
//! compare-and-swap on its version, so that a tree move and the attachments it implies are one
//! atomic step. An index (kind [`MEMBER_KIND`], account `""`, id = account id) names the
//! organization of every account in one, management account included.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Store kind of organization documents (account `""`, id = organization id).
pub const ORG_KIND: &str = "orgs.organization";
/// Store kind of the account → organization index (account `""`, id = account id).
pub const MEMBER_KIND: &str = "orgs.member";
/// Store kind of handshakes (account `""`, id = handshake id).
pub const HANDSHAKE_KIND: &str = "orgs.handshake";
/// Store kind of the root email index (account `""`, id = the email address in lower case,
/// value `{"AccountId"}`): an email names one account, for ever (a closed account's email
/// cannot be reused, AWS Account Management Guide, "Close an AWS account").
pub const EMAIL_KIND: &str = "orgs.root-email";
/// Store kind of closed accounts (account `""`, id = account id, value `{"ClosedAt"}`): their
/// principals are refused on every call, their roles cannot be assumed.
pub const CLOSED_KIND: &str = "orgs.closed";

/// `SERVICE_CONTROL_POLICY`.
pub const SCP: &str = "SERVICE_CONTROL_POLICY";
/// `RESOURCE_CONTROL_POLICY`.
pub const RCP: &str = "RESOURCE_CONTROL_POLICY";
/// `TAG_POLICY`.
pub const TAG: &str = "TAG_POLICY";

/// The AWS managed SCP attached everywhere when SCPs are enabled.
pub const FULL_AWS_ACCESS: &str = "p-FullAWSAccess";
/// The AWS managed RCP attached everywhere when RCPs are enabled; it cannot be detached.
pub const RCP_FULL_AWS_ACCESS: &str = "p-RCPFullAWSAccess";

const FULL_AWS_ACCESS_CONTENT: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const RCP_FULL_AWS_ACCESS_CONTENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

/// OUs nest at most five levels below the root (Organizations quotas).
pub const MAX_OU_DEPTH: usize = 5;
/// Policies of one type attached to one target (Organizations quotas).
pub const MAX_ATTACHMENTS: usize = 5;
/// Accounts in an organization: AWS's default quota.
pub const MAX_ACCOUNTS: usize = 10;
/// OUs in an organization.
pub const MAX_OUS: usize = 1000;
/// Policies of one type in an organization.
pub const MAX_POLICIES: usize = 1000;
/// Tags on one resource.
pub const MAX_TAGS: usize = 50;

/// An organization as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrgDoc {
    /// `o-` and 10 characters.
    pub id: String,
    /// The management account.
    pub management: String,
    /// The management account's email address.
    pub management_email: String,
    /// `r-` and 4 characters.
    pub root_id: String,
    /// Policy types enabled on the root.
    #[serde(default)]
    pub enabled_types: Vec<String>,
    /// OUs by id.
    #[serde(default)]
    pub ous: BTreeMap<String, Ou>,
    /// Member accounts (management included) by account id.
    #[serde(default)]
    pub accounts: BTreeMap<String, Member>,
    /// Customer managed policies by id.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyRec>,
    /// Target id (root, OU or account) → attached policy ids, in attachment order.
    #[serde(default)]
    pub attachments: BTreeMap<String, Vec<String>>,
    /// CreateAccount requests, oldest first.
    #[serde(default)]
    pub create_requests: Vec<CreateRequest>,
    /// Resource id → tags.
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<TagRec>>,
    /// Delegated administrators.
    #[serde(default)]
    pub delegated: Vec<Delegation>,
    /// Trusted service principal → enabling time.
    #[serde(default)]
    pub service_access: BTreeMap<String, u64>,
    /// The organization's resource policy: (id, content).
    #[serde(default)]
    pub resource_policy: Option<(String, String)>,
    /// Seconds since the epoch.
    pub created: u64,
    /// Seconds since the epoch of the last policy or attachment change.
    #[serde(default)]
    pub policies_changed: u64,
    /// Centralized root access features enabled by IAM (`RootCredentialsManagement`,
    /// `RootSessions`).
    #[serde(default)]
    pub root_features: Vec<String>,
}

/// An organizational unit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ou {
    /// The name (unique among its siblings).
    pub name: String,
    /// The parent: the root or another OU.
    pub parent: String,
}

/// An account of the organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Member {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// The root or an OU.
    pub parent: String,
    /// `ACTIVE`, `PENDING_CLOSURE` (CloseAccount called), `SUSPENDED` (closed, within the
    /// 90-day post-closure period) or `CLOSED` (permanently closed; reported as Status
    /// `SUSPENDED`, State `CLOSED`).
    pub status: String,
    /// `INVITED` or `CREATED`.
    pub joined_method: String,
    /// Seconds since the epoch.
    pub joined: u64,
    /// When CloseAccount was called, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<u64>,
}

/// A customer managed policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyRec {
    /// Name, unique per type.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `SERVICE_CONTROL_POLICY`, ...
    pub r#type: String,
    /// The JSON text.
    pub content: String,
}

/// A CreateAccount request: recorded `IN_PROGRESS` with everything needed to finish it, so
/// that a request a restart interrupted is finished on the next start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    /// `car-` and 32 characters.
    pub id: String,
    /// The requested name.
    pub account_name: String,
    /// `IN_PROGRESS`, `SUCCEEDED` or `FAILED`.
    pub state: String,
    /// Seconds since the epoch.
    pub requested: u64,
    /// When it finished, seconds since the epoch.
    #[serde(default)]
    pub completed: Option<u64>,
    /// The new account's id, chosen when the request is made and reported once it succeeded.
    pub account_id: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// The root user's email address.
    #[serde(default)]
    pub email: String,
    /// The access role to create in the new account.
    #[serde(default)]
    pub role_name: String,
    /// Tags for the new account.
    #[serde(default)]
    pub tags: Vec<TagRec>,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagRec {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A delegated administrator of one service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Delegation {
    /// The member account.
    pub account: String,
    /// The service principal.
    pub service: String,
    /// Seconds since the epoch.
    pub since: u64,
}

/// A handshake (an invitation to join an organization).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandshakeRec {
    /// `h-` and 10 characters.
    pub id: String,
    /// The inviting organization.
    pub organization: String,
    /// Its management account.
    pub management: String,
    /// The invited account.
    pub target: String,
    /// `OPEN`, `ACCEPTED`, `DECLINED`, `CANCELED`, `EXPIRED`.
    pub state: String,
    /// Seconds since the epoch.
    pub requested: u64,
    /// Seconds since the epoch.
    pub expires: u64,
    /// Notes sent with the invitation.
    #[serde(default)]
    pub notes: Option<String>,
    /// The email address the invitation was sent to, when the target was given as one
    /// (`Target.Type` `EMAIL`); `target` is the account whose root user has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_email: Option<String>,
}

/// What a target id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The root.
    Root,
    /// An OU.
    Ou,
    /// An account.
    Account,
}

impl OrgDoc {
    /// `arn:aws:organizations::MGMT:organization/o-...`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:organizations::{}:organization/{}",
            self.management, self.id
        )
    }

    /// The ARN of the root, an OU or an account.
    pub fn target_arn(&self, id: &str) -> String {
        let kind = match self.target(id) {
            Some(Target::Root) => "root",
            Some(Target::Ou) => "ou",
            _ => "account",
        };
        format!(
            "arn:aws:organizations::{}:{kind}/{}/{id}",
            self.management, self.id
        )
    }

    /// The ARN of a policy (customer managed or AWS managed).
    pub fn policy_arn(&self, id: &str, ty: &str) -> String {
        if aws_managed(id).is_some() {
            return format!(
                "arn:aws:organizations::aws:policy/{}/{id}",
                ty.to_ascii_lowercase()
            );
        }
        format!(
            "arn:aws:organizations::{}:policy/{}/{}/{id}",
            self.management,
            self.id,
            ty.to_ascii_lowercase()
        )
    }

    /// What `id` names in this organization, if anything.
    pub fn target(&self, id: &str) -> Option<Target> {
        if id == self.root_id {
            Some(Target::Root)
        } else if self.ous.contains_key(id) {
            Some(Target::Ou)
        } else if self.accounts.contains_key(id) {
            Some(Target::Account)
        } else {
            None
        }
    }

    /// The parent of an OU or account.
    pub fn parent_of(&self, id: &str) -> Option<&str> {
        self.ous
            .get(id)
            .map(|o| o.parent.as_str())
            .or_else(|| self.accounts.get(id).map(|a| a.parent.as_str()))
    }

    /// The chain from the root down to `id` (both included). Bounded by the depth quota, so a
    /// corrupt cycle cannot loop forever.
    pub fn path(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_owned()];
        let mut at = id.to_owned();
        for _ in 0..=MAX_OU_DEPTH + 1 {
            match self.parent_of(&at) {
                Some(p) => {
                    out.push(p.to_owned());
                    at = p.to_owned();
                }
                None => break,
            }
        }
        out.reverse();
        out
    }

    /// The depth of an OU (a child of the root is at depth 1); 0 for the root.
    pub fn depth(&self, id: &str) -> usize {
        self.path(id).len().saturating_sub(1)
    }

    /// `aws:PrincipalOrgPaths` / `aws:ResourceOrgPaths` of an account:
    /// `o-.../r-.../ou-.../ou-.../` (the account itself is not part of the path).
    pub fn org_path(&self, account: &str) -> String {
        let mut out = format!("{}/", self.id);
        let path = self.path(account);
        for id in path.iter().take(path.len().saturating_sub(1)) {
            out.push_str(id);
            out.push('/');
        }
        out
    }

    /// Direct children (OUs or accounts) of `parent`.
    pub fn child_ous(&self, parent: &str) -> Vec<String> {
        self.ous
            .iter()
            .filter(|(_, o)| o.parent == parent)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Direct child accounts of `parent`.
    pub fn child_accounts(&self, parent: &str) -> Vec<String> {
        self.accounts
            .iter()
            .filter(|(_, a)| a.parent == parent)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The type, name, description and content of a policy (AWS managed ones included).
    pub fn policy(&self, id: &str) -> Option<PolicyRec> {
        aws_managed(id).or_else(|| self.policies.get(id).cloned())
    }

    /// Whether a policy type is enabled on the root.
    pub fn enabled(&self, ty: &str) -> bool {
        self.enabled_types.iter().any(|t| t == ty)
    }

    /// Policies of type `ty` attached to `target`.
    pub fn attached(&self, target: &str, ty: &str) -> Vec<String> {
        self.attachments
            .get(target)
            .map(|ids| {
                ids.iter()
                    .filter(|id| self.policy(id).is_some_and(|p| p.r#type == ty))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every target (root, OUs, accounts).
    pub fn targets(&self) -> Vec<String> {
        let mut out = vec![self.root_id.clone()];
        out.extend(self.ous.keys().cloned());
        out.extend(self.accounts.keys().cloned());
        out
    }

    /// Attaches the AWS managed policy of `ty`, if any and if the type is enabled, to a new
    /// target (AWS attaches FullAWSAccess and RCPFullAWSAccess to every new OU and account).
    pub fn attach_defaults(&mut self, target: &str) {
        for (ty, id) in [(SCP, FULL_AWS_ACCESS), (RCP, RCP_FULL_AWS_ACCESS)] {
            if self.enabled(ty) {
                let list = self.attachments.entry(target.to_owned()).or_default();
                if !list.iter().any(|p| p == id) {
                    list.push(id.to_owned());
                }
            }
        }
    }

    /// Removes a target's attachments and tags (the target left the organization).
    pub fn forget_target(&mut self, target: &str) {
        self.attachments.remove(target);
        self.tags.remove(target);
    }

    /// The policy contents of type `ty` per level, from the root down to `account`; `None`
    /// when the type is not enabled.
    pub fn levels(&self, account: &str, ty: &str) -> Option<Vec<Vec<(String, String)>>> {
        if !self.enabled(ty) || !self.accounts.contains_key(account) {
            return None;
        }
        Some(
            self.path(account)
                .iter()
                .map(|target| {
                    self.attached(target, ty)
                        .into_iter()
                        .filter_map(|id| self.policy(&id).map(|p| (id, p.content)))
                        .collect()
                })
                .collect(),
        )
    }

    /// The accounts that count against [`MAX_ACCOUNTS`]: every member, closed ones included
    /// until they are permanently closed after the 90-day post-closure period.
    pub fn quota_count(&self) -> usize {
        self.accounts
            .values()
            .filter(|m| m.status != CLOSED)
            .count()
    }

    /// Whether one more account may be closed at `now`: within a rolling 30 days, the higher
    /// of 250 and 20% of the member accounts, at most 1,000 (Organizations API Reference,
    /// CloseAccount).
    pub fn may_close_one_more(&self, now: u64) -> bool {
        let members = self.accounts.len().saturating_sub(1);
        let quota = (members / 5).clamp(250, 1000);
        let recent = self
            .accounts
            .values()
            .filter(|m| m.closed.is_some_and(|at| at + CLOSE_WINDOW > now))
            .count();
        recent < quota
    }
}

/// The rolling window of the close-account quota: 30 days.
pub const CLOSE_WINDOW: u64 = 30 * 24 * 3600;
/// The post-closure period: a closed account is `SUSPENDED` for 90 days, then `CLOSED`.
pub const POST_CLOSURE: u64 = 90 * 24 * 3600;

/// Member status: CloseAccount was called.
pub const PENDING_CLOSURE: &str = "PENDING_CLOSURE";
/// Member status: closed, within the post-closure period.
pub const SUSPENDED: &str = "SUSPENDED";
/// Member status: permanently closed.
pub const CLOSED: &str = "CLOSED";
/// CreateAccount request state while the account is being made.
pub const IN_PROGRESS: &str = "IN_PROGRESS";

/// The AWS managed policies.
pub fn aws_managed(id: &str) -> Option<PolicyRec> {
    match id {
        FULL_AWS_ACCESS => Some(PolicyRec {
            name: "FullAWSAccess".to_owned(),
            description: "Allows access to every operation".to_owned(),
            r#type: SCP.to_owned(),
            content: FULL_AWS_ACCESS_CONTENT.to_owned(),
        }),
        RCP_FULL_AWS_ACCESS => Some(PolicyRec {
            name: "RCPFullAWSAccess".to_owned(),
            description: "Allows access to every operation".to_owned(),
            r#type: RCP.to_owned(),
            content: RCP_FULL_AWS_ACCESS_CONTENT.to_owned(),
        }),
        _ => None,
    }
}

/// The ids of the AWS managed policies.
pub const AWS_MANAGED: [&str; 2] = [FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS];

/// `n` random characters of `[a-z2-7]` (lowercase base 32, no bias).
pub fn random_lower(n: usize) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes = portcullis_core::id::random_bytes::<64>();
    bytes
        .iter()
        .take(n.min(64))
        .map(|b| char::from(ALPHABET.get(usize::from(*b) & 31).copied().unwrap_or(b'a')))
        .collect()
}

/// `n` random digits and lowercase hexadecimal characters.
pub fn random_hex(n: usize) -> String {
    const ALPHABET: &[u8; 16] = b"0123456789abcdef";
    let bytes = portcullis_core::id::random_bytes::<64>();
    bytes
        .iter()
        .take(n.min(64))
        .map(|b| char::from(ALPHABET.get(usize::from(*b) & 15).copied().unwrap_or(b'0')))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgDoc {
        let mut o = OrgDoc {
            id: "o-abcdefghij".into(),
            management: "111111111111".into(),
            management_email: "m@example.com".into(),
            root_id: "r-ab12".into(),
            enabled_types: vec![SCP.into()],
            ous: BTreeMap::new(),
            accounts: BTreeMap::new(),
            policies: BTreeMap::new(),
            attachments: BTreeMap::new(),
            create_requests: Vec::new(),
            tags: BTreeMap::new(),
            delegated: Vec::new(),
            service_access: BTreeMap::new(),
            resource_policy: None,
            created: 0,
            policies_changed: 0,
            root_features: Vec::new(),
        };
        o.ous.insert(
            "ou-ab12-11111111".into(),
            Ou {
                name: "a".into(),
                parent: "r-ab12".into(),
            },
        );
        o.ous.insert(
            "ou-ab12-22222222".into(),
            Ou {
                name: "b".into(),
                parent: "ou-ab12-11111111".into(),
            },
        );
        o.accounts.insert(
            "222222222222".into(),
            Member {
                name: "x".into(),
                email: "x@example.com".into(),
                parent: "ou-ab12-22222222".into(),
                status: "ACTIVE".into(),
                joined_method: "CREATED".into(),
                joined: 0,
                closed: None,
            },
        );
        for t in o.targets() {
            o.attach_defaults(&t);
        }
        o
    }

    #[test]
    fn paths_run_from_the_root_to_the_account() {
        let o = org();
        assert_eq!(
            o.path("222222222222"),
            [
                "r-ab12",
                "ou-ab12-11111111",
                "ou-ab12-22222222",
                "222222222222"
            ]
        );
        assert_eq!(
            o.org_path("222222222222"),
            "o-abcdefghij/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"
        );
        assert_eq!(o.depth("ou-ab12-22222222"), 2);
        assert_eq!(o.depth("r-ab12"), 0);
    }

    #[test]
    fn scp_levels_have_one_entry_per_target_on_the_path() {
        let o = org();
        let levels = o.levels("222222222222", SCP).unwrap();
        assert_eq!(levels.len(), 4);
        assert!(levels.iter().all(|l| l.len() == 1));
        assert!(o.levels("222222222222", RCP).is_none());
        assert_eq!(
            o.policy_arn(FULL_AWS_ACCESS, SCP),
            "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess"
        );
    }

    #[test]
    fn random_ids_use_their_alphabets() {
        let s = random_lower(10);
        assert_eq!(s.len(), 10);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
        assert!(random_hex(32).chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn closed_accounts_count_until_permanently_closed_and_closures_are_rate_limited() {
        let mut o = org();
        let member = |status: &str, closed: Option<u64>| Member {
            name: "m".into(),
            email: "m@example.com".into(),
            parent: "r-ab12".into(),
            status: status.into(),
            joined_method: "CREATED".into(),
            joined: 0,
            closed,
        };
        o.accounts
            .insert("111111111111".into(), member("ACTIVE", None));
        o.accounts
            .insert("333333333333".into(), member(SUSPENDED, Some(1_000)));
        o.accounts
            .insert("444444444444".into(), member(CLOSED, Some(1_000)));
        assert_eq!(
            o.quota_count(),
            3,
            "a suspended account counts, a closed one not"
        );

        // 250 closures in 30 days for small organizations (20% of members when larger).
        let now = 10_000_000;
        for i in 0..249u64 {
            o.accounts
                .insert(format!("5{i:011}"), member(SUSPENDED, Some(now - 3600)));
        }
        assert!(
            o.may_close_one_more(now),
            "250 closures in the window at most"
        );
        o.accounts
            .insert("600000000000".into(), member(SUSPENDED, Some(now - 60)));
        assert!(!o.may_close_one_more(now));
        assert!(
            o.may_close_one_more(now + CLOSE_WINDOW),
            "the window rolls: 30 days later the quota is back"
        );
    }
}
