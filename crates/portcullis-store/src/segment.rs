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
//! One version byte, then each record in `seq` order (the record at position `i` has
//! `seq = first_seq + i`). Segments are written in version 2 and read in both versions.
//!
//! Version 2 writes each record against an earlier record of its segment, its *base*: the
//! latest of the previous [`BASE_WINDOW`] records with the same event source and name, or else
//! the previous record. The records of one batch are mostly the same calls by the same callers,
//! so most of a record is its base's: a GetCallerIdentity record takes about a fifth of its
//! version 1 bytes, and so does the disk traffic of every append (the log write and the
//! checkpoint's copy).
//!
//! ```text
//! time        varint, zigzag: event time (µs since 1970) minus the previous record's (the
//!             first record: minus 0)
//! flags       u8: 1 readOnly, 2 principal_arn, 4 username, 8 access_key_id, 16 error_code
//! base        varint: 0 (no base), or how many records back the base is
//! same        u8, only when there is a base: which of account (1), event_source (2),
//!             event_name (4), principal_arn (8), username (16), access_key_id (32) and
//!             error_code (64) are the base's
//! event_id                                                     (text)
//! account, event_source, event_name                            (text, each unless `same`)
//! principal_arn, username, access_key_id, error_code           (text, each if its flag is
//!                                                               set and not `same`)
//! pieces      varint: the number of pieces of the body, which is its pieces joined by `"`
//! reuse       only when there is a base: one bit a piece, ceil(pieces / 8) bytes, bit `i`
//!             (byte i / 8, bit i % 8) set when piece `i` is the base's piece `i`
//! piece...    (text) each piece whose bit is not set, in order
//! hash        32 bytes, the record's chain hash
//! ```
//!
//! where a varint is LEB128 (seven bits a byte, least significant first, at most ten bytes) and
//! text is a varint byte length and that many bytes of UTF-8. Splitting at every `"` needs no
//! knowledge of JSON: any text joins back exactly. The chain hash is over the record's fields
//! and whole body (see [`ChainHasher`]), not over this encoding, so versions 1 and 2 of a
//! record have the same hash.
//!
//! Version 1 (segments written before version 2):
//!
//! ```text
//! event_time   i64, little-endian, microseconds since 1970
//! flags        u8, as in version 2
//! event_id, account, event_source, event_name            (text)
//! principal_arn, username, access_key_id, error_code     (text, each only if its flag is set)
//! body                                                    (text)
//! hash         32 bytes, the record's chain hash
//! ```
//!
//! where text is a `u32` little-endian byte length and that many bytes of UTF-8.
//!
//! Binary rather than text: the hashes stay 32 bytes instead of 64 hex digits, and nothing needs
//! escaping. A few lines of Python's `struct` read it (the end-to-end tests edit records that
//! way). Decoding is total: any bytes give records or a [`StoreError::Corrupt`] naming the
//! record and what is wrong; every length is checked against the bytes that remain before it is
//! used, and the bodies a segment decodes to are bounded by what its writer could have put in
//! it, so a damaged segment cannot make a reader allocate without limit.
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

/// The first byte of `records` in segments written before records were written against a base.
const RECORDS_V1: u8 = 1;
/// The first byte of `records`.
const RECORDS_VERSION: u8 = 2;
/// The first byte of `filter`.
const FILTER_VERSION: u8 = 1;

/// A segment holds at most this many records...
const MAX_SEGMENT_RECORDS: usize = 1024;
/// ...and records of about this many bytes in all, counted as [`record_len`] does (a larger
/// record gets a segment of its own).
const MAX_SEGMENT_BYTES: usize = 1 << 20;
/// Records per segment when an `audit_log` table from before segments is converted: about what
/// a loaded server's appends hold.
const CONVERTED_SEGMENT_RECORDS: usize = 256;
/// How far back a record's base is looked for.
const BASE_WINDOW: usize = 16;

const HASH_LEN: usize = 32;
/// A record's bytes besides its text, as [`record_len`] counts them: time, flags, five
/// required lengths, hash.
const RECORD_OVERHEAD: usize = 8 + 1 + 5 * 4 + HASH_LEN;

const READ_ONLY: u8 = 1;
const HAS_PRINCIPAL_ARN: u8 = 1 << 1;
const HAS_USERNAME: u8 = 1 << 2;
const HAS_ACCESS_KEY_ID: u8 = 1 << 3;
const HAS_ERROR_CODE: u8 = 1 << 4;
const KNOWN_FLAGS: u8 =
    READ_ONLY | HAS_PRINCIPAL_ARN | HAS_USERNAME | HAS_ACCESS_KEY_ID | HAS_ERROR_CODE;
/// The `same` bits that name a field (one for each of [`Texts`]).
const KNOWN_SAME: u8 = (1 << TEXTS) - 1;

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

/// A record's size as segments are budgeted: its version 1 encoding (version 2 is never
/// larger, but depends on the records before it).
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

