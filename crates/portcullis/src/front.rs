//! The API front: every AWS API request goes through [`handle`].
//!
//! Read the body within its bound, find the service, authenticate the signature, decode the
//! protocol into the operation's input and validate it against the botocore model, dispatch,
//! then record the call in the audit trail and the metrics. Whatever goes wrong becomes an
//! AWS-shaped error in the service's protocol; nothing here panics on input.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use serde_json::Value;

use portcullis_aws::sigv4::{self, HttpRequestParts};
use portcullis_aws::{AwsError, Protocol, error_response, json, query};
use portcullis_core::{AccountId, DEFAULT_REGION, Principal, RequestContext, id};
use portcullis_model::{OperationModel, ServiceModel, Violation};

use crate::audit::CallFacts;
use crate::route::Service;
use crate::{App, cloudtrail};

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// What the front learns about a call as it goes, for the audit trail and the metrics.
struct Call {
    request_id: String,
    received_at: SystemTime,
    source_ip: IpAddr,
    user_agent: String,
    tls: bool,
    service: Option<Service>,
    /// The protocol errors are shaped in: the service's, once it is known.
    protocol: Protocol,
    /// The operation as the client named it (`Action`, target suffix), known or not; the
    /// model's own name, not a copy, when the service has it.
    operation: Option<Cow<'static, str>>,
    /// Whether `operation` is one of the service's operations (a bounded metrics label).
    known_operation: Option<&'static str>,
    /// The region of the credential scope; empty until a signature names one.
    region: String,
    principal: Option<Arc<Principal>>,
    /// When authentication failed: the key and account it named.
    failed_key: Option<String>,
    failed_account: Option<AccountId>,
    request_parameters: Option<Value>,
}

impl Call {
    /// The region the call is recorded in: the credential scope's, else the default.
    fn region(&self) -> &str {
        if self.region.is_empty() {
            DEFAULT_REGION
        } else {
            &self.region
        }
    }
}

/// What a handler returns: the response body in its protocol's form.
enum Output {
    /// A complete query-protocol (XML) response.
    Query(http::Response<Bytes>),
    /// A JSON document for JSON 1.1 and rest-json services.
    Json(Value),
}

/// A response as the server sends it: the whole body at once.
pub type Response = http::Response<Full<Bytes>>;

/// A request body that the front can read to its end.
pub trait RequestBody: Body<Data = Bytes, Error: Into<BodyError>> + Send {}
impl<B: Body<Data = Bytes, Error: Into<BodyError>> + Send> RequestBody for B {}

/// What reading a request body can fail with.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Serves one AWS API request.
pub async fn handle<B: RequestBody>(
    app: &App,
    conn: Option<ConnInfo>,
    request: http::Request<B>,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let mut call = Call {
        request_id: id::request_id(),
        received_at: app.clock.now(),
        source_ip: conn.map_or(IpAddr::from([127, 0, 0, 1]), |c| c.remote.ip()),
        user_agent: header(&parts.headers, &http::header::USER_AGENT)
            .unwrap_or_default()
            .to_owned(),
        tls: conn.is_some_and(|c| c.tls),
        service: None,
        protocol: Protocol::STS,
        operation: None,
        known_operation: None,
        region: String::new(),
        principal: None,
        failed_key: None,
        failed_account: None,
        request_parameters: None,
    };
    let outcome = serve(app, &parts, body, &mut call).await;
    let protocol = call.protocol;
    let (response, error) = match outcome {
        Ok(Output::Query(response)) => (response, None),
        Ok(Output::Json(value)) => (json::response(&call.request_id, &value), None),
        Err(error) => (
            error_response(protocol, &error, &call.request_id),
            Some(error),
        ),
    };

    let operation = call.operation.as_deref().unwrap_or("unknown");
    let request_parameters = call.request_parameters.take();
    let facts = CallFacts {
        request_id: &call.request_id,
        time: call.received_at,
        service: call.service,
        operation,
        region: call.region(),
        source_ip: call.source_ip,
        user_agent: &call.user_agent,
        tls: call.tls,
        principal: call.principal.as_deref(),
        access_key_id: call.failed_key.as_deref(),
        account: call.failed_account.as_ref().map(AccountId::as_str),
        error: error.as_ref(),
        request_parameters,
        response_elements: None,
    };
    let record = facts.into_record();
    let changed_state = error.is_none() && !record.read_only();
    app.audit.record(record, changed_state).await;
    let label = call.known_operation.unwrap_or("unknown");
    let service = call.service.map_or("unknown", Service::name);
    app.metrics.record(
        service,
        label,
        response.status().as_u16(),
        started.elapsed(),
    );
    response.map(Full::new)
}

