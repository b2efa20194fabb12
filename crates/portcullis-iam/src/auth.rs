//! Authentication: from a SigV4-signed request to a [`Principal`].
//!
//! The signature is parsed and checked by `portcullis_aws::sigv4`; this module finds the secret
//! for the access key id, decides what an unknown key means (refused in secure mode, the root
//! user of an account in dev mode), and keeps a cache of verified keys so that the common path
//! reads no storage.
//!
//! Temporary credentials (`ASIA...` keys, see [`crate::sessions`]) must come with their session
//! token (`X-Amz-Security-Token`); an expired session is refused with `ExpiredToken`. The
//! authenticator also holds the IAM generation counter: [`Authenticator::invalidate`] is called
//! after every IAM change, and the authorizer recompiles policy sets cached before it.
//!
//! What the cache keeps is exactly as fresh as the store: a change that makes a key unusable
//! (deactivated, deleted, its account closed, a reset) writes the store, then drops the key from
//! the cache and advances the key epoch. A key (or the closed accounts) read from the store is
//! cached only if the epoch did not move while it was read: a read that raced with a change may
//! answer the request it serves, never later ones.
//!
//! Principals of a closed account (Organizations CloseAccount: `SUSPENDED` and later) are
//! refused on every call. AWS documents no error for this; closing makes the account's
//! credentials unusable, so the request fails as credentials AWS no longer accepts do:
//! `InvalidClientTokenId`, "The security token included in the request is invalid".

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::SystemTime;

use aws_lc_rs::hmac;
use portcullis_aws::sigv4::{
    self, CanonicalOptions, CredentialScope, HttpRequestParts, ParsedSignature, SigV4Error,
};
use portcullis_aws::{AwsError, Protocol};
use portcullis_core::{AccountId, Principal, Secret};
use portcullis_store::{MasterKey, Store};

use crate::keys::{self, AccessKeyRecord, KeyStatus};
use crate::sessions::{self, SessionRecord};
use crate::{Accounts, IamError};

/// How unknown access keys are treated.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Only keys Portcullis issued authenticate.
    Secure,
    /// As local AWS emulators behave: a key Portcullis did not issue acts, with any secret, as
    /// the root user of the account its 12-digit id names, or else of `default_account`. Keys
    /// Portcullis issued are verified exactly as in secure mode.
    Dev {
        /// The account of unknown, non-numeric keys.
        default_account: AccountId,
    },
}

/// A request whose signature checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who signed it.
    pub principal: Arc<Principal>,
    /// The credential scope it was signed for (region and service).
    pub scope: CredentialScope,
    /// A long-term access key that Portcullis issued (not a dev-mode stand-in, not temporary
    /// credentials): its use is recorded for GetAccessKeyLastUsed.
    pub issued_long_term_key: bool,
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// The request carries no SigV4 authentication.
    #[error("request is not signed")]
    Unsigned,
    /// The signature is malformed, expired or wrong.
    #[error("signature: {error}")]
    Signature {
        /// The access key id the request named, if it got that far.
        access_key_id: Option<String>,
        /// The account of that key, when Portcullis issued it.
        account: Option<AccountId>,
        /// What was wrong.
        error: SigV4Error,
    },
    /// The access key id is not one Portcullis issued, or it is inactive.
    #[error("unknown access key {access_key_id}")]
    UnknownKey {
        /// The access key id the request named.
        access_key_id: String,
    },
    /// The credentials belong to a closed account.
    #[error("account {account} is closed")]
    AccountClosed {
        /// The access key id the request named.
        access_key_id: String,
        /// The closed account.
        account: AccountId,
    },
    /// The store could not be read.
    #[error(transparent)]
    Internal(#[from] IamError),
}

