//! The account lifecycle work that AWS does after answering: CreateAccount and CloseAccount
//! return at once (`IN_PROGRESS`, `PENDING_CLOSURE`) and the account is made or closed in the
//! background (Organizations API Reference, CreateAccount and CloseAccount).
//!
//! Every request is recorded in the organization document before the call returns, with all
//! it needs; [`Lifecycle::settle`] finishes whatever an organization has pending. It runs
//! [`COMPLETION_DELAY`] after the call, and again from [`super::Organizations::run_due_work`]
//! (every minute, and at once on start), so a request a restart interrupted is finished on
//! the next start. Settling is idempotent: it rewrites the document with a compare-and-swap and
//! only acts on what is still pending.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use portcullis_core::{AccountId, Clock, iso8601};
use portcullis_store::{ListQuery, MasterKey, Precondition, Store, StoreError, WriteOp};

use super::model::{
    CLOSED, CLOSED_KIND, CreateRequest, EMAIL_KIND, IN_PROGRESS, MAX_ACCOUNTS, Member, ORG_KIND,
    OrgDoc, PENDING_CLOSURE, POST_CLOSURE, SUSPENDED,
};
use super::{access_role, load_org, member_put, put_org};
use crate::iam::records;
use crate::{Accounts, Authenticator, IamError};

/// How long after CreateAccount or CloseAccount the background work runs: long enough that a
/// client sees the asynchronous states AWS reports, short enough that one polling loop sees
/// the end state within a second.
pub const COMPLETION_DELAY: Duration = Duration::from_millis(300);

/// What settles pending requests: owned handles, so that it runs in a task of its own.
#[derive(Clone)]
pub(crate) struct Lifecycle {
    pub store: Arc<dyn Store>,
    pub master: Arc<MasterKey>,
    pub auth: Arc<Authenticator>,
    pub clock: Arc<dyn Clock>,
}

