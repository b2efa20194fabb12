//! The audit trail: one CloudTrail record for every API call, allowed, denied or refused at
//! authentication, written to the store's hash-chained log.
//!
//! Records go through a channel to one writer task that commits them in batches (group
//! commit): concurrent requests share one transaction and one disk sync. A call that changed
//! state waits until its record is durable before the client gets its answer, so an
//! acknowledged change is always in the trail, even after a crash. Read-only calls (including
//! STS's issuing of temporary credentials, read-only in CloudTrail) and refused calls do not
//! wait, as CloudTrail itself delivers events after the fact: their records gather for up to a
//! few milliseconds so that one commit serves many, and a crash can lose those last few
//! milliseconds of them, never a record of a change. `--audit-durability all` makes every
//! call wait. On shutdown the writer drains the channel before the store closes.
//!
//! A record keeps its event's indexed fields (event id, account, source, name, caller, key,
//! error code) apart, and as its body only the rest of the event that is not the same in every
//! record (see [`CloudTrailEvent::write_stored`]); [`cloudtrail_json`] rebuilds the whole
//! CloudTrail JSON when the trail is read. The chain hashes every record the server writes, so
//! what it hashes is kept small. Records written before this form hold the whole event as
//! their body and are read as they are.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use portcullis_aws::AwsError;
use portcullis_core::{Principal, PrincipalKind, iso8601_text};
use portcullis_model::{ShapeKind, ShapeRef};
use portcullis_store::{AuditFields, AuditRecord, NewAuditRecord, Store};

use crate::config::AuditDurability;
use crate::route::{Service, is_read_only};

/// How many records one store transaction takes at most.
const MAX_BATCH: usize = 1_024;
/// How long records that nobody waits for may gather before they are committed.
const LINGER: Duration = Duration::from_millis(5);
/// How many records may wait for the writer before callers wait for room.
const QUEUE: usize = 4_096;
/// CloudTrail's placeholder for parameters it does not record.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";
/// Request parameter names (lower case, without separators) whose values never enter the trail.
const SECRET_PARAMETERS: [&str; 10] = [
    "password",
    "newpassword",
    "oldpassword",
    "secretaccesskey",
    "sessiontoken",
    "plaintext",
    "privatekey",
    "privatekeyplaintext",
    "importtoken",
    "encryptedkeymaterial",
];

/// One entry of the writer's queue: a record, or (`None`) a flush marker; `durable` is told
/// once everything up to and including this entry is committed.
struct Pending {
    record: Option<NewAuditRecord>,
    durable: Option<oneshot::Sender<()>>,
}

/// The sending side of the audit trail.
pub struct AuditSink {
    tx: mpsc::Sender<Pending>,
    durability: AuditDurability,
    /// Told when a record someone waits for (or a flush) is queued, or the queue fills: it
    /// ends the writer's gathering at once.
    urgent: Arc<Notify>,
    shutdown: Arc<Notify>,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl AuditSink {
    /// Starts the writer task over `store`; `durability` says which calls wait for their
    /// record.
    pub fn start(store: Arc<dyn Store>, durability: AuditDurability) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let shutdown = Arc::new(Notify::new());
        let urgent = Arc::new(Notify::new());
        let writer = tokio::spawn(write_loop(store, rx, urgent.clone(), shutdown.clone()));
        Self {
            tx,
            durability,
            urgent,
            shutdown,
            writer: std::sync::Mutex::new(Some(writer)),
        }
    }

