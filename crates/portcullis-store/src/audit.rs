//! The audit log's records and its hash chain.
//!
//! Every record carries `hash = HMAC-SHA256(audit_key, prev_hash || seq || fields || body)`,
//! where `prev_hash` is the previous record's hash (32 zero bytes before the first record) and
//! every field is length-prefixed so that no two different records encode alike. Sequence
//! numbers are assigned by the store, start at 1 and have no gaps; a one-row chain head holds the
//! last `(seq, hash)` and is what concurrent appenders lock, so there is one chain however many
//! Portcullis nodes append.
//!
//! [`ChainVerifier`] walks records in `seq` order and names the first one that is wrong: an
//! edited field breaks that record's hash, a deleted record leaves a gap (and breaks the next
//! record's link), an inserted record cannot carry a valid hash without the key. Without the
//! key, someone with write access to the database cannot rebuild a valid chain. Deleting the
//! newest records and rewinding the head row together is not detectable from inside the
//! database; an external anchor (a copy of the head kept elsewhere) closes that gap.
//!
//! This module is pure: the backends feed it records, which they store in segments (one row per
//! append, see [`crate::segment`]).

use std::cell::Cell;
use std::time::SystemTime;

use aws_lc_rs::hmac;

/// A CloudTrail record to append. Its `seq` and `hash` are assigned by the store.
///
/// All its text is one heap buffer of exactly its size, written once on the thread that handles
/// the call: the body first (see [`NewAuditRecord::build`]), then the fields back to back. A
/// record used to be up to ten strings, each allocated on a request thread and freed on the
/// audit writer's (a cross-thread free, which glibc's allocator makes slow); now it is one
/// allocation, which the store copies from into its segment encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// The body, then the fields' texts in the order of the positions in `ends` (`BODY`,
    /// `EVENT_ID`, ...), an absent one empty.
    text: String,
    /// Where the body and each field end in `text`.
    // INVARIANT: non-decreasing, each at most `text.len()` and at a char boundary (every end
    // is the length of `text` after a whole `&str` was pushed).
    ends: [usize; 9],
    /// Which optional fields are present: the field at position `PRINCIPAL_ARN + bit` when
    /// `bit` is set.
    present: u8,
    event_time: SystemTime,
    read_only: bool,
}

/// The fields of a [`NewAuditRecord`] besides its body, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditFields<'a> {
    /// CloudTrail `eventID` (a UUID).
    pub event_id: &'a str,
    /// CloudTrail `eventTime`; kept to the microsecond.
    pub event_time: SystemTime,
    /// The account the event belongs to (`recipientAccountId`).
    pub account: &'a str,
    /// CloudTrail `eventSource`, e.g. `iam.amazonaws.com`.
    pub event_source: &'a str,
    /// CloudTrail `eventName`, e.g. `CreateUser`.
    pub event_name: &'a str,
    /// CloudTrail `readOnly`.
    pub read_only: bool,
    /// The caller's ARN, when authenticated.
    pub principal_arn: Option<&'a str>,
    /// The caller's user name, when it has one.
    pub username: Option<&'a str>,
    /// The access key the request was signed with.
    pub access_key_id: Option<&'a str>,
    /// CloudTrail `errorCode`, when the call failed.
    pub error_code: Option<&'a str>,
}

/// Positions in [`NewAuditRecord::ends`]: the body, then the fields in this order.
const BODY: usize = 0;
const EVENT_ID: usize = 1;
const ACCOUNT: usize = 2;
const EVENT_SOURCE: usize = 3;
const EVENT_NAME: usize = 4;
const PRINCIPAL_ARN: usize = 5;
const USERNAME: usize = 6;
const ACCESS_KEY_ID: usize = 7;
const ERROR_CODE: usize = 8;