/// Whether a record of `len` bytes (by [`record_len`]) may join a segment of `count` records of
/// `bytes` bytes: a segment holds one record of any size, or records of at most
/// [`MAX_SEGMENT_BYTES`] in all, never more than `max_count`. Readers rely on the byte bound.
fn fits(count: usize, bytes: usize, len: usize, max_count: usize) -> bool {
    count == 0 || (count < max_count && bytes.saturating_add(len) <= MAX_SEGMENT_BYTES)
}

/// How many of a record's fields a base can share: account, event source, event name, then the
/// four optional ones.
const TEXTS: usize = 7;
/// Those fields, in that order (the order of the `same` bits).
type Texts<'a> = [Option<&'a str>; TEXTS];

fn texts<'a>(f: &RecordFields<'a>) -> Texts<'a> {
    [
        Some(f.account),
        Some(f.event_source),
        Some(f.event_name),
        f.principal_arn,
        f.username,
        f.access_key_id,
        f.error_code,
    ]
}

fn flags(f: &RecordFields<'_>) -> u8 {
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
    flags
}

/// What later records of a segment may be written against: a record's fields, and its body as
/// `B` (its text when writing, the range of its pieces when reading).
#[derive(Clone, Copy)]
struct Written<'a, B> {
    texts: Texts<'a>,
    body: B,
}

/// The latest of the last [`BASE_WINDOW`] records with this event source and name, or else the
/// previous record; as an index into `written`.
fn choose_base<B>(written: &[Written<'_, B>], source: &str, name: &str) -> Option<usize> {
    let n = written.len();
    (n.saturating_sub(BASE_WINDOW)..n)
        .rev()
        .find(|&i| {
            written
                .get(i)
                .is_some_and(|w| w.texts[1] == Some(source) && w.texts[2] == Some(name))
        })
        .or_else(|| n.checked_sub(1))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

/// Text already split from valid UTF-8 at ASCII bytes, so itself valid.
fn put_bytes(out: &mut Vec<u8>, text: &[u8]) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text);
}

/// How many `"` the text holds.
fn quotes(text: &[u8]) -> usize {
    // The iterator's `count` counts a vector register at a time, not match by match.
    memchr::memchr_iter(b'"', text).count()
}

/// How many leading bytes `a` and `b` share, sixteen at a time while they can.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        let (Ok(x), Ok(y)) = (<[u8; 16]>::try_from(x), <[u8; 16]>::try_from(y)) else {
            break;
        };
        if u128::from_ne_bytes(x) != u128::from_ne_bytes(y) {
            break;
        }
        n += 16;
    }
    let (a, b) = (
        a.get(n..).unwrap_or_default(),
        b.get(n..).unwrap_or_default(),
    );
    n + a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Writes `body` against `base` (see the module docs): sets `reuse` to its reuse map and
/// `literals` to its pieces that are not the base's, each as text; returns its piece count.
///
/// Rather than splitting both bodies at every `"` and comparing piece by piece, it walks them
/// side by side: the longest run the two share from where a piece starts holds whole pieces
/// that are equal (a `"` in it is at the same place in both), and only the piece where they part
/// is split and compared. A record mostly differs from its base in a few values (times and
/// ids), so a body of about 70 pieces takes a handful of steps.
fn diff_pieces(body: &[u8], base: &[u8], reuse: &mut Vec<u8>, literals: &mut Vec<u8>) -> usize {
    reuse.clear();
    literals.clear();
    // Where the next piece starts in each body, and whether the base has one there.
    let (mut at, mut base_at, mut base_left) = (0usize, 0usize, true);
    let mut count = 0usize;
    loop {
        let mine = body.get(at..).unwrap_or_default();
        if base_left {
            let theirs = base.get(base_at..).unwrap_or_default();
            let shared = mine.get(..common_prefix(mine, theirs)).unwrap_or_default();
            if let Some(last) = memchr::memrchr(b'"', shared) {
                let equal = quotes(shared);
                mark(reuse, count, equal, true);
                count += equal;
                at += last + 1;
                base_at += last + 1;
            }
        }
        let mine = body.get(at..).unwrap_or_default();
        let end = memchr::memchr(b'"', mine);
        let piece = mine.get(..end.unwrap_or(mine.len())).unwrap_or_default();
        let mut reused = false;
        if base_left {
            let theirs = base.get(base_at..).unwrap_or_default();
            let base_end = memchr::memchr(b'"', theirs);
            reused = theirs.get(..base_end.unwrap_or(theirs.len())) == Some(piece);
            match base_end {
                Some(e) => base_at += e + 1,
                None => base_left = false,
            }
        }
        mark(reuse, count, 1, reused);
        count += 1;
        if !reused {
            put_bytes(literals, piece);
        }
        match end {
            Some(e) => at += e + 1,
            None => return count,
        }
    }
}