impl AuthFailure {
    /// The error the client receives, in the shape of the service's protocol.
    pub fn to_aws_error(&self, protocol: Protocol) -> AwsError {
        match self {
            Self::Unsigned => AwsError::missing_authentication_token(protocol),
            Self::Signature { error, .. } => error.to_aws_error(protocol),
            Self::UnknownKey { .. } | Self::AccountClosed { .. } => {
                AwsError::invalid_client_token_id(protocol)
            }
            Self::Internal(_) => AwsError::internal_failure(),
        }
    }

    /// The access key id named by the request, for the audit trail.
    pub fn access_key_id(&self) -> Option<&str> {
        match self {
            Self::Signature { access_key_id, .. } => access_key_id.as_deref(),
            Self::UnknownKey { access_key_id } | Self::AccountClosed { access_key_id, .. } => {
                Some(access_key_id)
            }
            Self::Unsigned | Self::Internal(_) => None,
        }
    }

    /// The account whose key was used, when known, so that its owner sees the failed attempt.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Self::Signature { account, .. } => account.as_ref(),
            Self::AccountClosed { account, .. } => Some(account),
            _ => None,
        }
    }

    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::Signature { .. } => "signature",
            Self::UnknownKey { .. } => "unknown_key",
            Self::AccountClosed { .. } => "account_closed",
            Self::Internal(_) => "internal",
        }
    }
}

/// What the store says of an access key id.
enum Lookup {
    /// Issued, active, with its secret.
    Active(Arc<CachedKey>),
    /// Issued, but inactive, deleted or purged.
    Refused,
    /// Never issued by Portcullis.
    Unknown,
}

struct CachedKey {
    secret: Secret<String>,
    principal: Arc<Principal>,
    /// For temporary credentials: the session and the token that carries it.
    session: Option<(Arc<SessionRecord>, Secret<String>)>,
    /// The SigV4 signing key of the credential scope (date, region, service) this key signed
    /// with last: derived once, then reused by the requests that share the scope.
    signing: RwLock<Option<(CredentialScope, hmac::Key)>>,
}

impl CachedKey {
    fn new(
        secret: Secret<String>,
        principal: Principal,
        session: Option<(SessionRecord, Secret<String>)>,
    ) -> Self {
        Self {
            secret,
            principal: Arc::new(principal),
            session: session.map(|(record, token)| (Arc::new(record), token)),
            signing: RwLock::new(None),
        }
    }

    fn session(&self) -> Option<&SessionRecord> {
        self.session.as_ref().map(|(record, _)| record.as_ref())
    }

    /// Verifies `parsed` over `request` with this key's secret.
    fn verify(
        &self,
        request: &HttpRequestParts<'_>,
        parsed: &ParsedSignature,
        now: SystemTime,
    ) -> Result<(), SigV4Error> {
        let same_scope = |scope: &CredentialScope| {
            scope.date() == parsed.scope.date()
                && scope.region() == parsed.scope.region()
                && scope.service() == parsed.scope.service()
        };
        let verify = |key: &hmac::Key| {
            sigv4::verify_with_signing_key(request, parsed, key, now, CanonicalOptions::default())
        };
        // The cached key is used under the read lock (verifying is short and never waits)
        // rather than copied out: a copy of an HMAC key is a copy of its hash states.
        if let Ok(signing) = self.signing.read()
            && let Some((_, key)) = signing.as_ref().filter(|(scope, _)| same_scope(scope))
        {
            return verify(key);
        }
        let key = sigv4::signing_key(&self.secret, &parsed.scope);
        let verdict = verify(&key);
        if let Ok(mut signing) = self.signing.write() {
            *signing = Some((parsed.scope.clone(), key));
        }
        verdict
    }
}

/// How many keys and sessions the authenticator keeps in memory at most.
const MAX_CACHED_KEYS: usize = 100_000;

/// Resolves access keys and verifies signatures.
pub struct Authenticator {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    accounts: Accounts,
    mode: Mode,
    keys: RwLock<HashMap<String, Arc<CachedKey>>>,
    /// Advanced, under the write lock of the state that changed, by every change that drops a
    /// key from `keys` or closes an account (see the module docs).
    key_epoch: AtomicU64,
    known_accounts: RwLock<HashSet<AccountId>>,
    /// Closed accounts, read from the store on first use and kept up to date by
    /// Organizations ([`Authenticator::account_closed`]).
    closed_accounts: RwLock<Option<HashSet<AccountId>>>,
    generation: AtomicU64,
}

