//! How the audit trail is stored: one row (a *segment*) per append, not one row per record.
//!
//! Records reach the store in batches (everything the audit writer gathered in a few
//! milliseconds). Each batch is chained record by record exactly as [`crate::audit`] says, then
//! stored as one segment row: `first_seq`, `last_seq`, the earliest and latest event time
//! (`min_time`, `max_time`, microseconds), a small `filter`, and `records`, the records
//! themselves encoded one after another. A row and three index entries per record made the
//! writer thread about a fifth of the server's CPU under load; a segment costs one row and two
//! index entries per batch.
//!
//! # The `records` encoding
//!
//! One version byte (`1`), then each record in `seq` order (the record at position `i` has
//! `seq = first_seq + i`):
//!
//! ```text
//! event_time   i64, little-endian, microseconds since 1970
//! flags        u8: 1 readOnly, 2 principal_arn, 4 username, 8 access_key_id, 16 error_code
//! event_id, account, event_source, event_name            (text)
//! principal_arn, username, access_key_id, error_code     (text, each only if its flag is set)
//! body                                                    (text)
//! hash         32 bytes, the record's chain hash
//! ```
//!
//! where text is a `u32` little-endian byte length and that many bytes of UTF-8. Binary rather
//! than text: the hashes stay 32 bytes instead of 64 hex digits, and nothing needs escaping. A
//! few lines of Python's `struct` read it (the end-to-end tests edit records that way).
//! Decoding is total: any bytes give records or a [`StoreError::Corrupt`] naming the record and
//! what is wrong, and every length is checked against the bytes that remain before it is used.
//!
//! # The `filter`
//!
//! Queries skip segments without decoding them: by time range (`min_time`, `max_time`, both
//! indexed), and by a Bloom filter over the exact-match filters of [`AuditQuery`]: account,
//! event name, event source, error code, and principal (each of `principal_arn`, `username` and
//! `access_key_id`), each key tagged with what it is so that an account and an event name with
//! the same text differ. Layout: version byte (`1`), a flags byte (1: some record is read-only,
//! 2: some record is not), the number of hash functions `k`, then the bit array. Keys are hashed
//! with FNV-1a (64-bit) and a final avalanche step, and the `k` bit positions are drawn from the
//! two halves of that hash (double hashing); the array holds about 10 bits per distinct key
//! (false positives about 1%). A filter that cannot be read lets its segment through: records
//! are the truth, the filter only saves work. `verify` recomputes the time range and the filter
//! from the records, so a segment's summary cannot be edited to hide its records from queries.

use crate::StoreError;
use crate::audit::{
    AuditQuery, AuditRecord, AuditVerification, ChainHasher, ChainVerifier, GENESIS_HASH,
    NewAuditRecord, RecordFields, decode_hash,
};

/// The first byte of `records`.
const RECORDS_VERSION: u8 = 1;
/// The first byte of `filter`.
const FILTER_VERSION: u8 = 1;

/// A segment holds at most this many records...
const MAX_SEGMENT_RECORDS: usize = 1024;
/// ...and about this many bytes of `records` (a larger record gets a segment of its own).
const MAX_SEGMENT_BYTES: usize = 1 << 20;
/// Records per segment when an `audit_log` table from before segments is converted: about what
/// a loaded server's appends hold.
const CONVERTED_SEGMENT_RECORDS: usize = 256;

const HASH_LEN: usize = 32;
/// A record's bytes besides its text: time, flags, five required lengths, hash.
const RECORD_OVERHEAD: usize = 8 + 1 + 5 * 4 + HASH_LEN;

const READ_ONLY: u8 = 1;
const HAS_PRINCIPAL_ARN: u8 = 1 << 1;
const HAS_USERNAME: u8 = 1 << 2;
const HAS_ACCESS_KEY_ID: u8 = 1 << 3;
const HAS_ERROR_CODE: u8 = 1 << 4;
const KNOWN_FLAGS: u8 =
    READ_ONLY | HAS_PRINCIPAL_ARN | HAS_USERNAME | HAS_ACCESS_KEY_ID | HAS_ERROR_CODE;

/// Bloom filter hash functions.
const FILTER_K: u8 = 7;
/// Bloom filter bits per distinct key.
const FILTER_BITS_PER_KEY: usize = 10;
/// Filter flags.
const SOME_READ_ONLY: u8 = 1;
const SOME_MUTATING: u8 = 2;

/// Key tags: what a filter key is.
const TAG_ACCOUNT: u8 = b'a';
const TAG_EVENT_NAME: u8 = b'n';
const TAG_EVENT_SOURCE: u8 = b's';
const TAG_ERROR_CODE: u8 = b'e';
const TAG_PRINCIPAL: u8 = b'p';

