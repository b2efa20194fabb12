//! The AWS IAM policy language: parse, validate, compile, evaluate and explain.
//!
//! Pure and synchronous (no I/O outside the optional `cli` module), so the authorizer can call
//! it on every request and so it can be fuzzed, property-tested and benchmarked alone.
//!
//! - [`parse`] / [`Policy::parse`]: read a document as a [`PolicyType`] and report
//!   [`Finding`]s worded as AWS words them (`MalformedPolicyDocument`, `LimitExceeded`, ...).
//! - [`Policy`]: a compiled document, cheap to clone and share between threads.
//! - [`PrincipalPolicies`] (SCP levels, identity policies, boundary, session policies) and
//!   [`ResourcePolicies`] (resource-based policy, RCP levels): the policy sets of a request.
//! - [`evaluate`]: AWS's evaluation logic over a [`Request`], returning a [`Decision`]: the
//!   effect, the matched statements, the deciding layer, the missing context keys, and
//!   [`Decision::access_denied_message`].
//!
//! ```
//! use portcullis_policy::*;
//!
//! let scp = Policy::parse("scp-deny-iam", r#"{"Version":"2012-10-17","Statement":[
//!     {"Effect":"Allow","Action":"*","Resource":"*"},
//!     {"Effect":"Deny","Action":"iam:*","Resource":"*"}]}"#, PolicyType::Scp)?;
//! let admin = Policy::parse("admin", r#"{"Version":"2012-10-17","Statement":
//!     {"Effect":"Allow","Action":"*","Resource":"*"}}"#, PolicyType::Identity)?;
//! let set = PrincipalPolicies { scp_levels: vec![vec![scp]], identity: vec![admin], ..Default::default() };
//!
//! let alice = RequestPrincipal::from_arn("arn:aws:iam::123456789012:user/alice").unwrap();
//! let request = Request::new(alice, "iam:CreateUser", "arn:aws:iam::123456789012:user/bob");
//! let decision = evaluate(&set, None, &request);
//! assert_eq!(decision.effect, Effect::ExplicitDeny);
//! assert_eq!(decision.deciding_layer, Layer::ServiceControlPolicy);
//! assert!(decision.access_denied_message(&request).unwrap()
//!     .ends_with("with an explicit deny in a service control policy"));
//! # Ok::<(), portcullis_policy::Error>(())
//! ```

mod condition;
mod document;
mod eval;
mod pattern;
mod request;

#[cfg(feature = "cli")]
pub mod cli;

pub use condition::{OPERATORS, Operator, OperatorName, SetQualifier};
pub use document::{
    Document, Finding, FindingCode, InlineOwner, Parsed, PolicyType, PrincipalSpec, PrincipalType,
    StatementDoc, StatementEffect, Version, check_inline_total, parse, policy_size,
};
pub use eval::{
    Decision, Effect, InlineList, Layer, MatchedStatement, Policy, PrincipalPolicies,
    ResourcePolicies, ResourcePolicyKind, evaluate,
};
pub use request::{
    Context, ContextValue, PrincipalKind, Request, RequestPrincipal, Scalar, principal_from_text,
};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The document is not a valid policy of the requested type.
    #[error("{}", .findings.first().map_or_else(|| "invalid policy".to_owned(), ToString::to_string))]
    Invalid {
        /// Every finding, in document order.
        findings: Vec<Finding>,
    },
    /// A request description (CLI, JSON) could not be read.
    #[error("invalid request: {0}")]
    Request(String),
}
