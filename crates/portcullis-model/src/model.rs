//! The shape of a service model: services, operations, shapes and members as static tables.
//!
//! The tables are generated from botocore's `service-2.json` files by
//! `tools/codegen/gen_models.py` (see `crate::generated`). Shapes reference each other by
//! index into their service's shape table, so a model is a handful of flat arrays with no
//! pointers to chase and no allocation at start-up. This module owns the table types and
//! the borrowed views ([`OperationModel`], [`ShapeRef`]) that the rest of the crate and the
//! protocol codecs walk.

use std::sync::OnceLock;

use crate::regex::Regex;

/// The wire protocol a service speaks, from the model's `metadata.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolKind {
    /// AWS query: form-encoded parameters in, XML out (IAM, STS).
    Query,
    /// AWS JSON 1.0/1.1: `X-Amz-Target` dispatch, JSON bodies (KMS, Organizations, ...).
    Json,
    /// REST with JSON bodies: HTTP method and URI select the operation (GuardDuty, ...).
    RestJson,
    /// REST with XML bodies (none of the services generated today).
    RestXml,
}

/// Where a member travels on the wire (botocore's `location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In the body (query parameters for the query protocol).
    Body,
    /// A `{label}` in the request URI.
    Uri,
    /// A query-string parameter of a REST request.
    Querystring,
    /// An HTTP header.
    Header,
    /// A map of headers sharing a prefix.
    Headers,
    /// The HTTP status code (outputs only).
    StatusCode,
}

/// A member's flag: the member is required (`required` list of its structure).
pub const REQUIRED: u8 = 1;
/// A member's flag: the member is an idempotency token (clients fill it in when absent).
pub const IDEMPOTENCY_TOKEN: u8 = 2;
/// An operation's flag: requests are not signed (`smithy.api#noAuth`).
pub const OP_UNSIGNED: u8 = 1;
/// An operation's flag: the operation is marked idempotent.
pub const OP_IDEMPOTENT: u8 = 2;
/// An operation's flag: the operation is deprecated.
pub const OP_DEPRECATED: u8 = 4;

/// A member of a structure shape.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// The member name as in the model (`UserName`).
    pub name: &'static str,
    /// Index of the member's shape in the service's shape table.
    pub shape: u16,
    /// [`REQUIRED`] and [`IDEMPOTENCY_TOKEN`] bits.
    pub flags: u8,
    /// Where the member travels.
    pub location: Location,
    /// The name on the wire when it differs from `name` (`locationName`).
    pub location_name: Option<&'static str>,
}

impl Member {
    /// Whether the structure lists this member as required.
    #[must_use]
    pub fn is_required(&self) -> bool {
        self.flags & REQUIRED != 0
    }

    /// Whether clients fill this member with a fresh token when the caller leaves it out.
    #[must_use]
    pub fn is_idempotency_token(&self) -> bool {
        self.flags & IDEMPOTENCY_TOKEN != 0
    }

    /// The key of this member in an input value: the serialised name for body members
    /// (`locationName` or the member name, as botocore writes it), the member name for
    /// members carried in the URI, query string or headers.
    #[must_use]
    pub fn key(&self) -> &'static str {
        match (self.location, self.location_name) {
            (Location::Body, Some(wire)) => wire,
            _ => self.name,
        }
    }
}

/// The error a structure shape stands for, when it is an exception shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The AWS error code on the wire (`error.code`, else the shape name).
    pub code: &'static str,
    /// HTTP status (`error.httpStatusCode`; 400 for client faults, 500 for server faults).
    pub status: u16,
    /// Whether the caller is at fault (`Sender`) rather than the service (`Receiver`).
    pub sender_fault: bool,
}