/// One segment row, as the backends store it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSegment {
    /// The first record's `seq`.
    pub first_seq: i64,
    /// The last record's `seq`.
    pub last_seq: i64,
    /// The earliest event time, microseconds.
    pub min_time: i64,
    /// The latest event time, microseconds.
    pub max_time: i64,
    /// The Bloom filter (see the module docs).
    pub filter: Vec<u8>,
    /// The records (see the module docs).
    pub records: Vec<u8>,
}

/// The encoded length of one record.
fn record_len(f: &RecordFields<'_>) -> Result<usize, StoreError> {
    let mut len = RECORD_OVERHEAD;
    for text in [f.event_id, f.account, f.event_source, f.event_name, f.body] {
        len = len.saturating_add(text_len(text)?);
    }
    for text in [f.principal_arn, f.username, f.access_key_id, f.error_code]
        .into_iter()
        .flatten()
    {
        len = len.saturating_add(4).saturating_add(text_len(text)?);
    }
    Ok(len)
}

fn text_len(text: &str) -> Result<usize, StoreError> {
    if u32::try_from(text.len()).is_err() {
        return Err(StoreError::InvalidInput(
            "an audit record field is longer than 4 GiB".to_owned(),
        ));
    }
    Ok(text.len())
}

/// Builds one segment: the records' bytes, time range and filter, in one pass.
struct SegmentWriter<'a> {
    first_seq: i64,
    count: i64,
    min_time: i64,
    max_time: i64,
    records: Vec<u8>,
    filter: FilterBuilder<'a>,
}

impl<'a> SegmentWriter<'a> {
    /// A writer whose records will take `capacity` bytes (so the buffer is allocated once).
    fn new(first_seq: i64, capacity: usize) -> Self {
        let mut records = Vec::with_capacity(capacity.saturating_add(1));
        records.push(RECORDS_VERSION);
        Self {
            first_seq,
            count: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            records,
            filter: FilterBuilder::default(),
        }
    }

    /// Appends the next record; its lengths were checked by [`record_len`].
    fn push(&mut self, micros: i64, f: RecordFields<'a>, hash: &[u8; 32]) {
        self.count += 1;
        self.min_time = self.min_time.min(micros);
        self.max_time = self.max_time.max(micros);
        self.filter.add(&f);
        let out = &mut self.records;
        let mut flags = u8::from(f.read_only);
        for (value, flag) in [
            (f.principal_arn, HAS_PRINCIPAL_ARN),
            (f.username, HAS_USERNAME),
            (f.access_key_id, HAS_ACCESS_KEY_ID),
            (f.error_code, HAS_ERROR_CODE),
        ] {
            if value.is_some() {
                flags |= flag;
            }
        }
        out.extend_from_slice(&micros.to_le_bytes());
        out.push(flags);
        for text in [f.event_id, f.account, f.event_source, f.event_name]
            .into_iter()
            .chain(f.principal_arn)
            .chain(f.username)
            .chain(f.access_key_id)
            .chain(f.error_code)
            .chain([f.body])
        {
            // INVARIANT: `record_len` refused texts whose length does not fit a u32.
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out.extend_from_slice(hash);
    }

    fn finish(self) -> EncodedSegment {
        EncodedSegment {
            first_seq: self.first_seq,
            last_seq: self.first_seq.saturating_add(self.count).saturating_sub(1),
            min_time: self.min_time,
            max_time: self.max_time,
            filter: self.filter.finish(),
            records: self.records,
        }
    }
}

/// New records chained after the head, as the segments to insert, and the new head.
#[derive(Debug)]
pub(crate) struct ChainedSegments {
    pub(crate) segments: Vec<EncodedSegment>,
    pub(crate) head_seq: i64,
    pub(crate) head_hash: String,
}

/// Assigns `seq` and hash to a batch of new records following the chain head `(seq, hash)` and
/// encodes them as segments (one, unless the batch is larger than a segment may be).
pub(crate) fn chain_segments<'a>(
    hasher: &ChainHasher,
    head_seq: i64,
    head_hash: &str,
    records: &'a [NewAuditRecord],
) -> Result<ChainedSegments, StoreError> {
    let mut prev = if head_seq == 0 {
        GENESIS_HASH
    } else {
        decode_hash(head_hash)
            .ok_or_else(|| StoreError::Corrupt("audit chain head hash is not hex".to_owned()))?
    };
    let mut seq = head_seq;
    let mut segments = Vec::with_capacity(1);
    let mut rest: &'a [NewAuditRecord] = records;
    while !rest.is_empty() {
        // As many records as fit a segment, at least one; their exact size.
        let (mut count, mut bytes) = (0usize, 0usize);
        for record in rest {
            let len = record_len(&record.fields())?;
            if count > 0
                && (count == MAX_SEGMENT_RECORDS || bytes.saturating_add(len) > MAX_SEGMENT_BYTES)
            {
                break;
            }
            count += 1;
            bytes = bytes.saturating_add(len);
        }
        let (chunk, tail) = rest.split_at_checked(count).unwrap_or((rest, &[]));
        let first_seq = seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("audit sequence exhausted".to_owned()))?;
        let mut writer = SegmentWriter::new(first_seq, bytes);
        for record in chunk {
            seq = seq
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt("audit sequence exhausted".to_owned()))?;
            let micros = crate::to_micros(record.event_time())?;
            let fields = record.fields();
            prev = hasher.hash(&prev, seq, fields, micros);
            writer.push(micros, fields, &prev);
        }
        segments.push(writer.finish());
        rest = tail;
    }
    Ok(ChainedSegments {
        segments,
        head_seq: seq,
        head_hash: portcullis_core::id::lower_hex(&prev),
    })
}