    /// Appends the record of a call that `changed_state` (succeeded and is not read-only);
    /// returns only once the record is committed if the sink's durability asks for it.
    pub async fn record(&self, record: NewAuditRecord, changed_state: bool) {
        let wait_durable = changed_state || self.durability == AuditDurability::All;
        let (durable, done) = if wait_durable {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let record = Some(record);
        if self.tx.send(Pending { record, durable }).await.is_err() {
            tracing::error!("audit writer has stopped; an audit record was not written");
            return;
        }
        if done.is_some() || self.tx.capacity() < QUEUE / 2 {
            self.urgent.notify_one();
        }
        if let Some(done) = done
            && done.await.is_err()
        {
            tracing::error!("an audit record could not be committed");
        }
    }

    /// Returns once every record queued before the call is committed, so that a reader of the
    /// trail (LookupEvents) sees the calls that came before its own.
    pub async fn flush(&self) {
        let (durable, done) = oneshot::channel();
        let flush = Pending {
            record: None,
            durable: Some(durable),
        };
        if self.tx.send(flush).await.is_ok() {
            self.urgent.notify_one();
            let _ = done.await;
        }
    }

    /// Writes everything queued, then stops the writer.
    pub async fn close(&self) {
        self.shutdown.notify_one();
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer
            && let Err(e) = writer.await
        {
            tracing::error!(error = %e, "audit writer failed");
        }
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Pending>,
    urgent: Arc<Notify>,
    shutdown: Arc<Notify>,
) {
    let mut stopping = false;
    loop {
        let mut batch = Vec::new();
        if !stopping {
            tokio::select! {
                first = rx.recv() => match first {
                    Some(p) => batch.push(p),
                    None => return,
                },
                () = shutdown.notified() => stopping = true,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        // Nobody waits for these records (reads, refusals): let more gather for a while, so
        // that one commit and one disk sync serve many of them. The writer does not watch the
        // queue meanwhile (a task woken for every record would cost a thread wake-up per
        // request): a record someone waits for, a flush, a queue half full or shutdown ends
        // the wait at once, through `urgent`.
        if !stopping && batch.len() < MAX_BATCH && batch.iter().all(|p| p.durable.is_none()) {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = urgent.notified() => {}
                () = shutdown.notified() => stopping = true,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
        }
        if batch.is_empty() {
            if stopping {
                return;
            }
            continue;
        }
        write_batch(store.as_ref(), batch).await;
    }
}

async fn write_batch(store: &dyn Store, batch: Vec<Pending>) {
    let (records, waiters): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.record, p.durable)).unzip();
    let records: Arc<[NewAuditRecord]> = records.into_iter().flatten().collect();
    if records.is_empty() {
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(());
        }
        return;
    }
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=20 {
        match store.append_audit(Arc::clone(&records)).await {
            Ok(()) => {
                for waiter in waiters.into_iter().flatten() {
                    let _ = waiter.send(());
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, attempt, records = records.len(), "cannot append to the audit trail; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    tracing::error!(
        records = records.len(),
        "gave up appending to the audit trail; these records are lost"
    );
}

/// Everything the trail records about one call.
pub struct CallFacts<'a> {
    /// The request id returned to the client.
    pub request_id: &'a str,
    /// When the request arrived.
    pub time: SystemTime,
    /// The service, if the request named one Portcullis knows.
    pub service: Option<Service>,
    /// The operation, as the client named it.
    pub operation: &'a str,
    /// The region of the credential scope.
    pub region: &'a str,
    /// The client's address.
    pub source_ip: IpAddr,
    /// The client's User-Agent.
    pub user_agent: &'a str,
    /// Whether the request came over TLS.
    pub tls: bool,
    /// The authenticated caller.
    pub principal: Option<&'a Principal>,
    /// The access key the request named, when authentication failed.
    pub access_key_id: Option<&'a str>,
    /// The account the call is recorded for.
    pub account: Option<&'a str>,
    /// The error returned, if any.
    pub error: Option<&'a AwsError>,
    /// The request's parameters (redacted here).
    pub request_parameters: Option<Value>,
    /// What the call returned that CloudTrail records.
    pub response_elements: Option<Value>,
}

impl<'a> CallFacts<'a> {
    /// The record the trail keeps of the call: the fields the store indexes, and as its body
    /// the rest of the CloudTrail event (see [`CloudTrailEvent::write_stored`]).
    pub fn into_record(self) -> NewAuditRecord {
        let event_id = portcullis_core::id::time_ordered_id(self.time);
        let event_time = iso8601_text(self.time);
        let (event, fields) = self.event(&event_id, &event_time);
        NewAuditRecord::build(fields, |out| event.write_stored(out))
    }

    /// The call's CloudTrail event, and the fields the store indexes (each also in the event).
    fn event<'b>(
        self,
        event_id: &'b str,
        event_time: &'b str,
    ) -> (CloudTrailEvent<'b>, AuditFields<'b>)
    where
        'a: 'b,
    {
        let read_only = is_read_only(self.operation);
        let account = self
            .principal
            .map(|p| p.account.as_str())
            .or(self.account)
            .unwrap_or("");
        let access_key_id = self
            .principal
            .map(|p| p.access_key_id.as_str())
            .or(self.access_key_id);
        let event_source = self.service.map_or("unknown", Service::event_source);
        let event = CloudTrailEvent {
            event_version: EVENT_VERSION,
            user_identity: UserIdentity::of(self.principal, access_key_id, account),
            event_time,
            event_source,
            event_name: self.operation,
            aws_region: self.region,
            source_ip_address: self.source_ip,
            user_agent: self.user_agent,
            error_code: self.error.map(|e| e.code.as_ref()),
            error_message: self.error.map(|e| e.message.as_str()),
            request_parameters: self
                .request_parameters
                .map(|p| recorded(p, true))
                .filter(|p| p.as_object().is_none_or(|o| !o.is_empty()))
                .unwrap_or(Value::Null),
            response_elements: self
                .response_elements
                .map(|p| recorded(p, false))
                .unwrap_or(Value::Null),
            request_id: self.request_id,
            event_id,
            read_only,
            event_type: EVENT_TYPE,
            management_event: true,
            recipient_account_id: account,
            event_category: EVENT_CATEGORY,
            tls_details: self.tls.then_some(TlsDetails {
                tls_version: TLS_VERSION,
            }),
        };
        let fields = AuditFields {
            event_id,
            event_time: self.time,
            account,
            event_source,
            event_name: self.operation,
            read_only,
            principal_arn: self.principal.map(|p| p.arn.as_str()),
            username: self.principal.map(username),
            access_key_id,
            error_code: event.error_code,
        };
        (event, fields)
    }
}

/// The constant parts of every event this trail records.
const EVENT_VERSION: &str = "1.11";
const EVENT_TYPE: &str = "AwsApiCall";
const EVENT_CATEGORY: &str = "Management";
const TLS_VERSION: &str = "TLSv1.3";

/// The version of the stored body that [`CloudTrailEvent::write_stored`] writes. The first
/// form, a body that is the whole CloudTrail event, has no version field.
const STORED_FORMAT: u32 = 2;

/// The CloudTrail event of a stored record, as JSON: the event rebuilt from the record's
/// fields and its body (the form [`CloudTrailEvent::write_stored`] writes), or, for a record
/// written before that form, its body, which is the event itself.
pub fn cloudtrail_json(record: &AuditRecord) -> Cow<'_, str> {
    let Ok(stored) = serde_json::from_str::<StoredEvent<'_>>(&record.body) else {
        return Cow::Borrowed(&record.body);
    };
    if stored.format != STORED_FORMAT {
        return Cow::Borrowed(&record.body);
    }
    let event_time = iso8601_text(record.event_time);
    let identity = &stored.identity;
    let event = CloudTrailEvent {
        event_version: EVENT_VERSION,
        user_identity: UserIdentity {
            kind: &identity.kind,
            principal_id: identity.principal_id.as_deref(),
            arn: record.principal_arn.as_deref(),
            account_id: &record.account,
            access_key_id: record.access_key_id.as_deref(),
            user_name: identity.user_name.as_deref(),
        },
        event_time: &event_time,
        event_source: &record.event_source,
        event_name: &record.event_name,
        aws_region: &stored.aws_region,
        source_ip_address: stored.source_ip_address,
        user_agent: &stored.user_agent,
        error_code: record.error_code.as_deref(),
        error_message: stored.error_message.as_deref(),
        request_parameters: stored.request_parameters,
        response_elements: stored.response_elements,
        request_id: &stored.request_id,
        event_id: &record.event_id,
        read_only: record.read_only,
        event_type: EVENT_TYPE,
        management_event: true,
        recipient_account_id: &record.account,
        event_category: EVENT_CATEGORY,
        tls_details: stored
            .tls_version
            .as_deref()
            .map(|tls_version| TlsDetails { tls_version }),
    };
    let mut out = Vec::with_capacity(record.body.len().saturating_mul(2));
    event.write_json(&mut out);
    // Written from `&str`s and JSON values: always UTF-8.
    match String::from_utf8(out) {
        Ok(json) => Cow::Owned(json),
        Err(_) => Cow::Borrowed(&record.body),
    }
}

