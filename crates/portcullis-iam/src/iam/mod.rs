//! The IAM API (query protocol, `2010-05-08`): users, groups, roles, policies, credentials.
//!
//! Entry point: [`Iam::call`], one IAM action with its input already decoded and validated
//! against the botocore model by the server front.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use serde_json::Value;

use portcullis_aws::AwsError;
use portcullis_core::{Clock, RequestContext};
use portcullis_store::{MasterKey, Store};

use crate::Authenticator;

pub mod records;

/// The IAM service.
pub struct Iam {
    #[expect(dead_code, reason = "used as IAM operations are built")]
    store: Arc<dyn Store>,
    #[expect(dead_code, reason = "used as IAM operations are built")]
    master: Arc<MasterKey>,
    #[expect(dead_code, reason = "used as IAM operations are built")]
    auth: Arc<Authenticator>,
    #[expect(dead_code, reason = "used as IAM operations are built")]
    clock: Arc<dyn Clock>,
}

impl Iam {
    /// IAM over `store`; secrets sealed under `master`; `auth`'s key cache is told of key changes.
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

    /// Serves one IAM action.
    pub async fn call(
        &self,
        _ctx: &RequestContext,
        action: &str,
        _input: &Value,
    ) -> Result<Response<Bytes>, AwsError> {
        Err(AwsError::not_implemented(&format!("iam:{action}")))
    }
}
