//! Temporary credentials: the sessions STS issues (AssumeRole, AssumeRoot, GetSessionToken,
//! GetFederationToken, AssumeRoleWithWebIdentity).
//!
//! Sessions are not stored: the session token carries the session. It is the session record
//! and its secret access key, sealed with AES-256-GCM under a key used for that token alone
//! (HMAC-SHA256 of a random 256-bit salt, keyed by a sub-key of the master key), with the
//! access key id as additional data. Only Portcullis can open a token or make one that opens;
//! a token cannot be moved to another access key id, and any changed byte is refused. Issuing
//! credentials therefore writes nothing, any node that shares the master key verifies them,
//! and nothing is left behind to purge: an expired token keeps answering `ExpiredToken`.
//!
//! The access key id (`ASIA` and 16 base-32 characters) carries the session's account in its
//! first 40 bits, as AWS's do, so that `GetAccessKeyInfo` answers for any session; the other
//! 40 bits are random.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

use portcullis_core::{AccountId, Principal, Secret, id, iso8601};
use portcullis_store::MasterKey;

use crate::IamError;

/// What errors about sessions name as their kind.
pub const TOKEN_KIND: &str = "sts.session";

/// What session tokens start with; the rest is base64.
const TOKEN_PREFIX: &str = "PCST";
/// The token format's version byte.
const TOKEN_V1: u8 = 1;
/// The random salt each token's key is derived from.
const SALT_LEN: usize = 32;
/// The master key's sub-key for session tokens.
const TOKEN_PURPOSE: &str = "sts-session-token-v1";

/// What a session's permissions derive from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum SessionKind {
    /// A role session: the role's policies, intersected with the session policies.
    Role {
        /// The role's ARN (with its path).
        role_arn: String,
        /// The role's name.
        role_name: String,
        /// The role's unique id (`AROA...`).
        role_id: String,
        /// The session name.
        session_name: String,
        /// The caller was itself a role session (role chaining: at most one hour).
        chained: bool,
    },
    /// A federated user from GetFederationToken: the calling user's policies intersected with
    /// the session policies (`None`: the root user called it).
    Federated {
        /// The IAM user that called GetFederationToken.
        user_name: Option<String>,
        /// The federated user name.
        name: String,
    },
    /// GetSessionToken: the calling user's or root's own permissions, possibly with MFA.
    SessionToken,
    /// AssumeRoot: the root user of a member account, restricted by the task policy (the
    /// session's one managed policy, in `policy_arns`).
    Root {
        /// The management or delegated administrator principal that called AssumeRoot.
        caller_arn: String,
    },
}

/// A session: what its token carries besides the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionRecord {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The account of the principal.
    pub account: AccountId,
    /// Issue time, seconds since the epoch (`aws:TokenIssueTime`).
    pub issued_at: i64,
    /// Expiry, seconds since the epoch.
    pub expires_at: i64,
    /// The principal the session authenticates.
    pub principal: Principal,
    /// What its permissions derive from.
    pub kind: SessionKind,
    /// The inline session policy.
    #[serde(default)]
    pub policy: Option<String>,
    /// Managed session policies.
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// Session tags (`aws:PrincipalTag/*`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Keys of the session tags that pass on to chained role sessions.
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
    /// The source identity, which chained sessions keep.
    #[serde(default)]
    pub source_identity: Option<String>,
}

/// What a token seals.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Sealed {
    secret_access_key: String,
    session: SessionRecord,
}

/// Credentials as issued: shown once, to the caller.
#[derive(Debug)]
pub struct IssuedCredentials {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret<String>,
    /// The session token.
    pub session_token: Secret<String>,
    /// ISO 8601 expiry.
    pub expiration: String,
}

/// What a new session is made of, before its credentials exist.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The principal; its `access_key_id` and `token_issued_at` are filled in on issue.
    pub principal: Principal,
    /// What its permissions derive from.
    pub kind: SessionKind,
    /// Inline session policy.
    pub policy: Option<String>,
    /// Managed session policies.
    pub policy_arns: Vec<String>,
    /// Session tags.
    pub tags: BTreeMap<String, String>,
    /// Transitive tag keys.
    pub transitive_tag_keys: Vec<String>,
    /// Source identity.
    pub source_identity: Option<String>,
    /// Lifetime.
    pub duration: Duration,
}

