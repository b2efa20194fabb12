//! Temporary credentials: the sessions STS issues (AssumeRole, GetSessionToken,
//! GetFederationToken, AssumeRoleWithWebIdentity).
//!
//! A session is stored under the store kind [`KIND`], account `""` (access key ids are global),
//! id = its `ASIA...` access key id. The secret access key is sealed under the master key and
//! bound to the key id, like long-term keys; the session token is 64 random bytes from the
//! operating system's CSPRNG, of which only the SHA-256 digest is stored and which is compared
//! in constant time. A session carries the principal it authenticates, what its permissions
//! derive from ([`SessionKind`]), its session policies and tags, and its expiry.
//!
//! Each session also has an entry in an expiry index ([`EXPIRY_KIND`]) written in the same
//! batch, so that [`purge_expired`] reads only the sessions that are due.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use portcullis_core::{AccountId, Principal, Secret, id, iso8601};
use portcullis_store::{MasterKey, Precondition, Store, WriteOp};

use crate::IamError;

/// Store kind of session records.
pub const KIND: &str = "sts.session";

/// Store kind of the expiry index: one empty item per session, id
/// `{expires_at:012}/{access_key_id}`, so that ids sort by expiry and purging reads only the
/// sessions that are due, however many live sessions there are.
pub const EXPIRY_KIND: &str = "sts.session-expiry";

/// The expiry index id of a session.
fn expiry_id(expires_at: i64, access_key_id: &str) -> String {
    format!("{expires_at:012}/{access_key_id}")
}