/// Extends the reuse map to pieces `from..from + n`, marked reused or not; a whole byte of
/// reused pieces at once (a record shares runs of dozens of pieces with its base).
fn mark(reuse: &mut Vec<u8>, from: usize, n: usize, reused: bool) {
    let end = from + n;
    reuse.resize(end.div_ceil(8), 0);
    if !reused {
        return;
    }
    let mut i = from;
    while i < end {
        if i.is_multiple_of(8) && end - i >= 8 {
            if let Some(byte) = reuse.get_mut(i / 8) {
                *byte = 0xff;
            }
            i += 8;
        } else {
            if let Some(byte) = reuse.get_mut(i / 8) {
                *byte |= 1 << (i % 8);
            }
            i += 1;
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Builds one segment: the records' bytes, time range and filter, in one pass.
struct SegmentWriter<'a> {
    first_seq: i64,
    min_time: i64,
    max_time: i64,
    prev_time: i64,
    records: Vec<u8>,
    filter: FilterBuilder<'a>,
    written: Vec<Written<'a, &'a [u8]>>,
    /// The body being written: its reuse map and its pieces that are not reused.
    reuse: Vec<u8>,
    literals: Vec<u8>,
}

impl<'a> SegmentWriter<'a> {
    /// A writer for `count` records of `bytes` bytes in their version 1 encoding (an upper
    /// bound: buffers are allocated once).
    fn new(first_seq: i64, count: usize, bytes: usize) -> Self {
        let mut records = Vec::with_capacity(bytes.saturating_add(1));
        records.push(RECORDS_VERSION);
        Self {
            first_seq,
            min_time: i64::MAX,
            max_time: i64::MIN,
            prev_time: 0,
            records,
            filter: FilterBuilder::default(),
            written: Vec::with_capacity(count),
            reuse: Vec::new(),
            literals: Vec::new(),
        }
    }

    /// Appends the next record; its lengths were checked by [`record_len`].
    fn push(&mut self, micros: i64, f: RecordFields<'a>, hash: &[u8; 32]) {
        self.min_time = self.min_time.min(micros);
        self.max_time = self.max_time.max(micros);
        self.filter.add(&f);
        let texts = texts(&f);
        let body = f.body.as_bytes();
        let base = choose_base(&self.written, f.event_source, f.event_name)
            .and_then(|b| Some((self.written.len() - b, *self.written.get(b)?)));
        let out = &mut self.records;
        put_varint(out, zigzag(micros.wrapping_sub(self.prev_time)));
        self.prev_time = micros;
        out.push(flags(&f));
        put_varint(out, base.map_or(0, |(back, _)| back as u64));
        let mut same = 0u8;
        if let Some((_, b)) = base {
            for (i, (t, bt)) in texts.iter().zip(&b.texts).enumerate() {
                if t.is_some() && t == bt {
                    same |= 1 << i;
                }
            }
            out.push(same);
        }
        put_text(out, f.event_id);
        for (i, text) in texts.iter().enumerate() {
            if let Some(text) = text
                && same & (1 << i) == 0
            {
                put_text(out, text);
            }
        }
        match base {
            Some((_, b)) => {
                let count = diff_pieces(body, b.body, &mut self.reuse, &mut self.literals);
                put_varint(out, count as u64);
                out.extend_from_slice(&self.reuse);
                out.extend_from_slice(&self.literals);
            }
            None => {
                put_varint(out, quotes(body) as u64 + 1);
                for piece in body.split(|&b| b == b'"') {
                    put_bytes(out, piece);
                }
            }
        }
        out.extend_from_slice(hash);
        self.written.push(Written { texts, body });
    }

    fn finish(self) -> EncodedSegment {
        let count = i64::try_from(self.written.len()).unwrap_or(i64::MAX);
        EncodedSegment {
            first_seq: self.first_seq,
            last_seq: self.first_seq.saturating_add(count).saturating_sub(1),
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
            if !fits(count, bytes, len, MAX_SEGMENT_RECORDS) {
                break;
            }
            count += 1;
            bytes = bytes.saturating_add(len);
        }
        let (chunk, tail) = rest.split_at_checked(count).unwrap_or((rest, &[]));
        let first_seq = seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("audit sequence exhausted".to_owned()))?;
        let mut writer = SegmentWriter::new(first_seq, count, bytes);
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
    for (count, record) in records.iter().enumerate() {
        let len = record_len(&record.fields())?;
        if !fits(count, bytes, len, usize::MAX) {
            return Err(StoreError::InvalidInput(format!(
                "records {}..: more than {MAX_SEGMENT_BYTES} bytes for one segment",
                record.seq
            )));
        }
        bytes = bytes.saturating_add(len);
    }
    let mut writer = SegmentWriter::new(first_seq, records.len(), bytes);
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
    let segment = DecodedSegment::new(first_seq, bytes);
    match segment.error {
        Some(e) => Err(e.into()),
        None => Ok(segment.views().map(RecordView::to_record).collect()),
    }
}

/// A record read from a segment, borrowing its fields from the segment's bytes and its body
/// from the [`DecodedSegment`].
#[derive(Debug, Clone, Copy)]
struct RecordView<'a> {
    seq: i64,
    event_time_micros: i64,
    fields: RecordFields<'a>,
    hash: &'a [u8; 32],
}

impl RecordView<'_> {
    fn to_record(self) -> AuditRecord {
        AuditRecord::new(
            self.seq,
            self.fields,
            crate::from_micros(self.event_time_micros),
            portcullis_core::id::lower_hex(self.hash),
        )
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

/// A decoded record: its fields in the segment's bytes, its body in [`DecodedSegment::bodies`].
#[derive(Debug, Clone, Copy)]
struct Decoded<'a> {
    micros: i64,
    flags: u8,
    event_id: &'a str,
    texts: Texts<'a>,
    body: (usize, usize),
    hash: &'a [u8; 32],
}

/// A segment's records, decoded in `seq` order up to the first that does not decode.
struct DecodedSegment<'a> {
    first_seq: i64,
    records: Vec<Decoded<'a>>,
    /// Every record's body, one after another.
    bodies: String,
    /// Why the record after the last of `records` does not decode, if one does not.
    error: Option<DecodeError>,
}