impl NewSession {
    /// A session of `principal` for `duration` whose permissions derive from `kind`, with no
    /// session policies, tags or source identity (set those fields to add them).
    pub fn new(principal: Principal, kind: SessionKind, duration: Duration) -> Self {
        Self {
            principal,
            kind,
            policy: None,
            policy_arns: Vec::new(),
            tags: BTreeMap::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            duration,
        }
    }
}

/// Issues credentials for `session`. Nothing is stored: the token carries the session.
pub fn issue(
    master: &MasterKey,
    session: NewSession,
    now: SystemTime,
) -> Result<(IssuedCredentials, SessionRecord), IamError> {
    let access_key_id = temporary_key_id(&session.principal.account);
    let expires = now + session.duration;
    let mut principal = session.principal;
    principal.access_key_id = access_key_id.clone();
    principal.token_issued_at = Some(now);
    let record = SessionRecord {
        access_key_id: access_key_id.clone(),
        account: principal.account.clone(),
        issued_at: crate::authz::epoch(now),
        expires_at: crate::authz::epoch(expires),
        principal,
        kind: session.kind,
        policy: session.policy,
        policy_arns: session.policy_arns,
        tags: session.tags,
        transitive_tag_keys: session.transitive_tag_keys,
        source_identity: session.source_identity,
    };
    let sealed = Sealed {
        secret_access_key: id::secret_access_key(),
        session: record,
    };
    let token = seal(master, &sealed)?;
    let Sealed {
        secret_access_key,
        session: record,
    } = sealed;
    Ok((
        IssuedCredentials {
            access_key_id,
            secret_access_key: Secret::new(secret_access_key),
            session_token: token,
            expiration: iso8601(expires),
        },
        record,
    ))
}

/// Opens the session `token` carries for `access_key_id`, with its secret access key; `None`
/// when the token is not one Portcullis made for that key (malformed, altered, for another key
/// or under another master key).
pub fn open(
    master: &MasterKey,
    access_key_id: &str,
    token: &str,
) -> Option<(SessionRecord, Secret<String>)> {
    let mut sealed = B64.decode(token.strip_prefix(TOKEN_PREFIX)?).ok()?;
    let (&version, rest) = sealed.split_first()?;
    if version != TOKEN_V1 || rest.len() < SALT_LEN + AES_256_GCM.tag_len() {
        return None;
    }
    let (salt, _) = rest.split_at(SALT_LEN);
    let key = token_key(master, salt)?;
    let start = 1 + SALT_LEN;
    let opened = sealed.get_mut(start..).and_then(|ciphertext| {
        key.open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(access_key_id.as_bytes()),
            ciphertext,
        )
        .ok()
        .map(|plain| serde_json::from_slice::<Sealed>(plain))
    });
    sealed.zeroize();
    let Sealed {
        secret_access_key,
        session,
    } = opened?.ok()?;
    (session.access_key_id == access_key_id).then(|| (session, Secret::new(secret_access_key)))
}

/// Whether `token` has the form of the tokens Portcullis makes (not whether it opens).
pub fn is_portcullis_token(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX)
}

/// The account a temporary access key id was issued in.
pub fn account_of(access_key_id: &str) -> Option<AccountId> {
    let number = id::number_of_key_id(access_key_id)?;
    AccountId::parse(&format!("{number:012}")).ok()
}

/// An `ASIA...` key id that carries `account` (see the module's documentation).
fn temporary_key_id(account: &AccountId) -> String {
    let number = account.as_str().parse::<u64>().unwrap_or(0);
    id::access_key_id_with_number(id::prefix::TEMPORARY_ACCESS_KEY, number)
}

/// The token for `sealed`: prefix, then base64 of version, salt, ciphertext and tag.
fn seal(master: &MasterKey, sealed: &Sealed) -> Result<Secret<String>, IamError> {
    let failed = || IamError::Store(portcullis_store::StoreError::Crypto("session token seal"));
    let salt = id::random_bytes::<SALT_LEN>();
    let key = token_key(master, &salt).ok_or_else(failed)?;
    // Room for a large session (policy, tags) up front, so that growing the buffer leaves no
    // copies of the secret behind in freed memory.
    let mut plain = Vec::with_capacity(8 * 1024);
    if serde_json::to_writer(&mut plain, sealed).is_err() {
        plain.zeroize();
        return Err(failed());
    }
    let tag = key.seal_in_place_separate_tag(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::from(sealed.session.access_key_id.as_bytes()),
        &mut plain,
    );
    let Ok(tag) = tag else {
        plain.zeroize();
        return Err(failed());
    };
    let mut buffer = Vec::with_capacity(1 + SALT_LEN + plain.len() + AES_256_GCM.tag_len());
    buffer.push(TOKEN_V1);
    buffer.extend_from_slice(&salt);
    buffer.extend_from_slice(&plain);
    buffer.extend_from_slice(tag.as_ref());
    Ok(Secret::new(format!(
        "{TOKEN_PREFIX}{}",
        B64.encode(&buffer)
    )))
}