async fn serve<B: RequestBody>(
    app: &App,
    parts: &Parts,
    body: B,
    call: &mut Call,
) -> Result<Output, AwsError> {
    // A JSON target names service and operation from the headers alone, so errors from here on
    // take that service's shape.
    let target = json::parse_target(&parts.headers);
    if let Ok(Some((prefix, operation))) = &target {
        call.service = Service::from_target_prefix(prefix);
        call.protocol = Protocol::AwsJson1_1;
        call.operation = Some(operation_name(call.service, operation));
        if call.service.is_none() {
            return Err(AwsError::unknown_operation(Protocol::AwsJson1_1));
        }
    }
    let target = target?;
    let body = read_body(body, app.max_body_bytes).await?;
    let request = HttpRequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    let parsed = sigv4::parse(&request);
    let scope = parsed
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map(|p| &p.scope);
    if let Some(scope) = scope {
        call.region = scope.region().to_owned();
    }

    // Query parameters route unsigned query requests and carry signed ones.
    let params = match target {
        Some(_) => None,
        None => Some(query::parse_params(
            parts.uri.query(),
            header(&parts.headers, &http::header::CONTENT_TYPE),
            &body,
        )),
    };
    let query_action = params
        .as_ref()
        .and_then(|p| p.as_ref().ok())
        .and_then(query::QueryParams::action);
    let service = call
        .service
        .or_else(|| scope.and_then(|s| Service::from_signing_name(s.service())))
        .or_else(|| query_action.map(Service::from_query_action))
        .unwrap_or(Service::Sts);
    call.service = Some(service);
    call.protocol = service.protocol();
    if call.operation.is_none() {
        call.operation = query_action.map(|action| operation_name(Some(service), action));
    }

    let authenticated = app
        .auth
        .authenticate(&request, parsed, service.name(), call.received_at)
        .await;
    // AssumeRoleWithWebIdentity is unsigned: its token proves the caller (STS API Reference).
    let unsigned_allowed =
        service == Service::Sts && query_action == Some("AssumeRoleWithWebIdentity");
    let (principal, anonymous) = match authenticated {
        Ok(a) => {
            if a.issued_long_term_key {
                let key = &a.principal.access_key_id;
                app.authz
                    .usage()
                    .note_key(key, call.received_at, service.name(), a.scope.region());
            }
            (a.principal, false)
        }
        Err(portcullis_iam::AuthFailure::Unsigned) if unsigned_allowed => {
            (Arc::new(portcullis_iam::sts::anonymous_principal()), true)
        }
        Err(failure) => {
            if let portcullis_iam::AuthFailure::Internal(e) = &failure {
                tracing::error!(error = %e, request_id = call.request_id, "authentication could not read the store");
            }
            app.metrics.auth_failure(failure.reason());
            call.failed_key = failure.access_key_id().map(str::to_owned);
            call.failed_account = failure.account().cloned();
            return Err(failure.to_aws_error(service.protocol()));
        }
    };
    // The audit record names the principal even when the call fails from here on; the
    // anonymous caller of AssumeRoleWithWebIdentity is named by its token instead.
    let (principal, anonymous) = if anonymous {
        (Some(principal), true)
    } else {
        call.principal = Some(principal);
        (None, false)
    };

    let model = service.model().ok_or_else(AwsError::internal_failure)?;
    let protocol = service.protocol();
    let (operation, input) = match protocol {
        Protocol::Query { .. } => {
            let params = params.ok_or_else(AwsError::internal_failure)??;
            decode_query(model, protocol, &params, call)?
        }
        Protocol::AwsJson1_1 => {
            let name = call.operation.clone().unwrap_or_default();
            let operation = model
                .operation(&name)
                .ok_or_else(|| AwsError::unknown_operation(protocol))?;
            call.known_operation = Some(operation.name());
            let input = json::parse_body(&body)?;
            call.request_parameters =
                Some(crate::audit::audit_parameters(operation.input(), &input));
            (operation, input)
        }
        Protocol::RestJson => decode_rest(model, parts, &body, call)?,
    };
    if let Err(violations) = portcullis_model::validate(&operation, &input) {
        return Err(validation_error(model, &violations));
    }

    // The context borrows nothing from `call`: its strings and principal move in for the
    // call and move back for the audit record, rather than being copied.
    let ctx = RequestContext {
        request_id: std::mem::take(&mut call.request_id),
        principal: principal
            .or_else(|| call.principal.take())
            .ok_or_else(AwsError::internal_failure)?,
        region: match std::mem::take(&mut call.region) {
            region if region.is_empty() => DEFAULT_REGION.to_owned(),
            region => region,
        },
        source_ip: call.source_ip,
        user_agent: std::mem::take(&mut call.user_agent),
        secure_transport: call.tls,
        received_at: call.received_at,
    };
    let outcome = async {
        app.authz
            .authorize(&ctx, service.name(), operation.name(), &input)
            .await?;
        dispatch(app, service, &ctx, operation.name(), input).await
    }
    .await;
    call.request_id = ctx.request_id;
    call.region = ctx.region;
    call.user_agent = ctx.user_agent;
    if !anonymous {
        call.principal = Some(ctx.principal);
    }
    outcome
}