thread_local! {
    /// [`NewAuditRecord::build`]'s buffer for a body being written, kept by each thread that
    /// builds records.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A scratch buffer larger than this (a record with huge parameters) is not kept.
const MAX_KEPT_SCRATCH: usize = 64 * 1024;

impl NewAuditRecord {
    /// A record of `fields` whose body `write_body` appends to the (empty) buffer it is given.
    ///
    /// The buffer is the thread's own, reused from record to record; the record then takes one
    /// allocation of exactly its size. Reserving room for a typical body instead made every
    /// record a little over 1 KB, past the sizes glibc's allocator serves from its per-thread
    /// caches: each allocation on a request thread and each free on the audit writer's then
    /// took the arena's slow path, and the fixed-size build was slower under load (interleaved
    /// runs at 256 connections, see BENCHMARKS.md) though not in instructions.
    ///
    /// The body must be UTF-8 (the server writes JSON); if it is not, the record keeps `{}`
    /// instead and the error is logged, as a record is written whatever happens.
    pub fn build(fields: AuditFields<'_>, write_body: impl FnOnce(&mut Vec<u8>)) -> Self {
        let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
        scratch.clear();
        write_body(&mut scratch);
        let record = match std::str::from_utf8(&scratch) {
            Ok(body) => Self::new(fields, body),
            Err(e) => {
                tracing::error!(error = %e, "an audit record's body is not UTF-8; recorded as {{}}");
                Self::new(fields, "{}")
            }
        };
        if scratch.capacity() <= MAX_KEPT_SCRATCH {
            let _ = SCRATCH.try_with(|cell| cell.set(scratch));
        }
        record
    }

    /// A record of `fields` and `body`, in a buffer of exactly their size.
    pub fn new(fields: AuditFields<'_>, body: &str) -> Self {
        let mut text = String::with_capacity(texts_len(&fields).saturating_add(body.len()));
        text.push_str(body);
        Self::with_fields(text, fields)
    }

    /// Appends the fields to `text`, which holds the body.
    fn with_fields(mut text: String, f: AuditFields<'_>) -> Self {
        let optional = [f.principal_arn, f.username, f.access_key_id, f.error_code];
        let mut present = 0u8;
        for (bit, value) in optional.iter().enumerate() {
            if value.is_some() {
                present |= 1 << bit;
            }
        }
        let texts = [f.event_id, f.account, f.event_source, f.event_name]
            .into_iter()
            .chain(optional.into_iter().map(|o| o.unwrap_or("")));
        let mut ends = [text.len(); 9];
        for (end, value) in ends.iter_mut().skip(BODY + 1).zip(texts) {
            text.push_str(value);
            *end = text.len();
        }
        Self {
            text,
            ends,
            present,
            event_time: f.event_time,
            read_only: f.read_only,
        }
    }

    /// The text at `index` in `ends`.
    fn part(&self, index: usize) -> &str {
        let start = index
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .copied()
            .unwrap_or(0);
        let end = self.ends.get(index).copied().unwrap_or(start);
        // INVARIANT (see `ends`): always `Some`.
        self.text.get(start..end).unwrap_or_default()
    }

    /// The optional text at `index` in `ends`, if present.
    fn optional(&self, index: usize) -> Option<&str> {
        let bit = index.checked_sub(PRINCIPAL_ARN)?;
        (self.present & (1 << bit) != 0).then(|| self.part(index))
    }

    /// CloudTrail `eventID` (a UUID).
    pub fn event_id(&self) -> &str {
        self.part(EVENT_ID)
    }

    /// CloudTrail `eventTime`; kept to the microsecond.
    pub fn event_time(&self) -> SystemTime {
        self.event_time
    }

    /// The account the event belongs to (`recipientAccountId`).
    pub fn account(&self) -> &str {
        self.part(ACCOUNT)
    }

    /// CloudTrail `eventSource`, e.g. `iam.amazonaws.com`.
    pub fn event_source(&self) -> &str {
        self.part(EVENT_SOURCE)
    }

    /// CloudTrail `eventName`, e.g. `CreateUser`.
    pub fn event_name(&self) -> &str {
        self.part(EVENT_NAME)
    }

    /// CloudTrail `readOnly`.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The caller's ARN, when authenticated.
    pub fn principal_arn(&self) -> Option<&str> {
        self.optional(PRINCIPAL_ARN)
    }

    /// The caller's user name, when it has one.
    pub fn username(&self) -> Option<&str> {
        self.optional(USERNAME)
    }

    /// The access key the request was signed with.
    pub fn access_key_id(&self) -> Option<&str> {
        self.optional(ACCESS_KEY_ID)
    }

    /// CloudTrail `errorCode`, when the call failed.
    pub fn error_code(&self) -> Option<&str> {
        self.optional(ERROR_CODE)
    }

    /// The record's body: what the trail keeps of the event besides the fields (the server
    /// keeps the rest of the CloudTrail event, as JSON), already redacted.
    pub fn body(&self) -> &str {
        self.part(BODY)
    }

    /// The fields besides the body, borrowed: to build a record like this one.
    pub fn audit_fields(&self) -> AuditFields<'_> {
        AuditFields {
            event_id: self.event_id(),
            event_time: self.event_time,
            account: self.account(),
            event_source: self.event_source(),
            event_name: self.event_name(),
            read_only: self.read_only,
            principal_arn: self.principal_arn(),
            username: self.username(),
            access_key_id: self.access_key_id(),
            error_code: self.error_code(),
        }
    }

    /// The hashed fields.
    pub fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            event_id: self.event_id(),
            account: self.account(),
            event_source: self.event_source(),
            event_name: self.event_name(),
            read_only: self.read_only,
            principal_arn: self.principal_arn(),
            username: self.username(),
            access_key_id: self.access_key_id(),
            error_code: self.error_code(),
            body: self.body(),
        }
    }
}

