//! Property tests of the evaluation logic over random policy sets and requests:
//! adding a Deny never grants, removing an Allow never grants, SCPs and RCPs only narrow,
//! statement and policy order never matter, and nothing panics.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a panic is a test failure"
)]

use portcullis_policy::*;
use proptest::prelude::*;
use serde_json::{Value, json};

const ACTIONS: [&str; 6] = [
    "*",
    "s3:*",
    "s3:Get*",
    "s3:GetObject",
    "iam:*User",
    "ec2:Describe?nstances",
];
const RESOURCES: [&str; 5] = [
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::bucket/a*",
    "arn:aws:iam::111122223333:user/*",
    "arn:aws:s3:::other",
];
const PRINCIPALS: [&str; 4] = [
    "*",
    "111122223333",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::444455556666:root",
];
const CONDITIONS: [(&str, &str, &str); 5] = [
    ("StringEquals", "aws:PrincipalTag/team", "dev"),
    ("StringNotEquals", "aws:PrincipalTag/team", "dev"),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8"),
    ("BoolIfExists", "aws:SecureTransport", "true"),
    ("ForAnyValue:StringLike", "aws:TagKeys", "t*"),
];

#[derive(Debug, Clone)]
struct Stmt {
    allow: bool,
    action: usize,
    not_action: bool,
    resource: usize,
    principal: usize,
    condition: Option<usize>,
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        any::<bool>(),
        0..ACTIONS.len(),
        prop::bool::weighted(0.1),
        0..RESOURCES.len(),
        0..PRINCIPALS.len(),
        prop::option::of(0..CONDITIONS.len()),
    )
        .prop_map(
            |(allow, action, not_action, resource, principal, condition)| Stmt {
                allow,
                action,
                not_action,
                resource,
                principal,
                condition,
            },
        )
}

fn to_json(s: &Stmt, with_principal: bool) -> Value {
    let mut v = json!({ "Effect": if s.allow { "Allow" } else { "Deny" }, "Resource": RESOURCES[s.resource] });
    v[if s.not_action { "NotAction" } else { "Action" }] = json!(ACTIONS[s.action]);
    if with_principal {
        v["Principal"] = if s.principal == 0 {
            json!("*")
        } else {
            json!({ "AWS": PRINCIPALS[s.principal] })
        };
    }
    if let Some(c) = s.condition {
        let (op, key, val) = CONDITIONS[c];
        v["Condition"] = json!({ op: { key: val } });
    }
    v
}

fn policy(id: &str, stmts: &[Stmt], ty: PolicyType) -> Policy {
    let with_principal = matches!(ty, PolicyType::Resource);
    let doc = json!({ "Version": "2012-10-17", "Statement": stmts.iter().map(|s| to_json(s, with_principal)).collect::<Vec<_>>() });
    Policy::parse(id, &doc.to_string(), ty).unwrap()
}

#[derive(Debug, Clone)]
struct Spec {
    identity: Vec<Vec<Stmt>>,
    boundary: Option<Vec<Stmt>>,
    session: Vec<Vec<Stmt>>,
    scp: Vec<Vec<Vec<Stmt>>>,
    resource: Option<Vec<Stmt>>,
    owner_is_other: bool,
}

fn stmts(max: usize) -> impl Strategy<Value = Vec<Stmt>> {
    prop::collection::vec(stmt(), 1..=max)
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(stmts(4), 0..3),
        prop::option::of(stmts(3)),
        prop::collection::vec(stmts(2), 0..2),
        prop::collection::vec(prop::collection::vec(stmts(2), 1..2), 0..3),
        prop::option::of(stmts(3)),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(identity, boundary, session, scp, resource, owner_is_other)| Spec {
                identity,
                boundary,
                session,
                scp,
                resource,
                owner_is_other,
            },
        )
}

fn build(s: &Spec) -> (PrincipalPolicies, ResourcePolicies) {
    let p = PrincipalPolicies {
        scp_levels: s
            .scp
            .iter()
            .map(|lvl| {
                lvl.iter()
                    .map(|st| policy("scp", st, PolicyType::Scp))
                    .collect()
            })
            .collect(),
        identity: s
            .identity
            .iter()
            .map(|st| policy("id", st, PolicyType::Identity))
            .collect(),
        boundary: s
            .boundary
            .as_ref()
            .map(|st| policy("boundary", st, PolicyType::Boundary)),
        session: s
            .session
            .iter()
            .map(|st| policy("session", st, PolicyType::Session))
            .collect(),
        management_account: false,
    };
    let r = ResourcePolicies {
        owner_account: if s.owner_is_other {
            "444455556666"
        } else {
            "111122223333"
        }
        .to_owned(),
        policy: s
            .resource
            .as_ref()
            .map(|st| policy("resource", st, PolicyType::Resource)),
        ..Default::default()
    };
    (p, r)
}

