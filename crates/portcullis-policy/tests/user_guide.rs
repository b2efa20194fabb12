//! Examples from the IAM User Guide's policy pages whose outcome the guide states, restated
//! as tests (names and values shortened; the structure and the stated outcome are the guide's).
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a panic is a test failure"
)]

use portcullis_policy::*;

const ACCT: &str = "123456789012";

fn p(id: &str, ty: PolicyType, text: &str) -> Policy {
    Policy::parse(id, text, ty).unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn user(name: &str) -> RequestPrincipal {
    RequestPrincipal::from_arn(&format!("arn:aws:iam::{ACCT}:user/{name}")).unwrap()
}

fn decide(set: &PrincipalPolicies, res: Option<&ResourcePolicies>, r: &Request) -> Effect {
    evaluate(set, res, r).effect
}

/// "Policy evaluation for requests within a single account": an identity policy allowing the
/// user's own bucket and denying every bucket with `log` in its name; a bucket policy on the
/// user's bucket. Saving to the `-logs` bucket is denied by the identity policy's deny.
#[test]
fn single_account_example_deny_on_log_buckets() {
    let identity = p(
        "carlos-policy",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"AllowS3ListRead","Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListAllMyBuckets"],"Resource":"arn:aws:s3:::*"},
        {"Sid":"AllowS3Self","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::bucket-carlos/*","arn:aws:s3:::bucket-carlos"]},
        {"Sid":"DenyS3Logs","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::*log*"}]}"#,
    );
    let bucket = p(
        "bucket-policy",
        PolicyType::Resource,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::123456789012:user/carlos"},"Action":"s3:*",
        "Resource":["arn:aws:s3:::bucket-carlos","arn:aws:s3:::bucket-carlos/*"]}]}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![identity],
        ..Default::default()
    };
    let res = ResourcePolicies {
        owner_account: ACCT.into(),
        policy: Some(bucket),
        ..Default::default()
    };
    let to_logs = Request::new(
        user("carlos"),
        "s3:PutObject",
        "arn:aws:s3:::bucket-carlos-logs/f.txt",
    );
    let d = evaluate(&set, Some(&res), &to_logs);
    assert_eq!(d.effect, Effect::ExplicitDeny);
    assert_eq!(
        d.matched
            .iter()
            .find(|m| m.effect == StatementEffect::Deny)
            .unwrap()
            .sid,
        Some("DenyS3Logs")
    );
    let own = Request::new(
        user("carlos"),
        "s3:PutObject",
        "arn:aws:s3:::bucket-carlos/f.txt",
    );
    assert_eq!(decide(&set, Some(&res), &own), Effect::Allow);
    // Either policy alone suffices within one account.
    let only_bucket = PrincipalPolicies::default();
    assert_eq!(decide(&only_bucket, Some(&res), &own), Effect::Allow);
}

/// "Permissions boundaries": a boundary allowing S3, CloudWatch and EC2 with an identity
/// policy allowing `iam:GetUser`: the user cannot call `iam:GetUser`, because the action must
/// be allowed by both.
#[test]
fn boundary_and_identity_must_both_allow() {
    let boundary = p(
        "boundary",
        PolicyType::Boundary,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","cloudwatch:*","ec2:*"],"Resource":"*"}]}"#,
    );
    let identity = p(
        "identity",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![identity],
        boundary: Some(boundary),
        ..Default::default()
    };
    let r = Request::new(
        user("shirley"),
        "iam:GetUser",
        format!("arn:aws:iam::{ACCT}:user/shirley"),
    );
    let d = evaluate(&set, None, &r);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::PermissionsBoundary)
    );
    assert!(
        d.access_denied_message(&r)
            .unwrap()
            .ends_with("because no permissions boundary allows the iam:GetUser action")
    );
}

/// "Condition with multiple context keys or values": keys ANDed, values ORed; the guide's
/// table of department/role tags.
#[test]
fn multiple_keys_and_values() {
    let identity = p(
        "tags",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*",
        "Condition":{"StringEquals":{"aws:PrincipalTag/department":["finance","hr","legal"],
                                     "aws:PrincipalTag/role":["audit","security"]}}}}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![identity],
        ..Default::default()
    };
    let cases = [
        (Some("finance"), Some("audit"), Effect::Allow),
        (Some("hr"), Some("security"), Effect::Allow),
        (Some("finance"), Some("business"), Effect::ImplicitDeny),
        (Some("marketing"), Some("audit"), Effect::ImplicitDeny),
        (None, Some("audit"), Effect::ImplicitDeny),
    ];
    for (dept, role, want) in cases {
        let mut r = Request::new(user("a"), "iam:GetUser", "*");
        if let Some(d) = dept {
            r = r.with_context("aws:PrincipalTag/department", ContextValue::string(d));
        }
        if let Some(x) = role {
            r = r.with_context("aws:PrincipalTag/role", ContextValue::string(x));
        }
        assert_eq!(decide(&set, None, &r), want, "{dept:?} {role:?}");
    }
}

