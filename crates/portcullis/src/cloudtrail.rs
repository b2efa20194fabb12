//! CloudTrail `LookupEvents` over the audit trail, so that `aws cloudtrail lookup-events` works.
//!
//! As in AWS, a caller sees the management events of its own account, newest first, at most 50
//! a page, filtered by at most one lookup attribute and a time range.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::StatusCode;
use serde_json::{Value, json};

use portcullis_aws::AwsError;
use portcullis_core::RequestContext;
use portcullis_store::AuditQuery;

use crate::App;

const MAX_RESULTS: usize = 50;

/// Serves one CloudTrail operation.
pub async fn call(
    app: &App,
    ctx: &RequestContext,
    operation: &str,
    input: &Value,
) -> Result<Value, AwsError> {
    match operation {
        "LookupEvents" => lookup_events(app, ctx, input).await,
        other => Err(AwsError::new(
            "NotImplemented",
            StatusCode::NOT_IMPLEMENTED,
            format!("Portcullis does not implement cloudtrail:{other} yet"),
        )),
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::new(code, StatusCode::BAD_REQUEST, message)
}

async fn lookup_events(app: &App, ctx: &RequestContext, input: &Value) -> Result<Value, AwsError> {
    let mut query = AuditQuery {
        account: Some(ctx.principal.account.as_str().to_owned()),
        limit: MAX_RESULTS,
        ..AuditQuery::default()
    };
    if let Some(max) = input.get("MaxResults") {
        let max = max
            .as_u64()
            .filter(|m| (1..=MAX_RESULTS as u64).contains(m))
            .ok_or_else(|| {
                invalid(
                    "InvalidMaxResultsException",
                    "Value for MaxResults is invalid. It must be between 1 and 50.",
                )
            })?;
        query.limit = usize::try_from(max).unwrap_or(MAX_RESULTS);
    }
    query.start = time_member(input, "StartTime")?;
    query.end = time_member(input, "EndTime")?;
    if let (Some(start), Some(end)) = (query.start, query.end)
        && start > end
    {
        return Err(invalid(
            "InvalidTimeRangeException",
            "Start time must be before end time.",
        ));
    }
    if let Some(attributes) = input.get("LookupAttributes") {
        let attributes = attributes.as_array().ok_or_else(|| {
            invalid(
                "InvalidLookupAttributesException",
                "LookupAttributes must be a list.",
            )
        })?;
        if attributes.len() > 1 {
            return Err(invalid(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute.",
            ));
        }
        if let Some(attribute) = attributes.first() {
            let key = attribute
                .get("AttributeKey")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let value = attribute
                .get("AttributeValue")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match key {
                "EventId" => query.event_id = Some(value),
                "EventName" => query.event_name = Some(value),
                "EventSource" => query.event_source = Some(value),
                "Username" | "AccessKeyId" => query.principal = Some(value),
                "ReadOnly" => query.read_only = Some(value.eq_ignore_ascii_case("true")),
                // No event records resources yet, so nothing matches a resource filter.
                "ResourceType" | "ResourceName" => return Ok(json!({ "Events": [] })),
                other => {
                    return Err(invalid(
                        "InvalidLookupAttributesException",
                        format!("Lookup attribute key {other:?} is not supported."),
                    ));
                }
            }
        }
    }
    if let Some(token) = input.get("NextToken").and_then(Value::as_str) {
        query.before_seq = Some(decode_token(token)?);
    }
    let limit = query.limit;
    app.audit.flush().await;
    let records = app.store.query_audit(query).await.map_err(|e| {
        tracing::error!(error = %e, "audit query failed");
        AwsError::internal_failure()
    })?;
    let events: Vec<Value> = records
        .iter()
        .map(|r| {
            let time = r
                .event_time
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut event = serde_json::Map::new();
            event.insert("EventId".into(), json!(r.event_id));
            event.insert("EventName".into(), json!(r.event_name));
            event.insert(
                "ReadOnly".into(),
                json!(if r.read_only { "true" } else { "false" }),
            );
            if let Some(key) = &r.access_key_id {
                event.insert("AccessKeyId".into(), json!(key));
            }
            event.insert("EventTime".into(), json!(time));
            event.insert("EventSource".into(), json!(r.event_source));
            if let Some(name) = &r.username {
                event.insert("Username".into(), json!(name));
            }
            event.insert("Resources".into(), json!([]));
            event.insert(
                "CloudTrailEvent".into(),
                json!(crate::audit::cloudtrail_json(r)),
            );
            Value::Object(event)
        })
        .collect();
    let mut output = serde_json::Map::new();
    output.insert("Events".into(), Value::Array(events));
    if records.len() == limit
        && let Some(last) = records.last()
    {
        output.insert("NextToken".into(), json!(B64.encode(last.seq.to_string())));
    }
    Ok(Value::Object(output))
}

fn time_member(input: &Value, name: &str) -> Result<Option<SystemTime>, AwsError> {
    let Some(value) = input.get(name) else {
        return Ok(None);
    };
    let secs = value
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            invalid(
                "InvalidTimeRangeException",
                format!("{name} is not a valid time."),
            )
        })?;
    Ok(Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs)))
}

fn decode_token(token: &str) -> Result<i64, AwsError> {
    B64.decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            invalid(
                "InvalidNextTokenException",
                "A token that is not valid was provided.",
            )
        })
}
