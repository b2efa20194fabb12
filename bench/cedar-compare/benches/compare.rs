//! portcullis-policy and cedar-policy deciding the equivalent request over the equivalent
//! policy set, in one criterion run; then allocations per decision for each.

use std::hint::black_box;
use std::sync::atomic::Ordering;

use cedar_compare::{
    ALLOCATIONS, Counting, cedar_entities, cedar_policies, cedar_request, workload,
};
use cedar_policy::{Authorizer, Decision};
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_policy::{
    ContextValue, Policy, PolicyType, PrincipalPolicies, Request, RequestPrincipal, evaluate,
};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn portcullis_set(n: usize) -> PrincipalPolicies {
    let stmts = workload::statements(n);
    let identity = workload::split(&stmts)
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            Policy::parse(
                &format!("managed-{i}"),
                &workload::iam_json(chunk),
                PolicyType::Identity,
            )
            .unwrap()
        })
        .collect();
    PrincipalPolicies {
        identity,
        boundary: Some(
            Policy::parse("boundary", workload::BOUNDARY, PolicyType::Boundary).unwrap(),
        ),
        scp_levels: vec![
            vec![Policy::parse("scp-root", workload::SCP_ROOT, PolicyType::Scp).unwrap()],
            vec![Policy::parse("scp-ou", workload::SCP_OU, PolicyType::Scp).unwrap()],
            vec![Policy::parse("scp-account", workload::SCP_ACCOUNT, PolicyType::Scp).unwrap()],
        ],
        ..Default::default()
    }
}

fn portcullis_request(action: &str, resource: &str) -> Request {
    Request::new(
        RequestPrincipal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap(),
        action,
        resource,
    )
    .with_context("aws:PrincipalTag/team", ContextValue::string("dev"))
    .with_context("aws:SourceIp", ContextValue::string("10.1.2.3"))
    .with_context("aws:RequestedRegion", ContextValue::string("us-east-1"))
}

fn allocations<F: FnMut()>(mut f: F) -> f64 {
    let runs = 1000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..runs {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / runs as f64
}

fn bench(c: &mut Criterion) {
    let authorizer = Authorizer::new();
    let entities = cedar_entities();
    for (name, n) in [
        ("typical_40_statements", 40),
        ("large_1000_statements", 1000),
    ] {
        let (action, resource) = workload::request_target(n);
        let p_set = portcullis_set(n);
        let p_req = portcullis_request(&action, &resource);
        let c_set = cedar_policies(n);
        let c_req = cedar_request(&action, &resource);
        assert!(evaluate(&p_set, None, &p_req).is_allowed());
        assert_eq!(
            authorizer
                .is_authorized(&c_req, &c_set, &entities)
                .decision(),
            Decision::Allow
        );
        let p_denied = portcullis_request("iam:CreateUser", "arn:aws:iam::111122223333:user/x");
        let c_denied = cedar_request("iam:CreateUser", "arn:aws:iam::111122223333:user/x");
        assert!(!evaluate(&p_set, None, &p_denied).is_allowed());
        assert_eq!(
            authorizer
                .is_authorized(&c_denied, &c_set, &entities)
                .decision(),
            Decision::Deny
        );

        let mut g = c.benchmark_group(name);
        g.bench_function("portcullis_allow", |b| {
            b.iter(|| evaluate(black_box(&p_set), None, black_box(&p_req)).effect)
        });
        g.bench_function("cedar_allow", |b| {
            b.iter(|| {
                authorizer
                    .is_authorized(black_box(&c_req), black_box(&c_set), black_box(&entities))
                    .decision()
            })
        });
        g.bench_function("portcullis_deny", |b| {
            b.iter(|| evaluate(black_box(&p_set), None, black_box(&p_denied)).effect)
        });
        g.bench_function("cedar_deny", |b| {
            b.iter(|| {
                authorizer
                    .is_authorized(
                        black_box(&c_denied),
                        black_box(&c_set),
                        black_box(&entities),
                    )
                    .decision()
            })
        });
        g.finish();

        let pa = allocations(|| {
            black_box(evaluate(&p_set, None, &p_req).effect);
        });
        let ca = allocations(|| {
            black_box(
                authorizer
                    .is_authorized(&c_req, &c_set, &entities)
                    .decision(),
            );
        });
        println!("{name}: allocations per decision: portcullis {pa:.1}, cedar {ca:.1}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