/// Encodes stored records as one segment starting at `first_seq`: the record at position `i`
/// gets `seq = first_seq + i` (their own `seq` fields are not read) and keeps its `hash`, which
/// is not recomputed. For converting and repairing stores, and for tests that tamper with one.
pub fn encode_records(
    first_seq: i64,
    records: &[AuditRecord],
) -> Result<EncodedSegment, StoreError> {
    if records.is_empty() {
        return Err(StoreError::InvalidInput(
            "a segment holds at least one record".to_owned(),
        ));
    }
    let mut bytes = 0usize;
    for record in records {
        bytes = bytes.saturating_add(record_len(&record.fields())?);
    }
    let mut writer = SegmentWriter::new(first_seq, bytes);
    for record in records {
        let hash = decode_hash(&record.hash).ok_or_else(|| {
            StoreError::InvalidInput(format!("record {}: hash is not 64 hex digits", record.seq))
        })?;
        writer.push(crate::to_micros(record.event_time)?, record.fields(), &hash);
    }
    Ok(writer.finish())
}

/// Decodes a segment's `records` into the records, `first_seq` being the first one's `seq`.
pub fn decode_segment(first_seq: i64, bytes: &[u8]) -> Result<Vec<AuditRecord>, StoreError> {
    SegmentReader::new(first_seq, bytes)
        .map(|view| view.map(|v| v.to_record()).map_err(StoreError::from))
        .collect()
}

/// A record read from a segment, borrowing its text from the segment's bytes.
#[derive(Debug, Clone, Copy)]
struct RecordView<'a> {
    seq: i64,
    event_time_micros: i64,
    fields: RecordFields<'a>,
    hash: &'a [u8; 32],
}

impl RecordView<'_> {
    fn to_record(self) -> AuditRecord {
        let f = self.fields;
        AuditRecord {
            seq: self.seq,
            event_id: f.event_id.to_owned(),
            event_time: crate::from_micros(self.event_time_micros),
            account: f.account.to_owned(),
            event_source: f.event_source.to_owned(),
            event_name: f.event_name.to_owned(),
            read_only: f.read_only,
            principal_arn: f.principal_arn.map(str::to_owned),
            username: f.username.map(str::to_owned),
            access_key_id: f.access_key_id.map(str::to_owned),
            error_code: f.error_code.map(str::to_owned),
            body: f.body.to_owned(),
            hash: portcullis_core::id::lower_hex(self.hash),
        }
    }
}

/// Why a segment does not decode, and at which record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DecodeError {
    seq: i64,
    reason: String,
}

impl From<DecodeError> for StoreError {
    fn from(e: DecodeError) -> Self {
        StoreError::Corrupt(format!("audit record {}: {}", e.seq, e.reason))
    }
}

/// Reads a segment's records one at a time, in `seq` order; ends after the first error.
struct SegmentReader<'a> {
    rest: &'a [u8],
    next_seq: i64,
    /// The version byte was wrong (or missing): the first call to `next` says so.
    bad_version: bool,
    failed: bool,
}

impl<'a> SegmentReader<'a> {
    fn new(first_seq: i64, bytes: &'a [u8]) -> Self {
        let (rest, bad_version) = match bytes.split_first() {
            Some((&RECORDS_VERSION, rest)) => (rest, false),
            _ => (bytes, true),
        };
        Self {
            rest,
            next_seq: first_seq,
            bad_version,
            failed: false,
        }
    }

