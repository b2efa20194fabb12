//! AWS Security Token Service (query protocol, `2011-06-15`).

use bytes::Bytes;
use http::Response;

use portcullis_aws::{AwsError, Protocol, query};
use portcullis_core::RequestContext;
use serde_json::Value;

/// STS's XML namespace.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// STS's query protocol.
pub const PROTOCOL: Protocol = Protocol::Query { xmlns: XMLNS };

/// Serves one STS action. `input` has been decoded and validated against the operation's
/// input shape by the front.
pub fn call(
    ctx: &RequestContext,
    action: &str,
    _input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    match action {
        "GetCallerIdentity" => Ok(get_caller_identity(ctx)),
        other => Err(AwsError::not_implemented(&format!("sts:{other}"))),
    }
}

/// `GetCallerIdentity`: who signed this request. Needs no permission, as in AWS.
fn get_caller_identity(ctx: &RequestContext) -> Response<Bytes> {
    let principal = &ctx.principal;
    query::response("GetCallerIdentity", XMLNS, &ctx.request_id, |xml| {
        xml.text_element("UserId", &principal.user_id);
        xml.text_element("Account", principal.account.as_str());
        xml.text_element("Arn", principal.arn.as_str());
    })
}