impl<'a> DecodedSegment<'a> {
    fn new(first_seq: i64, bytes: &'a [u8]) -> Self {
        let mut segment = Self {
            first_seq,
            records: Vec::new(),
            bodies: String::new(),
            error: None,
        };
        let result = match bytes.split_first() {
            Some((&RECORDS_VERSION, rest)) => segment.read_v2(rest, bytes.len()),
            Some((&RECORDS_V1, rest)) => segment.read_v1(rest),
            _ => Err(format!(
                "segment does not start with format version {RECORDS_V1} or {RECORDS_VERSION}"
            )),
        };
        if let Err(reason) = result {
            let seq = i64::try_from(segment.records.len())
                .ok()
                .and_then(|n| first_seq.checked_add(n))
                .unwrap_or(i64::MAX);
            segment.error = Some(DecodeError { seq, reason });
        }
        segment
    }

    /// Checks that the record about to be added still has a `seq`.
    fn next_seq(&self) -> Result<i64, String> {
        i64::try_from(self.records.len())
            .ok()
            .and_then(|n| self.first_seq.checked_add(n))
            .ok_or_else(|| "sequence number overflows".to_owned())
    }

    fn read_v1(&mut self, bytes: &'a [u8]) -> Result<(), String> {
        let mut r = Cursor { rest: bytes };
        while !r.rest.is_empty() {
            self.next_seq()?;
            let micros = i64::from_le_bytes(r.array::<8>("event time")?);
            let flags = r.flags()?;
            let event_id = r.text_u32("event id")?;
            let mut texts: Texts<'a> = [None; TEXTS];
            for (i, (text, what)) in texts.iter_mut().zip(TEXT_NAMES).enumerate() {
                if present(flags, i) {
                    *text = Some(r.text_u32(what)?);
                }
            }
            let body = r.text_u32("body")?;
            let start = self.bodies.len();
            self.bodies.push_str(body);
            let hash = r.hash()?;
            self.push(
                micros,
                flags,
                event_id,
                texts,
                (start, self.bodies.len()),
                hash,
            )?;
        }
        Ok(())
    }