    fn record(&mut self) -> Result<RecordView<'a>, String> {
        let micros = i64::from_le_bytes(self.array::<8>("event time")?);
        if micros < 0 {
            // Never written: event times before 1970 are refused on the way in.
            return Err(format!("event time {micros} is before 1970"));
        }
        let [flags] = self.array::<1>("flags")?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(format!("unknown flags {flags:#04x}"));
        }
        let event_id = self.text("event id")?;
        let account = self.text("account")?;
        let event_source = self.text("event source")?;
        let event_name = self.text("event name")?;
        let principal_arn = self.optional(flags, HAS_PRINCIPAL_ARN, "principal ARN")?;
        let username = self.optional(flags, HAS_USERNAME, "user name")?;
        let access_key_id = self.optional(flags, HAS_ACCESS_KEY_ID, "access key id")?;
        let error_code = self.optional(flags, HAS_ERROR_CODE, "error code")?;
        let body = self.text("body")?;
        let hash = self
            .take(HASH_LEN, "hash")?
            .try_into()
            .map_err(|_| "hash is not 32 bytes".to_owned())?;
        Ok(RecordView {
            seq: self.next_seq,
            event_time_micros: micros,
            fields: RecordFields {
                event_id,
                account,
                event_source,
                event_name,
                read_only: flags & READ_ONLY != 0,
                principal_arn,
                username,
                access_key_id,
                error_code,
                body,
            },
            hash,
        })
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], String> {
        let (head, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or_else(|| format!("{what} needs {len} bytes, {} remain", self.rest.len()))?;
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let bytes = self.take(N, what)?;
        bytes
            .try_into()
            .map_err(|_| format!("{what} is not {N} bytes"))
    }

    fn text(&mut self, what: &str) -> Result<&'a str, String> {
        let len = u32::from_le_bytes(self.array::<4>(what)?);
        let len = usize::try_from(len).map_err(|_| format!("{what} is too long"))?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|e| format!("{what} is not UTF-8: {e}"))
    }

    fn optional(&mut self, flags: u8, flag: u8, what: &str) -> Result<Option<&'a str>, String> {
        if flags & flag == 0 {
            Ok(None)
        } else {
            self.text(what).map(Some)
        }
    }
}

impl<'a> Iterator for SegmentReader<'a> {
    type Item = Result<RecordView<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let seq = self.next_seq;
        if self.bad_version {
            self.failed = true;
            return Some(Err(DecodeError {
                seq,
                reason: format!("segment does not start with format version {RECORDS_VERSION}"),
            }));
        }
        if self.rest.is_empty() {
            return None;
        }
        let item = self.record().map_err(|reason| DecodeError { seq, reason });
        match &item {
            Ok(_) => match self.next_seq.checked_add(1) {
                Some(next) => self.next_seq = next,
                None => {
                    self.failed = true;
                    return Some(Err(DecodeError {
                        seq,
                        reason: "sequence number overflows".to_owned(),
                    }));
                }
            },
            Err(_) => self.failed = true,
        }
        Some(item)
    }
}

/// Collects a segment's filter keys. Consecutive records mostly share their account, event and
/// principal, so a key equal to the previous record's is not hashed again.
#[derive(Default)]
struct FilterBuilder<'a> {
    hashes: Vec<u64>,
    prev: Option<RecordFields<'a>>,
    flags: u8,
}

