//! AWS wire protocols and SigV4 verification for Portcullis.
//!
//! This crate is pure and synchronous: it turns bytes into typed claims and typed errors into
//! bytes, and never does I/O. It owns
//! - [`error`]: one [`AwsError`] for every protocol, rendered as the query, JSON 1.1 or
//!   rest-json error shape that botocore parses;
//! - [`sigv4`]: Signature Version 4 parsing and verification (header and presigned URL);
//! - [`query`]: the query protocol of IAM and STS (form parameters in, XML out);
//! - [`json`]: AWS JSON 1.1 (`X-Amz-Target` dispatch, JSON bodies);
//! - [`rest`]: rest-json routing of method and path templates to operations.
//!
//! Every response built here carries the request id in `x-amzn-RequestId` (query responses
//! also carry it in the body, where botocore reads it).

pub mod error;
pub mod json;
pub mod query;
pub mod rest;
pub mod sigv4;

pub use error::{AwsError, Fault, Protocol, error_response};
pub use query::{QueryParams, XmlWriter, parse_params};
pub use sigv4::{
    CredentialScope, HttpRequestParts, ParsedSignature, SigV4Error, SignatureLocation, parse,
    verify,
};