/// A record's body as [`CloudTrailEvent::write_stored`] writes it, read back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredEvent<'a> {
    format: u32,
    #[serde(borrow)]
    identity: StoredIdentity<'a>,
    #[serde(borrow)]
    aws_region: Cow<'a, str>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: IpAddr,
    #[serde(borrow)]
    user_agent: Cow<'a, str>,
    #[serde(default, borrow)]
    error_message: Option<Cow<'a, str>>,
    #[serde(default)]
    request_parameters: Value,
    #[serde(default)]
    response_elements: Value,
    #[serde(rename = "requestID", borrow)]
    request_id: Cow<'a, str>,
    #[serde(default, borrow)]
    tls_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredIdentity<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    user_name: Option<Cow<'a, str>>,
}

/// A CloudTrail event record, in CloudTrail's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloudTrailEvent<'a> {
    event_version: &'static str,
    user_identity: UserIdentity<'a>,
    event_time: &'a str,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: IpAddr,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: Value,
    response_elements: Value,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_details: Option<TlsDetails<'a>>,
}

impl CloudTrailEvent<'_> {
    /// The record as JSON, exactly as its `Serialize` implementation writes it (a test holds
    /// the two together), but written by hand: serde's string escaping looks at every byte of
    /// every string one at a time, where [`portcullis_core::json::push_str`] finds in one
    /// vectorised pass that there is nothing to escape, as there nearly never is.
    fn write_json(&self, out: &mut Vec<u8>) {
        use portcullis_core::json::push_str;
        // Each field's name goes out with the punctuation around it as one literal: a record
        // is some twenty short copies fewer than writing names and punctuation apart.
        let flag = |out: &mut Vec<u8>, on: bool| {
            out.extend_from_slice(if on { b"true" } else { b"false" });
        };
        out.extend_from_slice(b"{\"eventVersion\":");
        push_str(out, self.event_version);
        out.extend_from_slice(b",\"userIdentity\":");
        self.user_identity.write_json(out);
        out.extend_from_slice(b",\"eventTime\":");
        push_str(out, self.event_time);
        out.extend_from_slice(b",\"eventSource\":");
        push_str(out, self.event_source);
        out.extend_from_slice(b",\"eventName\":");
        push_str(out, self.event_name);
        self.write_origin(out);
        push_member(out, b",\"errorCode\":", self.error_code);
        push_member(out, b",\"errorMessage\":", self.error_message);
        out.extend_from_slice(b",\"requestParameters\":");
        push_value(out, &self.request_parameters);
        out.extend_from_slice(b",\"responseElements\":");
        push_value(out, &self.response_elements);
        out.extend_from_slice(b",\"requestID\":");
        push_str(out, self.request_id);
        out.extend_from_slice(b",\"eventID\":");
        push_str(out, self.event_id);
        out.extend_from_slice(b",\"readOnly\":");
        flag(out, self.read_only);
        out.extend_from_slice(b",\"eventType\":");
        push_str(out, self.event_type);
        out.extend_from_slice(b",\"managementEvent\":");
        flag(out, self.management_event);
        out.extend_from_slice(b",\"recipientAccountId\":");
        push_str(out, self.recipient_account_id);
        out.extend_from_slice(b",\"eventCategory\":");
        push_str(out, self.event_category);
        if let Some(tls) = &self.tls_details {
            out.extend_from_slice(b",\"tlsDetails\":{\"tlsVersion\":");
            push_str(out, tls.tls_version);
            out.push(b'}');
        }
        out.push(b'}');
    }

    /// The members that say where the call came from, each after a comma: `awsRegion`,
    /// `sourceIPAddress`, `userAgent` (in both the event and its stored form).
    fn write_origin(&self, out: &mut Vec<u8>) {
        use portcullis_core::json::push_str;
        out.extend_from_slice(b",\"awsRegion\":");
        push_str(out, self.aws_region);
        out.extend_from_slice(b",\"sourceIPAddress\":\"");
        push_ip(out, self.source_ip_address);
        out.extend_from_slice(b"\",\"userAgent\":");
        push_str(out, self.user_agent);
    }

    /// What the trail stores of the event besides the record's fields: the parts that are
    /// neither one of those fields nor the same in every event, as a JSON object tagged with
    /// its format; [`cloudtrail_json`] rebuilds the event from the two. A GetCallerIdentity
    /// record's body is about a third of its event's JSON, and so is its share of the chain
    /// HMAC, which the trail computes for every call.
    fn write_stored(&self, out: &mut Vec<u8>) {
        use portcullis_core::json::push_str;
        let identity = &self.user_identity;
        // The format is `STORED_FORMAT`.
        out.extend_from_slice(b"{\"format\":2,\"identity\":{\"type\":");
        push_str(out, identity.kind);
        push_member(out, b",\"principalId\":", identity.principal_id);
        push_member(out, b",\"userName\":", identity.user_name);
        out.push(b'}');
        self.write_origin(out);
        push_member(out, b",\"errorMessage\":", self.error_message);
        for (name, value) in [
            (&b",\"requestParameters\":"[..], &self.request_parameters),
            (b",\"responseElements\":", &self.response_elements),
        ] {
            if !value.is_null() {
                out.extend_from_slice(name);
                push_value(out, value);
            }
        }
        out.extend_from_slice(b",\"requestID\":");
        push_str(out, self.request_id);
        push_member(
            out,
            b",\"tlsVersion\":",
            self.tls_details.as_ref().map(|t| t.tls_version),
        );
        out.push(b'}');
    }
}

