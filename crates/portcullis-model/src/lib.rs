//! Operation models of the AWS services Portcullis speaks, and AWS-exact input validation.
//!
//! The models are generated from botocore's service definitions by
//! `tools/codegen/gen_models.py` (output committed under `src/generated/`, regeneration
//! checked with `--check`; the botocore version is in [`BOTOCORE_VERSION`]). Each
//! [`ServiceModel`] holds its operations and shapes as static tables; shapes refer to each
//! other by index.
//!
//! On top of the tables this crate owns three things every service needs:
//! - [`query_input`]: the query protocol's flat parameters (`Tags.member.1.Key=k`,
//!   `Attributes.entry.1.key=...`) turned into a JSON value shaped like the input shape;
//! - [`validate`]: required members, types, length and value ranges, patterns and enums
//!   checked the way AWS's service front ends check them, each failure a [`Violation`];
//! - [`ServiceModel::route`] and [`rest_input`]: REST routing by method and URI template,
//!   and input assembly from labels, query string, headers and body;
//! - the rendering of violations as AWS reports them: [`violations_message`] and
//!   [`error_code`] / [`ServiceModel::validation_error_code`].
//!
//! # What AWS returns, and what was verified
//! Messages follow the form AWS services return, confirmed on real responses quoted in
//! public issue threads: `1 validation error detected: Value 'x' at 'tags.6.member.value'
//! failed to satisfy constraint: Member must satisfy regular expression pattern: ...`
//! (IAM, code `ValidationError`); `... at 'tags.1.member.key' ... Member must have length
//! less than or equal to 127` (a JSON service, `ValidationException`); `Value null at
//! 'roleArn' failed to satisfy constraint: Member must not be null` (STS); `Value at
//! 'username' ...` with no value for sensitive members; `Value '[...]' at 'capabilities'
//! failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum
//! value set: [...]]` for constrained elements of a list of strings; `Value '0' at
//! 'maxResults' failed to satisfy constraint: Member must have value greater than or equal
//! to 1` for ranges. Several errors are counted (`2 validation errors detected: ...`) and
//! joined with `; `. Member names are the model's with the first letter lowered.
//!
//! Not verified against AWS and chosen by analogy: the wording of type errors (JSON
//! services answer `SerializationException`, see [`error_code`]), the path of structured
//! map values (`'map.KEY'`), and the rendering of structures inside echoed values.

pub mod generated;
pub mod model;
mod query;
pub mod regex;
mod rest;
mod validate;
pub mod xml;

use thiserror::Error;

pub use generated::{BOTOCORE_VERSION, SERVICES};
pub use model::{
    ErrorInfo, Location, Member, Operation, OperationModel, ProtocolKind, ServiceModel,
    ServiceTables, Shape, ShapeKind, ShapeRef,
};
pub use query::query_input;
pub use rest::{UriLabels, match_uri, rest_input};
pub use validate::{Violation, ViolationKind, error_code, validate, violations_message};

/// The one error type of this crate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// A `pattern` the regular-expression engine cannot compile.
    #[error("unsupported or invalid pattern at offset {offset}: {reason}")]
    Pattern {
        /// Character offset in the pattern.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
}

/// The model of the service called `name` (`"iam"`, `"sts"`, `"kms"`, `"organizations"`,
/// `"cloudtrail"`, `"wafv2"`, `"shield"`, `"guardduty"`, `"inspector2"`, `"artifact"`).
/// The signing name is accepted as well.
#[must_use]
pub fn service(name: &str) -> Option<&'static ServiceModel> {
    SERVICES
        .iter()
        .copied()
        .find(|s| s.name == name)
        .or_else(|| SERVICES.iter().copied().find(|s| s.signing_name == name))
}

/// The JSON service whose `X-Amz-Target` prefix is `prefix` (`"TrentService"` is KMS).
#[must_use]
pub fn service_by_target_prefix(prefix: &str) -> Option<&'static ServiceModel> {
    SERVICES
        .iter()
        .copied()
        .find(|s| s.target_prefix == Some(prefix))
}

/// Resolves an `X-Amz-Target` header (`TrentService.Encrypt`) to its operation.
#[must_use]
pub fn operation_by_target(target: &str) -> Option<OperationModel<'static>> {
    let (prefix, name) = target.rsplit_once('.')?;
    service_by_target_prefix(prefix)?.operation(name)
}

#[cfg(test)]
mod tests;