impl Lifecycle {
    /// Settles organization `org_id` after [`COMPLETION_DELAY`], in a task of its own.
    pub fn settle_soon(&self, org_id: String) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(COMPLETION_DELAY).await;
            if let Err(e) = this.settle(&org_id).await {
                tracing::error!(organization = %org_id, error = %e, "finishing account requests failed");
            }
        });
    }

    /// Settles every organization with pending work.
    pub async fn settle_all(&self) -> Result<(), IamError> {
        let now = epoch(self.clock.now());
        let page = self.store.list(ListQuery::all(ORG_KIND, "")).await?;
        for item in page.items {
            let Ok(org) = serde_json::from_value::<OrgDoc>(item.value) else {
                continue;
            };
            if has_pending_work(&org, now) {
                self.settle(&org.id).await?;
            }
        }
        Ok(())
    }

    /// Finishes the pending CreateAccount requests and closures of `org_id`, and moves
    /// accounts past their post-closure period to `CLOSED`.
    pub async fn settle(&self, org_id: &str) -> Result<(), IamError> {
        for _ in 0..5 {
            let Some((mut org, version)) = load_org(&*self.store, org_id).await? else {
                return Ok(());
            };
            let at = self.clock.now();
            let now = epoch(at);
            if !has_pending_work(&org, now) {
                return Ok(());
            }
            let mut ops = Vec::new();
            let pending: Vec<usize> = org
                .create_requests
                .iter()
                .enumerate()
                .filter(|(_, r)| r.state == IN_PROGRESS)
                .map(|(i, _)| i)
                .collect();
            for i in pending {
                let Some(request) = org.create_requests.get(i).cloned() else {
                    continue;
                };
                let outcome = self.create(&mut org, &request, at, &mut ops).await?;
                if let Some(r) = org.create_requests.get_mut(i) {
                    r.completed = Some(now);
                    match outcome {
                        Ok(()) => r.state = "SUCCEEDED".to_owned(),
                        Err(reason) => {
                            r.state = "FAILED".to_owned();
                            r.failure_reason = Some(reason.to_owned());
                        }
                    }
                }
            }
            let mut closed = Vec::new();
            for (id, member) in &mut org.accounts {
                if member.status == PENDING_CLOSURE {
                    member.status = SUSPENDED.to_owned();
                    closed.push(id.clone());
                    ops.push(WriteOp::Put {
                        kind: CLOSED_KIND.to_owned(),
                        account: String::new(),
                        id: id.clone(),
                        value: json!({"ClosedAt": member.closed.unwrap_or(now)}),
                        precondition: Precondition::Any,
                    });
                } else if member.status == SUSPENDED
                    && member.closed.is_some_and(|t| t + POST_CLOSURE <= now)
                {
                    member.status = CLOSED.to_owned();
                }
            }
            ops.push(put_org(&org, Precondition::Version(version)).map_err(corrupt)?);
            match self.store.write(ops).await {
                Ok(()) => {
                    for id in &closed {
                        if let Ok(account) = AccountId::parse(id) {
                            self.auth.account_closed(&account);
                        }
                    }
                    // The tree changed: SCP chains and org context keys are read afresh.
                    if let Ok(account) = AccountId::parse(&org.management) {
                        self.auth.invalidate(&account);
                    }
                    return Ok(());
                }
                // Another change won the race (or an email was taken meanwhile): again.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Makes the account of one request in `org`, or says why it cannot (AWS's
    /// CreateAccountFailureReason). The account record is written at once (idempotent); the
    /// rest goes into `ops`, written with the organization.
    async fn create(
        &self,
        org: &mut OrgDoc,
        r: &CreateRequest,
        at: SystemTime,
        ops: &mut Vec<WriteOp>,
    ) -> Result<Result<(), &'static str>, IamError> {
        let email = r.email.to_ascii_lowercase();
        let taken_here = org
            .accounts
            .values()
            .any(|a| a.email.eq_ignore_ascii_case(&email));
        if taken_here || email_owner(&*self.store, &email).await?.is_some() {
            return Ok(Err("EMAIL_ALREADY_EXISTS"));
        }
        if org.quota_count() >= MAX_ACCOUNTS {
            return Ok(Err("ACCOUNT_LIMIT_EXCEEDED"));
        }
        let Some(account) = r
            .account_id
            .as_deref()
            .and_then(|a| AccountId::parse(a).ok())
        else {
            return Ok(Err("INTERNAL_FAILURE"));
        };
        let id = account.as_str().to_owned();
        Accounts::new(self.store.clone(), self.master.clone())
            .ensure(&account, &r.account_name, at)
            .await?;
        let now = epoch(at);
        org.accounts.insert(
            id.clone(),
            Member {
                name: r.account_name.clone(),
                email: r.email.clone(),
                parent: org.root_id.clone(),
                status: "ACTIVE".to_owned(),
                joined_method: "CREATED".to_owned(),
                joined: now,
                closed: None,
            },
        );
        org.attach_defaults(&id);
        if !r.tags.is_empty() {
            org.tags.insert(id.clone(), r.tags.clone());
        }
        let role = access_role(&account, &org.management, &r.role_name, &iso8601(at));
        ops.push(member_put(&id, &org.id, Precondition::Absent).map_err(corrupt)?);
        ops.push(WriteOp::Put {
            kind: records::ROLE.to_owned(),
            account: id.clone(),
            id: records::name_key(&r.role_name),
            value: serde_json::to_value(&role)
                .map_err(|e| IamError::corrupt(records::ROLE, &r.role_name, e))?,
            precondition: Precondition::Absent,
        });
        ops.push(WriteOp::Put {
            kind: EMAIL_KIND.to_owned(),
            account: String::new(),
            id: email,
            value: json!({"AccountId": id}),
            precondition: Precondition::Absent,
        });
        Ok(Ok(()))
    }
}

/// Whether `org` has a request to finish or an account to move on in its closure.
fn has_pending_work(org: &OrgDoc, now: u64) -> bool {
    org.create_requests.iter().any(|r| r.state == IN_PROGRESS)
        || org.accounts.values().any(|m| {
            m.status == PENDING_CLOSURE
                || (m.status == SUSPENDED && m.closed.is_some_and(|t| t + POST_CLOSURE <= now))
        })
}

/// The account whose root user has `email` (any case), from the email index.
pub(crate) async fn email_owner(
    store: &dyn Store,
    email: &str,
) -> Result<Option<String>, IamError> {
    let Some(item) = store
        .get(EMAIL_KIND, "", &email.to_ascii_lowercase())
        .await?
    else {
        return Ok(None);
    };
    Ok(item
        .value
        .get("AccountId")
        .and_then(Value::as_str)
        .map(str::to_owned))
}

/// The root email of `account`: the one CreateAccount gave it, or Portcullis's default.
pub(crate) async fn root_email(store: &dyn Store, account: &str) -> Result<String, IamError> {
    let page = store.list(ListQuery::all(EMAIL_KIND, "")).await?;
    Ok(page
        .items
        .into_iter()
        .find(|i| i.value.get("AccountId").and_then(Value::as_str) == Some(account))
        .map_or_else(|| super::default_email(account), |i| i.id))
}

/// Every closed account, for the authenticator.
pub async fn closed_accounts(store: &dyn Store) -> Result<Vec<AccountId>, IamError> {
    let page = store.list(ListQuery::all(CLOSED_KIND, "")).await?;
    Ok(page
        .items
        .iter()
        .filter_map(|i| AccountId::parse(&i.id).ok())
        .collect())
}

/// Seconds since the epoch.
pub(crate) fn epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn corrupt(e: portcullis_aws::AwsError) -> IamError {
    IamError::corrupt(ORG_KIND, "organization", e.message)
}