/// Runs the handler of `operation`, or says plainly that it is not built yet.
async fn dispatch(
    app: &App,
    service: Service,
    ctx: &RequestContext,
    operation: &str,
    input: Value,
) -> Result<Output, AwsError> {
    // The services' calls are boxed (STS boxes its own, all but GetCallerIdentity): their
    // futures are kilobytes, and an awaited future is held inside each enclosing one, so
    // unboxed they made every request's future 24 KB, copied whole as it was built and handed
    // to hyper.
    match service {
        Service::Sts => portcullis_iam::sts::call(&app.authz, ctx, operation, &input)
            .await
            .map(Output::Query),
        Service::CloudTrail => Box::pin(cloudtrail::call(app, ctx, operation, &input))
            .await
            .map(Output::Json),
        Service::Kms => Box::pin(app.kms.call(ctx, operation, input))
            .await
            .map(Output::Json),
        // The policy simulator is served by the authorizer, on the same engine as enforcement.
        Service::Iam
            if matches!(
                operation,
                "SimulatePrincipalPolicy" | "SimulateCustomPolicy"
            ) =>
        {
            let output = if operation == "SimulatePrincipalPolicy" {
                Box::pin(app.authz.simulate_principal_policy(ctx, &input)).await?
            } else {
                Box::pin(app.authz.simulate_custom_policy(ctx, &input)).await?
            };
            let model = service.model().ok_or_else(AwsError::internal_failure)?;
            let op = model
                .operation(operation)
                .ok_or_else(AwsError::internal_failure)?;
            let body = portcullis_model::xml::query_response(
                &op,
                &ctx.request_id,
                "https://iam.amazonaws.com/doc/2010-05-08/",
                &output,
            );
            let mut response = http::Response::new(Bytes::from(body));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/xml"),
            );
            if let Ok(id) = http::HeaderValue::from_str(&ctx.request_id) {
                response.headers_mut().insert("x-amzn-RequestId", id);
            }
            Ok(Output::Query(response))
        }
        Service::Iam => {
            let response = Box::pin(app.iam.call(ctx, operation, &input)).await?;
            // An IAM change (policy, attachment, membership, boundary, tags, trust) takes
            // effect on the next request: the authorizer's cached policy sets are dropped.
            if !crate::route::is_read_only(operation) {
                app.authz.invalidate(&ctx.principal.account);
            }
            Ok(Output::Query(response))
        }
        Service::Organizations => {
            let output = Box::pin(app.orgs.call(ctx, operation, &input)).await?;
            // A change to a policy, an attachment or the account tree takes effect on the next
            // request in every account.
            if !crate::route::is_read_only(operation) {
                app.authz.invalidate(&ctx.principal.account);
            }
            Ok(Output::Json(output))
        }
        Service::Wafv2
        | Service::Shield
        | Service::GuardDuty
        | Service::Inspector2
        | Service::Artifact => Err(AwsError::not_implemented(&format!(
            "{}:{operation}",
            service.name()
        ))),
    }
}