/// `name` (a member's name with its punctuation) and `text` as a JSON string, if there is one.
fn push_member(out: &mut Vec<u8>, name: &[u8], text: Option<&str>) {
    if let Some(text) = text {
        out.extend_from_slice(name);
        portcullis_core::json::push_str(out, text);
    }
}

/// `value` as JSON.
fn push_value(out: &mut Vec<u8>, value: &Value) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        // Writing JSON values into memory does not fail.
        out.extend_from_slice(b"null");
    }
}

/// An address as its `Display` writes it (an address's text has nothing to escape); an IPv4
/// address, as every request over IPv4 has, without the formatting machinery.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    use std::io::Write as _;
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "{ip}");
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TlsDetails<'a> {
    tls_version: &'a str,
}

/// CloudTrail's `userIdentity`: the authenticated caller, or (`Unknown`) the key and account a
/// refused request named.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    account_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
}

impl<'a> UserIdentity<'a> {
    fn of(
        principal: Option<&'a Principal>,
        access_key_id: Option<&'a str>,
        account: &'a str,
    ) -> Self {
        match principal {
            Some(p) => Self {
                kind: p.kind.as_str(),
                principal_id: Some(&p.user_id),
                arn: Some(p.arn.as_str()),
                account_id: p.account.as_str(),
                access_key_id: Some(&p.access_key_id),
                user_name: p.user_name(),
            },
            None => Self {
                kind: "Unknown",
                principal_id: None,
                arn: None,
                account_id: account,
                access_key_id,
                user_name: None,
            },
        }
    }
}

