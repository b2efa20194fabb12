//! Shared setup: a Kms over an in-memory SQLite store, a fixed clock, and request contexts.

#![allow(dead_code)]
// Test support: a failed setup or an unexpected answer should stop the test with a message.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use portcullis_aws::AwsError;
use portcullis_core::{AccountId, Arn, FixedClock, Principal, PrincipalKind, RequestContext};
use portcullis_kms::{AccessRequest, AccountOnlyAccess, KeyAccess, Kms};
use portcullis_policy::{
    ContextValue, Policy, PolicyType, PrincipalPolicies, Request, RequestPrincipal,
    ResourcePolicies, ResourcePolicyKind, evaluate,
};
use portcullis_store::{BoxFuture, MasterKey, StoreLocation};
use serde_json::Value;

pub const OWNER: &str = "111122223333";
pub const OTHER: &str = "444455556666";

pub struct Env {
    pub kms: Kms,
    pub clock: Arc<FixedClock>,
}

pub async fn env() -> Env {
    env_with(Arc::new(AccountOnlyAccess)).await
}

/// A KMS whose authorization is `access`.
pub async fn env_with(access: Arc<dyn KeyAccess>) -> Env {
    let master = Arc::new(MasterKey::generate().unwrap());
    let store =
        portcullis_store::open(&StoreLocation::SqliteInMemory, master.derive("audit-chain"))
            .await
            .unwrap();
    let clock = Arc::new(FixedClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000),
    ));
    let kms = Kms::new(store, master, access, clock.clone());
    Env { kms, clock }
}

/// Key policies decided by the policy engine, with no IAM policies: what a principal may do is
/// what the key policy allows it (enough to test what KMS passes to the engine). Calls with no
/// key allow the caller's own account.
pub struct KeyPolicyOnly;

impl KeyAccess for KeyPolicyOnly {
    fn authorize<'a>(
        &'a self,
        request: &'a AccessRequest<'a>,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let ctx = request.request_context();
            let action = request.action();
            let denied = || portcullis_kms::access_denied(ctx, &action, request.resource());
            if request.key_policy().is_empty() {
                return if request.resource_account() == ctx.principal.account.as_str() {
                    Ok(())
                } else {
                    Err(denied())
                };
            }
            let policy =
                Policy::parse(request.resource(), request.key_policy(), PolicyType::Key).unwrap();
            let resource = ResourcePolicies {
                owner_account: request.resource_account().to_owned(),
                policy: Some(policy),
                kind: ResourcePolicyKind::Key,
                rcp_levels: Vec::new(),
                management_account: false,
            };
            let principal = RequestPrincipal::from_arn(ctx.principal.arn.as_str()).unwrap();
            let mut engine_request = Request::new(principal, action.clone(), request.resource());
            for (k, v) in request.conditions().await? {
                let value = if k == "kms:ResourceAliases" || v.len() != 1 {
                    ContextValue::strings(v)
                } else {
                    ContextValue::string(v[0].clone())
                };
                engine_request = engine_request.with_context(&k, value);
            }
            let nothing = PrincipalPolicies::default();
            let decision = evaluate(&nothing, Some(&resource), &engine_request);
            if decision.is_allowed() {
                Ok(())
            } else {
                Err(denied())
            }
        })
    }
}

pub fn root(account: &str) -> RequestContext {
    let principal = Principal::root(AccountId::parse(account).unwrap(), "AKIATEST".into());
    context(principal)
}

pub fn user(account: &str, name: &str) -> RequestContext {
    let mut principal = Principal::root(AccountId::parse(account).unwrap(), "AKIATEST".into());
    principal.kind = PrincipalKind::IamUser;
    principal.arn = Arn::new("aws", "iam", "", account, &format!("user/{name}"));
    context(principal)
}

fn context(principal: Principal) -> RequestContext {
    RequestContext {
        request_id: "req".into(),
        principal: principal.into(),
        region: "us-east-1".into(),
        source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        user_agent: "test".into(),
        secure_transport: true,
        received_at: SystemTime::now(),
    }
}

impl Env {
    pub async fn call(
        &self,
        ctx: &RequestContext,
        op: &str,
        input: Value,
    ) -> Result<Value, AwsError> {
        self.kms.call(ctx, op, input).await
    }

    pub async fn ok(&self, ctx: &RequestContext, op: &str, input: Value) -> Value {
        match self.call(ctx, op, input).await {
            Ok(v) => v,
            Err(e) => panic!("{op} failed: {e}"),
        }
    }

    pub async fn err(&self, ctx: &RequestContext, op: &str, input: Value) -> AwsError {
        match self.call(ctx, op, input).await {
            Ok(v) => panic!("{op} unexpectedly succeeded: {v}"),
            Err(e) => e,
        }
    }

    /// Creates a key and returns its id.
    pub async fn create(&self, ctx: &RequestContext, input: Value) -> String {
        let out = self.ok(ctx, "CreateKey", input).await;
        out["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}
