//! Decision latency: a typical principal (40 statements in 6 managed policies, a boundary,
//! 3 SCP levels) and a 1,000-statement set, compiled once, evaluated per iteration.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "benchmark setup on fixed data"
)]

mod workload;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_policy::{
    ContextValue, Policy, PolicyType, PrincipalPolicies, Request, RequestPrincipal, evaluate,
};

fn set(n: usize) -> PrincipalPolicies {
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

fn request(n: usize) -> Request {
    let (action, resource) = workload::request_target(n);
    Request::new(
        RequestPrincipal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap(),
        action,
        resource,
    )
    .with_context("aws:PrincipalTag/team", ContextValue::string("dev"))
    .with_context("aws:SourceIp", ContextValue::string("10.1.2.3"))
    .with_context("aws:RequestedRegion", ContextValue::string("us-east-1"))
}

fn bench(c: &mut Criterion) {
    for (name, n) in [
        ("typical_40_statements", 40),
        ("large_1000_statements", 1000),
    ] {
        let policies = set(n);
        let req = request(n);
        assert!(evaluate(&policies, None, &req).is_allowed());
        c.bench_function(&format!("portcullis/{name}"), |b| {
            b.iter(|| evaluate(black_box(&policies), None, black_box(&req)).effect)
        });
        let denied = Request::new(
            req.principal().clone(),
            "iam:CreateUser",
            "arn:aws:iam::111122223333:user/x",
        )
        .with_full_context(req.context().clone());
        c.bench_function(&format!("portcullis/{name}_denied"), |b| {
            b.iter(|| evaluate(black_box(&policies), None, black_box(&denied)).effect)
        });
    }
    // The typical principal's 40 statements as its 6 managed policies (one 40-statement
    // document would exceed the 6,144-character managed policy quota and fail validation).
    let stmts = workload::statements(40);
    let texts: Vec<String> = workload::split(&stmts)
        .iter()
        .map(|chunk| workload::iam_json(chunk))
        .collect();
    c.bench_function("portcullis/parse_compile_40_statements", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| {
                    Policy::parse("p", black_box(t), PolicyType::Identity)
                        .unwrap()
                        .len()
                })
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