impl<'a> FilterBuilder<'a> {
    fn add(&mut self, f: &RecordFields<'a>) {
        self.flags |= if f.read_only {
            SOME_READ_ONLY
        } else {
            SOME_MUTATING
        };
        let prev = self.prev.replace(*f);
        let keys = [
            (TAG_ACCOUNT, Some(f.account), prev.map(|p| Some(p.account))),
            (
                TAG_EVENT_NAME,
                Some(f.event_name),
                prev.map(|p| Some(p.event_name)),
            ),
            (
                TAG_EVENT_SOURCE,
                Some(f.event_source),
                prev.map(|p| Some(p.event_source)),
            ),
            (TAG_ERROR_CODE, f.error_code, prev.map(|p| p.error_code)),
            (
                TAG_PRINCIPAL,
                f.principal_arn,
                prev.map(|p| p.principal_arn),
            ),
            (TAG_PRINCIPAL, f.username, prev.map(|p| p.username)),
            (
                TAG_PRINCIPAL,
                f.access_key_id,
                prev.map(|p| p.access_key_id),
            ),
        ];
        for (tag, value, previous) in keys {
            if let Some(value) = value
                && previous != Some(Some(value))
            {
                self.hashes.push(key_hash(tag, value));
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.hashes.sort_unstable();
        self.hashes.dedup();
        let bytes = (self.hashes.len() * FILTER_BITS_PER_KEY).div_ceil(8).max(8);
        let mut filter = vec![0u8; 3 + bytes];
        if let Some([version, flags, k]) = filter.first_chunk_mut::<3>() {
            (*version, *flags, *k) = (FILTER_VERSION, self.flags, FILTER_K);
        }
        if let Some((_, bits)) = filter.split_first_chunk_mut::<3>() {
            for &hash in &self.hashes {
                for bit in bit_positions(hash, bits.len() * 8, FILTER_K) {
                    if let Some(byte) = bits.get_mut(bit / 8) {
                        *byte |= 1 << (bit % 8);
                    }
                }
            }
        }
        filter
    }
}

/// FNV-1a (64-bit) over the tag and the key, then the MurmurHash3 finalizer, whose avalanche
/// gives FNV's weak low bits the spread the bit positions need.
fn key_hash(tag: u8, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&tag).chain(key.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The `k` bit positions of a key among `bits` (Kirsch–Mitzenmacher double hashing).
fn bit_positions(hash: u64, bits: usize, k: u8) -> impl Iterator<Item = usize> {
    let bits = u64::try_from(bits).unwrap_or(u64::MAX).max(1);
    let (h1, h2) = (hash & 0xffff_ffff, (hash >> 32) | 1);
    (0..u64::from(k)).map(move |i| {
        let bit = h1.wrapping_add(i.wrapping_mul(h2)) % bits;
        usize::try_from(bit).unwrap_or(0)
    })
}

/// Whether a segment with this filter may hold a record with every one of `keys` and, when
/// given, this `read_only`. A filter that cannot be read says yes.
fn filter_may_match(filter: &[u8], keys: &[u64], read_only: Option<bool>) -> bool {
    let Some(([version, flags, k], bits)) = filter.split_first_chunk::<3>() else {
        return true;
    };
    if *version != FILTER_VERSION || bits.is_empty() {
        return true;
    }
    match read_only {
        Some(true) if flags & SOME_READ_ONLY == 0 => return false,
        Some(false) if flags & SOME_MUTATING == 0 => return false,
        _ => {}
    }
    keys.iter().all(|&hash| {
        bit_positions(hash, bits.len() * 8, *k).all(|bit| {
            bits.get(bit / 8)
                .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
        })
    })
}

/// The small columns of a segment row, read before deciding whether to read its records.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSummary {
    pub(crate) first_seq: i64,
    pub(crate) last_seq: i64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) filter: Vec<u8>,
}

/// An [`AuditQuery`] made ready for segments: its time window (start, end and an event id's
/// millisecond, intersected) and its filter keys, hashed once.
#[derive(Debug)]
pub(crate) struct SegmentQuery {
    query: AuditQuery,
    from: Option<i64>,
    to: Option<i64>,
    keys: Vec<u64>,
    limit: usize,
}

impl SegmentQuery {
    pub(crate) fn new(query: AuditQuery) -> Result<Self, StoreError> {
        let mut from = query.start.map(crate::to_micros).transpose()?;
        let mut to = query.end.map(crate::to_micros).transpose()?;
        // A time-ordered event id names its millisecond, so the time index finds it. Other
        // ids (older records) are looked for without that help.
        let id_millis = query
            .event_id
            .as_deref()
            .and_then(portcullis_core::id::millis_of_time_ordered_id)
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(|ms| ms.checked_mul(1000));
        if let Some(micros) = id_millis {
            from = Some(from.map_or(micros, |f| f.max(micros)));
            let last = micros.saturating_add(999);
            to = Some(to.map_or(last, |t| t.min(last)));
        }
        let mut keys = Vec::new();
        for (tag, value) in [
            (TAG_ACCOUNT, &query.account),
            (TAG_EVENT_NAME, &query.event_name),
            (TAG_EVENT_SOURCE, &query.event_source),
            (TAG_ERROR_CODE, &query.error_code),
            (TAG_PRINCIPAL, &query.principal),
        ] {
            if let Some(value) = value {
                keys.push(key_hash(tag, value));
            }
        }
        let limit = usize::try_from(crate::effective_limit(query.limit)).unwrap_or(usize::MAX);
        Ok(Self {
            query,
            from,
            to,
            keys,
            limit,
        })
    }

    /// Whether no record can match (an empty time window, a `before_seq` at the start).
    pub(crate) fn matches_nothing(&self) -> bool {
        matches!((self.from, self.to), (Some(f), Some(t)) if f > t)
            || self.query.before_seq.is_some_and(|b| b <= 1)
    }

    /// The earliest event time a match may have, microseconds.
    pub(crate) fn from(&self) -> Option<i64> {
        self.from
    }

    /// The latest event time a match may have, microseconds.
    pub(crate) fn to(&self) -> Option<i64> {
        self.to
    }

    /// Matches have `seq` below this.
    pub(crate) fn before_seq(&self) -> i64 {
        self.query.before_seq.unwrap_or(i64::MAX)
    }

    /// Whether the segment may hold a match (its records need reading).
    pub(crate) fn may_match(&self, s: &SegmentSummary) -> bool {
        s.first_seq < self.before_seq()
            && self.from.is_none_or(|from| s.max_time >= from)
            && self.to.is_none_or(|to| s.min_time <= to)
            && filter_may_match(&s.filter, &self.keys, self.query.read_only)
    }

    /// Whether `out` holds all the records asked for.
    pub(crate) fn is_full(&self, out: &[AuditRecord]) -> bool {
        out.len() >= self.limit
    }

