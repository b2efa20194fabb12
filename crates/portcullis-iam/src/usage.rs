//! Usage data, recorded without a write per request: when each access key was last used
//! (`GetAccessKeyLastUsed`, the credential report), when each role was last used
//! (`RoleLastUsed`), and when each IAM user and role last attempted each service and action
//! (the access advisor: `GenerateServiceLastAccessedDetails`).
//!
//! Uses are noted in memory ([`Usage::note_key`], [`Usage::note_attempt`],
//! [`Usage::note_role_assumed`]) and written in one batch every few seconds
//! ([`Usage::flush`], driven by the server, and once more at shutdown), keeping only the
//! latest use of each thing. Noting a use that is already pending allocates nothing. Each
//! request thread notes into a shard of its own ([`Shards`]), so that noting writes no cache
//! line another core writes too; the flush merges the shards.
//!
//! | kind | account | id | record |
//! |---|---|---|---|
//! | `iam.access-key-used` | `""` | key id | [`AccessKeyLastUsed`] |
//! | `iam.role-used` | owner | role id (`AROA...`) | [`RoleLastUsed`] |
//! | `iam.access-used` | owner | `ENTITYID/service` or `ENTITYID/service/Action` | [`LastAccess`] |
//!
//! Entities are keyed by their unique ids, never by name: a role deleted and created again
//! under the same name starts without history, as in AWS. Actions are recorded for the
//! services whose actions AWS tracks ([`TRACKED_SERVICES`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use portcullis_core::shard::Shards;
use portcullis_core::{AccountId, Principal, PrincipalKind, iso8601};
use portcullis_store::{ListQuery, Precondition, Store, WriteOp};

use crate::IamError;
use crate::iam::records::{ACCESS_KEY_USED, AccessKeyLastUsed, RoleLastUsed};

/// Store kind of role last-used records (id = role id).
pub const ROLE_USED: &str = "iam.role-used";
/// Store kind of service and action last-access records of users and roles.
pub const ACCESS_USED: &str = "iam.access-used";

/// The services whose actions are tracked one by one (action-level access advisor data: AWS
/// tracks IAM's, EC2's, Lambda's and S3's management actions; Portcullis serves IAM).
pub const TRACKED_SERVICES: &[&str] = &["iam"];

/// The last attempt of one user or role on one service or action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LastAccess {
    /// ISO 8601.
    pub last_authenticated: String,
    /// The region the request was signed for.
    pub region: String,
}

/// One user's or role's uses not yet written.
struct EntityUses {
    account: AccountId,
    /// A role: its last use is also its `RoleLastUsed`.
    role: bool,
    /// The latest use of a role (assumed or used by a session).
    last: Option<(SystemTime, String)>,
    /// Per action (`iam:GetUser`), the latest attempt.
    actions: HashMap<String, (SystemTime, String)>,
}

/// Uses not yet written.
#[derive(Default)]
pub struct Usage {
    pending: Shards<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Access key id -> latest use (time, service, region).
    keys: HashMap<String, (SystemTime, &'static str, String)>,
    /// User or role unique id -> its uses.
    entities: HashMap<String, EntityUses>,
}

impl Pending {
    /// Takes in `other`'s uses (another thread's shard), keeping the latest of each.
    fn absorb(&mut self, other: Pending) {
        for (key, used) in other.keys {
            match self.keys.entry(key) {
                Entry::Occupied(mut slot) if slot.get().0 <= used.0 => *slot.get_mut() = used,
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert(used);
                }
            }
        }
        for (id, uses) in other.entities {
            let mine = match self.entities.entry(id) {
                Entry::Occupied(slot) => slot.into_mut(),
                Entry::Vacant(slot) => {
                    slot.insert(uses);
                    continue;
                }
            };
            if let Some((at, region)) = uses.last {
                keep_latest(
                    mine.last.get_or_insert_with(|| (at, String::new())),
                    at,
                    &region,
                );
            }
            for (action, (at, region)) in uses.actions {
                match mine.actions.entry(action) {
                    Entry::Occupied(mut slot) => keep_latest(slot.get_mut(), at, &region),
                    Entry::Vacant(slot) => {
                        slot.insert((at, region));
                    }
                }
            }
        }
    }
}

/// Keeps `(at, region)` in `slot` when it is later than what the slot holds.
fn keep_latest(slot: &mut (SystemTime, String), at: SystemTime, region: &str) {
    if slot.0 <= at {
        slot.0 = at;
        if slot.1 != region {
            region.clone_into(&mut slot.1);
        }
    }
}

