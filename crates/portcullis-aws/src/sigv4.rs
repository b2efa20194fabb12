//! AWS Signature Version 4 verification: `Authorization` header and presigned query auth.
//!
//! [`parse`] reads what a request claims (access key, scope, signed headers, signature, time,
//! session token) without any secret; the caller looks the access key up and then calls
//! [`verify`] with the secret, which recomputes the signature over the raw request and compares
//! it in constant time. Between the two the caller can check [`ParsedSignature::check_scope`]
//! (the service and region the request was signed for).
//!
//! Canonicalisation follows AWS's "Create a canonical request for Signature Version 4":
//! - URI: for every service but S3 the path is normalised (RFC 3986 dot segments removed,
//!   repeated slashes collapsed, a trailing slash kept) and then URI-encoded again, so a path
//!   that was encoded once on the wire is double-encoded in the canonical request;
//! - query: every name and value decoded and re-encoded with the RFC 3986 unreserved set,
//!   sorted by name then value, `X-Amz-Signature` left out;
//! - headers: the signed headers' values, each trimmed with inner runs of whitespace folded to
//!   one space, repeated headers joined with commas;
//! - payload: SHA-256 of the raw body (an `X-Amz-Content-Sha256` header must agree with it).
//!
//! Header auth must sign `host` and the date header it uses, and its time must be within 15
//! minutes of the server's clock. Presigned auth is valid from `X-Amz-Date` (less 15 minutes of
//! skew) until `X-Amz-Date + X-Amz-Expires`.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use aws_lc_rs::{digest, hmac};
use http::HeaderName;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use portcullis_core::Secret;
use portcullis_core::secret::ct_eq;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::error::{AwsError, Protocol};

