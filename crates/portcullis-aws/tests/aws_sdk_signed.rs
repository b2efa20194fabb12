//! Requests signed by the AWS SDK for Rust's signer (`aws-sigv4`) must verify, and every way a
//! request can go wrong must be refused with AWS's error.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions fail loudly on bad input"
)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use portcullis_aws::sigv4::{self, HttpRequestParts, SigV4Error};
use portcullis_aws::{Protocol, error_response};
use portcullis_core::Secret;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A request as the server sees it: origin-form URI and a Host header.
struct Received {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn parts(&self) -> HttpRequestParts<'_> {
        HttpRequestParts {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

struct Signing<'a> {
    method: &'a str,
    url: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
    service: &'a str,
    time: SystemTime,
    token: Option<&'a str>,
    presign: Option<Duration>,
}

impl<'a> Signing<'a> {
    fn new(method: &'a str, url: &'a str, body: &'a [u8], time: SystemTime) -> Self {
        Self {
            method,
            url,
            headers: vec![],
            body,
            service: "sts",
            time,
            token: None,
            presign: None,
        }
    }

    fn sign(&self) -> Received {
        let identity: Identity =
            Credentials::new(AKID, SECRET, self.token.map(str::to_owned), None, "test").into();
        let mut settings = SigningSettings::default();
        if let Some(expires) = self.presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(expires);
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            self.method,
            self.url,
            self.headers.iter().copied(),
            SignableBody::Bytes(self.body),
        )
        .unwrap();
        let (instructions, _sig) = sign(signable, &params).unwrap().into_parts();
        let mut req = http::Request::builder().method(self.method).uri(self.url);
        for (k, v) in &self.headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(self.body.to_vec()).unwrap();
        instructions.apply_to_request_http1x(&mut req);
        let (parts, body) = req.into_parts();
        let mut headers = parts.headers;
        let authority = parts.uri.authority().unwrap().as_str().to_owned();
        headers.insert(http::header::HOST, authority.parse().unwrap());
        let origin = parts
            .uri
            .path_and_query()
            .unwrap()
            .as_str()
            .parse()
            .unwrap();
        Received {
            method: parts.method,
            uri: origin,
            headers,
            body,
        }
    }
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

fn secret() -> Secret<String> {
    Secret::new(SECRET.to_owned())
}

fn verify(r: &Received, at: SystemTime) -> Result<(), SigV4Error> {
    let parsed = sigv4::parse(&r.parts())?.expect("signed");
    sigv4::verify(&r.parts(), &parsed, &secret(), at)
}

#[test]
fn form_post_verifies() {
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let mut s = Signing::new("POST", "https://sts.amazonaws.com/", body, now());
    s.headers = vec![(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let r = s.sign();
    let parsed = sigv4::parse(&r.parts()).unwrap().unwrap();
    assert_eq!(parsed.scope.access_key_id(), AKID);
    assert_eq!(parsed.scope.service(), "sts");
    assert_eq!(parsed.scope.region(), "us-east-1");
    assert_eq!(parsed.location, sigv4::SignatureLocation::Header);
    parsed.check_scope("sts", Some("us-east-1")).unwrap();
    assert!(parsed.check_scope("iam", None).is_err());
    sigv4::verify(&r.parts(), &parsed, &secret(), now()).unwrap();
}

#[test]
fn get_with_query_and_odd_path_verifies() {
    let r = Signing::new(
        "GET",
        "http://127.0.0.1:4566/a%20b/./c/?Action=GetCallerIdentity&Version=2011-06-15&Z=%2F%2B~",
        b"",
        now(),
    )
    .sign();
    verify(&r, now()).unwrap();
}

#[test]
fn json_with_session_token_verifies() {
    let body = br#"{"KeyId":"alias/x"}"#;
    let mut s = Signing::new("POST", "https://kms.us-east-1.amazonaws.com/", body, now());
    s.service = "kms";
    s.token = Some("FwoGZXIvYXdzEXAMPLETOKEN+/=");
    s.headers = vec![
        ("x-amz-target", "TrentService.DescribeKey"),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let r = s.sign();
    let parsed = sigv4::parse(&r.parts()).unwrap().unwrap();
    assert_eq!(
        parsed.security_token.as_deref(),
        Some("FwoGZXIvYXdzEXAMPLETOKEN+/=")
    );
    sigv4::verify(&r.parts(), &parsed, &secret(), now()).unwrap();
}

#[test]
fn presigned_get_caller_identity() {
    let mut s = Signing::new(
        "GET",
        "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
        b"",
        now(),
    );
    s.presign = Some(Duration::from_secs(60));
    s.token = Some("session-token");
    let r = s.sign();
    assert!(r.headers.get("authorization").is_none());
    let parsed = sigv4::parse(&r.parts()).unwrap().unwrap();
    assert_eq!(
        parsed.location,
        sigv4::SignatureLocation::Query {
            expires_in: Duration::from_secs(60)
        }
    );
    assert_eq!(parsed.security_token.as_deref(), Some("session-token"));
    sigv4::verify(
        &r.parts(),
        &parsed,
        &secret(),
        now() + Duration::from_secs(59),
    )
    .unwrap();
    let err = sigv4::verify(
        &r.parts(),
        &parsed,
        &secret(),
        now() + Duration::from_secs(61),
    )
    .unwrap_err();
    assert_eq!(err, SigV4Error::RequestExpired);
    assert_eq!(err.to_aws_error(Protocol::STS).code, "RequestExpired");
}

#[test]
fn wrong_secret_is_signature_does_not_match() {
    let r = Signing::new(
        "POST",
        "https://sts.amazonaws.com/",
        b"Action=GetCallerIdentity",
        now(),
    )
    .sign();
    let parsed = sigv4::parse(&r.parts()).unwrap().unwrap();
    let err =
        sigv4::verify(&r.parts(), &parsed, &Secret::new("nope".to_owned()), now()).unwrap_err();
    let aws = err.to_aws_error(Protocol::STS);
    assert_eq!(
        (aws.code.as_ref(), aws.status.as_u16()),
        ("SignatureDoesNotMatch", 403)
    );
    assert!(
        aws.message
            .starts_with("The request signature we calculated does not match")
    );
    let json = err.to_aws_error(Protocol::AwsJson1_1);
    assert_eq!(
        (json.code.as_ref(), json.status.as_u16()),
        ("InvalidSignatureException", 400)
    );
    insta::assert_snapshot!(
        String::from_utf8(error_response(Protocol::STS, &aws, "rid").body().to_vec()).unwrap()
    );
}

#[test]
fn tampered_body_header_or_query_is_refused() {
    let mut s = Signing::new(
        "POST",
        "https://sts.amazonaws.com/?X=1",
        b"Action=GetCallerIdentity",
        now(),
    );
    s.headers = vec![("x-custom", "a")];
    let r = s.sign();
    verify(&r, now()).unwrap();

    let mut body = Received {
        body: b"Action=GetCallerIdentitz".to_vec(),
        ..s.sign()
    };
    assert!(matches!(
        verify(&body, now()),
        Err(SigV4Error::SignatureDoesNotMatch(_))
    ));
    body.body = r.body.clone();
    body.headers.insert("x-custom", "b".parse().unwrap());
    assert!(matches!(
        verify(&body, now()),
        Err(SigV4Error::SignatureDoesNotMatch(_))
    ));
    let query = Received {
        uri: "/?X=2".parse().unwrap(),
        ..s.sign()
    };
    assert!(matches!(
        verify(&query, now()),
        Err(SigV4Error::SignatureDoesNotMatch(_))
    ));
    let mut host = s.sign();
    host.headers
        .insert(http::header::HOST, "evil.example".parse().unwrap());
    assert!(matches!(
        verify(&host, now()),
        Err(SigV4Error::SignatureDoesNotMatch(_))
    ));
    let mut sha = s.sign();
    sha.headers
        .insert("x-amz-content-sha256", sigv4::EMPTY_SHA256.parse().unwrap());
    assert!(
        matches!(verify(&sha, now()), Err(SigV4Error::SignatureDoesNotMatch(m)) if m.contains("x-amz-content-sha256"))
    );
}

#[test]
fn clock_skew_of_twenty_minutes_is_refused() {
    let signed_at = now();
    let r = Signing::new(
        "POST",
        "https://sts.amazonaws.com/",
        b"Action=GetCallerIdentity",
        signed_at,
    )
    .sign();
    verify(&r, signed_at + Duration::from_secs(14 * 60)).unwrap();
    verify(&r, signed_at - Duration::from_secs(14 * 60)).unwrap();

    let late = signed_at + Duration::from_secs(20 * 60);
    let err = verify(&r, late).unwrap_err();
    let expected = format!(
        "Signature expired: {} is now earlier than {} ({} - 15 min.)",
        sigv4::format_amz_date(signed_at),
        sigv4::format_amz_date(late - Duration::from_secs(15 * 60)),
        sigv4::format_amz_date(late),
    );
    assert_eq!(err, SigV4Error::SignatureExpired(expected.clone()));
    let aws = err.to_aws_error(Protocol::STS);
    assert_eq!(
        (aws.code.as_ref(), aws.status.as_u16(), aws.message.as_str()),
        ("SignatureDoesNotMatch", 403, expected.as_str())
    );

    let early = signed_at - Duration::from_secs(20 * 60);
    let err = verify(&r, early).unwrap_err();
    assert!(
        matches!(&err, SigV4Error::SignatureExpired(m) if m.starts_with("Signature not yet current: ") && m.ends_with(" + 15 min.)")),
        "{err}"
    );
}

#[test]
fn scope_date_must_match_request_date() {
    let mut r = Signing::new("POST", "https://sts.amazonaws.com/", b"", now()).sign();
    let auth = r.headers["authorization"].to_str().unwrap().to_owned();
    let day = &sigv4::format_amz_date(now())[..8];
    let other = auth.replace(&format!("/{day}/"), "/20200101/");
    r.headers.insert("authorization", other.parse().unwrap());
    let err = verify(&r, now()).unwrap_err();
    assert!(
        matches!(&err, SigV4Error::SignatureDoesNotMatch(m) if m.starts_with("Date in Credential scope does not match YYYYMMDD")),
        "{err}"
    );
}

#[test]
fn incomplete_authorization_headers() {
    let base = Signing::new("POST", "https://sts.amazonaws.com/", b"", now()).sign();
    let cases = [
        (
            "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00",
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, Signature=00",
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "Credential must have exactly 5 slash-delimited elements",
        ),
        ("AWS AKID:c2ln", "Unsupported AWS 'algorithm': 'AWS'"),
    ];
    for (header, message) in cases {
        let mut r = Received {
            headers: base.headers.clone(),
            ..Signing::new("POST", "https://sts.amazonaws.com/", b"", now()).sign()
        };
        r.headers.insert("authorization", header.parse().unwrap());
        let err = sigv4::parse(&r.parts()).unwrap_err();
        assert!(
            matches!(&err, SigV4Error::IncompleteSignature(m) if m.contains(message)),
            "{header}: {err}"
        );
        let aws = err.to_aws_error(Protocol::IAM);
        assert_eq!(
            (aws.code.as_ref(), aws.status.as_u16()),
            ("IncompleteSignature", 400)
        );
    }
    // No date header at all.
    let mut r = Signing::new("POST", "https://sts.amazonaws.com/", b"", now()).sign();
    r.headers.remove("x-amz-date");
    let err = sigv4::parse(&r.parts()).unwrap_err();
    assert!(
        err.to_string()
            .contains("requires existence of either a 'X-Amz-Date' or a 'Date' header"),
        "{err}"
    );
    // Wrong terminator.
    let mut r = Signing::new("POST", "https://sts.amazonaws.com/", b"", now()).sign();
    let auth = r.headers["authorization"]
        .to_str()
        .unwrap()
        .replace("aws4_request", "aws4_reques");
    r.headers.insert("authorization", auth.parse().unwrap());
    assert!(
        matches!(sigv4::parse(&r.parts()), Err(SigV4Error::SignatureDoesNotMatch(m)) if m.contains("valid terminator"))
    );
}

#[test]
fn unsigned_request_is_none() {
    let uri: http::Uri = "/?Action=GetCallerIdentity".parse().unwrap();
    let headers = http::HeaderMap::new();
    let parts = HttpRequestParts {
        method: &http::Method::GET,
        uri: &uri,
        headers: &headers,
        body: b"",
    };
    assert_eq!(sigv4::parse(&parts).unwrap(), None);
    let aws = SigV4Error::MissingAuthenticationToken.to_aws_error(Protocol::STS);
    assert_eq!(
        (aws.code.as_ref(), aws.status.as_u16(), aws.message.as_str()),
        (
            "MissingAuthenticationToken",
            403,
            "Request is missing Authentication Token"
        )
    );
    let json = SigV4Error::MissingAuthenticationToken.to_aws_error(Protocol::AwsJson1_1);
    assert_eq!(json.code, "MissingAuthenticationTokenException");
}

#[test]
fn presigned_with_missing_parameters_is_incomplete() {
    let uri: http::Uri =
        "/?Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
            .parse()
            .unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "sts.amazonaws.com".parse().unwrap());
    let parts = HttpRequestParts {
        method: &http::Method::GET,
        uri: &uri,
        headers: &headers,
        body: b"",
    };
    let err = sigv4::parse(&parts).unwrap_err();
    assert!(
        matches!(&err, SigV4Error::IncompleteSignature(m) if m.contains("must include 'X-Amz-Credential'") && m.contains("must include 'X-Amz-Date'")),
        "{err}"
    );
}
