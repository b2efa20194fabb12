//! The table-driven corpus: every file in `tests/corpus/` holds groups of (policy sets,
//! requests, expected decisions). Expectations come from the IAM User Guide's rules, not from
//! running the engine.
//!
//! A group's `policies` object: `identity` (list), `boundary`, `session` (list), `scp` and
//! `rcp` (lists of levels, each a list), `resource`, `resource_kind` (`resource` | `trust` |
//! `key`), `resource_owner`, `management_account`, `resource_management_account`. A case:
//! the request as `Request::from_json` reads it, plus `expect` (`Allow` | `ExplicitDeny` |
//! `ImplicitDeny`) and optionally `layer`, `message`, `missing` (context keys) and `matched`
//! (`policy-id#index`).
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a panic is a test failure"
)]

use std::path::Path;

use portcullis_policy::*;
use serde_json::Value;

fn policy(id: &str, doc: &Value, ty: PolicyType) -> Policy {
    let text = serde_json::to_string(doc).unwrap();
    Policy::parse(id, &text, ty).unwrap_or_else(|e| panic!("policy {id} invalid: {e}: {text}"))
}

fn list(v: Option<&Value>, prefix: &str, ty: PolicyType) -> Vec<Policy> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(i, d)| policy(&format!("{prefix}[{i}]"), d, ty))
                .collect()
        })
        .unwrap_or_default()
}

fn levels(v: Option<&Value>, prefix: &str, ty: PolicyType) -> Vec<Vec<Policy>> {
    v.and_then(Value::as_array)
        .map(|lv| {
            lv.iter()
                .enumerate()
                .map(|(l, p)| list(Some(p), &format!("{prefix}{l}"), ty))
                .collect()
        })
        .unwrap_or_default()
}

fn sets(p: &Value) -> (PrincipalPolicies, Option<ResourcePolicies>) {
    let principal = PrincipalPolicies {
        scp_levels: levels(p.get("scp"), "scp", PolicyType::Scp),
        identity: list(p.get("identity"), "identity", PolicyType::Identity),
        boundary: p
            .get("boundary")
            .map(|d| policy("boundary", d, PolicyType::Boundary)),
        session: list(p.get("session"), "session", PolicyType::Session),
        management_account: p
            .get("management_account")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let kind = match p.get("resource_kind").and_then(Value::as_str) {
        Some("trust") => ResourcePolicyKind::Trust,
        Some("key") => ResourcePolicyKind::Key,
        _ => ResourcePolicyKind::Resource,
    };
    let ty = match kind {
        ResourcePolicyKind::Trust => PolicyType::Trust,
        ResourcePolicyKind::Key => PolicyType::Key,
        ResourcePolicyKind::Resource => PolicyType::Resource,
    };
    let has_resource_side =
        p.get("resource").is_some() || p.get("rcp").is_some() || p.get("resource_owner").is_some();
    let resource = has_resource_side.then(|| ResourcePolicies {
        owner_account: p
            .get("resource_owner")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        policy: p.get("resource").map(|d| policy("resource", d, ty)),
        kind,
        rcp_levels: levels(p.get("rcp"), "rcp", PolicyType::Rcp),
        management_account: p
            .get("resource_management_account")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    });
    (principal, resource)
}

fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "Allow",
        Effect::ExplicitDeny => "ExplicitDeny",
        Effect::ImplicitDeny => "ImplicitDeny",
    }
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        let data: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let fname = file.file_name().unwrap().to_string_lossy().to_string();
        for group in data["groups"].as_array().unwrap() {
            let (principal, resource) = sets(&group["policies"]);
            for case in group["cases"].as_array().unwrap() {
                total += 1;
                let label = format!(
                    "{fname} / {} / {}",
                    group["name"].as_str().unwrap_or("?"),
                    case["name"].as_str().unwrap_or("?")
                );
                let request = Request::from_json(case).unwrap_or_else(|e| panic!("{label}: {e}"));
                let d = evaluate(&principal, resource.as_ref(), &request);
                let mut problems = Vec::new();
                let want = case["expect"].as_str().unwrap();
                if effect_name(d.effect) != want {
                    problems.push(format!("effect {:?}, want {want}", d.effect));
                }
                if let Some(layer) = case.get("layer").and_then(Value::as_str)
                    && format!("{:?}", d.deciding_layer) != layer
                {
                    problems.push(format!("layer {:?}, want {layer}", d.deciding_layer));
                }
                if let Some(msg) = case.get("message").and_then(Value::as_str) {
                    let got = d.access_denied_message(&request).unwrap_or_default();
                    if got != msg {
                        problems.push(format!("message {got:?}, want {msg:?}"));
                    }
                }
                if let Some(missing) = case.get("missing").and_then(Value::as_array) {
                    let got: Vec<&str> = d.missing_context_keys.iter().collect();
                    let want: Vec<&str> = missing.iter().filter_map(Value::as_str).collect();
                    if got != want {
                        problems.push(format!("missing {got:?}, want {want:?}"));
                    }
                }
                if let Some(matched) = case.get("matched").and_then(Value::as_array) {
                    let got: Vec<String> = d
                        .matched
                        .iter()
                        .map(|m| format!("{}#{}", m.policy_id, m.index))
                        .collect();
                    let want: Vec<String> = matched
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect();
                    if got != want {
                        problems.push(format!("matched {got:?}, want {want:?}"));
                    }
                }
                if !problems.is_empty() {
                    failures.push(format!("{label}: {}", problems.join("; ")));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} corpus cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        total >= 400,
        "the corpus has {total} cases; the issue asks for at least 400"
    );
}