/// What kind of value a shape holds, with the kind-specific parts of the model.
#[derive(Debug, Clone, Copy)]
pub enum ShapeKind {
    /// A structure (or union, or exception) with named members.
    Structure {
        /// Members in model order.
        members: &'static [Member],
        /// Exactly one member may be set.
        union: bool,
        /// Present for exception shapes.
        error: Option<ErrorInfo>,
    },
    /// A list of `member` shapes.
    List {
        /// Index of the element shape.
        member: u16,
        /// The element name in the query protocol when not `member`.
        member_name: Option<&'static str>,
    },
    /// A map from `key` shapes to `value` shapes.
    Map {
        /// Index of the key shape (always a string).
        key: u16,
        /// Index of the value shape.
        value: u16,
        /// The key's name in the query protocol when not `key`.
        key_name: Option<&'static str>,
        /// The value's name in the query protocol when not `value`.
        value_name: Option<&'static str>,
    },
    /// A string, optionally constrained by a pattern and an enum.
    String {
        /// Index of the pattern in the service's pattern table.
        pattern: Option<u16>,
        /// The allowed values, when the string is an enum.
        enums: &'static [&'static str],
    },
    /// 32-bit signed integer.
    Integer,
    /// 64-bit signed integer.
    Long,
    /// 32-bit float.
    Float,
    /// 64-bit float.
    Double,
    /// Boolean.
    Boolean,
    /// Timestamp.
    Timestamp,
    /// Binary data (base64 on the wire).
    Blob,
}

/// One shape of a service model.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The shape name in the model.
    pub name: &'static str,
    /// What the shape holds.
    pub kind: ShapeKind,
    /// Minimum length (strings, blobs, lists, maps) or value (numbers).
    pub min: Option<i64>,
    /// Maximum length (strings, blobs, lists, maps) or value (numbers).
    pub max: Option<i64>,
    /// The value is sensitive: never echoed in messages or logs.
    pub sensitive: bool,
}

/// One operation of a service model.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The operation name (`CreateUser`).
    pub name: &'static str,
    /// HTTP method (`POST` for query and json services).
    pub method: &'static str,
    /// Request URI template (`/detector/{detectorId}` for rest protocols, `/` otherwise).
    pub request_uri: &'static str,
    /// HTTP status of a successful response.
    pub response_code: u16,
    /// Index of the input structure, if the operation takes input.
    pub input: Option<u16>,
    /// Index of the output structure, if the operation returns output.
    pub output: Option<u16>,
    /// The query protocol's `<NameResult>` element wrapping the output.
    pub result_wrapper: Option<&'static str>,
    /// Indices of the exception shapes the operation declares.
    pub errors: &'static [u16],
    /// [`OP_UNSIGNED`], [`OP_IDEMPOTENT`] and [`OP_DEPRECATED`] bits.
    pub flags: u8,
}

/// The generated parts of a [`ServiceModel`].
#[derive(Debug)]
pub struct ServiceTables {
    /// Our name of the service, the botocore data directory (`iam`, `kms`, ...).
    pub name: &'static str,
    /// The SigV4 signing name (credential scope service).
    pub signing_name: &'static str,
    /// The endpoint prefix.
    pub endpoint_prefix: &'static str,
    /// The wire protocol.
    pub protocol: ProtocolKind,
    /// The API version (`2010-05-08`), the query protocol's `Version` parameter.
    pub api_version: &'static str,
    /// The XML namespace of query responses.
    pub xmlns: Option<&'static str>,
    /// The `X-Amz-Target` prefix of json services (`TrentService` for KMS).
    pub target_prefix: Option<&'static str>,
    /// The json protocol version (`1.1`), for the `application/x-amz-json-1.1` content type.
    pub json_version: Option<&'static str>,
    /// Operations sorted by name.
    pub operations: &'static [Operation],
    /// Shapes sorted by name; indices in [`Member`], [`Operation`] and [`ShapeKind`] point here.
    pub shapes: &'static [Shape],
    /// The distinct patterns of the service's string shapes.
    pub patterns: &'static [&'static str],
}

/// A service model: the generated tables and the lazily compiled patterns.
#[derive(Debug)]
pub struct ServiceModel {
    tables: ServiceTables,
    compiled: OnceLock<Vec<Option<Regex>>>,
}

impl std::ops::Deref for ServiceModel {
    type Target = ServiceTables;

    fn deref(&self) -> &ServiceTables {
        &self.tables
    }
}

impl ServiceModel {
    /// Wraps generated tables.
    #[must_use]
    pub const fn new(tables: ServiceTables) -> Self {
        Self {
            tables,
            compiled: OnceLock::new(),
        }
    }

