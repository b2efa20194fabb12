//! Authorization of every API call: gathers the policies that apply to a request and asks the
//! policy engine (`portcullis-policy`) for AWS's decision.

use std::sync::Arc;

use serde_json::Value;

use portcullis_aws::AwsError;
use portcullis_core::RequestContext;
use portcullis_store::Store;

/// Decides whether a principal may make a call.
pub struct Authorizer {
    #[expect(dead_code, reason = "used as authorization is built")]
    store: Arc<dyn Store>,
}

impl Authorizer {
    /// An authorizer reading entities and policies from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Ok when `ctx.principal` may call `service:operation` with `input` (decoded and validated);
    /// otherwise the AccessDenied error of the service's protocol.
    ///
    /// Until IAM entities exist every principal is an account root user, which AWS allows
    /// everything in its own account.
    pub async fn authorize(
        &self,
        _ctx: &RequestContext,
        _service: &str,
        _operation: &str,
        _input: &Value,
    ) -> Result<(), AwsError> {
        Ok(())
    }
}