/// "Multivalued context keys": `ForAllValues` and `ForAnyValue` over `aws:TagKeys`, including
/// the empty-set rules the guide warns about.
#[test]
fn multivalued_keys_examples() {
    let all = p(
        "all",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
        "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}}}"#,
    );
    let any = p(
        "any",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
        "Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}}}"#,
    );
    let all = PrincipalPolicies {
        identity: vec![all],
        ..Default::default()
    };
    let any = PrincipalPolicies {
        identity: vec![any],
        ..Default::default()
    };
    let req = |keys: Option<&[&str]>| {
        let r = Request::new(user("a"), "ec2:CreateTags", "*");
        match keys {
            Some(k) => r.with_context("aws:TagKeys", ContextValue::strings(k.iter().copied())),
            None => r,
        }
    };
    use Effect::{Allow, ImplicitDeny};
    let table: [(Option<&[&str]>, Effect, Effect); 5] = [
        (Some(&["environment", "cost-center"]), Allow, Allow),
        (Some(&["environment"]), Allow, Allow),
        (Some(&["environment", "owner"]), ImplicitDeny, Allow),
        (Some(&["owner"]), ImplicitDeny, ImplicitDeny),
        (None, Allow, ImplicitDeny),
    ];
    for (keys, want_all, want_any) in table {
        assert_eq!(
            decide(&all, None, &req(keys)),
            want_all,
            "ForAllValues {keys:?}"
        );
        assert_eq!(
            decide(&any, None, &req(keys)),
            want_any,
            "ForAnyValue {keys:?}"
        );
    }
}

/// "IfExists condition operators": an instance-type restriction that also allows requests
/// in which the key is not present.
#[test]
fn if_exists_example() {
    let identity = p(
        "ifexists",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*",
        "Condition":{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}}}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![identity],
        ..Default::default()
    };
    let small = Request::new(user("a"), "ec2:RunInstances", "*")
        .with_context("ec2:InstanceType", ContextValue::string("t2.micro"));
    let big = Request::new(user("a"), "ec2:RunInstances", "*")
        .with_context("ec2:InstanceType", ContextValue::string("m5.24xlarge"));
    let no_key = Request::new(user("a"), "ec2:DescribeVolumes", "*");
    assert_eq!(decide(&set, None, &small), Effect::Allow);
    assert_eq!(decide(&set, None, &big), Effect::ImplicitDeny);
    assert_eq!(decide(&set, None, &no_key), Effect::Allow);
}

/// "Policy variables": a home folder per user name; Version 2008-10-17 reads the variable
/// as literal text.
#[test]
fn home_folder_variable() {
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
        "Resource":"arn:aws:s3:::bucket/home/${aws:username}/*"}}"#;
    let set = PrincipalPolicies {
        identity: vec![p("home", PolicyType::Identity, text)],
        ..Default::default()
    };
    let own = Request::new(
        user("alice"),
        "s3:PutObject",
        "arn:aws:s3:::bucket/home/alice/a.txt",
    );
    let other = Request::new(
        user("alice"),
        "s3:PutObject",
        "arn:aws:s3:::bucket/home/bob/a.txt",
    );
    assert_eq!(decide(&set, None, &own), Effect::Allow);
    assert_eq!(decide(&set, None, &other), Effect::ImplicitDeny);
    let old = PrincipalPolicies {
        identity: vec![p(
            "home-2008",
            PolicyType::Identity,
            &text.replace("2012-10-17", "2008-10-17"),
        )],
        ..Default::default()
    };
    assert_eq!(decide(&old, None, &own), Effect::ImplicitDeny);
}

/// "Null condition operator": allow only with temporary credentials (the key is present).
#[test]
fn null_operator_example() {
    let identity = p(
        "temp-only",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*",
        "Condition":{"Null":{"aws:TokenIssueTime":"false"}}}}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![identity],
        ..Default::default()
    };
    let long_term = Request::new(user("a"), "ec2:DescribeInstances", "*");
    let temp = long_term.clone().with_context(
        "aws:TokenIssueTime",
        ContextValue::string("2024-01-01T00:00:00Z"),
    );
    assert_eq!(decide(&set, None, &long_term), Effect::ImplicitDeny);
    assert_eq!(decide(&set, None, &temp), Effect::Allow);
}

/// "Date condition operators": allow only within a time window.
#[test]
fn date_window_example() {
    let identity = p(
        "window",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*",
        "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},
                     "DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}}}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![identity],
        ..Default::default()
    };
    let at = |t: &str| {
        Request::new(user("a"), "ec2:RunInstances", "*")
            .with_context("aws:CurrentTime", ContextValue::string(t))
    };
    assert_eq!(
        decide(&set, None, &at("2020-05-15T12:00:00Z")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &at("2020-07-01T00:00:00Z")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &at("2020-03-31T23:59:59Z")),
        Effect::ImplicitDeny
    );
}