/// Header names the parser looks up by name: built once, not parsed from text per request.
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// The only algorithm SigV4 defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The credential scope terminator.
pub const TERMINATOR: &str = "aws4_request";
/// How far a header-signed request's time may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_PRESIGNED_EXPIRES: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// SHA-256 of the empty string, the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The payload hash that presigned URLs of some SDKs sign instead of the body's.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`) is encoded.
pub(crate) const URI_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` (for encoding a whole path).
const PATH_ENCODE_SET: &AsciiSet = &URI_ENCODE_SET.remove(b'/');

const AMZ_DATE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// The parts of an HTTP request that SigV4 signs. `body` is the raw body as received.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestParts<'a> {
    /// The request method.
    pub method: &'a http::Method,
    /// The request target (path and query as sent; for HTTP/2 also the authority).
    pub uri: &'a http::Uri,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
}

/// `AKID/yyyymmdd/region/service/aws4_request`, without the terminator.
///
/// The four parts live in one String (`AKID/yyyymmdd/region/service`) and are read by
/// position: one allocation per request instead of four, and as cheap to clone into a key's
/// signing-key cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    credential: String,
    // INVARIANT: `date_at <= region_at <= service_at <= credential.len()`, each a character
    // boundary just past a '/' that `new` wrote, so every part is `credential[start..next - 1]`.
    date_at: usize,
    region_at: usize,
    service_at: usize,
}

impl CredentialScope {
    /// The scope of `access_key_id` for `date` (`yyyymmdd`), `region` and `service`.
    pub fn new(access_key_id: &str, date: &str, region: &str, service: &str) -> Self {
        let mut credential = String::with_capacity(
            access_key_id.len() + date.len() + region.len() + service.len() + 3,
        );
        credential.push_str(access_key_id);
        credential.push('/');
        let date_at = credential.len();
        credential.push_str(date);
        credential.push('/');
        let region_at = credential.len();
        credential.push_str(region);
        credential.push('/');
        let service_at = credential.len();
        credential.push_str(service);
        Self {
            credential,
            date_at,
            region_at,
            service_at,
        }
    }

    /// The access key id the request claims.
    pub fn access_key_id(&self) -> &str {
        self.part(0, self.date_at)
    }

    /// The scope date, `yyyymmdd`.
    pub fn date(&self) -> &str {
        self.part(self.date_at, self.region_at)
    }

    /// The region the request was signed for.
    pub fn region(&self) -> &str {
        self.part(self.region_at, self.service_at)
    }

    /// The signing name of the service the request was signed for.
    pub fn service(&self) -> &str {
        self.credential.get(self.service_at..).unwrap_or_default()
    }

    /// The part from `start` up to the '/' before `next`.
    fn part(&self, start: usize, next: usize) -> &str {
        self.credential
            .get(start..next.saturating_sub(1))
            .unwrap_or_default()
    }

    /// `yyyymmdd/region/service/aws4_request`, as the string to sign carries it.
    pub fn scope_string(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date(),
            self.region(),
            self.service()
        )
    }
}

/// Where the signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLocation {
    /// The `Authorization` header.
    Header,
    /// Presigned query parameters, valid for `expires_in` after the signing time.
    Query {
        /// `X-Amz-Expires`.
        expires_in: Duration,
    },
}

/// What a request claims about its signature; nothing here has been verified yet. The strings
/// borrow from the request where it carries them as they are needed (the usual case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature<'a> {
    /// The credential scope.
    pub scope: CredentialScope,
    /// The signed header names, lowercase, joined by `;` in the order the request listed them
    /// (as the canonical request carries them); [`ParsedSignature::signed_header_names`] reads
    /// them one by one.
    pub signed_headers: Cow<'a, str>,
    /// The signature as sent (hex).
    pub signature: Cow<'a, str>,
    /// The signing time.
    pub request_time: SystemTime,
    /// The signing time as the string to sign carries it (`yyyymmddThhmmssZ`).
    pub amz_date: Cow<'a, str>,
    /// `X-Amz-Security-Token`, for temporary credentials.
    pub security_token: Option<Cow<'a, str>>,
    /// Header or presigned query.
    pub location: SignatureLocation,
}

/// Why a request's SigV4 authentication was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The request carries no authentication at all (raised by the caller when it requires
    /// authentication and [`parse`] returned `None`).
    #[error("request is missing authentication")]
    MissingAuthenticationToken,
    /// A malformed or partial `Authorization` header or presigned query.
    #[error("incomplete signature: {0}")]
    IncompleteSignature(String),
    /// The signature, or the credential scope, does not match.
    #[error("signature does not match: {0}")]
    SignatureDoesNotMatch(String),
    /// A header-signed request outside the ±15 minute window.
    #[error("{0}")]
    SignatureExpired(String),
    /// A presigned URL past `X-Amz-Expires`.
    #[error("presigned request has expired")]
    RequestExpired,
    /// The access key id (or session token) is not known (raised by the caller's key lookup).
    #[error("unknown access key id or session token")]
    InvalidClientTokenId,
    /// Temporary credentials past their expiry (raised by the caller's key lookup).
    #[error("security token expired")]
    ExpiredToken,
}

impl SigV4Error {
    /// The AWS error for `protocol`, with AWS's code, status and message.
    pub fn to_aws_error(&self, protocol: Protocol) -> AwsError {
        match self {
            SigV4Error::MissingAuthenticationToken => {
                AwsError::missing_authentication_token(protocol)
            }
            SigV4Error::IncompleteSignature(m) => {
                AwsError::incomplete_signature(protocol, m.clone())
            }
            SigV4Error::SignatureDoesNotMatch(m) | SigV4Error::SignatureExpired(m) => {
                AwsError::signature_does_not_match(protocol, m.clone())
            }
            SigV4Error::RequestExpired => AwsError::request_expired("Request has expired"),
            SigV4Error::InvalidClientTokenId => AwsError::invalid_client_token_id(protocol),
            SigV4Error::ExpiredToken => AwsError::expired_token(protocol),
        }
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// How the canonical URI is formed. The default is every AWS service's but S3's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalOptions {
    /// Remove dot segments and repeated slashes before encoding (false for S3).
    pub normalize_path: bool,
}

impl Default for CanonicalOptions {
    fn default() -> Self {
        Self {
            normalize_path: true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Reads the SigV4 claims of a request. `Ok(None)`: the request carries no SigV4
/// authentication (no `Authorization` header and no `X-Amz-*` auth query parameters).
pub fn parse<'a>(req: &HttpRequestParts<'a>) -> Result<Option<ParsedSignature<'a>>, SigV4Error> {
    let query_auth = query_pairs(req.uri.query()).any(|(k, _)| {
        k.eq_ignore_ascii_case(b"X-Amz-Algorithm") || k.eq_ignore_ascii_case(b"X-Amz-Signature")
    });
    match req.headers.get(http::header::AUTHORIZATION) {
        Some(_) if query_auth => Err(SigV4Error::IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
             Authorization header should be specified"
                .to_owned(),
        )),
        Some(value) => parse_header(req, value.as_bytes()).map(Some),
        None if query_auth => parse_query(req).map(Some),
        None => Ok(None),
    }
}

fn parse_header<'a>(
    req: &HttpRequestParts<'a>,
    value: &'a [u8],
) -> Result<ParsedSignature<'a>, SigV4Error> {
    let value = std::str::from_utf8(value).map_err(|_| {
        SigV4Error::IncompleteSignature("Authorization header is not valid UTF-8.".to_owned())
    })?;
    let value = value.trim();
    let (algorithm, rest) = split_once_byte(value, b' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is supported."
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in split_byte(rest, b',') {
        let Some((k, v)) = split_once_byte(part.trim(), b'=') else {
            continue;
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let date = amz_date_from_headers(req.headers);
    let mut missing = String::new();
    for (present, name) in [
        (credential.is_some(), "Credential"),
        (signature.is_some(), "Signature"),
        (signed_headers.is_some(), "SignedHeaders"),
    ] {
        if !present {
            let _ = write!(
                missing,
                "Authorization header requires '{name}' parameter. "
            );
        }
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some((date_header, raw_date))) =
        (credential, signed_headers, signature, date)
    else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Authorization={value}"
        )));
    };
    let scope = parse_credential(credential)?;
    let signed_headers = parse_signed_headers(signed_headers);
    // AWS refuses header auth that does not sign the host and the date it relies on: without
    // them a captured signature could be replayed to another host or at another time.
    if !header_names(&signed_headers).any(|h| h == "host") {
        return Err(SigV4Error::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    if !header_names(&signed_headers).any(|h| h == date_header) {
        let shown = if date_header == "date" {
            "Date"
        } else {
            "X-Amz-Date"
        };
        return Err(SigV4Error::IncompleteSignature(format!(
            "'{shown}' must be a 'SignedHeader' in the AWS Authorization."
        )));
    }
    let (request_time, amz_date) = if date_header == "date" {
        let t = parse_http_date(raw_date)?;
        (t, Cow::Owned(format_amz_date(t)))
    } else {
        (parse_amz_date(raw_date)?, Cow::Borrowed(raw_date))
    };
    let security_token = req
        .headers
        .get(&X_AMZ_SECURITY_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(Cow::Borrowed);
    Ok(ParsedSignature {
        scope,
        signed_headers,
        signature: Cow::Borrowed(signature),
        request_time,
        amz_date,
        security_token,
        location: SignatureLocation::Header,
    })
}

/// The date header a request relies on: `x-amz-date` wins over `date`.
fn amz_date_from_headers(headers: &http::HeaderMap) -> Option<(&'static str, &str)> {
    if let Some(v) = headers.get(&X_AMZ_DATE).and_then(|v| v.to_str().ok()) {
        return Some(("x-amz-date", v.trim()));
    }
    headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .map(|v| ("date", v.trim()))
}

fn parse_query<'a>(req: &HttpRequestParts<'a>) -> Result<ParsedSignature<'a>, SigV4Error> {
    let query = req.uri.query();
    // Percent-decoded, with invalid UTF-8 replaced; borrowed when nothing was encoded.
    let get = |name: &str| -> Option<Cow<'a, str>> {
        query_pairs(query)
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| percent_encoding::percent_decode(v).decode_utf8_lossy())
    };
    let required = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
    ];
    let values = required.map(get);
    let mut missing = String::new();
    for (name, v) in required.iter().zip(&values) {
        if v.is_none() {
            let _ = write!(
                missing,
                "AWS query-string parameters must include '{name}'. "
            );
        }
    }
    let [
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(raw_date),
        Some(signed_headers),
    ] = values
    else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Algorithm only supports '{ALGORITHM}'"
        )));
    }
    let scope = parse_credential(&credential)?;
    let signed_headers = match signed_headers {
        Cow::Borrowed(s) => parse_signed_headers(s),
        Cow::Owned(s) => Cow::Owned(parse_signed_headers(&s).into_owned()),
    };
    if !header_names(&signed_headers).any(|h| h == "host") {
        return Err(SigV4Error::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    let request_time = parse_amz_date(&raw_date)?;
    // STS presigned URLs (EKS and Vault authenticators) always carry X-Amz-Expires; without
    // one, the URL lives as long as a header signature would.
    let expires_in = match get("X-Amz-Expires") {
        None => MAX_SKEW,
        Some(v) => {
            let secs: u64 = v.parse().map_err(|_| {
                SigV4Error::IncompleteSignature("X-Amz-Expires should be a number".to_owned())
            })?;
            let d = Duration::from_secs(secs);
            if secs == 0 || d > MAX_PRESIGNED_EXPIRES {
                return Err(SigV4Error::IncompleteSignature(
                    "X-Amz-Expires must be between 1 and 604800 seconds (one week)".to_owned(),
                ));
            }
            d
        }
    };
    Ok(ParsedSignature {
        scope,
        signed_headers,
        signature,
        request_time,
        amz_date: raw_date,
        security_token: get("X-Amz-Security-Token"),
        location: SignatureLocation::Query { expires_in },
    })
}

fn parse_credential(credential: &str) -> Result<CredentialScope, SigV4Error> {
    let mut parts = split_byte(credential, b'/');
    let (Some(akid), Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if terminator != TERMINATOR {
        return Err(SigV4Error::SignatureDoesNotMatch(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
        )));
    }
    if akid.is_empty() {
        return Err(SigV4Error::InvalidClientTokenId);
    }
    if region.is_empty() {
        return Err(SigV4Error::SignatureDoesNotMatch(
            "Credential should be scoped to a valid region. ".to_owned(),
        ));
    }
    Ok(CredentialScope::new(akid, date, region, service))
}

/// The `SignedHeaders` list with every name trimmed and lowercased and empty names dropped,
/// joined by `;`. Borrowed when the request sent it that way already (every SDK does).
fn parse_signed_headers(s: &str) -> Cow<'_, str> {
    let normal = |h: &str| {
        !h.is_empty() && h.trim().len() == h.len() && !h.bytes().any(|b| b.is_ascii_uppercase())
    };
    if split_byte(s, b';').all(normal) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for name in split_byte(s, b';').map(str::trim).filter(|h| !h.is_empty()) {
        if !out.is_empty() {
            out.push(';');
        }
        out.extend(name.chars().map(|c| c.to_ascii_lowercase()));
    }
    Cow::Owned(out)
}

/// The names of a `;`-joined signed header list.
fn header_names(signed_headers: &str) -> impl Iterator<Item = &str> {
    split_byte(signed_headers, b';').filter(|h| !h.is_empty())
}

/// `s.split(sep)` for an ASCII `sep`, found by a byte search: on strings this short the char
/// searcher's setup cost more than the search (`CharSearcher::next_match` in profiles).
fn split_byte(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_once_byte(current, sep) {
            Some((part, after)) => {
                rest = Some(after);
                Some(part)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// `s.split_once(sep)` for an ASCII `sep`, found a vector register at a time.
fn split_once_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let at = memchr::memchr(sep, s.as_bytes())?;
    // An ASCII byte is a whole character: both sides start and end on character boundaries.
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// `yyyymmddThhmmssZ`, read by position (every signed request carries one; the general
/// format-description parser took longer than the rest of the signature's parsing).
fn parse_amz_date(s: &str) -> Result<SystemTime, SigV4Error> {
    let bytes = s.as_bytes();
    let number = |from: usize, to: usize| {
        bytes.get(from..to).and_then(|digits| {
            digits.iter().try_fold(0u16, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
            })
        })
    };
    let parsed = match (bytes.len(), bytes.get(8), bytes.get(15)) {
        (16, Some(b'T'), Some(b'Z')) => (|| {
            let month = time::Month::try_from(u8::try_from(number(4, 6)?).ok()?).ok()?;
            let date = time::Date::from_calendar_date(
                i32::from(number(0, 4)?),
                month,
                u8::try_from(number(6, 8)?).ok()?,
            )
            .ok()?;
            let time = time::Time::from_hms(
                u8::try_from(number(9, 11)?).ok()?,
                u8::try_from(number(11, 13)?).ok()?,
                u8::try_from(number(13, 15)?).ok()?,
            )
            .ok()?;
            Some(SystemTime::from(date.with_time(time).assume_utc()))
        })(),
        _ => None,
    };
    parsed.ok_or_else(|| {
            SigV4Error::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{s}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn parse_http_date(s: &str) -> Result<SystemTime, SigV4Error> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc2822)
        .map(SystemTime::from)
        .map_err(|_| SigV4Error::IncompleteSignature(format!("Invalid Date header: '{s}'.")))
}

/// Formats a time as SigV4's `yyyymmddThhmmssZ`.
pub fn format_amz_date(t: SystemTime) -> String {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(AMZ_DATE_FORMAT).ok())
        .unwrap_or_default()
}

impl ParsedSignature<'_> {
    /// The signed header names, lowercase, in the order the request listed them.
    pub fn signed_header_names(&self) -> impl Iterator<Item = &str> {
        header_names(&self.signed_headers)
    }

    /// Checks that the request was signed for `service` (its signing name, e.g. `sts`) and,
    /// when given, for `region`.
    pub fn check_scope(&self, service: &str, region: Option<&str>) -> Result<(), SigV4Error> {
        if self.scope.service() != service {
            return Err(SigV4Error::SignatureDoesNotMatch(format!(
                "Credential should be scoped to correct service: '{service}'. "
            )));
        }
        if let Some(region) = region
            && self.scope.region() != region
        {
            return Err(SigV4Error::SignatureDoesNotMatch(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                self.scope.region()
            )));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/// Verifies `sig` over `req` with the secret of its access key, at time `now`, with the
/// canonical form of every service but S3.
pub fn verify(
    req: &HttpRequestParts<'_>,
    sig: &ParsedSignature<'_>,
    secret_access_key: &Secret<String>,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    verify_with(
        req,
        sig,
        secret_access_key,
        now,
        CanonicalOptions::default(),
    )
}

/// [`verify`] with explicit canonicalisation options.
pub fn verify_with(
    req: &HttpRequestParts<'_>,
    sig: &ParsedSignature<'_>,
    secret_access_key: &Secret<String>,
    now: SystemTime,
    options: CanonicalOptions,
) -> Result<(), SigV4Error> {
    let key = signing_key(secret_access_key, &sig.scope);
    verify_with_signing_key(req, sig, &key, now, options)
}

/// [`verify_with`], given the [`signing_key`] of `sig`'s credential scope. The signing key
/// depends only on the secret, the date, the region and the service, so a verifier may keep it
/// for the requests that share them instead of deriving it for each.
pub fn verify_with_signing_key(
    req: &HttpRequestParts<'_>,
    sig: &ParsedSignature<'_>,
    key: &hmac::Key,
    now: SystemTime,
    options: CanonicalOptions,
) -> Result<(), SigV4Error> {
    check_time(sig, now)?;
    let date_part = sig.amz_date.get(..8).unwrap_or_default();
    if sig.scope.date() != date_part {
        return Err(SigV4Error::SignatureDoesNotMatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            sig.scope.date(),
            date_part,
            sig.amz_date
        )));
    }
    let body_hash = sha256_hex(req.body);
    if let Some(claimed) = req.headers.get(&X_AMZ_CONTENT_SHA256)
        && claimed.as_bytes() != body_hash.as_slice()
    {
        return Err(SigV4Error::SignatureDoesNotMatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
                .to_owned(),
        ));
    }
    if signature_matches(req, sig, key, &body_hash, options)? {
        return Ok(());
    }
    // Some SDKs presign with UNSIGNED-PAYLOAD in place of the hash of the (empty) body; for a
    // request without a body the two say the same thing.
    if matches!(sig.location, SignatureLocation::Query { .. })
        && req.body.is_empty()
        && signature_matches(req, sig, key, UNSIGNED_PAYLOAD.as_bytes(), options)?
    {
        return Ok(());
    }
    Err(SigV4Error::SignatureDoesNotMatch(MISMATCH.to_owned()))
}

fn signature_matches(
    req: &HttpRequestParts<'_>,
    sig: &ParsedSignature<'_>,
    key: &hmac::Key,
    payload_hash: &[u8],
    options: CanonicalOptions,
) -> Result<bool, SigV4Error> {
    let expected = with_canonical_buffer(|canonical| {
        canonical_request_into(req, sig, payload_hash, options, canonical)?;
        Ok(signature_hex(key, &sig.amz_date, &sig.scope, canonical))
    })?;
    Ok(ct_eq(&expected, sig.signature.as_bytes()))
}

thread_local! {
    /// The canonical request's buffer, reused by every verification on the thread.
    static CANONICAL: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A buffer larger than this (a request with a huge query string) is not kept for the next.
const MAX_KEPT_CANONICAL: usize = 16 * 1024;

/// Runs `f` with an empty buffer for a canonical request: the thread's own, so that verifying
/// allocates nothing once the thread has verified a request. The buffer is taken out of the
/// thread-local while `f` runs, so nothing here can fail or panic; a nested call (or one during
/// thread teardown) just starts from a new buffer.
fn with_canonical_buffer<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    let mut buffer = CANONICAL.try_with(Cell::take).unwrap_or_default();
    buffer.clear();
    buffer.reserve(512);
    let out = f(&mut buffer);
    if buffer.capacity() <= MAX_KEPT_CANONICAL {
        let _ = CANONICAL.try_with(|cell| cell.set(buffer));
    }
    out
}

/// The signature over the [`string_to_sign`] of `canonical_request`, in hex, without writing
/// the string to sign out: its parts go straight into the HMAC.
fn signature_hex(
    key: &hmac::Key,
    amz_date: &str,
    scope: &CredentialScope,
    canonical_request: &[u8],
) -> [u8; 64] {
    let canonical_hash = sha256_hex(canonical_request);
    let mut ctx = hmac::Context::with_key(key);
    for part in [
        ALGORITHM.as_bytes(),
        b"\n",
        amz_date.as_bytes(),
        b"\n",
        scope.date().as_bytes(),
        b"/",
        scope.region().as_bytes(),
        b"/",
        scope.service().as_bytes(),
        b"/",
        TERMINATOR.as_bytes(),
        b"\n",
        &canonical_hash,
    ] {
        ctx.update(part);
    }
    portcullis_core::id::digest_hex(&digest_bytes(ctx.sign().as_ref()))
}

/// The hex SHA-256 of `data`, on the stack.
fn sha256_hex(data: &[u8]) -> [u8; 64] {
    portcullis_core::id::digest_hex(&digest_bytes(
        digest::digest(&digest::SHA256, data).as_ref(),
    ))
}

/// A SHA-256 digest or HMAC-SHA256 tag (always 32 bytes) as an array.
fn digest_bytes(tag: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, t) in out.iter_mut().zip(tag) {
        *o = *t;
    }
    out
}

fn check_time(sig: &ParsedSignature, now: SystemTime) -> Result<(), SigV4Error> {
    let earliest = now.checked_sub(MAX_SKEW).unwrap_or(SystemTime::UNIX_EPOCH);
    let latest = now.checked_add(MAX_SKEW).unwrap_or(now);
    if sig.request_time > latest {
        return Err(SigV4Error::SignatureExpired(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            sig.amz_date,
            format_amz_date(latest),
            format_amz_date(now)
        )));
    }
    match sig.location {
        SignatureLocation::Header if sig.request_time < earliest => {
            Err(SigV4Error::SignatureExpired(format!(
                "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                sig.amz_date,
                format_amz_date(earliest),
                format_amz_date(now)
            )))
        }
        SignatureLocation::Query { expires_in }
            if sig
                .request_time
                .checked_add(expires_in)
                .is_none_or(|end| end < now) =>
        {
            Err(SigV4Error::RequestExpired)
        }
        _ => Ok(()),
    }
}

/// The SigV4 signing key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret_access_key: &Secret<String>, scope: &CredentialScope) -> hmac::Key {
    let mut k_secret = Vec::with_capacity(4 + secret_access_key.expose().len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret_access_key.expose().as_bytes());
    let k_secret = Secret::new(k_secret);
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, k_secret.expose());
    for part in [scope.date(), scope.region(), scope.service(), TERMINATOR] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

/// The string to sign: algorithm, time, scope and the hash of the canonical request.
pub fn string_to_sign(amz_date: &str, scope: &CredentialScope, canonical_request: &[u8]) -> String {
    let canonical_hash = sha256_hex(canonical_request);
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.scope_string(),
        String::from_utf8_lossy(&canonical_hash)
    )
}

/// Computes the signature of `req` for the claims in `sig` (the signing side, for clients,
/// load generators and tests). `payload_hash` is normally the hex SHA-256 of the body.
pub fn sign(
    req: &HttpRequestParts<'_>,
    sig: &ParsedSignature<'_>,
    secret_access_key: &Secret<String>,
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let canonical = canonical_request(req, sig, payload_hash, CanonicalOptions::default())?;
    let sts = string_to_sign(&sig.amz_date, &sig.scope, &canonical);
    Ok(portcullis_core::id::lower_hex(
        hmac::sign(&signing_key(secret_access_key, &sig.scope), sts.as_bytes()).as_ref(),
    ))
}

/// The canonical request of `req` for the claims in `sig`. A signed header that the request
/// does not carry is a mismatch.
pub fn canonical_request(
    req: &HttpRequestParts<'_>,
    sig: &ParsedSignature<'_>,
    payload_hash: &str,
    options: CanonicalOptions,
) -> Result<Vec<u8>, SigV4Error> {
    let mut out = Vec::with_capacity(512);
    canonical_request_into(req, sig, payload_hash.as_bytes(), options, &mut out)?;
    Ok(out)
}

fn canonical_request_into(
    req: &HttpRequestParts<'_>,
    sig: &ParsedSignature<'_>,
    payload_hash: &[u8],
    options: CanonicalOptions,
    out: &mut Vec<u8>,
) -> Result<(), SigV4Error> {
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b'\n');
    match req.uri.path() {
        // The path of every query- and JSON-protocol request: nothing to normalise or encode.
        "/" | "" => out.push(b'/'),
        path => out.extend_from_slice(canonical_uri(path, options).as_bytes()),
    }
    out.push(b'\n');
    let exclude_signature = matches!(sig.location, SignatureLocation::Query { .. });
    if req.uri.query().is_some_and(|q| !q.is_empty()) {
        out.extend_from_slice(canonical_query(req.uri.query(), exclude_signature).as_bytes());
    }
    out.push(b'\n');
    for name in sig.signed_header_names() {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = req.headers.get_all(name).iter().peekable();
        if values.peek().is_none() {
            // HTTP/2 carries the host in the :authority pseudo-header, i.e. the URI.
            match (name, req.uri.authority()) {
                ("host", Some(authority)) => out.extend_from_slice(authority.as_str().as_bytes()),
                _ => {
                    return Err(SigV4Error::SignatureDoesNotMatch(format!(
                        "The request is missing the signed header '{name}'."
                    )));
                }
            }
        }
        let mut first = true;
        for value in values {
            if !first {
                out.push(b',');
            }
            first = false;
            fold_header_value(value.as_bytes(), out);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, name) in sig.signed_header_names().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash);
    Ok(())
}

/// Trims a header value and folds every inner run of whitespace into one space.
fn fold_header_value(value: &[u8], out: &mut Vec<u8>) {
    let mut first = true;
    for word in value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(word);
    }
}

/// The canonical URI: the path as sent, normalised (unless S3), then URI-encoded again.
pub fn canonical_uri(path: &str, options: CanonicalOptions) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let normalized;
    let path = if options.normalize_path {
        normalized = normalize_path(path);
        normalized.as_str()
    } else {
        path
    };
    percent_encoding::utf8_percent_encode(path, PATH_ENCODE_SET).to_string()
}

/// RFC 3986 `remove_dot_segments` plus collapsing of empty segments; a trailing slash stays.
fn normalize_path(path: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &stack {
        out.push('/');
        out.push_str(seg);
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if out.is_empty() || trailing {
        out.push('/');
    }
    out
}

fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .unwrap_or_default()
        .as_bytes()
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|b| *b == b'=') {
            Some(i) => (
                p.get(..i).unwrap_or_default(),
                p.get(i + 1..).unwrap_or_default(),
            ),
            None => (p, &b""[..]),
        })
}

/// The canonical query string: pairs decoded, re-encoded, sorted by name then value.
pub fn canonical_query(query: Option<&str>, exclude_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .filter(|(k, _)| !(exclude_signature && *k == b"X-Amz-Signature"))
        .map(|(k, v)| (reencode(k), reencode(v)))
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn reencode(raw: &[u8]) -> String {
    let decoded: Vec<u8> = percent_encoding::percent_decode(raw).collect();
    percent_encoding::percent_encode(&decoded, URI_ENCODE_SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_signature_is_the_hmac_of_the_string_to_sign() {
        let scope = CredentialScope::new("AKIDEXAMPLE", "20150830", "us-east-1", "iam");
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"signing key");
        for canonical in [&b""[..], b"GET\n/\nAction=ListUsers\n", &[0xffu8; 300]] {
            let plain = string_to_sign("20150830T123600Z", &scope, canonical);
            let expected =
                portcullis_core::id::lower_hex(hmac::sign(&key, plain.as_bytes()).as_ref());
            let streamed = signature_hex(&key, "20150830T123600Z", &scope, canonical);
            assert_eq!(streamed.as_slice(), expected.as_bytes());
        }
    }

    #[test]
    fn path_normalisation() {
        let n = |p| canonical_uri(p, CanonicalOptions::default());
        assert_eq!(n("/"), "/");
        assert_eq!(n(""), "/");
        assert_eq!(n("//example//"), "/example/");
        assert_eq!(n("/example1/example2/../.."), "/");
        assert_eq!(n("/./"), "/");
        assert_eq!(n("/a/./b/../c"), "/a/c");
        assert_eq!(
            n("/test/@connections/JBDvjfGEIAMCERw%3D"),
            "/test/%40connections/JBDvjfGEIAMCERw%253D"
        );
        let raw = |p| {
            canonical_uri(
                p,
                CanonicalOptions {
                    normalize_path: false,
                },
            )
        };
        assert_eq!(raw("//example//"), "//example//");
    }

    /// The definition `parse_amz_date` reads by position.
    fn amz_date_by_format(s: &str) -> Option<SystemTime> {
        time::PrimitiveDateTime::parse(s, AMZ_DATE_FORMAT)
            .ok()
            .map(|t| SystemTime::from(t.assume_utc()))
    }

    #[test]
    fn amz_dates_read_by_position_as_by_the_format() {
        for s in [
            "20150830T123600Z",
            "20240229T235959Z",
            "20230229T000000Z",
            "20150830T246000Z",
            "20150830T123660Z",
            "20151330T123600Z",
            "00000101T000000Z",
            "2015083OT123600Z",
            "20150830T123600",
            "20150830T123600ZZ",
            "+2015083T123600Z",
            "2015-08-30T12:36",
            "",
        ] {
            assert_eq!(parse_amz_date(s).ok(), amz_date_by_format(s), "{s}");
        }
    }

    /// The signed header parser before borrowing: a String per name.
    fn signed_headers_owned(s: &str) -> Vec<String> {
        s.split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    }

    /// The credential parts as `str::split` cuts them.
    fn credential_by_split(credential: &str) -> Option<[String; 4]> {
        let parts: Vec<&str> = credential.split('/').collect();
        match parts.as_slice() {
            [akid, date, region, service, terminator]
                if *terminator == TERMINATOR && !akid.is_empty() && !region.is_empty() =>
            {
                Some([akid, date, region, service].map(|p| (*p).to_owned()))
            }
            _ => None,
        }
    }

    proptest::proptest! {
        #[test]
        fn byte_splitting_agrees_with_str_split(
            s in "[a;,/= \u{e9}\u{3b1}]{0,12}",
            sep in proptest::sample::select(vec![b';', b',', b'/', b'=', b' ']),
        ) {
            let ours: Vec<&str> = split_byte(&s, sep).collect();
            let std: Vec<&str> = s.split(char::from(sep)).collect();
            proptest::prop_assert_eq!(ours, std);
            proptest::prop_assert_eq!(split_once_byte(&s, sep), s.split_once(char::from(sep)));
        }

        #[test]
        fn borrowed_signed_headers_name_the_same_headers(s in "[a-zA-Z; \t\u{a0}\u{c9}-]{0,24}") {
            let parsed = parse_signed_headers(&s);
            let names: Vec<&str> = header_names(&parsed).collect();
            let expected = signed_headers_owned(&s);
            proptest::prop_assert_eq!(&names, &expected);
            proptest::prop_assert_eq!(parsed.as_ref(), expected.join(";"));
        }

        #[test]
        fn credential_scope_reads_back_its_parts(s in "[aA/4_ -]{0,8}(/aws4_request)?") {
            let ours = parse_credential(&s).ok().map(|scope| {
                [scope.access_key_id(), scope.date(), scope.region(), scope.service()]
                    .map(str::to_owned)
            });
            proptest::prop_assert_eq!(ours, credential_by_split(&s));
        }

        #[test]
        fn any_amz_date_reads_as_by_the_format(s in "[0-9]{8}T[0-9]{6}Z|[0-9T Z+-]{0,18}|\\PC{0,17}") {
            proptest::prop_assert_eq!(parse_amz_date(&s).ok(), amz_date_by_format(&s));
        }
    }

    #[test]
    fn query_canonicalisation() {
        assert_eq!(
            canonical_query(Some("b=2&a=1&a=0&c"), false),
            "a=0&a=1&b=2&c="
        );
        assert_eq!(
            canonical_query(Some("k=a%20b+c&~=%7e"), false),
            "k=a%20b%2Bc&~=~"
        );
        assert_eq!(canonical_query(Some("X-Amz-Signature=x&a=1"), true), "a=1");
        assert_eq!(canonical_query(None, false), "");
    }

    #[test]
    fn header_folding() {
        let mut out = Vec::new();
        fold_header_value(b"  a   b \t c  ", &mut out);
        assert_eq!(out, b"a b c");
    }

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert!(parse_amz_date("2015-08-30T12:36:00Z").is_err());
        assert!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").is_ok());
    }
}