    /// The operation called `name` (exact, case-sensitive, as AWS matches `Action`).
    #[must_use]
    pub fn operation(&self, name: &str) -> Option<OperationModel<'_>> {
        let i = self
            .operations
            .binary_search_by(|o| o.name.cmp(name))
            .ok()?;
        let op = self.operations.get(i)?;
        Some(OperationModel { service: self, op })
    }

    /// Every operation, sorted by name.
    pub fn operations(&self) -> impl Iterator<Item = OperationModel<'_>> + '_ {
        self.operations
            .iter()
            .map(move |op| OperationModel { service: self, op })
    }

    /// The shape at `index`, or `None` for an index outside the table.
    #[must_use]
    pub fn shape(&self, index: u16) -> Option<ShapeRef<'_>> {
        let shape = self.shapes.get(usize::from(index))?;
        Some(ShapeRef {
            service: self,
            index,
            shape,
        })
    }

    /// The shape called `name`.
    #[must_use]
    pub fn shape_by_name(&self, name: &str) -> Option<ShapeRef<'_>> {
        let i = self.shapes.binary_search_by(|s| s.name.cmp(name)).ok()?;
        self.shape(u16::try_from(i).ok()?)
    }

    /// The exception shape whose wire code is `code` (`NoSuchEntity`, `NotFoundException`).
    #[must_use]
    pub fn error_by_code(&self, code: &str) -> Option<(ShapeRef<'_>, ErrorInfo)> {
        self.shapes
            .iter()
            .enumerate()
            .find_map(|(i, s)| match s.kind {
                ShapeKind::Structure { error: Some(e), .. } if e.code == code => {
                    Some((self.shape(u16::try_from(i).ok()?)?, e))
                }
                _ => None,
            })
    }

    /// The code this service answers malformed input with.
    ///
    /// Query services (IAM, STS) answer `ValidationError`; JSON services answer
    /// `ValidationException` whether or not their model declares it (KMS's does not, yet
    /// KMS returns it). REST services use the validation shape their model declares:
    /// GuardDuty declares only `BadRequestException`.
    #[must_use]
    pub fn validation_error_code(&self) -> &'static str {
        match self.protocol {
            ProtocolKind::Query => "ValidationError",
            ProtocolKind::Json => "ValidationException",
            ProtocolKind::RestJson | ProtocolKind::RestXml => {
                if self.error_by_code("ValidationException").is_some()
                    || self.error_by_code("BadRequestException").is_none()
                {
                    "ValidationException"
                } else {
                    "BadRequestException"
                }
            }
        }
    }

    /// The compiled pattern at `index`; `None` when the index is unknown or the pattern
    /// uses a construct the engine does not support (a test asserts none does).
    pub(crate) fn pattern(&self, index: u16) -> Option<&Regex> {
        let compiled = self
            .compiled
            .get_or_init(|| self.patterns.iter().map(|p| Regex::new(p).ok()).collect());
        compiled.get(usize::from(index))?.as_ref()
    }

    /// The source text of the pattern at `index`.
    #[must_use]
    pub fn pattern_source(&self, index: u16) -> Option<&'static str> {
        self.patterns.get(usize::from(index)).copied()
    }
}

/// An operation of a service, with access to its service's shapes.
#[derive(Debug, Clone, Copy)]
pub struct OperationModel<'a> {
    /// The service the operation belongs to.
    pub service: &'a ServiceModel,
    op: &'a Operation,
}