impl Authenticator {
    /// An authenticator over the keys in `store`.
    pub fn new(store: Arc<dyn Store>, master: Arc<MasterKey>, mode: Mode) -> Self {
        Self {
            accounts: Accounts::new(store.clone(), master.clone()),
            store,
            master,
            mode,
            keys: RwLock::new(HashMap::new()),
            key_epoch: AtomicU64::new(0),
            known_accounts: RwLock::new(HashSet::new()),
            closed_accounts: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Verifies `request` and returns its principal.
    ///
    /// `parsed` is `sigv4::parse(request)`, which the caller has already run to route the request;
    /// `service` is the signing name of the service the request was routed to, which the
    /// credential scope must name.
    pub async fn authenticate(
        &self,
        request: &HttpRequestParts<'_>,
        parsed: Result<Option<ParsedSignature<'_>>, SigV4Error>,
        service: &str,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        let parsed = match parsed {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Err(AuthFailure::Unsigned),
            Err(error) => {
                return Err(AuthFailure::Signature {
                    access_key_id: None,
                    account: None,
                    error,
                });
            }
        };
        let key_id = parsed.scope.access_key_id().to_owned();
        if let Err(error) = parsed.check_scope(service, None) {
            return Err(AuthFailure::Signature {
                access_key_id: Some(key_id),
                account: None,
                error,
            });
        }
        let epoch = self.key_epoch();
        let key = match self
            .key(&key_id, parsed.security_token.as_deref(), epoch)
            .await?
        {
            Lookup::Active(key) => Some(key),
            // Inactive, deleted or purged: refused in every mode, never taken for a dev key.
            Lookup::Refused => {
                return Err(AuthFailure::UnknownKey {
                    access_key_id: key_id,
                });
            }
            Lookup::Unknown => None,
        };
        let Some(key) = key else {
            return match &self.mode {
                Mode::Secure => Err(AuthFailure::UnknownKey {
                    access_key_id: key_id,
                }),
                Mode::Dev { default_account } => {
                    let account =
                        AccountId::parse(&key_id).unwrap_or_else(|_| default_account.clone());
                    self.refuse_closed(&key_id, &account).await?;
                    self.ensure_account(&account, now).await?;
                    Ok(Authenticated {
                        principal: Arc::new(Principal::root(account, key_id)),
                        scope: parsed.scope,
                        issued_long_term_key: false,
                    })
                }
            };
        };
        if let Some(session) = key.session() {
            // Temporary credentials are valid only until they expire.
            if session.expired(now) {
                return Err(AuthFailure::Signature {
                    access_key_id: Some(key_id),
                    account: Some(session.account.clone()),
                    error: SigV4Error::ExpiredToken,
                });
            }
        }
        if let Err(error) = key.verify(request, &parsed, now) {
            let account = Some(key.principal.account.clone());
            return Err(AuthFailure::Signature {
                access_key_id: Some(key_id),
                account,
                error,
            });
        }
        self.refuse_closed(&key_id, &key.principal.account).await?;
        Ok(Authenticated {
            principal: key.principal.clone(),
            scope: parsed.scope,
            issued_long_term_key: key.session.is_none(),
        })
    }

    /// Drops a key from the cache, so that a change to it takes effect on the next request.
    pub fn forget(&self, access_key_id: &str) {
        if let Ok(mut keys) = self.keys.write() {
            keys.remove(access_key_id);
            self.advance_epoch(&keys);
        }
    }

    /// The key epoch (see the module docs).
    fn key_epoch(&self) -> u64 {
        self.key_epoch.load(Ordering::SeqCst)
    }

    /// Advances the key epoch while the caller holds the write lock of the state that changed
    /// (`_held` shows it): a read of the store that began before is then not cached.
    fn advance_epoch<T>(&self, _held: &RwLockWriteGuard<'_, T>) {
        self.key_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks IAM state as changed: the authorizer's cached policy sets and entity facts are
    /// recompiled on their next use. IAM calls it after every write that changes
    /// permissions (policies, versions, attachments, group membership, boundaries, tags,
    /// trust policies, entity deletion and renaming). `account` is the changed account; today
    /// every account's cache is dropped, which is simple and correct.
    pub fn invalidate(&self, _account: &AccountId) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current IAM generation (see [`Authenticator::invalidate`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The session behind temporary credentials `access_key_id`, if it is one.
    pub async fn session(&self, access_key_id: &str) -> Result<Option<SessionRecord>, IamError> {
        let cached = self
            .keys
            .read()
            .ok()
            .and_then(|keys| keys.get(access_key_id).cloned());
        Ok(cached.and_then(|key| key.session().cloned()))
    }

    /// Whether `account` is closed: its principals are refused, its roles cannot be assumed.
    pub async fn is_closed(&self, account: &AccountId) -> Result<bool, IamError> {
        if let Some(closed) = self
            .closed_accounts
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|set| set.contains(account)))
        {
            return Ok(closed);
        }
        let epoch = self.key_epoch();
        let loaded: HashSet<AccountId> = crate::orgs::closed_accounts(&*self.store)
            .await?
            .into_iter()
            .collect();
        let closed = loaded.contains(account);
        // Kept only if no account was closed (nor state reset) while the store was read: that
        // account could be missing from what was read.
        if let Ok(mut c) = self.closed_accounts.write()
            && self.key_epoch() == epoch
        {
            c.get_or_insert_with(HashSet::new).extend(loaded);
        }
        Ok(closed)
    }

    /// Records that `account` was closed (Organizations wrote it to the store already).
    pub fn account_closed(&self, account: &AccountId) {
        if let Ok(mut c) = self.closed_accounts.write() {
            if let Some(set) = c.as_mut() {
                set.insert(account.clone());
            }
            self.advance_epoch(&c);
        }
    }

    async fn refuse_closed(&self, key_id: &str, account: &AccountId) -> Result<(), AuthFailure> {
        if self.is_closed(account).await? {
            return Err(AuthFailure::AccountClosed {
                access_key_id: key_id.to_owned(),
                account: account.clone(),
            });
        }
        Ok(())
    }

    /// Drops every cached key and account (dev-mode state reset).
    pub fn forget_all(&self) {
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
            self.advance_epoch(&keys);
        }
        if let Ok(mut accounts) = self.known_accounts.write() {
            accounts.clear();
        }
        if let Ok(mut closed) = self.closed_accounts.write() {
            *closed = None;
            self.advance_epoch(&closed);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The key `access_key_id` names; `epoch` is the key epoch read before the store is, so
    /// that a key read just before a change to it is not cached.
    async fn key(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        epoch: u64,
    ) -> Result<Lookup, IamError> {
        if access_key_id.starts_with(portcullis_core::id::prefix::TEMPORARY_ACCESS_KEY) {
            return Ok(self.session_key(access_key_id, token, epoch));
        }
        if let Some(hit) = self
            .keys
            .read()
            .ok()
            .and_then(|keys| keys.get(access_key_id).cloned())
        {
            return Ok(Lookup::Active(hit));
        }
        let found = self.load_key(access_key_id, epoch).await?;
        if found.is_none()
            && self
                .store
                .get(keys::RETIRED_KIND, "", access_key_id)
                .await?
                .is_some()
        {
            return Ok(Lookup::Refused);
        }
        Ok(match found {
            Some(Some(key)) => Lookup::Active(key),
            Some(None) => Lookup::Refused,
            None => Lookup::Unknown,
        })
    }

    /// Temporary credentials: the session their token carries. Temporary credentials are only
    /// valid with their session token (STS API Reference, "Using temporary credentials"): a
    /// token that Portcullis made for another key, or altered, is refused in every mode; one
    /// that is not Portcullis's at all (or none) leaves the key unknown, which dev mode takes
    /// as it takes any key it did not issue.
    fn session_key(&self, access_key_id: &str, token: Option<&str>, epoch: u64) -> Lookup {
        let Some(token) = token else {
            return Lookup::Unknown;
        };
        let cached = self
            .keys
            .read()
            .ok()
            .and_then(|keys| keys.get(access_key_id).cloned());
        if let Some(key) = cached
            && let Some((_, known)) = &key.session
            && portcullis_core::secret::ct_eq(known.expose().as_bytes(), token.as_bytes())
        {
            return Lookup::Active(key);
        }
        if !sessions::is_portcullis_token(token) {
            return Lookup::Unknown;
        }
        let Some((session, secret)) = sessions::open(&self.master, access_key_id, token) else {
            return Lookup::Refused;
        };
        let principal = session.principal.clone();
        let key = Arc::new(CachedKey::new(
            secret,
            principal,
            Some((session, Secret::new(token.to_owned()))),
        ));
        if let Ok(mut keys) = self.keys.write() {
            if keys.len() >= MAX_CACHED_KEYS {
                // Bounded: sessions are cheap to open again from their tokens.
                keys.retain(|_, key| key.session.is_none());
            }
            if self.key_epoch() == epoch {
                keys.insert(access_key_id.to_owned(), Arc::clone(&key));
            }
        }
        Lookup::Active(key)
    }

    /// The session `token` carries for `access_key_id`, kept for the requests that follow as
    /// authentication keeps it (for callers that verified the request by other means).
    #[cfg(test)]
    pub(crate) fn admit_session(&self, access_key_id: &str, token: &str) -> Option<SessionRecord> {
        match self.session_key(access_key_id, Some(token), self.key_epoch()) {
            Lookup::Active(key) => key.session().cloned(),
            Lookup::Refused | Lookup::Unknown => None,
        }
    }

    /// Drops the cached sessions that have expired by `now` (the server's periodic work).
    pub fn forget_expired(&self, now: SystemTime) {
        if let Ok(mut keys) = self.keys.write() {
            keys.retain(|_, key| key.session().is_none_or(|s| !s.expired(now)));
        }
    }

    /// The key from the store: `None` when there is no record, `Some(None)` when it is inactive.
    /// It is cached only if the key epoch is still `epoch`, read before the store was: a change
    /// to the key made meanwhile (deactivated, deleted) advanced it after writing the store.
    async fn load_key(
        &self,
        access_key_id: &str,
        epoch: u64,
    ) -> Result<Option<Option<Arc<CachedKey>>>, IamError> {
        let Some(item) = self.store.get(keys::KIND, "", access_key_id).await? else {
            return Ok(None);
        };
        let record: AccessKeyRecord = serde_json::from_value(item.value)
            .map_err(|e| IamError::corrupt(keys::KIND, access_key_id, e))?;
        if record.status != KeyStatus::Active {
            return Ok(Some(None));
        }
        let cached = Arc::new(CachedKey::new(
            record.secret(&self.master)?,
            record.principal(),
            None,
        ));
        if let Ok(mut keys) = self.keys.write()
            && self.key_epoch() == epoch
        {
            keys.insert(access_key_id.to_owned(), cached.clone());
        }
        Ok(Some(Some(cached)))
    }

    async fn ensure_account(&self, account: &AccountId, now: SystemTime) -> Result<(), IamError> {
        if self
            .known_accounts
            .read()
            .is_ok_and(|known| known.contains(account))
        {
            return Ok(());
        }
        self.accounts.ensure(account, "dev", now).await?;
        if let Ok(mut known) = self.known_accounts.write() {
            known.insert(account.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_lc_rs::digest;
    use http::{HeaderMap, HeaderValue, Method, Uri};

    use portcullis_core::PrincipalKind;
    use portcullis_store::StoreLocation;

    use super::*;
    use crate::sessions::{IssuedCredentials, NewSession, SessionKind};

    fn account() -> AccountId {
        AccountId::parse("111122223333").unwrap()
    }

    /// A GetCallerIdentity request signed with `creds` at `at`, with `token` as its
    /// `X-Amz-Security-Token`.
    fn signed(
        key_id: &str,
        secret: &Secret<String>,
        token: Option<&str>,
        at: SystemTime,
    ) -> (Method, Uri, HeaderMap, Vec<u8>) {
        let body = b"Action=GetCallerIdentity&Version=2011-06-15".to_vec();
        let method = Method::POST;
        let uri: Uri = "/".parse().unwrap();
        let amz_date = sigv4::format_amz_date(at);
        let date = &amz_date[..8];
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("localhost"));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).unwrap());
        let mut signed_headers = "content-type;host;x-amz-date".to_owned();
        if let Some(token) = token {
            headers.insert(
                "x-amz-security-token",
                HeaderValue::from_str(token).unwrap(),
            );
            signed_headers.push_str(";x-amz-security-token");
        }
        let authorization = |signature: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential={key_id}/{date}/us-east-1/sts/aws4_request, \
                 SignedHeaders={signed_headers}, Signature={signature}"
            )
        };
        headers.insert(
            "authorization",
            HeaderValue::from_str(&authorization(&"0".repeat(64))).unwrap(),
        );
        let hash: String = digest::digest(&digest::SHA256, &body)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let parts = HttpRequestParts {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: &body,
        };
        let parsed = sigv4::parse(&parts).unwrap().unwrap();
        let signature = sigv4::sign(&parts, &parsed, secret, &hash).unwrap();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&authorization(&signature)).unwrap(),
        );
        (method, uri, headers, body)
    }

