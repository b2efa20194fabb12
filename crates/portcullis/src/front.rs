//! The API front: every AWS API request goes through [`handle`].
//!
//! Read the body within its bound, find the service, authenticate the signature, decode the
//! protocol, dispatch, then record the call in the audit trail and the metrics. Whatever goes
//! wrong becomes an AWS-shaped error of the service's protocol; nothing here panics on input.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use portcullis_aws::sigv4::{self, HttpRequestParts};
use portcullis_aws::{AwsError, error_response, json, query};
use portcullis_core::{DEFAULT_REGION, Principal, RequestContext, id};

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

/// What a dispatched call produced, beside its response, for the audit trail.
struct Served {
    response: Response,
    operation: String,
    error: Option<AwsError>,
    request_parameters: Option<Value>,
}

/// Serves one AWS API request.
pub async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let received_at = app.clock.now();
    let request_id = id::request_id();
    let conn = request.extensions().get::<ConnInfo>().copied();
    let (parts, body) = request.into_parts();
    let user_agent = header(&parts.headers, "user-agent")
        .unwrap_or_default()
        .to_owned();
    let source_ip = conn.map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.remote.ip());
    let tls = conn.is_some_and(|c| c.tls);

    // The JSON target is known from the headers alone; it decides the error shape from here on.
    let target = json::parse_target(&parts.headers);
    let header_service = match &target {
        Ok(Some((prefix, _))) => Service::from_target_prefix(prefix),
        _ => None,
    };
    let early_protocol = header_service.map_or(Service::Sts.protocol(), Service::protocol);

    let body = match read_body(body, app.max_body_bytes).await {
        Ok(body) => body,
        Err(error) => {
            let service = header_service.unwrap_or(Service::Sts);
            app.metrics.record(
                service.name(),
                "unknown",
                error.status.as_u16(),
                started.elapsed(),
            );
            return error_response(early_protocol, &error, &request_id).map(Body::from);
        }
    };
    let http_parts = HttpRequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    let parsed = sigv4::parse(&http_parts);

    // Query parameters are needed to route unsigned query requests and to serve signed ones.
    let is_query = target.as_ref().is_ok_and(Option::is_none);
    let params = if is_query {
        Some(query::parse_params(
            parts.uri.query(),
            header(&parts.headers, "content-type"),
            &body,
        ))
    } else {
        None
    };
    let service = header_service
        .or_else(|| {
            parsed
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .and_then(|p| Service::from_signing_name(&p.scope.service))
        })
        .or_else(|| {
            params
                .as_ref()
                .and_then(|p| p.as_ref().ok())
                .and_then(query::QueryParams::action)
                .map(Service::from_query_action)
        })
        .unwrap_or(Service::Sts);
    let protocol = service.protocol();
    let operation_hint = match (&target, &params) {
        (Ok(Some((_, op))), _) => op.clone(),
        (_, Some(Ok(p))) => p.action().unwrap_or("unknown").to_owned(),
        _ => "unknown".to_owned(),
    };
    let region_hint = parsed
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map_or_else(|| DEFAULT_REGION.to_owned(), |p| p.scope.region.clone());

    let authenticated = app
        .auth
        .authenticate(&http_parts, parsed, service.name(), received_at)
        .await;
    let principal: Principal = match authenticated {
        Ok(a) => a.principal,
        Err(failure) => {
            if let portcullis_iam::AuthFailure::Internal(e) = &failure {
                tracing::error!(error = %e, request_id, "authentication could not read the store");
            }
            app.metrics.auth_failure(failure.reason());
            let error = failure.to_aws_error(protocol);
            let facts = CallFacts {
                request_id: &request_id,
                time: received_at,
                service,
                operation: &operation_hint,
                region: &region_hint,
                source_ip,
                user_agent: &user_agent,
                tls,
                principal: None,
                access_key_id: failure.access_key_id(),
                account: failure.account().map(|a| a.as_str()),
                error: Some(&error),
                request_parameters: None,
                response_elements: None,
            };
            app.audit.record(facts.to_record()).await;
            app.metrics.record(
                service.name(),
                "unknown",
                error.status.as_u16(),
                started.elapsed(),
            );
            return error_response(protocol, &error, &request_id).map(Body::from);
        }
    };

    let ctx = RequestContext {
        request_id: request_id.clone(),
        principal,
        region: region_hint,
        source_ip,
        user_agent,
        secure_transport: tls,
        received_at,
    };
    let served = match (target, params) {
        (Ok(Some((_, operation))), _) => serve_json(&app, service, &ctx, operation, &body).await,
        (Err(error), _) => Served {
            response: error_response(protocol, &error, &request_id).map(Body::from),
            operation: "unknown".into(),
            error: Some(error),
            request_parameters: None,
        },
        (Ok(None), Some(params)) => serve_query(service, &ctx, params),
        (Ok(None), None) => {
            let error = AwsError::internal_failure();
            Served {
                response: error_response(protocol, &error, &request_id).map(Body::from),
                operation: "unknown".into(),
                error: Some(error),
                request_parameters: None,
            }
        }
    };

    let facts = CallFacts {
        request_id: &request_id,
        time: received_at,
        service,
        operation: &served.operation,
        region: &ctx.region,
        source_ip,
        user_agent: &ctx.user_agent,
        tls,
        principal: Some(&ctx.principal),
        access_key_id: None,
        account: None,
        error: served.error.as_ref(),
        request_parameters: served.request_parameters,
        response_elements: None,
    };
    app.audit.record(facts.to_record()).await;
    let status = served.response.status().as_u16();
    app.metrics
        .record(service.name(), &served.operation, status, started.elapsed());
    served.response
}