/// The user or role a principal's attempts count for: `(unique id, is a role)`. The root
/// user and federated users are not IAM entities and have no access advisor data.
fn entity_of(principal: &Principal) -> Option<(&str, bool)> {
    match principal.kind {
        PrincipalKind::IamUser => Some((principal.user_id.as_str(), false)),
        // A role session's user id is `ROLEID:session-name`.
        PrincipalKind::AssumedRole => principal
            .user_id
            .split_once(':')
            .map(|(role_id, _)| (role_id, true)),
        PrincipalKind::Root | PrincipalKind::FederatedUser => None,
    }
}

impl Usage {
    /// Notes that `access_key_id` signed a request to `service` in `region` at `at`.
    pub fn note_key(
        &self,
        access_key_id: &str,
        at: SystemTime,
        service: &'static str,
        region: &str,
    ) {
        self.pending
            .with(|pending| match pending.keys.get_mut(access_key_id) {
                Some(entry) if entry.0 <= at => {
                    entry.0 = at;
                    entry.1 = service;
                    if entry.2 != region {
                        region.clone_into(&mut entry.2);
                    }
                }
                Some(_) => {}
                None => {
                    pending
                        .keys
                        .insert(access_key_id.to_owned(), (at, service, region.to_owned()));
                }
            });
    }

    /// Notes an authenticated attempt by `principal` to call `action` (`iam:GetUser`) in
    /// `region` at `at`, allowed or not (the access advisor reports attempts). A role
    /// session's attempt is also a use of its role.
    pub fn note_attempt(&self, principal: &Principal, action: &str, region: &str, at: SystemTime) {
        let Some((id, role)) = entity_of(principal) else {
            return;
        };
        self.pending.with(|pending| {
            with_entity(pending, &principal.account, id, role, |uses| {
                if role {
                    keep_latest(
                        uses.last.get_or_insert_with(|| (at, String::new())),
                        at,
                        region,
                    );
                }
                match uses.actions.get_mut(action) {
                    Some(slot) => keep_latest(slot, at, region),
                    None => {
                        uses.actions
                            .insert(action.to_owned(), (at, region.to_owned()));
                    }
                }
            });
        });
    }

    /// Notes that the role `role_id` of `account` was assumed in `region` at `at`.
    pub fn note_role_assumed(
        &self,
        account: &AccountId,
        role_id: &str,
        region: &str,
        at: SystemTime,
    ) {
        self.pending.with(|pending| {
            with_entity(pending, account, role_id, true, |uses| {
                keep_latest(
                    uses.last.get_or_insert_with(|| (at, String::new())),
                    at,
                    region,
                );
            });
        });
    }

