//! What authorization adds to a request: a user with 6 attached AWS managed policies calls
//! `iam:GetUser`, in the steady state where the user's policy set is compiled and cached.
//! `baseline` is the same async call harness doing nothing, to subtract.
//!
//! `cargo bench -p portcullis-iam --bench authorize`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark set-up: a failure is a broken benchmark"
)]

use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use portcullis_core::{
    AccountId, Arn, Principal, PrincipalKind, RequestContext, Secret, SystemClock,
};
use portcullis_iam::{Authenticator, Authorizer, Iam, Mode};
use portcullis_store::{MasterKey, StoreLocation};

const POLICIES: [&str; 6] = [
    "ReadOnlyAccess",
    "IAMReadOnlyAccess",
    "SecurityAudit",
    "PowerUserAccess",
    "AWSKeyManagementServicePowerUser",
    "IAMFullAccess",
];

fn context(principal: Principal) -> RequestContext {
    RequestContext {
        request_id: "bench".into(),
        principal: principal.into(),
        region: "us-east-1".into(),
        source_ip: "127.0.0.1".parse().unwrap(),
        user_agent: "bench".into(),
        secure_transport: false,
        received_at: SystemTime::now(),
    }
}

fn authorize(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (authz, user) = rt.block_on(async {
        let store = portcullis_store::open(&StoreLocation::SqliteInMemory, Secret::new(vec![7; 32]))
            .await
            .unwrap();
        let master = Arc::new(MasterKey::generate().unwrap());
        let auth = Arc::new(Authenticator::new(store.clone(), master.clone(), Mode::Secure));
        let clock = Arc::new(SystemClock);
        let iam = Iam::new(store.clone(), master.clone(), auth.clone(), clock.clone());
        let account = AccountId::parse("123456789012").unwrap();
        let root = context(Principal::root(account.clone(), "AKIAROOT".into()));
        let created = iam.output(&root, "CreateUser", &json!({"UserName": "bench"})).await.unwrap();
        for name in POLICIES {
            let input = json!({"UserName": "bench", "PolicyArn": format!("arn:aws:iam::aws:policy/{name}")});
            iam.output(&root, "AttachUserPolicy", &input).await.unwrap();
        }
        let user_id = created["User"]["UserId"].as_str().unwrap().to_owned();
        let user = Principal {
            arn: Arn::new("aws", "iam", "", account.as_str(), "user/bench"),
            account,
            kind: PrincipalKind::IamUser,
            user_id,
            access_key_id: "AKIABENCHUSER0000000".into(),
            mfa_authenticated: false,
            mfa_authenticated_at: None,
            token_issued_at: None,
            tags: Default::default(),
        };
        (Authorizer::new(store, master, auth, clock), context(user))
    });
    let input: Value = json!({"UserName": "bench"});
    // The first call compiles and caches the policy set; the benchmark measures the steady state.
    rt.block_on(authz.authorize(&user, "iam", "GetUser", &input))
        .expect("GetUser is allowed");
    c.bench_function(
        "authorize iam:GetUser, user with 6 managed policies (cached)",
        |b| b.iter(|| rt.block_on(authz.authorize(&user, "iam", "GetUser", &input))),
    );
    c.bench_function("baseline: the same async harness, no authorization", |b| {
        b.iter(|| rt.block_on(async { std::hint::black_box(()) }))
    });
}

criterion_group!(benches, authorize);
criterion_main!(benches);