    /// Adds the segment's matching records to `out`, newest first, up to the limit.
    pub(crate) fn collect(
        &self,
        first_seq: i64,
        records: &[u8],
        out: &mut Vec<AuditRecord>,
    ) -> Result<(), StoreError> {
        let before = self.before_seq();
        let mut views = Vec::new();
        for view in SegmentReader::new(first_seq, records) {
            let view = view?;
            if view.seq >= before {
                break;
            }
            views.push(view);
        }
        for view in views.iter().rev() {
            if self.is_full(out) {
                break;
            }
            if self.record_matches(view) {
                out.push(view.to_record());
            }
        }
        Ok(())
    }

    fn record_matches(&self, v: &RecordView<'_>) -> bool {
        let q = &self.query;
        let f = &v.fields;
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        self.from.is_none_or(|from| v.event_time_micros >= from)
            && self.to.is_none_or(|to| v.event_time_micros <= to)
            && same(&q.account, Some(f.account))
            && same(&q.event_name, Some(f.event_name))
            && same(&q.event_source, Some(f.event_source))
            && same(&q.event_id, Some(f.event_id))
            && same(&q.error_code, f.error_code)
            && q.read_only.is_none_or(|r| r == f.read_only)
            && q.principal.as_deref().is_none_or(|p| {
                f.principal_arn == Some(p) || f.username == Some(p) || f.access_key_id == Some(p)
            })
    }
}

/// Walks segments in `first_seq` order, checking every record's chain hash and each segment's
/// summary columns against its records; stops at the first thing wrong.
#[derive(Debug)]
pub(crate) struct SegmentVerifier<'k> {
    chain: ChainVerifier<'k>,
}

impl<'k> SegmentVerifier<'k> {
    pub(crate) fn new(hasher: &'k ChainHasher) -> Self {
        Self {
            chain: ChainVerifier::new(hasher),
        }
    }

    /// Checks the next segment; returns `false` once the chain is found broken.
    pub(crate) fn push(&mut self, s: &SegmentSummary, records: &[u8]) -> bool {
        if !self.chain.expect_seq(s.first_seq) {
            return false;
        }
        let mut count: i64 = 0;
        let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
        let mut filter = FilterBuilder::default();
        for view in SegmentReader::new(s.first_seq, records) {
            let view = match view {
                Ok(view) => view,
                Err(e) => {
                    self.chain.fail(
                        e.seq,
                        format!(
                            "record does not decode from segment {}: {}",
                            s.first_seq, e.reason
                        ),
                    );
                    return false;
                }
            };
            if !self
                .chain
                .push_fields(view.seq, view.fields, view.event_time_micros, view.hash)
            {
                return false;
            }
            count += 1;
            min_time = min_time.min(view.event_time_micros);
            max_time = max_time.max(view.event_time_micros);
            filter.add(&view.fields);
        }
        if count == 0 {
            self.chain.fail(
                s.first_seq,
                format!("segment {} holds no records", s.first_seq),
            );
            return false;
        }
        let last = self.chain.last_seq();
        if s.last_seq > last {
            self.chain.fail(
                last.saturating_add(1),
                format!(
                    "records {}..={} are missing (segment {} ends at {last})",
                    last.saturating_add(1),
                    s.last_seq,
                    s.first_seq
                ),
            );
            return false;
        }
        if s.last_seq < last {
            self.chain.fail(
                s.last_seq.saturating_add(1),
                format!(
                    "record {} lies beyond its segment's last seq ({})",
                    s.last_seq.saturating_add(1),
                    s.last_seq
                ),
            );
            return false;
        }
        if (s.min_time, s.max_time) != (min_time, max_time) || s.filter != filter.finish() {
            self.chain.fail(
                s.first_seq,
                format!(
                    "segment {}..={}: its time range or filter does not match its records \
                     (queries would skip records)",
                    s.first_seq, s.last_seq
                ),
            );
            return false;
        }
        true
    }

    pub(crate) fn finish(self, head_seq: i64, head_hash: &str) -> AuditVerification {
        self.chain.finish(head_seq, head_hash)
    }
}

/// Groups the rows of a pre-segment `audit_log` table, read in `seq` order, into segments: runs
/// of consecutive `seq`, so a gap left by a deleted row stays a gap.
#[derive(Debug, Default)]
pub(crate) struct LogConverter {
    pending: Vec<AuditRecord>,
}

impl LogConverter {
    /// Takes the next row; returns a full segment to insert, if one is complete.
    pub(crate) fn push(
        &mut self,
        mut record: AuditRecord,
    ) -> Result<Option<EncodedSegment>, StoreError> {
        if decode_hash(&record.hash).is_none() {
            // Kept as a hash that matches nothing, so verify still names this record.
            tracing::warn!(seq = record.seq, "audit record with a malformed hash");
            record.hash = "0".repeat(64);
        }
        let follows = self
            .pending
            .last()
            .is_none_or(|last| last.seq.checked_add(1) == Some(record.seq));
        let done = if follows && self.pending.len() < CONVERTED_SEGMENT_RECORDS {
            None
        } else {
            self.flush()?
        };
        self.pending.push(record);
        Ok(done)
    }

