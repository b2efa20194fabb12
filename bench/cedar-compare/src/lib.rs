//! The Cedar side of the comparison: the portcullis benchmark workload rendered as Cedar
//! policies with the same meaning, and a counting allocator to check allocation per decision.
//!
//! Mapping: each IAM Allow statement becomes a `permit` for the user's groups whose `when`
//! clause tests the action and resource patterns (`like`, as IAM wildcards), the team tag and
//! the source IP range; the permissions boundary and the SCP levels become `forbid ... unless`
//! policies (a layer that must allow is a forbid of whatever it does not allow).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use cedar_policy::{
    Context, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression,
};

#[path = "../../../crates/portcullis-policy/benches/workload.rs"]
pub mod workload;

/// Counts heap allocations (the benchmark installs it as the global allocator).
pub struct Counting;

/// Allocations so far.
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn cedar_like(pattern: &str) -> String {
    // IAM `?` has no Cedar equivalent; the workload does not use it.
    pattern.replace('"', "\\\"")
}

/// The Cedar policy set equivalent to `workload::statements(n)` + boundary + SCPs.
pub fn cedar_policies(n: usize) -> PolicySet {
    let mut text = String::new();
    for (i, s) in workload::statements(n).iter().enumerate() {
        let group = if i % 2 == 0 { "g1" } else { "g2" };
        let actions: Vec<String> = s
            .actions
            .iter()
            .map(|a| format!("context.action like \"{}\"", cedar_like(a)))
            .collect();
        text.push_str(&format!(
            "@id(\"S{i}\") permit(principal in Group::\"{group}\", action == Action::\"call\", resource) when {{ ({}) && context.resource like \"{}\" && context.team == \"{}\" && context.source_ip.isInRange(ip(\"{}\")) }};\n",
            actions.join(" || "),
            cedar_like(&s.resource),
            s.team,
            s.cidr
        ));
    }
    // Permissions boundary: allows the five services.
    text.push_str("@id(\"boundary\") forbid(principal, action, resource) unless { context.action like \"s3:*\" || context.action like \"dynamodb:*\" || context.action like \"sqs:*\" || context.action like \"sns:*\" || context.action like \"ec2:*\" };\n");
    // SCP OU level: region deny. SCP account level: allow-list. (The root level allows all.)
    text.push_str("@id(\"scp-ou\") forbid(principal, action, resource) unless { context.region == \"us-east-1\" || context.region == \"eu-west-1\" };\n");
    text.push_str("@id(\"scp-account\") forbid(principal, action, resource) unless { context.action like \"s3:*\" || context.action like \"dynamodb:*\" || context.action like \"sqs:*\" || context.action like \"sns:*\" || context.action like \"ec2:*\" || context.action like \"iam:*\" };\n");
    PolicySet::from_str(&text).unwrap_or_else(|e| panic!("cedar policies: {e}"))
}

/// The user, member of two groups.
pub fn cedar_entities() -> Entities {
    let uid = |s: &str| EntityUid::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    let user = Entity::new(
        uid(r#"User::"alice""#),
        HashMap::new(),
        HashSet::from([uid(r#"Group::"g1""#), uid(r#"Group::"g2""#)]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let groups =
        ["g1", "g2"].map(|g| Entity::new_no_attrs(uid(&format!("Group::\"{g}\"")), HashSet::new()));
    Entities::from_entities([user, groups[0].clone(), groups[1].clone()], None)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The request equivalent to the portcullis bench request.
pub fn cedar_request(action: &str, resource: &str) -> Request {
    let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
    let ctx = Context::from_pairs([
        ("action".to_owned(), s(action)),
        ("resource".to_owned(), s(resource)),
        ("team".to_owned(), s("dev")),
        ("region".to_owned(), s("us-east-1")),
        (
            "source_ip".to_owned(),
            RestrictedExpression::from_str("ip(\"10.1.2.3\")").unwrap_or_else(|e| panic!("{e}")),
        ),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let uid = |s: &str| EntityUid::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    Request::new(
        uid(r#"User::"alice""#),
        uid(r#"Action::"call""#),
        uid(r#"Resource::"r""#),
        ctx,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}