impl UserIdentity<'_> {
    /// See [`CloudTrailEvent::write_json`].
    fn write_json(&self, out: &mut Vec<u8>) {
        use portcullis_core::json::push_str;
        out.extend_from_slice(b"{\"type\":");
        push_str(out, self.kind);
        let optional: [(&[u8], _); 5] = [
            (b",\"principalId\":", self.principal_id),
            (b",\"arn\":", self.arn),
            (
                b",\"accountId\":",
                Some(self.account_id).filter(|a| !a.is_empty()),
            ),
            (b",\"accessKeyId\":", self.access_key_id),
            (b",\"userName\":", self.user_name),
        ];
        for (name, text) in optional {
            push_member(out, name, text);
        }
        out.push(b'}');
    }
}

/// CloudTrail's `Username` for a principal: the user name, `root`, or the role session's role.
fn username(principal: &Principal) -> &str {
    match principal.kind {
        PrincipalKind::Root => "root",
        PrincipalKind::IamUser | PrincipalKind::FederatedUser => principal
            .arn
            .resource()
            .rsplit('/')
            .next()
            .unwrap_or_default(),
        PrincipalKind::AssumedRole => principal
            .arn
            .resource()
            .split('/')
            .nth(1)
            .unwrap_or_default(),
    }
}

/// The request parameters as CloudTrail records them, guided by the operation's input shape:
/// members of sensitive shapes are replaced by CloudTrail's placeholder, and binary members
/// (ciphertext blobs, messages to sign, key material) are left out, as CloudTrail leaves them out.
pub fn audit_parameters(shape: Option<ShapeRef<'_>>, input: &Value) -> Value {
    let Some(shape) = shape else {
        return input.clone();
    };
    if shape.shape.sensitive {
        return json!(HIDDEN);
    }
    match (shape.shape.kind, input) {
        (ShapeKind::Blob, _) => Value::Null,
        (ShapeKind::Structure { members, .. }, Value::Object(map)) => {
            let mut out = Map::new();
            for (key, value) in map {
                let member = members.iter().find(|m| m.key() == key);
                let kept = match member {
                    Some(member) => audit_parameters(shape.member_shape(member), value),
                    None => value.clone(),
                };
                if !kept.is_null() {
                    out.insert(key.clone(), kept);
                }
            }
            Value::Object(out)
        }
        (ShapeKind::List { member, .. }, Value::Array(items)) => {
            let element = shape.resolve(member);
            Value::Array(
                items
                    .iter()
                    .map(|item| audit_parameters(element, item))
                    .collect(),
            )
        }
        (ShapeKind::Map { value, .. }, Value::Object(map)) => {
            let element = shape.resolve(value);
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), audit_parameters(element, v)))
                    .collect(),
            )
        }
        _ => input.clone(),
    }
}