fn request() -> impl Strategy<Value = Request> {
    let principals = prop::sample::select(vec![
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:user/bob",
        "arn:aws:sts::111122223333:assumed-role/app/s1",
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::444455556666:user/alice",
    ]);
    let actions = prop::sample::select(vec![
        "s3:GetObject",
        "s3:PutObject",
        "iam:CreateUser",
        "ec2:DescribeInstances",
        "sqs:SendMessage",
    ]);
    let resources = prop::sample::select(vec![
        "arn:aws:s3:::bucket/a1",
        "arn:aws:s3:::bucket/b",
        "arn:aws:iam::111122223333:user/x",
        "arn:aws:s3:::other",
        "*",
    ]);
    (principals, actions, resources, any::<[bool; 4]>()).prop_map(|(p, a, r, ctx)| {
        let mut req = Request::new(RequestPrincipal::from_arn(p).unwrap(), a, r);
        if ctx[0] {
            req = req.with_context("aws:PrincipalTag/team", ContextValue::string("dev"));
        }
        if ctx[1] {
            req = req.with_context(
                "aws:SourceIp",
                ContextValue::string(if ctx[2] { "10.1.2.3" } else { "8.8.8.8" }),
            );
        }
        if ctx[3] {
            req = req.with_context("aws:TagKeys", ContextValue::strings(["team", "x"]));
        }
        req
    })
}

fn allowed(s: &Spec, r: &Request) -> bool {
    let (p, res) = build(s);
    evaluate(&p, Some(&res), r).is_allowed()
}

fn deny_stmt() -> impl Strategy<Value = Stmt> {
    stmt().prop_map(|mut s| {
        s.allow = false;
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn adding_a_deny_never_grants(s in spec(), r in request(), d in deny_stmt(), layer in 0..5usize) {
        let before = allowed(&s, &r);
        let mut t = s.clone();
        match layer {
            0 => t.identity.push(vec![d]),
            1 => t.boundary.get_or_insert_with(Vec::new).push(d),
            2 => t.session.push(vec![d]),
            3 => t.scp.push(vec![vec![d]]),
            _ => t.resource.get_or_insert_with(Vec::new).push(d),
        }
        // A new boundary or session policy made only of a Deny also narrows; either way:
        prop_assert!(!allowed(&t, &r) || before);
    }

    #[test]
    fn removing_an_allow_never_grants(s in spec(), r in request(), pick in any::<prop::sample::Index>()) {
        let before = allowed(&s, &r);
        let mut t = s.clone();
        // Collect every (list, index) of an Allow and remove one.
        let mut slots: Vec<(usize, usize, usize)> = Vec::new();
        for (i, p) in t.identity.iter().enumerate() { for (j, st) in p.iter().enumerate() { if st.allow { slots.push((0, i, j)); } } }
        if let Some(p) = &t.resource { for (j, st) in p.iter().enumerate() { if st.allow { slots.push((1, 0, j)); } } }
        if slots.is_empty() { return Ok(()); }
        let (kind, i, j) = slots[pick.index(slots.len())];
        match kind {
            0 => { t.identity[i].remove(j); }
            _ => { t.resource.as_mut().unwrap().remove(j); }
        }
        t.identity.retain(|p| !p.is_empty());
        if t.resource.as_ref().is_some_and(Vec::is_empty) { t.resource = None; }
        prop_assert!(!allowed(&t, &r) || before);
    }

    #[test]
    fn scps_only_narrow(s in spec(), r in request()) {
        let mut without = s.clone();
        without.scp.clear();
        prop_assert!(!allowed(&s, &r) || allowed(&without, &r));
    }

    #[test]
    fn order_never_matters(s in spec(), r in request(), seed in any::<u64>()) {
        let (p, res) = build(&s);
        let a = evaluate(&p, Some(&res), &r);
        let mut t = s.clone();
        let mut rng = seed;
        let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (rng >> 33) as usize };
        for pol in &mut t.identity { let n = pol.len(); for i in (1..n).rev() { pol.swap(i, next() % (i + 1)); } }
        let n = t.identity.len();
        for i in (1..n).rev() { t.identity.swap(i, next() % (i + 1)); }
        if let Some(rp) = &mut t.resource { rp.reverse(); }
        for lvl in &mut t.scp { for pol in lvl { pol.reverse(); } }
        let (p2, res2) = build(&t);
        let b = evaluate(&p2, Some(&res2), &r);
        prop_assert_eq!(a.effect, b.effect);
        prop_assert_eq!(a.deciding_layer, b.deciding_layer);
    }

    #[test]
    fn parse_never_panics(text in ".{0,200}") {
        for ty in [PolicyType::Identity, PolicyType::Resource, PolicyType::Trust, PolicyType::Scp] {
            let _ = parse(&text, ty);
        }
    }

    #[test]
    fn patterns_never_panic(pat in "[a-z*?$:{}/ ,']{0,30}", text in "[a-z:/*?]{0,30}") {
        let doc = json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*",
            "Condition":{"StringLike":{"k:x": pat.clone()},"ArnLike":{"k:y": pat}}}});
        if let Ok(p) = Policy::parse("p", &doc.to_string(), PolicyType::Identity) {
            let set = PrincipalPolicies { identity: vec![p], ..Default::default() };
            let r = Request::new(RequestPrincipal::from_arn("arn:aws:iam::111122223333:user/a").unwrap(), "s3:X", "*")
                .with_context("k:x", ContextValue::string(text.clone()))
                .with_context("k:y", ContextValue::string(text));
            let _ = evaluate(&set, None, &r);
        }
    }
}