/// The length of the texts of `f`.
fn texts_len(f: &AuditFields<'_>) -> usize {
    [f.event_id, f.account, f.event_source, f.event_name]
        .into_iter()
        .chain(
            [f.principal_arn, f.username, f.access_key_id, f.error_code]
                .into_iter()
                .flatten(),
        )
        .fold(0usize, |len, t| len.saturating_add(t.len()))
}

impl std::fmt::Debug for NewAuditRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAuditRecord")
            .field("event_id", &self.event_id())
            .field("event_time", &self.event_time)
            .field("account", &self.account())
            .field("event_source", &self.event_source())
            .field("event_name", &self.event_name())
            .field("read_only", &self.read_only)
            .field("principal_arn", &self.principal_arn())
            .field("username", &self.username())
            .field("access_key_id", &self.access_key_id())
            .field("error_code", &self.error_code())
            .field("body", &self.body())
            .finish()
    }
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the chain: 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// See [`NewAuditRecord::event_id`].
    pub event_id: String,
    /// See [`NewAuditRecord::event_time`].
    pub event_time: SystemTime,
    /// See [`NewAuditRecord::account`].
    pub account: String,
    /// See [`NewAuditRecord::event_source`].
    pub event_source: String,
    /// See [`NewAuditRecord::event_name`].
    pub event_name: String,
    /// See [`NewAuditRecord::read_only`].
    pub read_only: bool,
    /// See [`NewAuditRecord::principal_arn`].
    pub principal_arn: Option<String>,
    /// See [`NewAuditRecord::username`].
    pub username: Option<String>,
    /// See [`NewAuditRecord::access_key_id`].
    pub access_key_id: Option<String>,
    /// See [`NewAuditRecord::error_code`].
    pub error_code: Option<String>,
    /// See [`NewAuditRecord::body`].
    pub body: String,
    /// The chain hash, lowercase hex.
    pub hash: String,
}

/// Filters for [`crate::Store::query_audit`]; every `Some` must match. Results are newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this account's events.
    pub account: Option<String>,
    /// Only events at or after this time (CloudTrail `StartTime` is inclusive).
    pub start: Option<SystemTime>,
    /// Only events at or before this time (CloudTrail `EndTime` is inclusive).
    pub end: Option<SystemTime>,
    /// Matches `principal_arn`, `username` or `access_key_id`.
    pub principal: Option<String>,
    /// Only this `eventName`.
    pub event_name: Option<String>,
    /// Only this `eventSource`.
    pub event_source: Option<String>,
    /// Only this `eventID`.
    pub event_id: Option<String>,
    /// Only read-only (or only mutating) events.
    pub read_only: Option<bool>,
    /// Only events that failed with this code.
    pub error_code: Option<String>,
    /// Only records older than this `seq` (the last `seq` of the previous page).
    pub before_seq: Option<i64>,
    /// At most this many records; `0` means no limit.
    pub limit: usize,
}

/// The outcome of [`crate::Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerification {
    /// Every record's hash and link is right.
    Intact {
        /// How many records were checked.
        records: u64,
    },
    /// The first record found wrong.
    Broken {
        /// Its sequence number (for a missing record: the number that is missing).
        seq: i64,
        /// What is wrong.
        reason: String,
    },
}

/// The hash before the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Domain separation: a hash made for another purpose with the same key never matches.
const DOMAIN: &[u8] = b"portcullis-audit-chain-v1";

/// Computes chain hashes with the audit key.
pub struct ChainHasher {
    key: hmac::Key,
}

