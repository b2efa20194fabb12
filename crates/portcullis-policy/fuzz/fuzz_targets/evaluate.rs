//! Compile any document the parser accepts (and any it only half accepts) and evaluate
//! requests built from the rest of the input: no panic, bounded time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_policy::{
    ContextValue, Policy, PolicyType, PrincipalPolicies, Request, RequestPrincipal,
    ResourcePolicies, evaluate, parse,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Layout: policy JSON, then lines: action, resource, context value.
    let mut parts = text.splitn(4, '\n');
    let policy_text = parts.next().unwrap_or("");
    let action = parts.next().unwrap_or("s3:GetObject");
    let resource = parts.next().unwrap_or("*");
    let value = parts.next().unwrap_or("");
    // Compile even documents with findings, as a caller bypassing validation could.
    let Some(doc) = parse(policy_text, PolicyType::Resource).document else {
        return;
    };
    let identity = Policy::compile("fuzz", &doc, PolicyType::Identity);
    let resource_policy = Policy::compile("fuzz-resource", &doc, PolicyType::Resource);
    let set = PrincipalPolicies {
        identity: vec![identity.clone()],
        boundary: Some(identity.clone()),
        session: vec![identity.clone()],
        scp_levels: vec![vec![identity]],
        management_account: false,
    };
    let res = ResourcePolicies {
        owner_account: "111122223333".into(),
        policy: Some(resource_policy.clone()),
        rcp_levels: vec![vec![resource_policy]],
        ..Default::default()
    };
    for principal in [
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:sts::111122223333:assumed-role/r/s",
        "arn:aws:iam::444455556666:root",
    ] {
        let Some(p) = RequestPrincipal::from_arn(principal) else {
            continue;
        };
        let mut r = Request::new(p, action, resource);
        for key in [
            "aws:SourceIp",
            "aws:CurrentTime",
            "aws:TagKeys",
            "aws:username",
            "s3:prefix",
            "k:k",
        ] {
            r = r.with_context(key, ContextValue::string(value));
        }
        r = r.with_context(
            "aws:PrincipalTag/team",
            ContextValue::strings(value.split(',')),
        );
        let d = evaluate(&set, Some(&res), &r);
        let _ = d.access_denied_message(&r);
    }
});