/// "Service control policies" example: deny outside approved Regions, with global services
/// exempted through NotAction. The member account's users are denied elsewhere; the
/// management account is not affected.
#[test]
fn scp_region_restriction() {
    let scp = p(
        "region-scp",
        PolicyType::Scp,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
        {"Sid":"DenyAllOutsideEU","Effect":"Deny","NotAction":["iam:*","organizations:*","sts:*"],"Resource":"*",
         "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-central-1","eu-west-1"]}}}]}"#,
    );
    let admin = p(
        "admin",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let mut set = PrincipalPolicies {
        scp_levels: vec![vec![scp]],
        identity: vec![admin],
        ..Default::default()
    };
    let region = |a: &str, reg: &str| {
        Request::new(user("a"), a, "*")
            .with_context("aws:RequestedRegion", ContextValue::string(reg))
    };
    assert_eq!(
        decide(&set, None, &region("ec2:RunInstances", "eu-west-1")),
        Effect::Allow
    );
    let d = evaluate(&set, None, &region("ec2:RunInstances", "us-east-1"));
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ExplicitDeny, Layer::ServiceControlPolicy)
    );
    assert_eq!(
        decide(&set, None, &region("iam:CreateUser", "us-east-1")),
        Effect::Allow
    );
    set.management_account = true;
    assert_eq!(
        decide(&set, None, &region("ec2:RunInstances", "us-east-1")),
        Effect::Allow
    );
}

/// "Session policies": the session's permissions are the intersection of the role's
/// identity policies and the session policy.
#[test]
fn session_policy_intersection() {
    let role_policy = p(
        "role",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    let session = p(
        "session",
        PolicyType::Session,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject","ec2:*"],"Resource":"*"}}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![role_policy],
        session: vec![session],
        ..Default::default()
    };
    let s = RequestPrincipal::from_arn(&format!("arn:aws:sts::{ACCT}:assumed-role/r/s")).unwrap();
    assert_eq!(
        decide(
            &set,
            None,
            &Request::new(s.clone(), "s3:GetObject", "arn:aws:s3:::b/k")
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &Request::new(s.clone(), "s3:PutObject", "arn:aws:s3:::b/k")
        ),
        Effect::ImplicitDeny
    );
    // A session policy cannot grant more than the identity policies.
    assert_eq!(
        decide(&set, None, &Request::new(s, "ec2:RunInstances", "*")),
        Effect::ImplicitDeny
    );
}

/// "Cross-account policy evaluation logic": the trusting account's bucket policy and the
/// trusted account's identity policy must both allow.
#[test]
fn cross_account_both_sides() {
    let bucket = p(
        "bucket",
        PolicyType::Resource,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
        "Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}}"#,
    );
    let res = ResourcePolicies {
        owner_account: ACCT.into(),
        policy: Some(bucket),
        ..Default::default()
    };
    let identity = p(
        "id",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
    );
    let with = PrincipalPolicies {
        identity: vec![identity],
        ..Default::default()
    };
    let without = PrincipalPolicies::default();
    let r = Request::new(
        RequestPrincipal::from_arn("arn:aws:iam::111122223333:user/u").unwrap(),
        "s3:GetObject",
        "arn:aws:s3:::shared/k",
    );
    assert_eq!(decide(&with, Some(&res), &r), Effect::Allow);
    assert_eq!(decide(&without, Some(&res), &r), Effect::ImplicitDeny);
    let not_shared = Request::new(
        r.principal().clone(),
        "s3:GetObject",
        "arn:aws:s3:::other/k",
    )
    .with_resource_account(ACCT);
    let d = evaluate(&with, Some(&res), &not_shared);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::ResourceBased)
    );
}

/// "Troubleshoot access denied error messages": the wordings.
#[test]
fn access_denied_wordings() {
    let deny_all = p(
        "deny",
        PolicyType::Identity,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#,
    );
    let set = PrincipalPolicies {
        identity: vec![deny_all],
        ..Default::default()
    };
    let r = Request::new(user("MaryMajor"), "codecommit:ListRepositories", "*");
    assert_eq!(
        evaluate(&set, None, &r).access_denied_message(&r).unwrap(),
        "User: arn:aws:iam::123456789012:user/MaryMajor is not authorized to perform: codecommit:ListRepositories with an explicit deny in an identity-based policy"
    );
    let empty = PrincipalPolicies::default();
    assert_eq!(
        evaluate(&empty, None, &r)
            .access_denied_message(&r)
            .unwrap(),
        "User: arn:aws:iam::123456789012:user/MaryMajor is not authorized to perform: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action"
    );
    let allowed = PrincipalPolicies {
        identity: vec![p(
            "all",
            PolicyType::Identity,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        )],
        ..Default::default()
    };
    assert!(
        evaluate(&allowed, None, &r)
            .access_denied_message(&r)
            .is_none()
    );
}