impl std::fmt::Debug for ChainHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainHasher([REDACTED])")
    }
}

impl ChainHasher {
    /// A hasher keyed with `key` (any length; 32 bytes from `MasterKey::derive`).
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// The hash of the record at `seq` whose predecessor's hash is `prev`.
    ///
    /// Everything but the body is laid out in one buffer first, so the HMAC takes three
    /// updates rather than one for each field and length (the chain hashes every record the
    /// server writes).
    pub fn hash(
        &self,
        prev: &[u8; 32],
        seq: i64,
        record: RecordFields<'_>,
        event_time_micros: i64,
    ) -> [u8; 32] {
        HEAD.with(|head| {
            let mut head = head.borrow_mut();
            head.clear();
            head.extend_from_slice(DOMAIN);
            head.extend_from_slice(prev);
            head.extend_from_slice(&seq.to_be_bytes());
            push_str(&mut head, record.event_id);
            head.extend_from_slice(&event_time_micros.to_be_bytes());
            push_str(&mut head, record.account);
            push_str(&mut head, record.event_source);
            push_str(&mut head, record.event_name);
            head.push(u8::from(record.read_only));
            push_opt(&mut head, record.principal_arn);
            push_opt(&mut head, record.username);
            push_opt(&mut head, record.access_key_id);
            push_opt(&mut head, record.error_code);
            head.extend_from_slice(&(record.body.len() as u64).to_be_bytes());
            let mut ctx = hmac::Context::with_key(&self.key);
            ctx.update(&head);
            ctx.update(record.body.as_bytes());
            let tag = ctx.sign();
            let mut out = [0u8; 32];
            // INVARIANT: an HMAC-SHA256 tag is 32 bytes.
            for (o, t) in out.iter_mut().zip(tag.as_ref()) {
                *o = *t;
            }
            out
        })
    }
}

thread_local! {
    /// [`ChainHasher::hash`]'s buffer for a record's fields, kept by each thread that hashes.
    static HEAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn push_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            push_str(out, s);
        }
    }
}

/// The hashed fields of a record, borrowed from either a new or a stored record.
#[derive(Debug, Clone, Copy)]
pub struct RecordFields<'a> {
    /// `eventID`.
    pub event_id: &'a str,
    /// Owning account.
    pub account: &'a str,
    /// `eventSource`.
    pub event_source: &'a str,
    /// `eventName`.
    pub event_name: &'a str,
    /// `readOnly`.
    pub read_only: bool,
    /// Caller ARN.
    pub principal_arn: Option<&'a str>,
    /// Caller user name.
    pub username: Option<&'a str>,
    /// Access key id.
    pub access_key_id: Option<&'a str>,
    /// `errorCode`.
    pub error_code: Option<&'a str>,
    /// The body.
    pub body: &'a str,
}

impl AuditRecord {
    /// The record at `seq`, of `fields` at `event_time`, with `hash` (lowercase hex).
    pub fn new(seq: i64, fields: RecordFields<'_>, event_time: SystemTime, hash: String) -> Self {
        Self {
            seq,
            event_id: fields.event_id.to_owned(),
            event_time,
            account: fields.account.to_owned(),
            event_source: fields.event_source.to_owned(),
            event_name: fields.event_name.to_owned(),
            read_only: fields.read_only,
            principal_arn: fields.principal_arn.map(str::to_owned),
            username: fields.username.map(str::to_owned),
            access_key_id: fields.access_key_id.map(str::to_owned),
            error_code: fields.error_code.map(str::to_owned),
            body: fields.body.to_owned(),
            hash,
        }
    }

    /// The hashed fields.
    pub fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            event_id: &self.event_id,
            account: &self.account,
            event_source: &self.event_source,
            event_name: &self.event_name,
            read_only: self.read_only,
            principal_arn: self.principal_arn.as_deref(),
            username: self.username.as_deref(),
            access_key_id: self.access_key_id.as_deref(),
            error_code: self.error_code.as_deref(),
            body: &self.body,
        }
    }
}