/// A value as the trail records it: the values of secret-bearing members (at any depth)
/// replaced with CloudTrail's placeholder and, for request parameters (`camel_case`), member
/// names in lower camel case as CloudTrail writes them (`userName`, `roleArn`).
fn recorded(value: Value, camel_case: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, v)| {
                    let key = if camel_case { lower_camel(key) } else { key };
                    if is_secret_name(&key) {
                        (key, json!(HIDDEN))
                    } else {
                        (key, recorded(v, camel_case))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| recorded(v, camel_case)).collect())
        }
        other => other,
    }
}

fn lower_camel(mut key: String) -> String {
    if let Some(first) = key.get_mut(0..1) {
        first.make_ascii_lowercase();
    }
    key
}

/// Whether a member name carries a secret, compared without case or separators.
fn is_secret_name(key: &str) -> bool {
    let folded = || {
        key.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
    };
    SECRET_PARAMETERS
        .iter()
        .any(|secret| secret.bytes().eq(folded()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record's JSON written by hand and by its `Serialize` implementation.
    fn both_ways(event: &CloudTrailEvent<'_>) -> (String, String) {
        let mut by_hand = Vec::new();
        event.write_json(&mut by_hand);
        (
            String::from_utf8(by_hand).unwrap(),
            serde_json::to_string(event).unwrap(),
        )
    }

    fn event<'a>(text: &'a str, identity: UserIdentity<'a>, flags: u8) -> CloudTrailEvent<'a> {
        let on = |bit: u8| flags & (1 << bit) != 0;
        CloudTrailEvent {
            event_version: "1.11",
            user_identity: identity,
            event_time: "1970-01-01T00:00:00Z",
            event_source: "sts.amazonaws.com",
            event_name: text,
            aws_region: text,
            source_ip_address: if on(0) {
                IpAddr::from([10, 1, 2, 3])
            } else {
                "2001:db8::1".parse().unwrap()
            },
            user_agent: text,
            error_code: on(1).then_some(text),
            error_message: on(2).then_some(text),
            request_parameters: if on(3) {
                json!({"userName": text, "tags": [{"key": text, "n": 1.5}]})
            } else {
                Value::Null
            },
            response_elements: if on(4) { json!([text]) } else { Value::Null },
            request_id: text,
            event_id: text,
            read_only: on(5),
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: text,
            event_category: "Management",
            tls_details: on(6).then_some(TlsDetails {
                tls_version: "TLSv1.3",
            }),
        }
    }

    fn identity(text: &str, flags: u8) -> UserIdentity<'_> {
        let on = |bit: u8| flags & (1 << bit) != 0;
        UserIdentity {
            kind: "IAMUser",
            principal_id: on(0).then_some(text),
            arn: on(1).then_some(text),
            account_id: if on(2) { text } else { "" },
            access_key_id: on(3).then_some(text),
            user_name: on(4).then_some(text),
        }
    }

    #[test]
    fn records_written_by_hand_are_what_serde_writes() {
        for text in [
            "",
            "GetCallerIdentity",
            "q\"uote\\ \n\t\u{1}",
            "日本 \u{2028}",
        ] {
            for flags in 0..128 {
                let (by_hand, by_serde) = both_ways(&event(text, identity(text, flags), flags));
                assert_eq!(by_hand, by_serde);
            }
        }
    }

    proptest! {
        #[test]
        fn any_record_written_by_hand_is_what_serde_writes(
            text in any::<String>(),
            flags in any::<u8>(),
            identity_flags in any::<u8>(),
        ) {
            let (by_hand, by_serde) = both_ways(&event(&text, identity(&text, identity_flags), flags));
            prop_assert_eq!(by_hand, by_serde);
        }
    }

    proptest! {
        #[test]
        fn addresses_are_written_as_display_writes_them(v4 in any::<[u8; 4]>(), v6 in any::<u128>()) {
            for ip in [IpAddr::from(v4), IpAddr::from(v6.to_be_bytes())] {
                let mut out = Vec::new();
                push_ip(&mut out, ip);
                prop_assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
            }
        }
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = json!({"UserName": "alice", "Password": "hunter2", "Nested": [{"secret_access_key": "x"}],
                       "AccessKey": {"SecretAccessKey": "y", "AccessKeyId": "AKIA"}});
        let r = recorded(v, false).to_string();
        assert!(!r.contains("hunter2"));
        assert!(!r.contains("\"x\""));
        assert!(!r.contains("\"y\""));
        assert!(r.contains("alice"));
        assert!(r.contains("AKIA"));
    }

    #[test]
    fn blobs_are_left_out_and_sensitive_members_hidden() {
        let kms = portcullis_model::service("kms").unwrap();
        let decrypt = kms.operation("Decrypt").unwrap();
        let input =
            json!({"CiphertextBlob": "AAAA", "EncryptionContext": {"a": "b"}, "KeyId": "k"});
        let recorded = audit_parameters(decrypt.input(), &input);
        assert_eq!(
            recorded,
            json!({"EncryptionContext": {"a": "b"}, "KeyId": "k"})
        );
        let encrypt = kms.operation("Encrypt").unwrap();
        let recorded = audit_parameters(
            encrypt.input(),
            &json!({"KeyId": "k", "Plaintext": "c2VjcmV0"}),
        );
        assert!(!recorded.to_string().contains("c2VjcmV0"), "{recorded}");
        let iam = portcullis_model::service("iam").unwrap();
        let login = iam.operation("CreateLoginProfile").unwrap();
        let recorded = audit_parameters(
            login.input(),
            &json!({"UserName": "bob", "Password": "hunter2!"}),
        );
        assert_eq!(recorded, json!({"UserName": "bob", "Password": HIDDEN}));
    }

    /// `record` as the store gives it back.
    fn stored(record: &NewAuditRecord) -> AuditRecord {
        AuditRecord::new(1, record.fields(), record.event_time(), String::new())
    }

    /// The event of `facts` written whole, and as rebuilt from the record the trail stores.
    fn whole_and_rebuilt(facts: CallFacts<'_>) -> (String, String) {
        let event_id = portcullis_core::id::time_ordered_id(facts.time);
        let event_time = iso8601_text(facts.time);
        let (event, fields) = facts.event(&event_id, &event_time);
        let mut whole = Vec::new();
        event.write_json(&mut whole);
        let record = NewAuditRecord::build(fields, |out| event.write_stored(out));
        let rebuilt = cloudtrail_json(&stored(&record)).into_owned();
        (String::from_utf8(whole).unwrap(), rebuilt)
    }

    fn any_facts() -> impl Strategy<Value = (Vec<String>, u8, u64, [u8; 16])> {
        (
            proptest::collection::vec(any::<String>(), 6),
            any::<u8>(),
            0u64..8_000_000_000_000_000,
            any::<[u8; 16]>(),
        )
    }

    proptest! {
        #[test]
        fn every_event_is_rebuilt_exactly_from_what_is_stored(
            (texts, flags, micros, ip) in any_facts(),
        ) {
            let on = |bit: u8| flags & (1 << bit) != 0;
            let account = portcullis_core::AccountId::parse("123456789012").unwrap();
            let principal = Principal::root(account, texts[0].clone());
            let error =
                AwsError::new("AccessDenied", http::StatusCode::FORBIDDEN, texts[1].clone());
            let facts = CallFacts {
                request_id: &texts[2],
                time: SystemTime::UNIX_EPOCH + Duration::from_micros(micros),
                service: on(0).then_some(Service::Iam),
                operation: &texts[3],
                region: &texts[4],
                source_ip: if on(1) {
                    IpAddr::from([ip[0], ip[1], ip[2], ip[3]])
                } else {
                    IpAddr::from(ip)
                },
                user_agent: &texts[5],
                tls: on(2),
                principal: on(3).then_some(&principal),
                access_key_id: on(4).then_some(texts[0].as_str()),
                account: on(4).then_some("210987654321"),
                error: on(5).then_some(&error),
                request_parameters: on(6)
                    .then(|| json!({"UserName": texts[1], "Tags": [{"N": 1.5}]})),
                response_elements: on(7).then(|| json!({"user": {"arn": texts[2]}})),
            };
            let (whole, rebuilt) = whole_and_rebuilt(facts);
            prop_assert_eq!(whole, rebuilt);
        }
    }

    #[test]
    fn a_record_written_before_the_stored_form_is_its_own_event() {
        let mut record = stored(&NewAuditRecord::new(
            AuditFields {
                event_id: "e",
                event_time: SystemTime::UNIX_EPOCH,
                account: "123456789012",
                event_source: "sts.amazonaws.com",
                event_name: "GetCallerIdentity",
                read_only: true,
                principal_arn: None,
                username: None,
                access_key_id: None,
                error_code: None,
            },
            r#"{"eventVersion":"1.11","eventName":"GetCallerIdentity"}"#,
        ));
        assert_eq!(cloudtrail_json(&record), record.body);
        record.body = "{}".into();
        assert_eq!(cloudtrail_json(&record), "{}");
    }

    #[test]
    fn record_has_cloudtrail_fields() {
        let principal = Principal::root(
            portcullis_core::AccountId::parse("123456789012").unwrap(),
            "AKIAX".into(),
        );
        let facts = CallFacts {
            request_id: "rid",
            time: SystemTime::UNIX_EPOCH,
            service: Some(Service::Sts),
            operation: "GetCallerIdentity",
            region: "us-east-1",
            source_ip: "127.0.0.1".parse().unwrap(),
            user_agent: "test",
            tls: false,
            principal: Some(&principal),
            access_key_id: None,
            account: None,
            error: None,
            request_parameters: None,
            response_elements: None,
        };
        let record = facts.into_record();
        // The body keeps what the fields do not hold and is not the same in every event.
        let kept: Value = serde_json::from_str(record.body()).unwrap();
        assert_eq!(
            kept,
            json!({"format": STORED_FORMAT,
                   "identity": {"type": "Root", "principalId": "123456789012"},
                   "awsRegion": "us-east-1", "sourceIPAddress": "127.0.0.1",
                   "userAgent": "test", "requestID": "rid"})
        );
        let body: Value = serde_json::from_str(&cloudtrail_json(&stored(&record))).unwrap();
        for field in [
            "eventVersion",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "userIdentity",
            "requestParameters",
            "responseElements",
            "requestID",
            "eventID",
            "readOnly",
            "recipientAccountId",
        ] {
            assert!(body.get(field).is_some(), "{field}");
        }
        assert_eq!(body["userIdentity"]["type"], "Root");
        assert_eq!(body["readOnly"], true);
        assert_eq!(record.account(), "123456789012");
        assert_eq!(record.username(), Some("root"));
        assert_eq!(
            record.principal_arn(),
            Some("arn:aws:iam::123456789012:root")
        );
        assert_eq!(record.access_key_id(), Some("AKIAX"));
        assert_eq!(record.event_id(), body["eventID"]);
        assert_eq!(
            (record.event_source(), record.event_name()),
            ("sts.amazonaws.com", "GetCallerIdentity")
        );
        assert!(record.read_only() && record.error_code().is_none());
    }

    #[test]
    fn refused_call_is_recorded_with_camel_case_redacted_parameters() {
        let error = AwsError::new(
            "InvalidClientTokenId",
            http::StatusCode::FORBIDDEN,
            "The security token included in the request is invalid.",
        );
        let facts = CallFacts {
            request_id: "rid",
            time: SystemTime::UNIX_EPOCH,
            service: Some(Service::Iam),
            operation: "CreateLoginProfile",
            region: "us-east-1",
            source_ip: "10.1.2.3".parse().unwrap(),
            user_agent: "aws-cli",
            tls: true,
            principal: None,
            access_key_id: Some("AKIAUNKNOWN"),
            account: Some("123456789012"),
            error: Some(&error),
            request_parameters: Some(json!({"UserName": "bob", "Password": "hunter2!",
                "Tags": [{"Key": "k", "SessionToken": "t0k"}]})),
            response_elements: None,
        };
        let record = facts.into_record();
        assert!(!record.body().contains("hunter2!") && !record.body().contains("t0k"));
        let body: Value = serde_json::from_str(&cloudtrail_json(&stored(&record))).unwrap();
        assert_eq!(
            body["requestParameters"],
            json!({"userName": "bob", "password": HIDDEN,
                   "tags": [{"key": "k", "sessionToken": HIDDEN}]})
        );
        assert_eq!(
            body["userIdentity"],
            json!({"type": "Unknown", "accountId": "123456789012", "accessKeyId": "AKIAUNKNOWN"})
        );
        assert_eq!(body["errorCode"], "InvalidClientTokenId");
        assert_eq!(body["sourceIPAddress"], "10.1.2.3");
        assert_eq!(body["tlsDetails"]["tlsVersion"], "TLSv1.3");
        assert_eq!(body["eventID"], record.event_id());
        assert_eq!(record.error_code(), Some("InvalidClientTokenId"));
        assert!(!record.read_only());
    }
}
