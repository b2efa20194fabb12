//! The shared vocabulary of Portcullis.
//!
//! Every other crate speaks in these types: 12-digit [`AccountId`]s as the unit of isolation,
//! [`Arn`]s, AWS-style identifiers ([`id`]), the authenticated [`Principal`] of a request,
//! [`Secret`] values that are zeroized and never printed, and a [`Clock`] that tests can fix.
//! The crate does no I/O.

pub mod account;
pub mod arn;
pub mod clock;
pub mod context;
pub mod id;
pub mod json;
pub mod principal;
pub mod secret;
pub mod shard;
pub mod text;
pub mod xml;

pub use account::{AccountId, InvalidAccountId};
pub use arn::{Arn, InvalidArn};
pub use clock::{Clock, FixedClock, SystemClock, iso8601, iso8601_text};
pub use context::RequestContext;
pub use principal::{Principal, PrincipalKind};
pub use secret::Secret;
pub use text::AsciiText;

/// The partition every ARN Portcullis issues lives in.
pub const PARTITION: &str = "aws";

/// The region a request is attributed to when the client names none.
pub const DEFAULT_REGION: &str = "us-east-1";
