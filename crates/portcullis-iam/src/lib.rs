//! IAM, STS and the accounts they live in.
//!
//! This crate owns who a caller is: the accounts (the unit of isolation), their root users, the
//! access keys that sign requests, and the [`Authenticator`] that turns a SigV4-signed request
//! into a [`Principal`](portcullis_core::Principal); the [`Authorizer`] that decides every call
//! with the policy engine; STS and the temporary credentials it issues ([`sessions`]).

pub mod accounts;
pub mod auth;
pub mod authz;
pub mod error;
pub mod iam;
pub mod keys;
pub mod orgs;
pub mod sessions;
pub mod sts;
pub mod usage;

pub use accounts::{Account, Accounts, Bootstrap};
pub use auth::{AuthFailure, Authenticated, Authenticator, Mode};
pub use authz::Authorizer;
pub use error::IamError;
pub use iam::{Iam, Quotas};
pub use keys::{AccessKeyRecord, KeyOwner, KeyStatus};
pub use orgs::{OrganizationPolicies, Organizations};
pub use usage::Usage;