    /// Writes every noted use in one batch.
    pub async fn flush(&self, store: &dyn Store) -> Result<(), IamError> {
        let mut pending = Pending::default();
        self.pending
            .each(|shard| pending.absorb(std::mem::take(shard)));
        let mut ops = Vec::new();
        for (key, (at, service, region)) in pending.keys {
            let used = AccessKeyLastUsed {
                last_used_date: iso8601(at),
                service_name: service.to_owned(),
                region,
            };
            ops.push(put(ACCESS_KEY_USED, "", key, &used)?);
        }
        for (id, uses) in pending.entities {
            let account = uses.account.as_str();
            if let Some((at, region)) = uses.last.filter(|_| uses.role) {
                let used = RoleLastUsed {
                    last_used_date: iso8601(at),
                    region,
                };
                ops.push(put(ROLE_USED, account, id.clone(), &used)?);
            }
            // Per service, the latest of its actions.
            let mut services: HashMap<&str, &(SystemTime, String)> = HashMap::new();
            for (action, latest) in &uses.actions {
                let Some((service, name)) = action.split_once(':') else {
                    continue;
                };
                let slot = services.entry(service).or_insert(latest);
                if slot.0 < latest.0 {
                    *slot = latest;
                }
                if TRACKED_SERVICES.contains(&service) {
                    ops.push(put(
                        ACCESS_USED,
                        account,
                        format!("{id}/{service}/{name}"),
                        &last_access(latest),
                    )?);
                }
            }
            for (service, latest) in services {
                ops.push(put(
                    ACCESS_USED,
                    account,
                    format!("{id}/{service}"),
                    &last_access(latest),
                )?);
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        store.write(ops).await?;
        Ok(())
    }
}

/// Applies `change` to the pending uses of entity `id`, creating them when there are none
/// (a pending entity costs no allocation).
fn with_entity(
    pending: &mut Pending,
    account: &AccountId,
    id: &str,
    role: bool,
    change: impl FnOnce(&mut EntityUses),
) {
    if let Some(uses) = pending.entities.get_mut(id) {
        change(uses);
        return;
    }
    let mut uses = EntityUses {
        account: account.clone(),
        role,
        last: None,
        actions: HashMap::new(),
    };
    change(&mut uses);
    pending.entities.insert(id.to_owned(), uses);
}

fn last_access((at, region): &(SystemTime, String)) -> LastAccess {
    LastAccess {
        last_authenticated: iso8601(*at),
        region: region.clone(),
    }
}

fn put(
    kind: &'static str,
    account: &str,
    id: String,
    record: &impl Serialize,
) -> Result<WriteOp, IamError> {
    let value = serde_json::to_value(record).map_err(|e| IamError::corrupt(kind, &id, e))?;
    Ok(WriteOp::put(kind, account, id, value, Precondition::Any))
}

/// When the role `role_id` of `account` was last used, if ever.
pub async fn role_last_used(
    store: &dyn Store,
    account: &AccountId,
    role_id: &str,
) -> Result<Option<RoleLastUsed>, IamError> {
    let Some(item) = store.get(ROLE_USED, account.as_str(), role_id).await? else {
        return Ok(None);
    };
    serde_json::from_value(item.value)
        .map(Some)
        .map_err(|e| IamError::corrupt(ROLE_USED, role_id, e))
}

/// When each role of `account` was last used: role id -> last use.
pub async fn roles_last_used(
    store: &dyn Store,
    account: &AccountId,
) -> Result<HashMap<String, RoleLastUsed>, IamError> {
    let page = store
        .list(ListQuery::all(ROLE_USED, account.as_str()))
        .await?;
    page.items
        .into_iter()
        .map(|item| {
            let record = serde_json::from_value(item.value)
                .map_err(|e| IamError::corrupt(ROLE_USED, &item.id, e))?;
            Ok((item.id, record))
        })
        .collect()
}

/// The recorded attempts of the user or role `entity_id`: service namespace -> its last
/// attempt, and (for [`TRACKED_SERVICES`]) `service/Action` -> the action's last attempt.
pub async fn last_accesses(
    store: &dyn Store,
    account: &AccountId,
    entity_id: &str,
) -> Result<HashMap<String, LastAccess>, IamError> {
    let prefix = format!("{entity_id}/");
    let mut query = ListQuery::all(ACCESS_USED, account.as_str());
    query.id_prefix = &prefix;
    let page = store.list(query).await?;
    page.items
        .into_iter()
        .map(|item| {
            let record: LastAccess = serde_json::from_value(item.value)
                .map_err(|e| IamError::corrupt(ACCESS_USED, &item.id, e))?;
            let key = item.id.get(prefix.len()..).unwrap_or_default().to_owned();
            Ok((key, record))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use portcullis_core::Arn;

    fn account() -> AccountId {
        AccountId::parse("123456789012").unwrap()
    }

    /// `s` seconds into the tests' time.
    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    /// A session of role `AROAROLE`.
    fn alice_session() -> Principal {
        let mut session = Principal::root(account(), "ASIAX".into());
        session.kind = PrincipalKind::AssumedRole;
        session.user_id = "AROAROLE:alice".into();
        session.arn = Arn::parse("arn:aws:sts::123456789012:assumed-role/r/alice").unwrap();
        session
    }

    async fn store() -> std::sync::Arc<dyn Store> {
        portcullis_store::open(
            &portcullis_store::StoreLocation::SqliteInMemory,
            portcullis_core::Secret::new(vec![1; 32]),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn keeps_the_latest_key_use_and_writes_it() {
        let store = store().await;
        let usage = Usage::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        usage.note_key("AKIAONE", t0 + Duration::from_secs(5), "iam", "us-east-1");
        usage.note_key("AKIAONE", t0, "kms", "eu-west-1"); // older: ignored
        usage.flush(store.as_ref()).await.unwrap();
        let used = crate::iam::records::access_key_last_used(store.as_ref(), "AKIAONE")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(used.service_name, "iam");
        assert_eq!(used.region, "us-east-1");
        assert_eq!(used.last_used_date, iso8601(t0 + Duration::from_secs(5)));
        // Nothing pending: nothing written, no error.
        usage.flush(store.as_ref()).await.unwrap();
    }

    #[tokio::test]
    async fn role_sessions_and_users_record_services_actions_and_role_use() {
        let store = store().await;
        let usage = Usage::default();
        let session = alice_session();
        let mut user = session.clone();
        user.kind = PrincipalKind::IamUser;
        user.user_id = "AIDAUSER".into();
        let root = Principal::root(account(), "AKIAROOT".into());

        usage.note_role_assumed(&account(), "AROAROLE", "eu-west-1", at(1));
        usage.note_attempt(&session, "iam:GetUser", "us-east-1", at(10));
        usage.note_attempt(&session, "iam:ListUsers", "us-west-2", at(20));
        usage.note_attempt(&session, "iam:GetUser", "us-east-1", at(5)); // older: ignored
        usage.note_attempt(&session, "kms:Encrypt", "eu-west-1", at(7));
        usage.note_attempt(&user, "sts:GetCallerIdentity", "us-east-1", at(3));
        usage.note_attempt(&root, "iam:GetUser", "us-east-1", at(3)); // root: not tracked
        usage.flush(store.as_ref()).await.unwrap();

        let role = role_last_used(&*store, &account(), "AROAROLE")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(role.last_used_date, iso8601(at(20)));
        assert_eq!(role.region, "us-west-2");
        let role_access = last_accesses(&*store, &account(), "AROAROLE")
            .await
            .unwrap();
        let mut keys: Vec<&str> = role_access.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["iam", "iam/GetUser", "iam/ListUsers", "kms"]);
        assert_eq!(role_access["iam"].last_authenticated, iso8601(at(20)));
        assert_eq!(
            role_access["iam/GetUser"].last_authenticated,
            iso8601(at(10))
        );
        assert_eq!(role_access["kms"].region, "eu-west-1");
        let user_access = last_accesses(&*store, &account(), "AIDAUSER")
            .await
            .unwrap();
        assert_eq!(
            user_access.len(),
            1,
            "sts actions are not tracked one by one"
        );
        assert!(
            role_last_used(&*store, &account(), "AIDAUSER")
                .await
                .unwrap()
                .is_none()
        );
        let all = store
            .list(ListQuery::all(ACCESS_USED, account().as_str()))
            .await
            .unwrap();
        assert_eq!(all.items.len(), 5, "nothing recorded for the root user");
    }

    #[tokio::test]
    async fn uses_noted_on_different_threads_merge_to_the_latest() {
        let store = store().await;
        let usage = Usage::default();
        let session = alice_session();
        // Each thread notes into its own shard; the older use comes second on purpose.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    usage.note_key("AKIAONE", at(5), "iam", "us-east-1");
                    usage.note_attempt(&session, "iam:GetUser", "us-east-1", at(30));
                })
                .join()
                .unwrap();
            scope
                .spawn(|| {
                    usage.note_key("AKIAONE", at(1), "kms", "eu-west-1");
                    usage.note_role_assumed(&account(), "AROAROLE", "eu-west-1", at(2));
                    usage.note_attempt(&session, "iam:GetUser", "eu-west-1", at(10));
                    usage.note_attempt(&session, "iam:ListUsers", "eu-west-1", at(11));
                })
                .join()
                .unwrap();
        });
        usage.flush(store.as_ref()).await.unwrap();
        let used = crate::iam::records::access_key_last_used(store.as_ref(), "AKIAONE")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (used.service_name.as_str(), used.region.as_str()),
            ("iam", "us-east-1")
        );
        assert_eq!(used.last_used_date, iso8601(at(5)));
        let role = role_last_used(&*store, &account(), "AROAROLE")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (role.last_used_date, role.region.as_str()),
            (iso8601(at(30)), "us-east-1")
        );
        let access = last_accesses(&*store, &account(), "AROAROLE")
            .await
            .unwrap();
        assert_eq!(access["iam/GetUser"].last_authenticated, iso8601(at(30)));
        assert_eq!(access["iam/GetUser"].region, "us-east-1");
        assert_eq!(access["iam/ListUsers"].last_authenticated, iso8601(at(11)));
        assert_eq!(access["iam"].last_authenticated, iso8601(at(30)));
    }
}