    /// A GetSessionToken session of `principal` for 15 minutes.
    fn token_session(principal: Principal) -> NewSession {
        NewSession::new(
            principal,
            SessionKind::SessionToken,
            Duration::from_secs(900),
        )
    }

    async fn authenticate(
        auth: &Authenticator,
        creds: &IssuedCredentials,
        token: Option<&str>,
        at: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        let (method, uri, headers, body) =
            signed(&creds.access_key_id, &creds.secret_access_key, token, at);
        let parts = HttpRequestParts {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: &body,
        };
        auth.authenticate(&parts, sigv4::parse(&parts), "sts", at)
            .await
    }

    /// A master key and an in-memory store sealed under it.
    async fn master_and_store() -> (Arc<MasterKey>, Arc<dyn Store>) {
        let master = Arc::new(MasterKey::generate().unwrap());
        let store = portcullis_store::open(&StoreLocation::SqliteInMemory, master.derive("a"))
            .await
            .unwrap();
        (master, store)
    }

    #[tokio::test]
    async fn temporary_credentials_need_their_token_and_expire() {
        let (master, store) = master_and_store().await;
        let auth = Authenticator::new(store.clone(), master.clone(), Mode::Secure);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut principal = Principal::root(account(), String::new());
        principal.mfa_authenticated = true;
        let (creds, _) = crate::sessions::issue(&master, token_session(principal), t0).unwrap();
        let token = creds.session_token.expose().clone();

        let ok = authenticate(&auth, &creds, Some(&token), t0 + Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(ok.principal.access_key_id, creds.access_key_id);
        assert_eq!(ok.principal.kind, PrincipalKind::Root);
        assert!(ok.principal.mfa_authenticated);
        assert_eq!(ok.principal.token_issued_at, Some(t0));

        for bad in [None, Some("PCSTnot-the-token")] {
            let err = authenticate(&auth, &creds, bad, t0 + Duration::from_secs(10))
                .await
                .unwrap_err();
            assert_eq!(
                err.to_aws_error(crate::sts::PROTOCOL).code,
                "InvalidClientTokenId"
            );
        }
        let err = authenticate(&auth, &creds, Some(&token), t0 + Duration::from_secs(900))
            .await
            .unwrap_err();
        let err = err.to_aws_error(crate::sts::PROTOCOL);
        assert_eq!(err.code, "ExpiredToken");
        assert_eq!(err.status, http::StatusCode::BAD_REQUEST);

        // Nothing is stored: another node with the same master key verifies the session, and
        // refuses the token of another session (even one it has verified) for this key.
        let other_node = Authenticator::new(store.clone(), master.clone(), Mode::Secure);
        let ok = authenticate(
            &other_node,
            &creds,
            Some(&token),
            t0 + Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(ok.principal.access_key_id, creds.access_key_id);
        let (second, _) = crate::sessions::issue(
            &master,
            token_session(Principal::root(account(), String::new())),
            t0,
        )
        .unwrap();
        let second_token = second.session_token.expose().clone();
        authenticate(&other_node, &second, Some(&second_token), t0)
            .await
            .unwrap();
        let err = authenticate(&other_node, &creds, Some(&second_token), t0)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_aws_error(crate::sts::PROTOCOL).code,
            "InvalidClientTokenId"
        );
        // Expired sessions leave the cache; their tokens still answer ExpiredToken.
        other_node.forget_expired(t0 + Duration::from_secs(900));
        assert!(
            other_node
                .session(&creds.access_key_id)
                .await
                .unwrap()
                .is_none()
        );
        let err = authenticate(
            &other_node,
            &creds,
            Some(&token),
            t0 + Duration::from_secs(901),
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_aws_error(crate::sts::PROTOCOL).code, "ExpiredToken");
    }

    /// A root access key of [`account`], written to `store` as IAM writes it.
    async fn issue_long_term_key(store: &dyn Store, master: &MasterKey) -> IssuedCredentials {
        let credentials = long_term_credentials();
        let record = AccessKeyRecord::seal(
            master,
            credentials.access_key_id.clone(),
            account(),
            keys::KeyOwner::Root,
            "2026-11-29T00:00:00Z".to_owned(),
            &credentials.secret_access_key,
        )
        .unwrap();
        put_key(store, &record).await;
        credentials
    }

    fn long_term_credentials() -> IssuedCredentials {
        IssuedCredentials {
            access_key_id: "AKIAIOSFODNN7THREADS".to_owned(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYTHREADKEY".to_owned()),
            session_token: Secret::new(String::new()),
            expiration: String::new(),
        }
    }

    async fn put_key(store: &dyn Store, record: &AccessKeyRecord) {
        store
            .write(vec![portcullis_store::WriteOp::put(
                keys::KIND,
                "",
                record.access_key_id.clone(),
                serde_json::to_value(record).unwrap(),
                portcullis_store::Precondition::Any,
            )])
            .await
            .unwrap();
    }

    /// A request thread of its own, serving one request per message and answering with the
    /// error code, `None` for success.
    fn request_thread(
        auth: Arc<Authenticator>,
        creds: IssuedCredentials,
    ) -> (
        std::sync::mpsc::Sender<SystemTime>,
        std::sync::mpsc::Receiver<Option<String>>,
    ) {
        let (ask, asked) = std::sync::mpsc::channel::<SystemTime>();
        let (answer, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            for at in asked {
                let result = runtime.block_on(authenticate(&auth, &creds, None, at));
                let code = result
                    .err()
                    .map(|e| e.to_aws_error(crate::sts::PROTOCOL).code.to_string());
                if answer.send(code).is_err() {
                    break;
                }
            }
        });
        (ask, answers)
    }

    /// A change on one thread reaches a thread that has just served the key: a key made
    /// inactive is refused there at once, and so are the keys of a closed account, and
    /// everything after a reset.
    #[tokio::test]
    async fn a_change_on_one_thread_reaches_a_thread_that_served_the_key() {
        let (master, store) = master_and_store().await;
        let auth = Arc::new(Authenticator::new(
            store.clone(),
            master.clone(),
            Mode::Secure,
        ));
        let creds = issue_long_term_key(&*store, &master).await;
        let (ask, answers) = request_thread(auth.clone(), long_term_credentials());
        let serve = || {
            ask.send(SystemTime::now()).unwrap();
            answers.recv().unwrap()
        };
        let invalid = Some("InvalidClientTokenId".to_owned());

        // Deactivated (UpdateAccessKey writes the store, then forgets the key).
        for _ in 0..3 {
            assert_eq!(serve(), None);
        }
        let mut record: AccessKeyRecord = serde_json::from_value(
            store
                .get(keys::KIND, "", &creds.access_key_id)
                .await
                .unwrap()
                .unwrap()
                .value,
        )
        .unwrap();
        record.status = KeyStatus::Inactive;
        put_key(&*store, &record).await;
        auth.forget(&creds.access_key_id);
        assert_eq!(serve(), invalid);
        record.status = KeyStatus::Active;
        put_key(&*store, &record).await;
        auth.forget(&creds.access_key_id);
        assert_eq!(serve(), None);
        assert_eq!(serve(), None);

        // The account closed (Organizations writes the store, then tells the authenticator).
        auth.account_closed(&account());
        assert_eq!(serve(), invalid);

        // A dev-mode style reset: the store emptied, the authenticator's memory dropped.
        let fresh = Arc::new(Authenticator::new(
            store.clone(),
            master.clone(),
            Mode::Secure,
        ));
        let (ask, answers) = request_thread(fresh.clone(), long_term_credentials());
        let serve = || {
            ask.send(SystemTime::now()).unwrap();
            answers.recv().unwrap()
        };
        assert_eq!(serve(), None);
        assert_eq!(serve(), None);
        store
            .write(vec![portcullis_store::WriteOp::delete(
                keys::KIND,
                "",
                creds.access_key_id.clone(),
                portcullis_store::Precondition::Any,
            )])
            .await
            .unwrap();
        fresh.forget_all();
        assert_eq!(serve(), invalid);
    }

    /// A key read from the store just before a change to it is not cached: the change advanced
    /// the key epoch in between.
    #[tokio::test]
    async fn a_key_read_before_a_change_is_not_kept() {
        let (master, store) = master_and_store().await;
        let auth = Authenticator::new(store.clone(), master.clone(), Mode::Secure);
        let creds = issue_long_term_key(&*store, &master).await;
        let before = auth.key_epoch();
        auth.forget("AKIAANOTHERKEY000000");
        assert!(matches!(
            auth.load_key(&creds.access_key_id, before).await.unwrap(),
            Some(Some(_))
        ));
        assert!(auth.keys.read().unwrap().is_empty());

        assert!(matches!(
            auth.load_key(&creds.access_key_id, auth.key_epoch())
                .await
                .unwrap(),
            Some(Some(_))
        ));
        assert_eq!(auth.keys.read().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn dev_mode_refuses_altered_portcullis_tokens_but_takes_foreign_ones_as_root() {
        let (master, store) = master_and_store().await;
        let auth = Authenticator::new(
            store,
            master.clone(),
            Mode::Dev {
                default_account: account(),
            },
        );
        let now = SystemTime::now();
        let (creds, _) = crate::sessions::issue(
            &master,
            token_session(Principal::root(account(), String::new())),
            now,
        )
        .unwrap();
        let mut altered = creds.session_token.expose().clone();
        altered.pop();
        altered.push('A');
        let err = authenticate(&auth, &creds, Some(&altered), now)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_aws_error(crate::sts::PROTOCOL).code,
            "InvalidClientTokenId"
        );
        // A token that is not Portcullis's, as local emulators' users pass: the default root.
        let ok = authenticate(&auth, &creds, Some("FQoGZXIvYXdzEXAMPLE"), now)
            .await
            .unwrap();
        assert_eq!(ok.principal.kind, PrincipalKind::Root);
        assert_eq!(ok.principal.account, account());
    }
}