fn serve_query(
    service: Service,
    ctx: &RequestContext,
    params: Result<query::QueryParams, AwsError>,
) -> Served {
    let protocol = service.protocol();
    let fail = |operation: String, error: AwsError| Served {
        response: error_response(protocol, &error, &ctx.request_id).map(Body::from),
        operation,
        error: Some(error),
        request_parameters: None,
    };
    let params = match params {
        Ok(params) => params,
        Err(error) => return fail("unknown".into(), error),
    };
    let Some(action) = params.action().map(str::to_owned) else {
        return fail("unknown".into(), AwsError::missing_action(protocol));
    };
    let request_parameters = Some(query_parameters(&params));
    if let (Some(expected), Some(version)) = (service.api_version(), params.version())
        && expected != version
    {
        let mut served = fail(
            action.clone(),
            AwsError::invalid_action_for_version(protocol, &action, version),
        );
        served.request_parameters = request_parameters;
        return served;
    }
    let result = match service {
        Service::Sts => portcullis_iam::sts::call(ctx, &action, &params),
        _ => Err(not_implemented(service, &action)),
    };
    match result {
        Ok(response) => Served {
            response: response.map(Body::from),
            operation: action,
            error: None,
            request_parameters,
        },
        Err(error) => {
            let mut served = fail(action, error);
            served.request_parameters = request_parameters;
            served
        }
    }
}

async fn serve_json(
    app: &App,
    service: Service,
    ctx: &RequestContext,
    operation: String,
    body: &Bytes,
) -> Served {
    let protocol = service.protocol();
    let input = match json::parse_body(body) {
        Ok(input) => input,
        Err(error) => {
            return Served {
                response: error_response(protocol, &error, &ctx.request_id).map(Body::from),
                operation,
                error: Some(error),
                request_parameters: None,
            };
        }
    };
    let result = match service {
        Service::CloudTrail => cloudtrail::call(app, ctx, &operation, &input).await,
        _ => Err(not_implemented(service, &operation)),
    };
    let request_parameters = Some(input);
    match result {
        Ok(output) => Served {
            response: json::response(&ctx.request_id, &output).map(Body::from),
            operation,
            error: None,
            request_parameters,
        },
        Err(error) => Served {
            response: error_response(protocol, &error, &ctx.request_id).map(Body::from),
            operation,
            error: Some(error),
            request_parameters,
        },
    }
}

/// A service or operation Portcullis answers for but does not implement yet: said plainly.
fn not_implemented(service: Service, operation: &str) -> AwsError {
    AwsError::new(
        "NotImplemented",
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "Portcullis does not implement {}:{operation} yet",
            service.name()
        ),
    )
}

/// The query parameters as CloudTrail records them: camel-cased names, lists and maps flattened
/// as sent.
fn query_parameters(params: &query::QueryParams) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in params.iter() {
        if name == "Action" || name == "Version" || name.starts_with("X-Amz-") {
            continue;
        }
        let mut chars = name.chars();
        let camel: String = chars
            .next()
            .map(|c| c.to_ascii_lowercase())
            .into_iter()
            .chain(chars)
            .collect();
        map.insert(camel, Value::String(value.to_owned()));
    }
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, AwsError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(AwsError::request_entity_too_large(limit))
        }
        Err(e) => Err(AwsError::new(
            "IncompleteBody",
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