    /// The bodies decode to at most [`MAX_SEGMENT_BYTES`] in all, or to `encoded_len` (the
    /// segment's size) when that is more (a segment of one large record, all of it literal):
    /// see [`fits`].
    fn read_v2(&mut self, bytes: &'a [u8], encoded_len: usize) -> Result<(), String> {
        let limit = MAX_SEGMENT_BYTES.max(encoded_len);
        let mut r = Cursor { rest: bytes };
        let mut written: Vec<Written<'a, (usize, usize)>> = Vec::new();
        let mut pieces: Vec<&'a str> = Vec::new();
        let mut prev_time = 0i64;
        while !r.rest.is_empty() {
            self.next_seq()?;
            let micros = prev_time.wrapping_add(unzigzag(r.varint("event time")?));
            prev_time = micros;
            let flags = r.flags()?;
            let back = r.varint("base")?;
            let base = match back {
                0 => None,
                back => {
                    let at = usize::try_from(back)
                        .ok()
                        .and_then(|back| written.len().checked_sub(back))
                        .ok_or_else(|| format!("base {back} records back is before the segment"))?;
                    written.get(at).copied()
                }
            };
            let same = match base {
                Some(_) => r.array::<1>("same")?[0],
                None => 0,
            };
            if same & !KNOWN_SAME != 0 {
                return Err(format!("unknown same bits {same:#04x}"));
            }
            let event_id = r.text("event id")?;
            let mut texts: Texts<'a> = [None; TEXTS];
            for (i, (text, what)) in texts.iter_mut().zip(TEXT_NAMES).enumerate() {
                let is_same = same & (1 << i) != 0;
                *text = match (present(flags, i), is_same, base) {
                    (false, false, _) => None,
                    (true, false, _) => Some(r.text(what)?),
                    (true, true, Some(b)) => match b.texts.get(i).copied().flatten() {
                        Some(theirs) => Some(theirs),
                        None => {
                            return Err(format!("{what} is marked as the base's, which has none"));
                        }
                    },
                    _ => {
                        return Err(format!(
                            "{what} is marked as the base's, but the record has none"
                        ));
                    }
                };
            }
            let count = r.varint("piece count")?;
            // Each piece takes a byte of its own, or a bit of the reuse map.
            let count = usize::try_from(count)
                .ok()
                .filter(|&n| n >= 1 && n <= r.rest.len().saturating_mul(8))
                .ok_or_else(|| format!("{count} body pieces cannot fit the segment"))?;
            if self.bodies.len().saturating_add(count - 1) > limit {
                return Err(too_long(limit));
            }
            let theirs = base.map_or((0, 0), |b| b.body);
            let start = pieces.len();
            let reuse = match base {
                Some(_) => r.take(count.div_ceil(8), "reuse map")?,
                None => &[],
            };
            for i in 0..count {
                let reused = reuse
                    .get(i / 8)
                    .is_some_and(|byte| byte & (1 << (i % 8)) != 0);
                let piece = if reused {
                    theirs
                        .0
                        .checked_add(i)
                        .filter(|&at| at < theirs.1)
                        .and_then(|at| pieces.get(at).copied())
                        .ok_or_else(|| {
                            format!("body piece {i} is marked as the base's, which has none")
                        })?
                } else {
                    r.text("body piece")?
                };
                pieces.push(piece);
            }
            if let Some(last) = reuse.last()
                && count % 8 != 0
                && last >> (count % 8) != 0
            {
                return Err("reuse map has bits beyond the body's pieces".to_owned());
            }
            let own = (start, pieces.len());
            let body_start = self.bodies.len();
            let body_len = pieces
                .get(own.0..own.1)
                .unwrap_or_default()
                .iter()
                .map(|p| p.len() + 1)
                .sum::<usize>()
                .saturating_sub(1);
            if body_start.saturating_add(body_len) > limit {
                return Err(too_long(limit));
            }
            for (i, piece) in pieces
                .get(own.0..own.1)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if i > 0 {
                    self.bodies.push('"');
                }
                self.bodies.push_str(piece);
            }
            let hash = r.hash()?;
            self.push(
                micros,
                flags,
                event_id,
                texts,
                (body_start, self.bodies.len()),
                hash,
            )?;
            written.push(Written { texts, body: own });
        }
        Ok(())
    }

    fn push(
        &mut self,
        micros: i64,
        flags: u8,
        event_id: &'a str,
        texts: Texts<'a>,
        body: (usize, usize),
        hash: &'a [u8; 32],
    ) -> Result<(), String> {
        if micros < 0 {
            // Never written: event times before 1970 are refused on the way in.
            return Err(format!("event time {micros} is before 1970"));
        }
        self.records.push(Decoded {
            micros,
            flags,
            event_id,
            texts,
            body,
            hash,
        });
        Ok(())
    }

    /// The records that decoded, in `seq` order.
    fn views(&self) -> impl Iterator<Item = RecordView<'_>> {
        self.records.iter().enumerate().map(|(i, d)| {
            let [
                account,
                event_source,
                event_name,
                principal_arn,
                username,
                access_key_id,
                error_code,
            ] = d.texts;
            RecordView {
                // INVARIANT: `next_seq` checked every record's seq before it was added.
                seq: self
                    .first_seq
                    .saturating_add(i64::try_from(i).unwrap_or(i64::MAX)),
                event_time_micros: d.micros,
                fields: RecordFields {
                    event_id: d.event_id,
                    account: account.unwrap_or_default(),
                    event_source: event_source.unwrap_or_default(),
                    event_name: event_name.unwrap_or_default(),
                    read_only: d.flags & READ_ONLY != 0,
                    principal_arn,
                    username,
                    access_key_id,
                    error_code,
                    body: self.bodies.get(d.body.0..d.body.1).unwrap_or_default(),
                },
                hash: d.hash,
            }
        })
    }
}

fn too_long(limit: usize) -> String {
    format!("the bodies exceed the {limit} bytes a segment of this size can hold")
}

/// The names of [`Texts`], for errors.
const TEXT_NAMES: [&str; TEXTS] = [
    "account",
    "event source",
    "event name",
    "principal ARN",
    "user name",
    "access key id",
    "error code",
];