/// Decodes a stored hex hash.
pub(crate) fn decode_hash(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

const MISMATCH: &str =
    "hash does not match the record's contents and its link to the previous record";

/// Walks stored records in ascending `seq` order; stops at the first wrong one.
#[derive(Debug)]
pub struct ChainVerifier<'k> {
    hasher: &'k ChainHasher,
    prev: [u8; 32],
    last_seq: i64,
    records: u64,
    broken: Option<(i64, String)>,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier at the start of the chain.
    pub fn new(hasher: &'k ChainHasher) -> Self {
        Self {
            hasher,
            prev: GENESIS_HASH,
            last_seq: 0,
            records: 0,
            broken: None,
        }
    }

    /// Checks the next record; returns `false` once the chain is found broken.
    pub fn push(&mut self, record: &AuditRecord) -> bool {
        if !self.expect_seq(record.seq) {
            return false;
        }
        let Ok(micros) = crate::to_micros(record.event_time) else {
            self.fail(record.seq, "event time is out of range".to_owned());
            return false;
        };
        let Some(stored) = decode_hash(&record.hash) else {
            self.fail(record.seq, MISMATCH.to_owned());
            return false;
        };
        self.push_fields(record.seq, record.fields(), micros, &stored)
    }

    /// Checks that the next record is `seq` (a gap is a missing record); `false` if it is not.
    pub(crate) fn expect_seq(&mut self, seq: i64) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let expected_seq = self.last_seq.saturating_add(1);
        if seq != expected_seq {
            let reason = if seq > expected_seq {
                format!("record {expected_seq} is missing (next record found is {seq})")
            } else {
                format!("record {seq} is out of order after {}", self.last_seq)
            };
            self.fail(expected_seq.min(seq), reason);
            return false;
        }
        true
    }

    /// Checks the next record, given as its fields, event time and stored hash.
    pub(crate) fn push_fields(
        &mut self,
        seq: i64,
        fields: RecordFields<'_>,
        event_time_micros: i64,
        stored: &[u8; 32],
    ) -> bool {
        if !self.expect_seq(seq) {
            return false;
        }
        let computed = self.hasher.hash(&self.prev, seq, fields, event_time_micros);
        if !portcullis_core::secret::ct_eq(stored, &computed) {
            self.fail(seq, MISMATCH.to_owned());
            return false;
        }
        self.prev = computed;
        self.last_seq = seq;
        self.records += 1;
        true
    }

    /// Records the chain as broken at `seq` (unless it already is, earlier).
    pub(crate) fn fail(&mut self, seq: i64, reason: String) {
        if self.broken.is_none() {
            self.broken = Some((seq, reason));
        }
    }

    /// The last `seq` accepted so far (0 before the first).
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// The verdict, given the chain head row `(seq, hash)` the store recorded.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> AuditVerification {
        if let Some((seq, reason)) = self.broken {
            return AuditVerification::Broken { seq, reason };
        }
        if head_seq > self.last_seq {
            let seq = self.last_seq.saturating_add(1);
            return AuditVerification::Broken {
                seq,
                reason: format!(
                    "records {seq}..={head_seq} are missing (the chain head says {head_seq})"
                ),
            };
        }
        if head_seq < self.last_seq {
            let seq = head_seq.saturating_add(1);
            return AuditVerification::Broken {
                seq,
                reason: format!("record {seq} is beyond the chain head ({head_seq})"),
            };
        }
        if head_seq > 0 && decode_hash(head_hash) != Some(self.prev) {
            return AuditVerification::Broken {
                seq: head_seq,
                reason: "the chain head's hash does not match the last record".to_owned(),
            };
        }
        AuditVerification::Intact {
            records: self.records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain hash as defined field by field: every field length-prefixed, options marked,
    /// straight into the HMAC (what `ChainHasher::hash` lays out in one buffer).
    fn hash_by_definition(
        key: &[u8],
        prev: &[u8; 32],
        seq: i64,
        record: RecordFields<'_>,
        micros: i64,
    ) -> Vec<u8> {
        fn put_str(ctx: &mut hmac::Context, s: &str) {
            ctx.update(&(s.len() as u64).to_be_bytes());
            ctx.update(s.as_bytes());
        }
        fn put_opt(ctx: &mut hmac::Context, s: Option<&str>) {
            match s {
                None => ctx.update(&[0]),
                Some(s) => {
                    ctx.update(&[1]);
                    put_str(ctx, s);
                }
            }
        }
        let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
        ctx.update(DOMAIN);
        ctx.update(prev);
        ctx.update(&seq.to_be_bytes());
        put_str(&mut ctx, record.event_id);
        ctx.update(&micros.to_be_bytes());
        put_str(&mut ctx, record.account);
        put_str(&mut ctx, record.event_source);
        put_str(&mut ctx, record.event_name);
        ctx.update(&[u8::from(record.read_only)]);
        put_opt(&mut ctx, record.principal_arn);
        put_opt(&mut ctx, record.username);
        put_opt(&mut ctx, record.access_key_id);
        put_opt(&mut ctx, record.error_code);
        put_str(&mut ctx, record.body);
        ctx.sign().as_ref().to_vec()
    }

    proptest::proptest! {
        #[test]
        fn chain_hash_is_the_definition(
            texts in proptest::collection::vec(".{0,40}", 6),
            options in proptest::collection::vec(proptest::option::of(".{0,40}"), 4),
            read_only in proptest::bool::ANY,
            seq in proptest::num::i64::ANY,
            micros in proptest::num::i64::ANY,
            prev in proptest::array::uniform32(proptest::num::u8::ANY),
        ) {
            let record = RecordFields {
                event_id: &texts[0],
                account: &texts[1],
                event_source: &texts[2],
                event_name: &texts[3],
                read_only,
                principal_arn: options[0].as_deref(),
                username: options[1].as_deref(),
                access_key_id: options[2].as_deref(),
                error_code: options[3].as_deref(),
                body: &texts[4],
            };
            let hasher = ChainHasher::new(texts[5].as_bytes());
            proptest::prop_assert_eq!(
                hasher.hash(&prev, seq, record, micros).to_vec(),
                hash_by_definition(texts[5].as_bytes(), &prev, seq, record, micros)
            );
        }
    }

    fn fields(n: &str) -> AuditFields<'_> {
        AuditFields {
            event_id: n,
            event_time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            account: "123456789012",
            event_source: "iam.amazonaws.com",
            event_name: "CreateUser",
            read_only: false,
            principal_arn: Some("arn:aws:iam::123456789012:root"),
            username: None,
            access_key_id: Some("AKIAEXAMPLE"),
            error_code: None,
        }
    }

    fn record(n: u32) -> NewAuditRecord {
        NewAuditRecord::new(fields(&format!("e-{n}")), &format!("{{\"n\":{n}}}"))
    }

    fn stored(hasher: &ChainHasher, n: usize) -> Vec<AuditRecord> {
        let news: Vec<_> = (0..n as u32).map(record).collect();
        let chained = crate::segment::chain_segments(hasher, 0, "", &news).unwrap();
        chained
            .segments
            .iter()
            .flat_map(|s| crate::segment::decode_segment(s.first_seq, &s.records).unwrap())
            .collect()
    }

    fn verify(
        hasher: &ChainHasher,
        records: &[AuditRecord],
        head: (i64, &str),
    ) -> AuditVerification {
        let mut v = ChainVerifier::new(hasher);
        for r in records {
            if !v.push(r) {
                break;
            }
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn intact_and_tampered() {
        let h = ChainHasher::new(b"k");
        let recs = stored(&h, 5);
        let head = (5, recs[4].hash.as_str());
        assert_eq!(
            verify(&h, &recs, head),
            AuditVerification::Intact { records: 5 }
        );

        let mut edited = recs.clone();
        edited[2].body.push(' ');
        assert!(matches!(
            verify(&h, &edited, head),
            AuditVerification::Broken { seq: 3, .. }
        ));

        let mut flipped = recs.clone();
        flipped[1].read_only = true;
        assert!(matches!(
            verify(&h, &flipped, head),
            AuditVerification::Broken { seq: 2, .. }
        ));

        let mut deleted = recs.clone();
        deleted.remove(3);
        assert!(matches!(
            verify(&h, &deleted, head),
            AuditVerification::Broken { seq: 4, .. }
        ));

        let truncated = &recs[..4];
        assert!(matches!(
            verify(&h, truncated, head),
            AuditVerification::Broken { seq: 5, .. }
        ));

        // A head rewound behind the records names the first record beyond it.
        match verify(&h, &recs, (3, recs[2].hash.as_str())) {
            AuditVerification::Broken { seq, reason } => {
                assert_eq!(seq, 4, "{reason}");
                assert!(reason.contains("beyond"), "{reason}");
            }
            other => panic!("{other:?}"),
        }

        // Another key cannot produce the chain.
        let other = ChainHasher::new(b"other");
        assert!(matches!(
            verify(&other, &recs, head),
            AuditVerification::Broken { seq: 1, .. }
        ));
    }

    #[test]
    fn fields_are_unambiguous() {
        // Moving bytes between adjacent fields changes the hash.
        let h = ChainHasher::new(b"k");
        let base = fields("e-1");
        let a = NewAuditRecord::new(
            AuditFields {
                event_source: "ab",
                event_name: "c",
                ..base
            },
            "{}",
        );
        let b = NewAuditRecord::new(
            AuditFields {
                event_source: "a",
                event_name: "bc",
                ..base
            },
            "{}",
        );
        assert_ne!(
            h.hash(&GENESIS_HASH, 1, a.fields(), 0),
            h.hash(&GENESIS_HASH, 1, b.fields(), 0)
        );
        let c = NewAuditRecord::new(
            AuditFields {
                username: Some(""),
                ..base
            },
            "{}",
        );
        let d = NewAuditRecord::new(
            AuditFields {
                username: None,
                ..base
            },
            "{}",
        );
        assert_ne!(
            h.hash(&GENESIS_HASH, 1, c.fields(), 0),
            h.hash(&GENESIS_HASH, 1, d.fields(), 0)
        );
    }

    /// Two records whose chain hashes were computed by the code before records were one buffer
    /// (when they were ten `String`s), and whose segment in record format 1 was written by the
    /// code before format 2 (`V1_SEGMENT`): the hashes must not change, and old segments must
    /// still read.
    fn golden() -> [NewAuditRecord; 2] {
        let full = AuditFields {
            event_id: "019ab697-e800-7000-8000-000000000001",
            event_time: SystemTime::UNIX_EPOCH
                + std::time::Duration::from_micros(1_764_000_000_123_456),
            account: "123456789012",
            event_source: "iam.amazonaws.com",
            event_name: "CreateUser",
            read_only: false,
            principal_arn: Some("arn:aws:iam::123456789012:user/zoë"),
            username: Some("zoë"),
            access_key_id: Some("AKIAIOSFODNN7EXAMPLE"),
            error_code: Some("AccessDenied"),
        };
        let bare = AuditFields {
            event_id: "e-2",
            event_time: SystemTime::UNIX_EPOCH,
            account: "",
            event_source: "sts.amazonaws.com",
            event_name: "GetCallerIdentity",
            read_only: true,
            principal_arn: None,
            username: Some(""),
            access_key_id: None,
            error_code: None,
        };
        [
            NewAuditRecord::build(full, |out| {
                out.extend_from_slice(
                    "{\"eventName\":\"CreateUser\",\"userName\":\"zoë\"}".as_bytes(),
                );
            }),
            NewAuditRecord::new(bare, ""),
        ]
    }

    #[test]
    fn hashes_and_segments_are_as_before() {
        let h = ChainHasher::new(b"portcullis-golden-key");
        let [full, bare] = golden();
        let a = h.hash(&GENESIS_HASH, 1, full.fields(), 1_764_000_000_123_456);
        let b = h.hash(&a, 2, bare.fields(), 0);
        assert_eq!(
            hex::encode(a),
            "7240de1bc793cdc0f2ffb52276d3a7f92df80a0d52e592f64472b0f77ca0f81d"
        );
        assert_eq!(
            hex::encode(b),
            "210d0307a8d9167d72658a2c936866c42977a7a6f6ba2f4f30e255c070baf894"
        );
        let c = crate::segment::chain_segments(&h, 0, "", &[full, bare]).unwrap();
        let s = &c.segments[0];
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        digest.update(&s.records);
        digest.update(&s.filter);
        assert_eq!(
            hex::encode(digest.finish()),
            "c639a23ccacdc7d006ff801901212f162adf1a74752ab4d626c8351ad4104f89"
        );
        assert_eq!((s.min_time, s.max_time), (0, 1_764_000_000_123_456));
        assert_eq!(c.head_hash, hex::encode(b));
        // The same records as format 1 wrote them decode to the same records and verify.
        let v1 = hex::decode(V1_SEGMENT).unwrap();
        let now = crate::segment::decode_segment(1, &s.records).unwrap();
        assert_eq!(crate::segment::decode_segment(1, &v1).unwrap(), now);
        assert_eq!(hex::encode(&s.filter), V1_FILTER, "the filter is unchanged");
        let mut verifier = crate::segment::SegmentVerifier::new(&h);
        let summary = crate::segment::SegmentSummary {
            first_seq: 1,
            last_seq: 2,
            min_time: s.min_time,
            max_time: s.max_time,
            filter: s.filter.clone(),
        };
        assert!(verifier.push(&summary, &v1));
        assert_eq!(
            verifier.finish(2, &c.head_hash),
            AuditVerification::Intact { records: 2 }
        );
    }

    /// `golden()`'s segment as record format 1 encoded it, and its filter.
    const V1_SEGMENT: &str = "0140226441594406001e2400000030313961623639372d653830302d373030302d383030302d3030303030303030303030310c0000003132333435363738393031321100000069616d2e616d617a6f6e6177732e636f6d0a000000437265617465557365722300000061726e3a6177733a69616d3a3a3132333435363738393031323a757365722f7a6fc3ab040000007a6fc3ab14000000414b4941494f53464f444e4e374558414d504c450c00000041636365737344656e6965642c0000007b226576656e744e616d65223a2243726561746555736572222c22757365724e616d65223a227a6fc3ab227d7240de1bc793cdc0f2ffb52276d3a7f92df80a0d52e592f64472b0f77ca0f81d00000000000000000503000000652d3200000000110000007374732e616d617a6f6e6177732e636f6d1100000047657443616c6c65724964656e746974790000000000000000210d0307a8d9167d72658a2c936866c42977a7a6f6ba2f4f30e255c070baf894";
    const V1_FILTER: &str = "01030791c57d4c74fa5a3613bf04c35b99";

    #[test]
    fn a_record_gives_back_its_fields() {
        let [full, bare] = golden();
        assert_eq!(full.event_id(), "019ab697-e800-7000-8000-000000000001");
        assert_eq!(full.account(), "123456789012");
        assert_eq!(full.event_source(), "iam.amazonaws.com");
        assert_eq!(full.event_name(), "CreateUser");
        assert!(!full.read_only());
        assert_eq!(
            full.principal_arn(),
            Some("arn:aws:iam::123456789012:user/zoë")
        );
        assert_eq!(full.username(), Some("zoë"));
        assert_eq!(full.access_key_id(), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(full.error_code(), Some("AccessDenied"));
        assert_eq!(
            full.body(),
            "{\"eventName\":\"CreateUser\",\"userName\":\"zoë\"}"
        );
        assert_eq!(NewAuditRecord::new(full.audit_fields(), full.body()), full);
        assert_eq!((bare.account(), bare.body()), ("", ""));
        assert_eq!(bare.principal_arn(), None);
        assert_eq!(bare.username(), Some(""));
        assert!(bare.read_only());
        assert_eq!(bare.event_time(), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn a_record_is_one_allocation_of_its_size_and_bad_bodies_become_braces() {
        let [full, _] = golden();
        for body_len in [0, 700, 5_000, 100_000] {
            let built = NewAuditRecord::build(full.audit_fields(), |out| {
                assert!(out.is_empty());
                out.extend_from_slice(&vec![b'x'; body_len]);
            });
            assert_eq!(built.body().len(), body_len);
            assert_eq!(built.audit_fields(), full.audit_fields());
            let size = texts_len(&full.audit_fields()) + body_len;
            assert_eq!((built.text.len(), built.text.capacity()), (size, size));
        }
        let bad = NewAuditRecord::build(full.audit_fields(), |out| out.push(0xff));
        assert_eq!(bad.body(), "{}");
        assert_eq!(bad.audit_fields(), full.audit_fields());
    }

    proptest::proptest! {
        #[test]
        fn any_fields_come_back(
            texts in proptest::collection::vec(".{0,40}", 5),
            options in proptest::collection::vec(proptest::option::of(".{0,40}"), 4),
            read_only in proptest::bool::ANY,
            micros in 0u64..4_000_000_000_000_000,
        ) {
            let fields = AuditFields {
                event_id: &texts[0],
                event_time: SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(micros),
                account: &texts[1],
                event_source: &texts[2],
                event_name: &texts[3],
                read_only,
                principal_arn: options[0].as_deref(),
                username: options[1].as_deref(),
                access_key_id: options[2].as_deref(),
                error_code: options[3].as_deref(),
            };
            let built = NewAuditRecord::build(fields, |out| out.extend_from_slice(texts[4].as_bytes()));
            proptest::prop_assert_eq!(built.audit_fields(), fields);
            proptest::prop_assert_eq!(built.body(), texts[4].as_str());
            proptest::prop_assert_eq!(&NewAuditRecord::new(fields, &texts[4]), &built);
        }
    }
}