/// At most how many due sessions one purge write removes.
const PURGE_BATCH: usize = 500;

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

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionRecord {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The account of the principal.
    pub account: AccountId,
    /// The secret access key, sealed under the master key (base64).
    pub sealed_secret: String,
    /// SHA-256 of the session token (base64).
    pub token_digest: String,
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

/// Issues credentials for `session` and stores it.
pub async fn issue(
    store: &dyn Store,
    master: &MasterKey,
    session: NewSession,
    now: SystemTime,
) -> Result<(IssuedCredentials, SessionRecord), IamError> {
    let access_key_id = id::access_key_id(id::prefix::TEMPORARY_ACCESS_KEY);
    let secret = Secret::new(id::secret_access_key());
    let token = Secret::new(new_token());
    let sealed = master.seal(secret.expose().as_bytes(), aad(&access_key_id).as_bytes())?;
    let expires = now + session.duration;
    let mut principal = session.principal;
    principal.access_key_id = access_key_id.clone();
    principal.token_issued_at = Some(now);
    let record = SessionRecord {
        access_key_id: access_key_id.clone(),
        account: principal.account.clone(),
        sealed_secret: B64.encode(sealed),
        token_digest: token_digest(token.expose()),
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
    let value =
        serde_json::to_value(&record).map_err(|e| IamError::corrupt(KIND, &access_key_id, e))?;
    store
        .write(vec![
            WriteOp::put(KIND, "", access_key_id.clone(), value, Precondition::Absent),
            WriteOp::put(
                EXPIRY_KIND,
                "",
                expiry_id(record.expires_at, &access_key_id),
                serde_json::json!({}),
                Precondition::Absent,
            ),
        ])
        .await?;
    Ok((
        IssuedCredentials {
            access_key_id,
            secret_access_key: secret,
            session_token: token,
            expiration: iso8601(expires),
        },
        record,
    ))
}

/// Reads a session.
pub async fn load(
    store: &dyn Store,
    access_key_id: &str,
) -> Result<Option<SessionRecord>, IamError> {
    let Some(item) = store.get(KIND, "", access_key_id).await? else {
        return Ok(None);
    };
    serde_json::from_value(item.value)
        .map(Some)
        .map_err(|e| IamError::corrupt(KIND, access_key_id, e))
}

/// How long an expired session is kept, so that its credentials keep answering
/// `ExpiredToken` (rather than `InvalidClientTokenId`) for a day.
pub const EXPIRED_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Deletes sessions that expired more than [`EXPIRED_RETENTION`] before `now`; returns their
/// access key ids, which the caller drops from the authenticator's cache
/// ([`crate::Authenticator::forget`]). Meant for the server's periodic work.
///
/// The expiry index is read in id order (earliest expiry first) up to the first session that
/// is not yet due: the cost is that of the due sessions, not of every live one.
pub async fn purge_expired(store: &dyn Store, now: SystemTime) -> Result<Vec<String>, IamError> {
    let cutoff =
        crate::authz::epoch(now) - i64::try_from(EXPIRED_RETENTION.as_secs()).unwrap_or(i64::MAX);
    let mut purged = Vec::new();
    // Pages grow from one row while they are all due: a purge with nothing due reads one row,
    // one with `n` due reads fewer than `2n + 1`.
    let mut limit = 1;
    loop {
        let mut query = portcullis_store::ListQuery::all(EXPIRY_KIND, "");
        query.limit = limit;
        let page = store.list(query).await?;
        let mut ops = Vec::new();
        for item in &page.items {
            let Some((expires_at, key)) = item.id.split_once('/') else {
                continue;
            };
            if expires_at.parse::<i64>().map_or(true, |at| at >= cutoff) {
                break;
            }
            ops.push(WriteOp::delete(
                EXPIRY_KIND,
                "",
                &item.id,
                Precondition::Any,
            ));
            ops.push(WriteOp::delete(KIND, "", key, Precondition::Any));
            ops.push(crate::keys::retire(key));
            purged.push(key.to_owned());
        }
        let all_due = ops.len() == 3 * limit;
        if !ops.is_empty() {
            store.write(ops).await?;
        }
        if !all_due {
            return Ok(purged);
        }
        limit = (limit * 2).min(PURGE_BATCH);
    }
}

impl SessionRecord {
    /// The secret access key in clear, for signature verification.
    pub fn secret(&self, master: &MasterKey) -> Result<Secret<String>, IamError> {
        let sealed = B64
            .decode(&self.sealed_secret)
            .map_err(|e| IamError::corrupt(KIND, &self.access_key_id, e))?;
        let plain = master.open(&sealed, aad(&self.access_key_id).as_bytes())?;
        let text = std::str::from_utf8(plain.expose())
            .map_err(|e| IamError::corrupt(KIND, &self.access_key_id, e))?;
        Ok(Secret::new(text.to_owned()))
    }

    /// Whether `token` is this session's token (constant time).
    pub fn token_matches(&self, token: &str) -> bool {
        let digest = token_digest(token);
        portcullis_core::secret::ct_eq(digest.as_bytes(), self.token_digest.as_bytes())
    }

    /// Whether the session has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        crate::authz::epoch(now) >= self.expires_at
    }
}

fn new_token() -> String {
    // AWS session tokens are long opaque base64 strings; 64 random bytes make one
    // unguessable (512 bits).
    let bytes = Secret::new(id::random_bytes::<64>().to_vec());
    format!("PCST{}", B64.encode(bytes.expose()))
}

fn token_digest(token: &str) -> String {
    B64.encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

fn aad(access_key_id: &str) -> String {
    format!("{KIND}/{access_key_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unguessable_and_compared_by_digest() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.len() > 80);
        let record = SessionRecord {
            access_key_id: "ASIAEXAMPLE".into(),
            account: AccountId::parse("123456789012").unwrap(),
            sealed_secret: String::new(),
            token_digest: token_digest(&a),
            issued_at: 0,
            expires_at: 10,
            principal: Principal::root(AccountId::parse("123456789012").unwrap(), "ASIA".into()),
            kind: SessionKind::SessionToken,
            policy: None,
            policy_arns: vec![],
            tags: BTreeMap::new(),
            transitive_tag_keys: vec![],
            source_identity: None,
        };
        assert!(record.token_matches(&a));
        assert!(!record.token_matches(&b));
        assert!(!record.expired(SystemTime::UNIX_EPOCH + Duration::from_secs(9)));
        assert!(record.expired(SystemTime::UNIX_EPOCH + Duration::from_secs(10)));
    }

    /// A store that counts the rows it hands out (items got and listed).
    struct Counting {
        inner: std::sync::Arc<dyn Store>,
        rows: std::sync::atomic::AtomicUsize,
    }

    impl Counting {
        fn take(&self) -> usize {
            self.rows.swap(0, std::sync::atomic::Ordering::SeqCst)
        }
        fn add(&self, n: usize) {
            self.rows.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl Store for Counting {
        fn get<'a>(
            &'a self,
            kind: &'a str,
            account: &'a str,
            id: &'a str,
        ) -> portcullis_store::BoxFuture<
            'a,
            Result<Option<portcullis_store::Item>, portcullis_store::StoreError>,
        > {
            Box::pin(async move {
                let item = self.inner.get(kind, account, id).await?;
                self.add(usize::from(item.is_some()));
                Ok(item)
            })
        }
        fn list<'a>(
            &'a self,
            query: portcullis_store::ListQuery<'a>,
        ) -> portcullis_store::BoxFuture<
            'a,
            Result<portcullis_store::Page, portcullis_store::StoreError>,
        > {
            Box::pin(async move {
                let page = self.inner.list(query).await?;
                self.add(page.items.len());
                Ok(page)
            })
        }
        fn write<'a>(
            &'a self,
            ops: Vec<WriteOp>,
        ) -> portcullis_store::BoxFuture<'a, Result<(), portcullis_store::StoreError>> {
            self.inner.write(ops)
        }
        fn append_audit<'a>(
            &'a self,
            records: Vec<portcullis_store::NewAuditRecord>,
        ) -> portcullis_store::BoxFuture<'a, Result<(), portcullis_store::StoreError>> {
            self.inner.append_audit(records)
        }
        fn query_audit<'a>(
            &'a self,
            query: portcullis_store::AuditQuery,
        ) -> portcullis_store::BoxFuture<
            'a,
            Result<Vec<portcullis_store::AuditRecord>, portcullis_store::StoreError>,
        > {
            self.inner.query_audit(query)
        }
        fn verify_audit<'a>(
            &'a self,
        ) -> portcullis_store::BoxFuture<
            'a,
            Result<portcullis_store::AuditVerification, portcullis_store::StoreError>,
        > {
            self.inner.verify_audit()
        }
        fn health<'a>(
            &'a self,
        ) -> portcullis_store::BoxFuture<'a, Result<(), portcullis_store::StoreError>> {
            self.inner.health()
        }
        fn reset<'a>(
            &'a self,
        ) -> portcullis_store::BoxFuture<'a, Result<(), portcullis_store::StoreError>> {
            self.inner.reset()
        }
        fn close<'a>(
            &'a self,
        ) -> portcullis_store::BoxFuture<'a, Result<(), portcullis_store::StoreError>> {
            self.inner.close()
        }
    }

    fn new_session(secs: u64) -> NewSession {
        NewSession {
            principal: Principal::root(AccountId::parse("123456789012").unwrap(), String::new()),
            kind: SessionKind::SessionToken,
            policy: None,
            policy_arns: vec![],
            tags: BTreeMap::new(),
            transitive_tag_keys: vec![],
            source_identity: None,
            duration: Duration::from_secs(secs),
        }
    }

    /// Regression: the periodic purge read every live session (its whole record) each minute,
    /// so the server slowed as sessions accumulated. Issuing, loading and purging now touch the
    /// same rows with 1 or 300 live sessions, and a purge reads only what is due.
    #[tokio::test]
    async fn session_costs_do_not_grow_with_the_number_of_sessions() {
        let master = MasterKey::generate().unwrap();
        let inner = portcullis_store::open(
            &portcullis_store::StoreLocation::SqliteInMemory,
            master.derive("a"),
        )
        .await
        .unwrap();
        let store = Counting {
            inner,
            rows: Default::default(),
        };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let cost = |live: usize| {
            let (store, master) = (&store, &master);
            async move {
                store.take();
                let (creds, _) = issue(store, master, new_session(3600), t0).await.unwrap();
                let issued = store.take();
                assert!(load(store, &creds.access_key_id).await.unwrap().is_some());
                let loaded = store.take();
                assert!(purge_expired(store, t0).await.unwrap().is_empty());
                let purge = store.take();
                eprintln!(
                    "{live} live sessions: rows read by issue {issued}, load {loaded}, purge {purge}"
                );
                (issued, loaded, purge)
            }
        };
        let few = cost(1).await;
        for _ in 0..300 {
            issue(&store, &master, new_session(7200), t0).await.unwrap();
        }
        let many = cost(301).await;
        assert_eq!(few, many);
        assert!(
            many.2 <= PURGE_BATCH,
            "a purge reads at most one batch when nothing is due"
        );

        // Due: the two one-hour sessions; the purge reads them and a page of those not due.
        let later = t0 + Duration::from_secs(3600) + EXPIRED_RETENTION + Duration::from_secs(1);
        store.take();
        assert_eq!(purge_expired(&store, later).await.unwrap().len(), 2);
        assert!(store.take() < 2 * 2 + 1);
        // All due, more than one batch: every one is purged.
        let much_later = later + Duration::from_secs(3600);
        assert_eq!(purge_expired(&store, much_later).await.unwrap().len(), 300);
        assert!(purge_expired(&store, much_later).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn expired_sessions_are_purged_after_the_retention() {
        let master = MasterKey::generate().unwrap();
        let store = portcullis_store::open(
            &portcullis_store::StoreLocation::SqliteInMemory,
            master.derive("a"),
        )
        .await
        .unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (short, _) = issue(&*store, &master, new_session(900), t0).await.unwrap();
        let (long, _) = issue(&*store, &master, new_session(129_600), t0)
            .await
            .unwrap();
        let later = t0 + Duration::from_secs(900) + EXPIRED_RETENTION;
        assert!(purge_expired(&*store, later).await.unwrap().is_empty());
        let purged = purge_expired(&*store, later + Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(purged, vec![short.access_key_id.clone()]);
        assert!(load(&*store, &short.access_key_id).await.unwrap().is_none());
        assert!(load(&*store, &long.access_key_id).await.unwrap().is_some());
    }
}