fn decode_query<'m>(
    model: &'m ServiceModel,
    protocol: Protocol,
    params: &query::QueryParams,
    call: &mut Call,
) -> Result<(OperationModel<'m>, Value), AwsError> {
    let action = params
        .action()
        .ok_or_else(|| AwsError::missing_action(protocol))?;
    let version = params.version().unwrap_or(model.api_version);
    let operation = model
        .operation(action)
        .filter(|_| version == model.api_version)
        .ok_or_else(|| AwsError::invalid_action_for_version(protocol, action, version))?;
    call.known_operation = Some(operation.name());
    let pairs: Vec<(&str, &str)> = params.iter().collect();
    let input = portcullis_model::query_input(&operation, &pairs)
        .map_err(|violation| validation_error(model, std::slice::from_ref(&violation)))?;
    call.request_parameters = Some(crate::audit::audit_parameters(operation.input(), &input));
    Ok((operation, input))
}

fn decode_rest<'m>(
    model: &'m ServiceModel,
    parts: &Parts,
    body: &Bytes,
    call: &mut Call,
) -> Result<(OperationModel<'m>, Value), AwsError> {
    let (operation, labels) = model
        .route(parts.method.as_str(), parts.uri.path())
        .ok_or_else(|| AwsError::unknown_operation(Protocol::RestJson))?;
    call.operation = Some(Cow::Borrowed(operation.name()));
    call.known_operation = Some(operation.name());
    let query = query::parse_params(parts.uri.query(), None, &[])?;
    let query: Vec<(&str, &str)> = query.iter().collect();
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let document = if body.is_empty() {
        None
    } else {
        Some(json::parse_body(body)?)
    };
    let input =
        portcullis_model::rest_input(&operation, &labels, &query, &headers, document.as_ref())
            .map_err(|violation| validation_error(model, std::slice::from_ref(&violation)))?;
    call.request_parameters = Some(crate::audit::audit_parameters(operation.input(), &input));
    Ok((operation, input))
}

/// `name` as the audit trail and the metrics record it: the model's name of the operation when
/// `service` has one by that name, a copy of what the client sent otherwise.
fn operation_name(service: Option<Service>, name: &str) -> Cow<'static, str> {
    service
        .and_then(Service::model)
        .and_then(|model| model.operation(name))
        .map_or_else(
            || Cow::Owned(name.to_owned()),
            |op| Cow::Borrowed(op.name()),
        )
}

/// Violations as the service reports them: its validation code and AWS's message.
fn validation_error(model: &ServiceModel, violations: &[Violation]) -> AwsError {
    let code = match portcullis_model::error_code(model.protocol, violations) {
        "SerializationException" => "SerializationException",
        _ => model.validation_error_code(),
    };
    AwsError::new(
        code,
        StatusCode::BAD_REQUEST,
        portcullis_model::violations_message(violations),
    )
}

async fn read_body<B: RequestBody>(body: B, limit: usize) -> Result<Bytes, AwsError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(AwsError::request_entity_too_large(limit))
        }
        Err(e) => Err(AwsError::new(
            "IncompleteBody",
            StatusCode::BAD_REQUEST,
            format!("The request body could not be read: {e}"),
        )),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