/// The AES-256-GCM key of one token: HMAC-SHA256(token sub-key, salt). Each key seals one
/// token, so the fixed nonce is never reused under a key.
fn token_key(master: &MasterKey, salt: &[u8]) -> Option<LessSafeKey> {
    let root = master.derive(TOKEN_PURPOSE);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, root.expose()), salt);
    UnboundKey::new(&AES_256_GCM, tag.as_ref())
        .ok()
        .map(LessSafeKey::new)
}

impl SessionRecord {
    /// Whether the session has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        crate::authz::epoch(now) >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(account: &str) -> NewSession {
        let account = AccountId::parse(account).unwrap();
        NewSession {
            principal: Principal::root(account, String::new()),
            kind: SessionKind::SessionToken,
            policy: Some("{}".into()),
            policy_arns: vec![],
            tags: BTreeMap::from([("team".to_owned(), "blue".to_owned())]),
            transitive_tag_keys: vec![],
            source_identity: None,
            duration: Duration::from_secs(900),
        }
    }

    #[test]
    fn a_token_opens_to_its_session_and_secret() {
        let master = MasterKey::generate().unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (creds, record) = issue(&master, session("123456789012"), now).unwrap();
        assert!(creds.access_key_id.starts_with("ASIA") && creds.access_key_id.len() == 20);
        assert!(creds.session_token.expose().starts_with(TOKEN_PREFIX));
        let (opened, secret) =
            open(&master, &creds.access_key_id, creds.session_token.expose()).unwrap();
        assert_eq!(secret.expose(), creds.secret_access_key.expose());
        assert_eq!(opened.access_key_id, creds.access_key_id);
        assert_eq!(opened.principal.access_key_id, creds.access_key_id);
        assert_eq!(opened.tags, record.tags);
        assert_eq!(opened.policy.as_deref(), Some("{}"));
        assert_eq!(
            (opened.issued_at, opened.expires_at),
            (1_800_000_000, 1_800_000_900)
        );
        assert!(!opened.expired(now + Duration::from_secs(899)));
        assert!(opened.expired(now + Duration::from_secs(900)));
        // The secret is not readable in the token.
        assert!(
            !creds
                .session_token
                .expose()
                .contains(creds.secret_access_key.expose())
        );
    }

    #[test]
    fn tokens_are_refused_when_altered_moved_or_foreign() {
        let master = MasterKey::generate().unwrap();
        let now = SystemTime::now();
        let (a, _) = issue(&master, session("123456789012"), now).unwrap();
        let (b, _) = issue(&master, session("123456789012"), now).unwrap();
        let token = a.session_token.expose();
        assert_ne!(a.session_token.expose(), b.session_token.expose());
        // Another key id.
        assert!(open(&master, &b.access_key_id, token).is_none());
        // Another master key.
        let other = MasterKey::generate().unwrap();
        assert!(open(&other, &a.access_key_id, token).is_none());
        // Any changed character.
        let bytes = B64.decode(&token[TOKEN_PREFIX.len()..]).unwrap();
        for i in [0, 1, 20, 40, bytes.len() / 2, bytes.len() - 1] {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            let altered = format!("{TOKEN_PREFIX}{}", B64.encode(&altered));
            assert!(
                open(&master, &a.access_key_id, &altered).is_none(),
                "byte {i}"
            );
        }
        // Truncated, empty, not ours.
        for junk in [
            "",
            "PCST",
            "PCSTAAAA",
            "FQoGZXIvYXdzEJr",
            &token[..token.len() - 8],
        ] {
            assert!(open(&master, &a.access_key_id, junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn key_ids_carry_their_account() {
        for account in ["000000000000", "123456789012", "999999999999"] {
            let master = MasterKey::generate().unwrap();
            let (creds, _) = issue(&master, session(account), SystemTime::now()).unwrap();
            assert_eq!(account_of(&creds.access_key_id).unwrap().as_str(), account);
        }
        let (a, b) = (
            temporary_key_id(&AccountId::parse("123456789012").unwrap()),
            temporary_key_id(&AccountId::parse("123456789012").unwrap()),
        );
        assert_ne!(a, b);
        assert_eq!(a.get(..12), b.get(..12));
    }
}