    /// The last segment, if rows remain.
    pub(crate) fn flush(&mut self) -> Result<Option<EncodedSegment>, StoreError> {
        let Some(first) = self.pending.first() else {
            return Ok(None);
        };
        let segment = encode_records(first.seq, &self.pending)?;
        self.pending.clear();
        Ok(Some(segment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditFields;
    use proptest::prelude::*;
    use std::time::{Duration, SystemTime};

    fn record(n: u32) -> NewAuditRecord {
        let access_key_id = format!("AKIA{n}");
        NewAuditRecord::new(
            AuditFields {
                event_id: &format!("e-{n}"),
                event_time: SystemTime::UNIX_EPOCH
                    + Duration::from_micros(1_700_000_000_000_000 + u64::from(n)),
                account: "123456789012",
                event_source: "iam.amazonaws.com",
                event_name: if n.is_multiple_of(2) {
                    "CreateUser"
                } else {
                    "ListUsers"
                },
                read_only: n % 2 == 1,
                principal_arn: Some("arn:aws:iam::123456789012:root"),
                username: None,
                access_key_id: Some(&access_key_id),
                error_code: n.is_multiple_of(3).then_some("AccessDenied"),
            },
            &format!("{{\"n\":{n}}}"),
        )
    }

    fn chained(n: u32) -> ChainedSegments {
        let news: Vec<_> = (0..n).map(record).collect();
        chain_segments(&ChainHasher::new(b"k"), 0, "", &news).unwrap()
    }

    #[test]
    fn a_batch_is_one_segment_that_verifies() {
        let hasher = ChainHasher::new(b"k");
        let c = chained(5);
        assert_eq!(c.segments.len(), 1);
        let s = &c.segments[0];
        assert_eq!((s.first_seq, s.last_seq), (1, 5));
        let records = decode_segment(s.first_seq, &s.records).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(records[4].hash, c.head_hash);
        assert_eq!(records[2].error_code.as_deref(), None);
        assert_eq!(records[3].error_code.as_deref(), Some("AccessDenied"));
        let mut v = SegmentVerifier::new(&hasher);
        assert!(v.push(&summary(s), &s.records));
        assert_eq!(
            v.finish(5, &c.head_hash),
            AuditVerification::Intact { records: 5 }
        );
        // Re-encoding the decoded records gives the same row.
        assert_eq!(&encode_records(1, &records).unwrap(), s);
    }

    fn summary(s: &EncodedSegment) -> SegmentSummary {
        SegmentSummary {
            first_seq: s.first_seq,
            last_seq: s.last_seq,
            min_time: s.min_time,
            max_time: s.max_time,
            filter: s.filter.clone(),
        }
    }

    #[test]
    fn large_batches_are_split() {
        let c = chained(2500);
        let sizes: Vec<_> = c
            .segments
            .iter()
            .map(|s| (s.first_seq, s.last_seq))
            .collect();
        assert_eq!(sizes, vec![(1, 1024), (1025, 2048), (2049, 2500)]);
        let hasher = ChainHasher::new(b"k");
        let mut v = SegmentVerifier::new(&hasher);
        for s in &c.segments {
            assert!(v.push(&summary(s), &s.records));
        }
        assert_eq!(
            v.finish(2500, &c.head_hash),
            AuditVerification::Intact { records: 2500 }
        );
    }

    #[test]
    fn damage_is_named_by_record() {
        let hasher = ChainHasher::new(b"k");
        let c = chained(3);
        let s = &c.segments[0];
        let verdict = |bytes: &[u8], sum: &SegmentSummary| {
            let mut v = SegmentVerifier::new(&hasher);
            v.push(sum, bytes);
            v.finish(3, &c.head_hash)
        };
        // The last byte of the last record's hash gone: record 3 does not decode.
        let cut = &s.records[..s.records.len() - 1];
        match verdict(cut, &summary(s)) {
            AuditVerification::Broken { seq, reason } => {
                assert_eq!(seq, 3, "{reason}");
                assert!(reason.contains("does not decode"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // A wrong version byte: the segment's first record.
        let mut bad = s.records.clone();
        bad[0] = 9;
        assert!(matches!(
            verdict(&bad, &summary(s)),
            AuditVerification::Broken { seq: 1, .. }
        ));
        assert!(decode_segment(1, &bad).is_err());
        // A summary that would hide records from queries.
        let mut shifted = summary(s);
        shifted.max_time -= 1;
        match verdict(&s.records, &shifted) {
            AuditVerification::Broken { seq, reason } => {
                assert_eq!(seq, 1, "{reason}");
                assert!(reason.contains("filter"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut blank = summary(s);
        blank.filter.iter_mut().skip(3).for_each(|b| *b = 0);
        assert!(matches!(
            verdict(&s.records, &blank),
            AuditVerification::Broken { seq: 1, .. }
        ));
    }

    #[test]
    fn filter_keys_are_tagged_and_flags_kept() {
        let c = chained(4);
        let f = &c.segments[0].filter;
        let has = |tag, key: &str| filter_may_match(f, &[key_hash(tag, key)], None);
        assert!(has(TAG_ACCOUNT, "123456789012"));
        assert!(has(TAG_EVENT_NAME, "CreateUser"));
        assert!(has(TAG_PRINCIPAL, "AKIA3"));
        assert!(has(TAG_PRINCIPAL, "arn:aws:iam::123456789012:root"));
        assert!(has(TAG_ERROR_CODE, "AccessDenied"));
        // The same text under another tag is another key.
        assert!(!has(TAG_EVENT_NAME, "123456789012"));
        assert!(!has(TAG_ACCOUNT, "CreateUser"));
        assert!(!has(TAG_EVENT_NAME, "DeleteUser"));
        assert!(filter_may_match(f, &[], Some(true)));
        assert!(filter_may_match(f, &[], Some(false)));
        let one = chained(2); // records 0 (mutating) and 1 (read-only)
        let only_first = &chain_segments(&ChainHasher::new(b"k"), 0, "", &[record(0)])
            .unwrap()
            .segments[0]
            .filter;
        assert!(!filter_may_match(only_first, &[], Some(true)));
        assert!(filter_may_match(&one.segments[0].filter, &[], Some(true)));
        // Unreadable filters let their segment through.
        assert!(filter_may_match(&[], &[1], Some(true)));
        assert!(filter_may_match(&[2, 0, 7, 0], &[1], Some(true)));
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "\\PC{0,12}", "[a-z:/]{0,40}"]
    }

    prop_compose! {
        fn stored_record()(
            event_id in text(), micros in 0i64..4_000_000_000_000_000, account in text(),
            event_source in text(), event_name in text(), read_only in any::<bool>(),
            principal_arn in proptest::option::of(text()), username in proptest::option::of(text()),
            access_key_id in proptest::option::of(text()), error_code in proptest::option::of(text()),
            body in "\\PC{0,200}", hash in any::<[u8; 32]>(),
        ) -> AuditRecord {
            AuditRecord {
                seq: 0, event_id, event_time: crate::from_micros(micros), account, event_source,
                event_name, read_only, principal_arn, username, access_key_id, error_code, body,
                hash: portcullis_core::id::lower_hex(&hash),
            }
        }
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(
            first in 1i64..1_000_000_000,
            mut records in proptest::collection::vec(stored_record(), 1..20),
        ) {
            for (i, r) in records.iter_mut().enumerate() {
                r.seq = first + i as i64;
            }
            let segment = encode_records(first, &records).unwrap();
            prop_assert_eq!(segment.last_seq, first + records.len() as i64 - 1);
            prop_assert_eq!(decode_segment(first, &segment.records).unwrap(), records.clone());
            // Every key of every record passes its segment's filter.
            for r in &records {
                let mut keys = vec![
                    key_hash(TAG_ACCOUNT, &r.account),
                    key_hash(TAG_EVENT_NAME, &r.event_name),
                    key_hash(TAG_EVENT_SOURCE, &r.event_source),
                ];
                for (tag, v) in [
                    (TAG_ERROR_CODE, &r.error_code),
                    (TAG_PRINCIPAL, &r.principal_arn),
                    (TAG_PRINCIPAL, &r.username),
                    (TAG_PRINCIPAL, &r.access_key_id),
                ] {
                    if let Some(v) = v {
                        keys.push(key_hash(tag, v));
                    }
                }
                prop_assert!(filter_may_match(&segment.filter, &keys, Some(r.read_only)));
            }
        }

        #[test]
        fn decoding_any_bytes_never_panics(
            first in any::<i64>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let _ = decode_segment(first, &bytes);
            let mut with_version = vec![RECORDS_VERSION];
            with_version.extend_from_slice(&bytes);
            // Whatever decodes encodes back to the same bytes.
            if let Ok(records) = decode_segment(first, &with_version)
                && !records.is_empty()
            {
                prop_assert_eq!(encode_records(first, &records).unwrap().records, with_version);
            }
            let _ = filter_may_match(&bytes, &[1, 2, 3], Some(true));
        }

        #[test]
        fn damaged_segments_decode_to_errors_not_panics(
            mut records in proptest::collection::vec(stored_record(), 1..5),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            for (i, r) in records.iter_mut().enumerate() {
                r.seq = 1 + i as i64;
            }
            let mut bytes = encode_records(1, &records).unwrap().records;
            let i = at.index(bytes.len());
            if cut {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            let _ = decode_segment(1, &bytes);
        }
    }
}