/// Whether a record with these flags has field `i` of [`Texts`] (the first three always).
fn present(flags: u8, i: usize) -> bool {
    const OPTIONAL: [u8; TEXTS] = [
        0,
        0,
        0,
        HAS_PRINCIPAL_ARN,
        HAS_USERNAME,
        HAS_ACCESS_KEY_ID,
        HAS_ERROR_CODE,
    ];
    OPTIONAL
        .get(i)
        .is_some_and(|&flag| flag == 0 || flags & flag != 0)
}

/// Reads a segment's bytes front to back; every read checks the bytes that remain.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
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

    fn flags(&mut self) -> Result<u8, String> {
        let [flags] = self.array::<1>("flags")?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(format!("unknown flags {flags:#04x}"));
        }
        Ok(flags)
    }

    fn hash(&mut self) -> Result<&'a [u8; 32], String> {
        self.take(HASH_LEN, "hash")?
            .try_into()
            .map_err(|_| "hash is not 32 bytes".to_owned())
    }

    fn varint(&mut self, what: &str) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let [byte] = self.array::<1>(what)?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(format!("{what} overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("{what} overflows 64 bits"))
    }

    fn utf8(bytes: &'a [u8], what: &str) -> Result<&'a str, String> {
        std::str::from_utf8(bytes).map_err(|e| format!("{what} is not UTF-8: {e}"))
    }

    /// Version 2 text: a varint length, then the bytes.
    fn text(&mut self, what: &str) -> Result<&'a str, String> {
        let len = self.varint(what)?;
        let len = usize::try_from(len).map_err(|_| format!("{what} is too long"))?;
        let bytes = self.take(len, what)?;
        Self::utf8(bytes, what)
    }

    /// Version 1 text: a `u32` little-endian length, then the bytes.
    fn text_u32(&mut self, what: &str) -> Result<&'a str, String> {
        let len = u32::from_le_bytes(self.array::<4>(what)?);
        let len = usize::try_from(len).map_err(|_| format!("{what} is too long"))?;
        let bytes = self.take(len, what)?;
        Self::utf8(bytes, what)
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
        let segment = DecodedSegment::new(first_seq, records);
        if let Some(e) = &segment.error
            && e.seq < before
        {
            return Err(e.clone().into());
        }
        let views: Vec<_> = segment.views().take_while(|v| v.seq < before).collect();
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
        let segment = DecodedSegment::new(s.first_seq, records);
        for view in segment.views() {
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
        if let Some(e) = &segment.error {
            self.chain.fail(
                e.seq,
                format!(
                    "record does not decode from segment {}: {}",
                    s.first_seq, e.reason
                ),
            );
            return false;
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
    /// The pending records' size, by [`record_len`].
    bytes: usize,
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
        let len = record_len(&record.fields())?;
        let done = if follows
            && fits(
                self.pending.len(),
                self.bytes,
                len,
                CONVERTED_SEGMENT_RECORDS,
            ) {
            None
        } else {
            self.flush()?
        };
        self.pending.push(record);
        self.bytes = self.bytes.saturating_add(len);
        Ok(done)
    }

    /// The last segment, if rows remain.
    pub(crate) fn flush(&mut self) -> Result<Option<EncodedSegment>, StoreError> {
        let Some(first) = self.pending.first() else {
            return Ok(None);
        };
        let segment = encode_records(first.seq, &self.pending)?;
        self.pending.clear();
        self.bytes = 0;
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
        let c = chained(5);
        assert_eq!(c.segments.len(), 1);
        let s = &c.segments[0];
        assert_eq!((s.first_seq, s.last_seq), (1, 5));
        let records = decode_segment(s.first_seq, &s.records).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(records[4].hash, c.head_hash);
        assert_eq!(records[2].error_code.as_deref(), None);
        assert_eq!(records[3].error_code.as_deref(), Some("AccessDenied"));
        assert_intact(&c, 5);
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
        assert_intact(&c, 2500);
    }

    /// Every segment of `c` verifies, under the key `chained` uses, as `records` records.
    fn assert_intact(c: &ChainedSegments, records: u64) {
        let hasher = ChainHasher::new(b"k");
        let mut v = SegmentVerifier::new(&hasher);
        for s in &c.segments {
            assert!(v.push(&summary(s), &s.records));
        }
        assert_eq!(
            v.finish(c.head_seq, &c.head_hash),
            AuditVerification::Intact { records }
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

    /// A batch as a loaded server appends it: the same few calls by the same callers, whose
    /// records differ in their times and ids.
    fn typical(n: u32) -> Vec<NewAuditRecord> {
        (0..n)
            .map(|i| {
                let (name, read_only) = match i % 4 {
                    0 | 1 => ("GetCallerIdentity", true),
                    2 => ("AssumeRole", false),
                    _ => ("GetUser", true),
                };
                let source = if name == "GetUser" { "iam" } else { "sts" };
                let event_id = format!("019ab697-e800-7000-8000-{i:012}");
                let body = format!(
                    "{{\"eventVersion\":\"1.11\",\"userIdentity\":{{\"type\":\"IAMUser\",\
                     \"principalId\":\"AIDAEXAMPLE\",\"arn\":\"arn:aws:iam::123456789012:user/bench\",\
                     \"accountId\":\"123456789012\",\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\",\
                     \"userName\":\"bench\"}},\"eventTime\":\"2026-11-29T10:07:{:02}Z\",\
                     \"eventSource\":\"{source}.amazonaws.com\",\"eventName\":\"{name}\",\
                     \"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"127.0.0.1\",\
                     \"userAgent\":\"aws-cli/2.22.0 md/Botocore#1.35.0 ua/2.1 os/linux\",\
                     \"requestParameters\":null,\"responseElements\":null,\
                     \"requestID\":\"{:08x}-5af7-46a7-a673-ba05c771e9d6\",\
                     \"eventID\":\"{event_id}\",\"readOnly\":{read_only},\
                     \"eventType\":\"AwsApiCall\",\"managementEvent\":true,\
                     \"recipientAccountId\":\"123456789012\",\"eventCategory\":\"Management\"}}",
                    i / 200,
                    i * 7919,
                );
                NewAuditRecord::new(
                    AuditFields {
                        event_id: &event_id,
                        event_time: SystemTime::UNIX_EPOCH
                            + Duration::from_micros(1_764_000_000_000_000 + u64::from(i) * 17),
                        account: "123456789012",
                        event_source: &format!("{source}.amazonaws.com"),
                        event_name: name,
                        read_only,
                        principal_arn: Some("arn:aws:iam::123456789012:user/bench"),
                        username: Some("bench"),
                        access_key_id: Some("AKIAIOSFODNN7EXAMPLE"),
                        error_code: None,
                    },
                    &body,
                )
            })
            .collect()
    }

    #[test]
    fn a_typical_batch_takes_a_fraction_of_its_first_format() {
        let news = typical(400);
        let c = chain_segments(&ChainHasher::new(b"k"), 0, "", &news).unwrap();
        let s = &c.segments[0];
        let v1: usize = news.iter().map(|r| record_len(&r.fields()).unwrap()).sum();
        // About 160 of about 920 bytes a record: the event id (twice), the request id, the hash,
        // the time and a reuse map.
        assert!(
            s.records.len() * 5 < v1,
            "{} of {v1} bytes",
            s.records.len()
        );
        let records = decode_segment(1, &s.records).unwrap();
        for (new, old) in news.iter().zip(&records) {
            assert_eq!(new.body(), old.body);
            assert_eq!(new.event_name(), old.event_name);
            assert_eq!(new.event_id(), old.event_id);
        }
        assert_intact(&c, 400);
    }

    #[test]
    fn a_base_is_the_latest_same_call_in_reach() {
        let f = |source: &'static str, name: &'static str| Written {
            texts: [None, Some(source), Some(name), None, None, None, None],
            body: (),
        };
        let mut w = vec![f("s", "A"), f("s", "B"), f("t", "A"), f("s", "C")];
        assert_eq!(choose_base(&w, "s", "A"), Some(0));
        assert_eq!(choose_base(&w, "t", "A"), Some(2));
        assert_eq!(
            choose_base(&w, "s", "D"),
            Some(3),
            "else the previous record"
        );
        assert_eq!(choose_base::<()>(&[], "s", "A"), None);
        w.extend(std::iter::repeat_n(f("s", "C"), BASE_WINDOW - 3));
        assert_eq!(choose_base(&w, "s", "B"), Some(1), "just in reach");
        w.push(f("s", "C"));
        assert_eq!(choose_base(&w, "s", "B"), Some(w.len() - 1), "out of reach");
    }

    /// Version 2 bytes by hand: a first record whose body is `body_len` bytes of one piece,
    /// then `copies` records that reuse it.
    fn reusing(body_len: usize, copies: usize) -> Vec<u8> {
        let mut b = vec![RECORDS_VERSION];
        put_varint(&mut b, zigzag(1));
        b.extend_from_slice(&[0, 0]); // flags, no base
        for text in ["e", "a", "s", "n"] {
            put_text(&mut b, text);
        }
        put_varint(&mut b, 1);
        put_text(&mut b, &"x".repeat(body_len));
        b.extend_from_slice(&[0; 32]);
        for _ in 0..copies {
            b.extend_from_slice(&[0, 0, 1, 0b111]); // time, flags, base 1 back, same
            put_text(&mut b, "e");
            b.extend_from_slice(&[1, 1]); // one piece, reused
            b.extend_from_slice(&[0; 32]);
        }
        b
    }

    #[test]
    fn reused_pieces_decode_and_cannot_inflate_without_bound() {
        let records = decode_segment(1, &reusing(10, 3)).unwrap();
        assert_eq!(records.len(), 4);
        assert!(
            records
                .iter()
                .all(|r| r.body == "xxxxxxxxxx" && r.account == "a")
        );
        // 600 KB reused ten times would be 6 MB from a segment of 600 KB: refused.
        match decode_segment(1, &reusing(600_000, 10)) {
            Err(StoreError::Corrupt(e)) => assert!(e.contains("exceed"), "{e}"),
            other => panic!("{other:?}"),
        }
        // A base beyond the segment's start, and a field its base lacks.
        let mut bad = reusing(10, 1);
        let at = bad.len() - 32 - 2 - 2 - 4;
        bad[at + 2] = 2;
        assert!(decode_segment(1, &bad).is_err());
        let mut lacking = reusing(10, 1);
        lacking[at + 3] = 0b1000;
        assert!(decode_segment(1, &lacking).is_err());
    }

    #[test]
    fn one_segment_holds_one_large_record_or_a_bounded_many() {
        let big = |n: u32| {
            let mut r = decode_segment(1, &encode_records(1, &[record_of(n)]).unwrap().records)
                .unwrap()
                .remove(0);
            r.seq = i64::from(n);
            r.body = "y".repeat(700_000);
            r
        };
        let one = encode_records(1, &[big(1)]).unwrap();
        assert_eq!(
            decode_segment(1, &one.records).unwrap()[0].body.len(),
            700_000
        );
        assert!(matches!(
            encode_records(1, &[big(1), big(2)]),
            Err(StoreError::InvalidInput(_))
        ));
        let mut converter = LogConverter::default();
        assert!(converter.push(big(1)).unwrap().is_none());
        let first = converter.push(big(2)).unwrap().unwrap();
        assert_eq!((first.first_seq, first.last_seq), (1, 1));
        assert_eq!(converter.flush().unwrap().unwrap().first_seq, 2);
    }

    fn record_of(n: u32) -> AuditRecord {
        let c = chained(n + 1);
        decode_segment(1, &c.segments[0].records)
            .unwrap()
            .remove(n as usize)
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "\\PC{0,12}", "[a-z:/]{0,40}"]
    }

    /// Bodies of any text, and bodies whose pieces (between quotes) often repeat.
    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,200}",
            proptest::collection::vec(
                prop_oneof![
                    Just("a".to_owned()),
                    Just(String::new()),
                    Just("é:1".to_owned()),
                    "[a-z]{0,3}"
                ],
                0..12
            )
            .prop_map(|pieces| pieces.join("\"")),
        ]
    }

    prop_compose! {
        fn stored_record()(
            event_id in text(), micros in 0i64..4_000_000_000_000_000, account in text(),
            event_source in text(), event_name in text(), read_only in any::<bool>(),
            principal_arn in proptest::option::of(text()), username in proptest::option::of(text()),
            access_key_id in proptest::option::of(text()), error_code in proptest::option::of(text()),
            body in body(), hash in any::<[u8; 32]>(),
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
        fn pieces_are_diffed_as_defined(
            base in body(),
            other in body(),
            edit in any::<prop::sample::Index>(),
            insert in "[\"x]{0,2}",
        ) {
            // Against an unrelated body, and against itself with an edit somewhere.
            let mut edited = base.clone();
            let mut at = edit.index(base.len() + 1);
            while !edited.is_char_boundary(at) {
                at -= 1;
            }
            edited.insert_str(at, &insert);
            for body in [&other, &edited, &base] {
                let (mut reuse, mut literals) = (Vec::new(), Vec::new());
                let count = diff_pieces(body.as_bytes(), base.as_bytes(), &mut reuse, &mut literals);
                let mine: Vec<&str> = body.split('"').collect();
                let theirs: Vec<&str> = base.split('"').collect();
                prop_assert_eq!(count, mine.len());
                let mut want_reuse = vec![0u8; count.div_ceil(8)];
                let mut want_literals = Vec::new();
                for (i, piece) in mine.iter().enumerate() {
                    if theirs.get(i) == Some(piece) {
                        want_reuse[i / 8] |= 1 << (i % 8);
                    } else {
                        put_text(&mut want_literals, piece);
                    }
                }
                prop_assert_eq!(reuse, want_reuse);
                prop_assert_eq!(literals, want_literals);
            }
        }

        #[test]
        fn decoding_any_bytes_never_panics(
            first in any::<i64>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let _ = decode_segment(first, &bytes);
            for version in [RECORDS_V1, RECORDS_VERSION] {
                let mut with_version = vec![version];
                with_version.extend_from_slice(&bytes);
                // Whatever decodes encodes to a segment of the same records, and encoding
                // those again gives the same bytes.
                if let Ok(records) = decode_segment(first, &with_version)
                    && !records.is_empty()
                    && let Ok(again) = encode_records(first, &records)
                {
                    prop_assert_eq!(&decode_segment(first, &again.records).unwrap(), &records);
                    prop_assert_eq!(encode_records(first, &records).unwrap(), again);
                }
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