impl<'a> OperationModel<'a> {
    /// The operation name (`CreateUser`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.op.name
    }

    /// The HTTP method.
    #[must_use]
    pub fn http_method(&self) -> &'static str {
        self.op.method
    }

    /// The request URI template.
    #[must_use]
    pub fn request_uri(&self) -> &'static str {
        self.op.request_uri
    }

    /// The HTTP status of a successful response.
    #[must_use]
    pub fn response_code(&self) -> u16 {
        self.op.response_code
    }

    /// The input structure, if any.
    #[must_use]
    pub fn input(&self) -> Option<ShapeRef<'a>> {
        self.service.shape(self.op.input?)
    }

    /// The output structure, if any.
    #[must_use]
    pub fn output(&self) -> Option<ShapeRef<'a>> {
        self.service.shape(self.op.output?)
    }

    /// The query protocol's result wrapper element (`CreateUserResult`).
    #[must_use]
    pub fn result_wrapper(&self) -> Option<&'static str> {
        self.op.result_wrapper
    }

    /// The errors the operation declares, with their wire codes and statuses.
    pub fn errors(&self) -> impl Iterator<Item = (ShapeRef<'a>, ErrorInfo)> + 'a {
        let service = self.service;
        self.op.errors.iter().filter_map(move |&i| {
            let shape = service.shape(i)?;
            match shape.shape.kind {
                ShapeKind::Structure { error: Some(e), .. } => Some((shape, e)),
                _ => None,
            }
        })
    }

    /// The wire codes of the declared errors.
    pub fn error_codes(&self) -> impl Iterator<Item = &'static str> + 'a {
        self.errors().map(|(_, e)| e.code)
    }

    /// Whether requests are unsigned (STS `AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity`).
    #[must_use]
    pub fn is_unsigned(&self) -> bool {
        self.op.flags & OP_UNSIGNED != 0
    }

    /// Whether the model marks the operation idempotent.
    #[must_use]
    pub fn is_idempotent(&self) -> bool {
        self.op.flags & OP_IDEMPOTENT != 0
    }

    /// Whether the model marks the operation deprecated.
    #[must_use]
    pub fn is_deprecated(&self) -> bool {
        self.op.flags & OP_DEPRECATED != 0
    }

    /// The raw table entry.
    #[must_use]
    pub fn table(&self) -> &'a Operation {
        self.op
    }
}

/// A shape of a service, with access to the shapes it refers to.
#[derive(Debug, Clone, Copy)]
pub struct ShapeRef<'a> {
    /// The service the shape belongs to.
    pub service: &'a ServiceModel,
    /// The shape's index in the service's table.
    pub index: u16,
    /// The table entry.
    pub shape: &'a Shape,
}

impl<'a> ShapeRef<'a> {
    /// The shape name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.shape.name
    }

    /// The members of a structure (empty for other kinds).
    #[must_use]
    pub fn members(&self) -> &'static [Member] {
        match self.shape.kind {
            ShapeKind::Structure { members, .. } => members,
            _ => &[],
        }
    }

    /// The member called `name` (model name) of a structure.
    #[must_use]
    pub fn member(&self, name: &str) -> Option<&'static Member> {
        self.members().iter().find(|m| m.name == name)
    }

    /// The shape of `member`.
    #[must_use]
    pub fn member_shape(&self, member: &Member) -> Option<ShapeRef<'a>> {
        self.service.shape(member.shape)
    }

    /// Another shape of the same service.
    #[must_use]
    pub fn resolve(&self, index: u16) -> Option<ShapeRef<'a>> {
        self.service.shape(index)
    }
}

/// Builds a [`Member`] (used by the generated tables to stay compact).
#[must_use]
pub const fn m(
    name: &'static str,
    shape: u16,
    flags: u8,
    location: Location,
    location_name: Option<&'static str>,
) -> Member {
    Member {
        name,
        shape,
        flags,
        location,
        location_name,
    }
}

/// Builds a [`Shape`] (used by the generated tables).
#[must_use]
pub const fn sh(
    name: &'static str,
    kind: ShapeKind,
    min: Option<i64>,
    max: Option<i64>,
    sensitive: bool,
) -> Shape {
    Shape {
        name,
        kind,
        min,
        max,
        sensitive,
    }
}

/// Builds an [`Operation`] (used by the generated tables).
#[expect(
    clippy::too_many_arguments,
    reason = "a positional row of a generated table"
)]
#[must_use]
pub const fn op(
    name: &'static str,
    method: &'static str,
    request_uri: &'static str,
    response_code: u16,
    input: Option<u16>,
    output: Option<u16>,
    result_wrapper: Option<&'static str>,
    errors: &'static [u16],
    flags: u8,
) -> Operation {
    Operation {
        name,
        method,
        request_uri,
        response_code,
        input,
        output,
        result_wrapper,
        errors,
        flags,
    }
}
