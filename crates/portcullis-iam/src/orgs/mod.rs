//! AWS Organizations (JSON 1.1, `AWSOrganizationsV20161128`): accounts, organizational units,
//! and the service and resource control policies the authorizer enforces.

use std::sync::Arc;

use serde_json::Value;

use portcullis_aws::AwsError;
use portcullis_core::{AccountId, Clock, RequestContext};
use portcullis_store::{BoxFuture, MasterKey, Store};

use crate::authz::{ScpLevels, ServiceControlPolicies};
use crate::{Authenticator, IamError};

/// The Organizations service.
pub struct Organizations {
    #[expect(dead_code, reason = "used as Organizations operations are built")]
    store: Arc<dyn Store>,
    #[expect(dead_code, reason = "used as Organizations operations are built")]
    master: Arc<MasterKey>,
    #[expect(dead_code, reason = "used as Organizations operations are built")]
    auth: Arc<Authenticator>,
    #[expect(dead_code, reason = "used as Organizations operations are built")]
    clock: Arc<dyn Clock>,
}

impl Organizations {
    /// Organizations over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        master: Arc<MasterKey>,
        auth: Arc<Authenticator>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            master,
            auth,
            clock,
        }
    }

    /// Serves one Organizations operation (input decoded and validated by the front).
    pub async fn call(
        &self,
        _ctx: &RequestContext,
        operation: &str,
        _input: &Value,
    ) -> Result<Value, AwsError> {
        Err(AwsError::not_implemented(&format!(
            "organizations:{operation}"
        )))
    }
}

/// The SCPs of accounts, read from the organizations in the store; plugged into the authorizer.
pub struct OrganizationPolicies {
    #[expect(dead_code, reason = "used as Organizations operations are built")]
    store: Arc<dyn Store>,
}

impl OrganizationPolicies {
    /// SCP levels read from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

impl ServiceControlPolicies for OrganizationPolicies {
    fn levels<'a>(
        &'a self,
        _account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        Box::pin(async { Ok(None) })
    }
}
