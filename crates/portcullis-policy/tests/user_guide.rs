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

// ---------------------------------------------------------------------------------------------
// Helpers for the examples below.

fn identity(text: &str) -> PrincipalPolicies {
    PrincipalPolicies {
        identity: vec![p("identity", PolicyType::Identity, text)],
        ..Default::default()
    }
}

fn resource(owner: &str, text: &str) -> ResourcePolicies {
    ResourcePolicies {
        owner_account: owner.into(),
        policy: Some(p("resource", PolicyType::Resource, text)),
        ..Default::default()
    }
}

fn session_of(account: &str, role: &str, name: &str) -> RequestPrincipal {
    RequestPrincipal::from_arn(&format!(
        "arn:aws:sts::{account}:assumed-role/{role}/{name}"
    ))
    .unwrap()
}

fn user_in(account: &str, name: &str) -> RequestPrincipal {
    RequestPrincipal::from_arn(&format!("arn:aws:iam::{account}:user/{name}")).unwrap()
}

const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;

/// The identity policy plus an admin grant, so a Deny-only example can show what it denies.
fn with_admin(deny_text: &str) -> PrincipalPolicies {
    PrincipalPolicies {
        identity: vec![
            p("admin", PolicyType::Identity, ALLOW_ALL),
            p("example", PolicyType::Identity, deny_text),
        ],
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// "IAM JSON policy elements: Condition operators"

/// String condition operators: access-key actions on users only for principals tagged with the
/// `iamuser-admin` job category; a user without the tag is implicitly denied.
#[test]
fn condition_operators_string_equals_principal_tag() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*",
        "Resource":"arn:aws:iam::123456789012:user/*",
        "Condition":{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}}}"#,
    );
    let target = format!("arn:aws:iam::{ACCT}:user/bob");
    let tagged = |v: &str, action: &str| {
        Request::new(user("a"), action, target.as_str())
            .with_context("aws:PrincipalTag/job-category", ContextValue::string(v))
    };
    assert_eq!(
        decide(&set, None, &tagged("iamuser-admin", "iam:CreateAccessKey")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &tagged("iamuser-admin", "iam:ListAccessKeys")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &tagged("iamuser-admin", "iam:CreateUser")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &tagged("developer", "iam:CreateAccessKey")),
        Effect::ImplicitDeny
    );
    let untagged = Request::new(user("a"), "iam:UpdateAccessKey", target.as_str());
    let d = evaluate(&set, None, &untagged);
    assert_eq!(d.effect, Effect::ImplicitDeny);
    assert!(
        d.missing_context_keys
            .iter()
            .any(|k| k == "aws:PrincipalTag/job-category")
    );
}

/// String condition operators: `StringLike` with a policy variable lets each user list and
/// manage only their own home directory in the bucket.
#[test]
fn condition_operators_string_like_home_directory() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:ListAllMyBuckets","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::*"},
        {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::BUCKET-NAME",
         "Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/"]}}},
        {"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::BUCKET-NAME/home/${aws:username}",
         "arn:aws:s3:::BUCKET-NAME/home/${aws:username}/*"]}]}"#,
    );
    let list = |prefix: &str| {
        Request::new(user("alice"), "s3:ListBucket", "arn:aws:s3:::BUCKET-NAME")
            .with_context("s3:prefix", ContextValue::string(prefix))
    };
    for ok in ["", "home/", "home/alice/"] {
        assert_eq!(
            decide(&set, None, &list(ok)),
            Effect::Allow,
            "prefix {ok:?}"
        );
    }
    for no in ["home/bob/", "private/"] {
        assert_eq!(
            decide(&set, None, &list(no)),
            Effect::ImplicitDeny,
            "prefix {no:?}"
        );
    }
    let obj = |key: &str| {
        Request::new(
            user("alice"),
            "s3:DeleteObject",
            format!("arn:aws:s3:::BUCKET-NAME/{key}"),
        )
    };
    assert_eq!(
        decide(&set, None, &obj("home/alice/notes.txt")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &obj("home/bob/notes.txt")),
        Effect::ImplicitDeny
    );
}

/// Numeric condition operators: list up to 10 objects at a time.
#[test]
fn condition_operators_numeric_max_keys() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket",
        "Resource":"arn:aws:s3:::example_bucket","Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"}}}}"#,
    );
    let list = |n: Option<f64>| {
        let r = Request::new(user("a"), "s3:ListBucket", "arn:aws:s3:::example_bucket");
        match n {
            Some(n) => r.with_context("s3:max-keys", ContextValue::number(n)),
            None => r,
        }
    };
    assert_eq!(decide(&set, None, &list(Some(10.0))), Effect::Allow);
    assert_eq!(decide(&set, None, &list(Some(3.0))), Effect::Allow);
    assert_eq!(decide(&set, None, &list(Some(11.0))), Effect::ImplicitDeny);
    assert_eq!(decide(&set, None, &list(None)), Effect::ImplicitDeny);
}

/// Date condition operators: access keys may be managed only with temporary credentials issued
/// after the given instant; an IAM user signing with access keys has no `aws:TokenIssueTime`
/// and is denied.
#[test]
fn condition_operators_date_token_issue_time() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*",
        "Resource":"arn:aws:iam::123456789012:user/*",
        "Condition":{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}}}"#,
    );
    let target = format!("arn:aws:iam::{ACCT}:user/bob");
    let long_term = Request::new(user("a"), "iam:ListAccessKeys", target.as_str());
    assert_eq!(decide(&set, None, &long_term), Effect::ImplicitDeny);
    let s = session_of(ACCT, "admin", "s");
    let issued = |t: &str| {
        Request::new(s.clone(), "iam:ListAccessKeys", target.as_str())
            .with_context("aws:TokenIssueTime", ContextValue::string(t))
    };
    assert_eq!(
        decide(&set, None, &issued("2020-06-01T08:00:00Z")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &issued("2019-12-31T23:59:59Z")),
        Effect::ImplicitDeny
    );
}

/// Boolean condition operators: deny every S3 action on the bucket when the request is not
/// sent over TLS. The example allows nothing on its own.
#[test]
fn condition_operators_bool_secure_transport() {
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"BooleanExample","Action":"s3:*","Effect":"Deny",
        "Resource":["arn:aws:s3:::DOC-EXAMPLE-BUCKET","arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],
        "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let get = |tls: bool| {
        Request::new(
            user("a"),
            "s3:GetObject",
            "arn:aws:s3:::DOC-EXAMPLE-BUCKET/k",
        )
        .with_context("aws:SecureTransport", ContextValue::bool(tls))
    };
    let alone = identity(deny);
    assert_eq!(decide(&alone, None, &get(true)), Effect::ImplicitDeny);
    let set = with_admin(deny);
    assert_eq!(decide(&set, None, &get(true)), Effect::Allow);
    let d = evaluate(&set, None, &get(false));
    assert_eq!(d.effect, Effect::ExplicitDeny);
    assert!(d.matched.iter().any(|m| m.sid == Some("BooleanExample")));
}

/// Binary condition operators: `BinaryEquals` compares the key's bytes with the base64 value.
#[test]
fn condition_operators_binary_equals() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*",
        "Condition":{"BinaryEquals":{"kms:examplekey":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}}}"#,
    );
    let with = |bytes: &[u8]| {
        Request::new(user("a"), "kms:Decrypt", "*")
            .with_context("kms:examplekey", ContextValue::binary(bytes.to_vec()))
    };
    assert_eq!(
        decide(&set, None, &with(b"BinaryValueInBase64")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &with(b"BinaryValueInBase65")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &Request::new(user("a"), "kms:Decrypt", "*")),
        Effect::ImplicitDeny
    );
}

/// IP address condition operators: requests must come from 203.0.113.0/24; a request without
/// `aws:SourceIp` (through a VPC endpoint) does not match.
#[test]
fn condition_operators_ip_address_range() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*",
        "Resource":"arn:aws:iam::123456789012:user/*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}}"#,
    );
    let target = format!("arn:aws:iam::{ACCT}:user/a");
    let from = |ip: Option<&str>| {
        let r = Request::new(user("a"), "iam:CreateAccessKey", target.as_str());
        match ip {
            Some(ip) => r.with_context("aws:SourceIp", ContextValue::ip(ip.parse().unwrap())),
            None => r,
        }
    };
    assert_eq!(
        decide(&set, None, &from(Some("203.0.113.0"))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &from(Some("203.0.113.255"))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &from(Some("203.0.114.1"))),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&set, None, &from(None)), Effect::ImplicitDeny);
}

/// IP address condition operators: IPv4 and IPv6 ranges mixed in one condition.
#[test]
fn condition_operators_ip_address_ipv4_and_ipv6() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"someservice:*","Resource":"*",
        "Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}}}"#,
    );
    let from = |ip: &str| {
        Request::new(user("a"), "someservice:Do", "*")
            .with_context("aws:SourceIp", ContextValue::string(ip))
    };
    assert_eq!(decide(&set, None, &from("203.0.113.77")), Effect::Allow);
    assert_eq!(
        decide(&set, None, &from("2001:db8:1234:5678::1")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &from("2001:db8:1234:5678:ffff:ffff:ffff:ffff")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &from("2001:db8:1234:5679::1")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &from("198.51.100.7")),
        Effect::ImplicitDeny
    );
}

/// ARN condition operators: the guide's pattern and value, where `StringLike` matches (the first
/// `*` swallows colons) and `ArnLike` does not (it compares the six ARN parts one by one).
#[test]
fn condition_operators_arn_like_compares_parts() {
    let policy = |op: &str| {
        identity(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"someservice:*","Resource":"*",
            "Condition":{{"{op}":{{"aws:SourceArn":"arn:aws:someservice:*:111122223333:finance/*"}}}}}}}}"#
        ))
    };
    let r = Request::new(user("a"), "someservice:Read", "*").with_context(
        "aws:SourceArn",
        ContextValue::string(
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt",
        ),
    );
    assert_eq!(decide(&policy("StringLike"), None, &r), Effect::Allow);
    assert_eq!(decide(&policy("ArnLike"), None, &r), Effect::ImplicitDeny);
    // ArnEquals and ArnLike behave identically.
    assert_eq!(decide(&policy("ArnEquals"), None, &r), Effect::ImplicitDeny);
    let own = Request::new(user("a"), "someservice:Read", "*").with_context(
        "aws:SourceArn",
        ContextValue::string("arn:aws:someservice:us-east-2:111122223333:finance/document.txt"),
    );
    assert_eq!(decide(&policy("ArnLike"), None, &own), Effect::Allow);
    assert_eq!(decide(&policy("ArnEquals"), None, &own), Effect::Allow);
}

/// ARN condition operators: a queue policy letting messages in only on behalf of one SNS
/// topic; a user calling directly has no `aws:SourceArn` and this statement does not apply.
#[test]
fn condition_operators_arn_equals_queue_policy() {
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},
        "Action":"SQS:SendMessage","Resource":"arn:aws:sqs:us-east-1:123456789012:QUEUE-ID",
        "Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:123456789012:TOPIC-ID"}}}}"#,
    );
    let queue = "arn:aws:sqs:us-east-1:123456789012:QUEUE-ID";
    let none = PrincipalPolicies::default();
    let resource_matched = |r: &Request| {
        evaluate(&none, Some(&res), r)
            .matched
            .iter()
            .any(|m| m.layer == Layer::ResourceBased)
    };
    let direct = Request::new(user("a"), "sqs:SendMessage", queue);
    assert!(!resource_matched(&direct));
    assert_eq!(decide(&none, Some(&res), &direct), Effect::ImplicitDeny);
    let via_topic = direct.clone().with_context(
        "aws:SourceArn",
        ContextValue::string("arn:aws:sns:us-east-1:123456789012:TOPIC-ID"),
    );
    assert!(resource_matched(&via_topic));
    let other_topic = direct.with_context(
        "aws:SourceArn",
        ContextValue::string("arn:aws:sns:us-east-1:123456789012:OTHER"),
    );
    assert!(!resource_matched(&other_topic));
}

/// ...IfExists condition operators: without `IfExists` the statement fails for every resource
/// that lacks `ec2:InstanceType` (images, key pairs, ...), so nothing can be launched; with it,
/// those resources pass and the instance type is still checked.
#[test]
fn condition_operators_if_exists_run_instances() {
    let plain = identity(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"THISPOLICYDOESNOTWORK","Effect":"Allow",
        "Action":"ec2:RunInstances","Resource":"*","Condition":{"StringLike":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}}}"#,
    );
    let fixed = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"RunInstance","Effect":"Allow","Action":"ec2:RunInstances","Resource":"*",
         "Condition":{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}},
        {"Sid":"DescribeActions","Effect":"Allow","Action":["ec2:DescribeImages","ec2:DescribeInstances",
         "ec2:DescribeVpcs","ec2:DescribeKeyPairs","ec2:DescribeSubnets","ec2:DescribeSecurityGroups"],"Resource":"*"}]}"#,
    );
    let image = Request::new(
        user("a"),
        "ec2:RunInstances",
        "arn:aws:ec2:us-east-1::image/ami-1",
    );
    let instance = |t: &str| {
        Request::new(
            user("a"),
            "ec2:RunInstances",
            format!("arn:aws:ec2:us-east-1:{ACCT}:instance/*"),
        )
        .with_context("ec2:InstanceType", ContextValue::string(t))
    };
    assert_eq!(decide(&plain, None, &image), Effect::ImplicitDeny);
    assert_eq!(decide(&plain, None, &instance("t2.micro")), Effect::Allow);
    assert_eq!(decide(&fixed, None, &image), Effect::Allow);
    assert_eq!(decide(&fixed, None, &instance("m3.large")), Effect::Allow);
    assert_eq!(
        decide(&fixed, None, &instance("c5.large")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &fixed,
            None,
            &Request::new(user("a"), "ec2:DescribeKeyPairs", "*")
        ),
        Effect::Allow
    );
}

/// ...IfExists condition operators: a Deny with a negated `...IfExists` operator still denies
/// when the key is missing.
#[test]
fn condition_operators_deny_with_negated_if_exists_denies_missing_key() {
    let set = with_admin(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*",
        "Condition":{"StringNotEqualsIfExists":{"aws:PrincipalTag/team":"storage"}}}}"#,
    );
    let r = Request::new(user("a"), "s3:GetObject", "arn:aws:s3:::b/k");
    assert_eq!(decide(&set, None, &r), Effect::ExplicitDeny);
    let storage = r
        .clone()
        .with_context("aws:PrincipalTag/team", ContextValue::string("storage"));
    assert_eq!(decide(&set, None, &storage), Effect::Allow);
    let other = r.with_context("aws:PrincipalTag/team", ContextValue::string("web"));
    assert_eq!(decide(&set, None, &other), Effect::ExplicitDeny);
}

/// Condition operators (the rule stated at the top of the page): a missing key makes a
/// negated operator such as `StringNotLike` or `ArnNotLike` true.
#[test]
fn condition_operators_missing_key_negated_is_true() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
        "Condition":{"StringNotLike":{"s3:ExistingObjectTag/class":"secret*"},
                     "ArnNotLike":{"aws:SourceArn":"arn:aws:lambda:*:*:function:untrusted*"}}}}"#,
    );
    let r = Request::new(user("a"), "s3:GetObject", "arn:aws:s3:::b/k");
    assert_eq!(decide(&set, None, &r), Effect::Allow);
    let secret = r.with_context(
        "s3:ExistingObjectTag/class",
        ContextValue::string("secret-1"),
    );
    assert_eq!(decide(&set, None, &secret), Effect::ImplicitDeny);
}

/// Condition operator to check existence of condition keys: `Null` true allows EC2 only to
/// callers not using temporary credentials.
#[test]
fn condition_operators_null_true_long_term_credentials_only() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Action":"ec2:*","Effect":"Allow","Resource":"*",
        "Condition":{"Null":{"aws:TokenIssueTime":"true"}}}}"#,
    );
    let keys = Request::new(user("a"), "ec2:DescribeInstances", "*");
    assert_eq!(decide(&set, None, &keys), Effect::Allow);
    let temp = Request::new(session_of(ACCT, "r", "s"), "ec2:DescribeInstances", "*").with_context(
        "aws:TokenIssueTime",
        ContextValue::string("2024-01-01T00:00:00Z"),
    );
    assert_eq!(decide(&set, None, &temp), Effect::ImplicitDeny);
}

// ---------------------------------------------------------------------------------------------
// "IAM JSON policy elements: Condition"

/// Context key names are not case-sensitive; values compared with `StringEquals` are: only
/// `johndoe` matches, `JohnDoe` does not.
#[test]
fn condition_key_names_case_insensitive_values_case_sensitive() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*",
        "Condition":{"StringEquals":{"AWS:USERNAME":"johndoe"},"IpAddress":{"aws:SOURCEip":"192.0.2.0/24"}}}}"#,
    );
    let r = |name: &str| {
        Request::new(user(name), "s3:ListBucket", "arn:aws:s3:::b")
            .with_context("aws:SourceIp", ContextValue::string("192.0.2.1"))
    };
    assert_eq!(decide(&set, None, &r("johndoe")), Effect::Allow);
    assert_eq!(decide(&set, None, &r("JohnDoe")), Effect::ImplicitDeny);
    let ignore_case = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*",
        "Condition":{"StringEqualsIgnoreCase":{"aws:username":"johndoe"}}}}"#,
    );
    assert_eq!(decide(&ignore_case, None, &r("JohnDoe")), Effect::Allow);
}

// ---------------------------------------------------------------------------------------------
// "Creating a condition that tests multiple key values (set operations)"

/// `ForAllValues:StringLike`: only `PostDateTime`, `Message` and `Tags` may be requested.
#[test]
fn multivalued_for_all_values_requested_attributes() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem",
        "Resource":"arn:aws:dynamodb:us-east-1:123456789012:table/Thread",
        "Condition":{"ForAllValues:StringLike":{"dynamodb:requestedAttributes":["PostDateTime","Message","Tags"]}}}]}"#,
    );
    let get = |attrs: &[&str]| {
        Request::new(
            user("a"),
            "dynamodb:GetItem",
            format!("arn:aws:dynamodb:us-east-1:{ACCT}:table/Thread"),
        )
        .with_context(
            "dynamodb:requestedAttributes",
            ContextValue::strings(attrs.iter().copied()),
        )
    };
    assert_eq!(
        decide(&set, None, &get(&["PostDateTime", "Message"])),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &get(&["PostDateTime", "UserName"])),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&set, None, &get(&["ID"])), Effect::ImplicitDeny);
    // An empty set: ForAllValues is true.
    assert_eq!(decide(&set, None, &get(&[])), Effect::Allow);
}

/// `ForAnyValue:StringLike` in a Deny: a `PutItem` touching `ID` or `PostDateTime` is denied,
/// one touching only `UserName` is not denied by this policy.
#[test]
fn multivalued_for_any_value_deny_put_item() {
    let set = PrincipalPolicies {
        identity: vec![
            p(
                "ddb",
                PolicyType::Identity,
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}}"#,
            ),
            p(
                "deny",
                PolicyType::Identity,
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"dynamodb:PutItem",
                "Resource":"arn:aws:dynamodb:us-east-1:123456789012:table/Thread",
                "Condition":{"ForAnyValue:StringLike":{"dynamodb:requestedAttributes":["ID","PostDateTime"]}}}]}"#,
            ),
        ],
        ..Default::default()
    };
    let put = |attrs: &[&str]| {
        Request::new(
            user("a"),
            "dynamodb:PutItem",
            format!("arn:aws:dynamodb:us-east-1:{ACCT}:table/Thread"),
        )
        .with_context(
            "dynamodb:requestedAttributes",
            ContextValue::strings(attrs.iter().copied()),
        )
    };
    assert_eq!(
        decide(&set, None, &put(&["PostDateTime", "Message"])),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &put(&["UserName", "Message", "PostDateTime"])),
        Effect::ExplicitDeny
    );
    assert_eq!(decide(&set, None, &put(&["UserName"])), Effect::Allow);
    // An empty set: ForAnyValue is false, so the Deny does not apply.
    assert_eq!(decide(&set, None, &put(&[])), Effect::Allow);
}

// ---------------------------------------------------------------------------------------------
// "IAM policy elements: Variables and tags"

/// Introduction: a fixed `David/` prefix, then the same policy with `${aws:username}` working
/// for every user of a group.
#[test]
fn variables_username_prefix_and_objects() {
    let fixed = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Action":["s3:ListBucket"],"Effect":"Allow","Resource":["arn:aws:s3:::mybucket"],"Condition":{"StringLike":{"s3:prefix":["David/*"]}}},
        {"Action":["s3:GetObject","s3:PutObject"],"Effect":"Allow","Resource":["arn:aws:s3:::mybucket/David/*"]}]}"#,
    );
    let var = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Action":["s3:ListBucket"],"Effect":"Allow","Resource":["arn:aws:s3:::mybucket"],"Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]}}},
        {"Action":["s3:GetObject","s3:PutObject"],"Effect":"Allow","Resource":["arn:aws:s3:::mybucket/${aws:username}/*"]}]}"#,
    );
    let list = |who: &str, prefix: &str| {
        Request::new(user(who), "s3:ListBucket", "arn:aws:s3:::mybucket")
            .with_context("s3:prefix", ContextValue::string(prefix))
    };
    let get = |who: &str, key: &str| {
        Request::new(
            user(who),
            "s3:GetObject",
            format!("arn:aws:s3:::mybucket/{key}"),
        )
    };
    assert_eq!(
        decide(&fixed, None, &list("Adele", "David/x")),
        Effect::Allow
    );
    assert_eq!(
        decide(&fixed, None, &get("Adele", "David/x")),
        Effect::Allow
    );
    assert_eq!(
        decide(&var, None, &list("Adele", "David/x")),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&var, None, &list("Adele", "Adele/x")), Effect::Allow);
    assert_eq!(
        decide(&var, None, &get("David", "David/report.pdf")),
        Effect::Allow
    );
    assert_eq!(
        decide(&var, None, &get("Adele", "David/report.pdf")),
        Effect::ImplicitDeny
    );
}

/// Introduction: each user manages only their own access keys through one group policy.
#[test]
fn variables_own_access_keys() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Action":["iam:*AccessKey*"],"Effect":"Allow",
        "Resource":["arn:aws:iam::123456789012:user/${aws:username}"]}]}"#,
    );
    let on = |who: &str, target: &str, action: &str| {
        Request::new(
            user(who),
            action,
            format!("arn:aws:iam::{ACCT}:user/{target}"),
        )
    };
    assert_eq!(
        decide(&set, None, &on("David", "David", "iam:CreateAccessKey")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &on("David", "David", "iam:DeleteAccessKey")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &on("David", "Adele", "iam:CreateAccessKey")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &on("David", "David", "iam:DeleteUser")),
        Effect::ImplicitDeny
    );
}

/// Resource element: queues named after the user in us-east-2 only; variables stand after the
/// fifth colon.
#[test]
fn variables_user_named_queues() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"ListForConsole","Effect":"Allow","Action":"sqs:ListQueues","Resource":"*"},
        {"Sid":"AllQueueActions","Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:us-east-2:*:${aws:username}-queue"}]}"#,
    );
    let q = |region: &str, name: &str| {
        Request::new(
            user("alice"),
            "sqs:SendMessage",
            format!("arn:aws:sqs:{region}:{ACCT}:{name}"),
        )
    };
    assert_eq!(
        decide(&set, None, &q("us-east-2", "alice-queue")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &q("us-west-2", "alice-queue")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &q("us-east-2", "bob-queue")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &Request::new(user("alice"), "sqs:ListQueues", "*")
        ),
        Effect::Allow
    );
}

/// Resource element: a bucket named after the value of the caller's `department` tag.
#[test]
fn variables_principal_tag_in_resource() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket",
        "Resource":["arn:aws:s3:::bucket/${aws:PrincipalTag/department}"]}}"#,
    );
    let r = |res: &str| Request::new(user("a"), "s3:ListBucket", res);
    let hr =
        |res: &str| r(res).with_context("aws:PrincipalTag/department", ContextValue::string("hr"));
    assert_eq!(
        decide(&set, None, &hr("arn:aws:s3:::bucket/hr")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &hr("arn:aws:s3:::bucket/finance")),
        Effect::ImplicitDeny
    );
    // No tag: the variable cannot be resolved and the statement matches nothing.
    assert_eq!(
        decide(&set, None, &r("arn:aws:s3:::bucket/hr")),
        Effect::ImplicitDeny
    );
}

/// Condition element: an SNS topic policy lets account 999999999999 manage the topic only when
/// the endpoint URL carries the caller's user name and the protocol is https.
#[test]
fn variables_in_condition_sns_endpoint() {
    let res = resource(
        "111122223333",
        r#"{"Version":"2012-10-17","Statement":[{"Principal":{"AWS":"999999999999"},"Effect":"Allow","Action":"sns:*",
        "Resource":"arn:aws:sns:us-east-1:111122223333:topic",
        "Condition":{"StringLike":{"sns:endpoint":"https://example.com/${aws:username}/"},"StringEquals":{"sns:Protocol":"https"}}}]}"#,
    );
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sns:*","Resource":"*"}}"#,
    );
    let sub = |endpoint: &str, protocol: &str| {
        Request::new(
            user_in("999999999999", "alice"),
            "sns:Subscribe",
            "arn:aws:sns:us-east-1:111122223333:topic",
        )
        .with_context("sns:Endpoint", ContextValue::string(endpoint))
        .with_context("sns:Protocol", ContextValue::string(protocol))
    };
    assert_eq!(
        decide(
            &set,
            Some(&res),
            &sub("https://example.com/alice/", "https")
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, Some(&res), &sub("https://example.com/bob/", "https")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, Some(&res), &sub("https://example.com/alice/", "http")),
        Effect::ImplicitDeny
    );
}

/// Condition element: full access to users only when the user carries a `costCenter` tag of
/// `12345` or `67890`; no tag or another value fails.
#[test]
fn variables_resource_tag_values() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*user*"],"Resource":"*",
        "Condition":{"StringLike":{"iam:ResourceTag/costCenter":["12345","67890"]}}}]}"#,
    );
    let r = |tag: Option<&str>| {
        let r = Request::new(
            user("a"),
            "iam:GetUser",
            format!("arn:aws:iam::{ACCT}:user/bob"),
        );
        match tag {
            Some(t) => r.with_context("iam:ResourceTag/costCenter", ContextValue::string(t)),
            None => r,
        }
    };
    assert_eq!(decide(&set, None, &r(Some("12345"))), Effect::Allow);
    assert_eq!(decide(&set, None, &r(Some("67890"))), Effect::Allow);
    assert_eq!(decide(&set, None, &r(Some("11111"))), Effect::ImplicitDeny);
    assert_eq!(decide(&set, None, &r(None)), Effect::ImplicitDeny);
}

/// Specifying default values: a variable with a default resolves to the default when the key
/// is missing from the request.
#[test]
fn variables_default_value() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'company-wide'}/*"}}"#,
    );
    let get = |key: &str| {
        Request::new(
            user("a"),
            "s3:GetObject",
            format!("arn:aws:s3:::bucket/{key}"),
        )
    };
    let team =
        |key: &str| get(key).with_context("aws:PrincipalTag/team", ContextValue::string("blue"));
    assert_eq!(decide(&set, None, &team("blue/x")), Effect::Allow);
    assert_eq!(
        decide(&set, None, &team("company-wide/x")),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&set, None, &get("company-wide/x")), Effect::Allow);
    assert_eq!(decide(&set, None, &get("blue/x")), Effect::ImplicitDeny);
}

/// Special characters: `${*}`, `${?}` and `${$}` stand for the literal characters.
#[test]
fn variables_special_characters() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::bucket/a${*}b${?}c${$}"}}"#,
    );
    let get = |key: &str| {
        Request::new(
            user("a"),
            "s3:GetObject",
            format!("arn:aws:s3:::bucket/{key}"),
        )
    };
    assert_eq!(decide(&set, None, &get("a*b?c$")), Effect::Allow);
    assert_eq!(decide(&set, None, &get("axxbycz")), Effect::ImplicitDeny);
    assert_eq!(decide(&set, None, &get("axb?c$")), Effect::ImplicitDeny);
}

/// Introduction: without a `Version` element variables are literal text. Principal key values:
/// `aws:username` is not present for a role session, so the variable matches nothing.
#[test]
fn variables_need_version_and_a_value() {
    let body = r#""Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/${aws:username}/*"}"#;
    let versioned = identity(&format!(r#"{{"Version":"2012-10-17",{body}}}"#));
    let unversioned = identity(&format!("{{{body}}}"));
    let alice = Request::new(user("alice"), "s3:GetObject", "arn:aws:s3:::bucket/alice/x");
    assert_eq!(decide(&versioned, None, &alice), Effect::Allow);
    assert_eq!(decide(&unversioned, None, &alice), Effect::ImplicitDeny);
    let literal = Request::new(
        user("alice"),
        "s3:GetObject",
        "arn:aws:s3:::bucket/${aws:username}/x",
    );
    assert_eq!(decide(&unversioned, None, &literal), Effect::Allow);
    let role = Request::new(
        session_of(ACCT, "alice", "alice"),
        "s3:GetObject",
        "arn:aws:s3:::bucket/alice/x",
    );
    assert_eq!(decide(&versioned, None, &role), Effect::ImplicitDeny);
}

// ---------------------------------------------------------------------------------------------
// "AWS JSON policy elements: NotPrincipal"

/// IAM user in a different account: everyone except Bob (and his account) is denied; the Deny
/// grants Bob nothing, an Allow must do that.
#[test]
fn not_principal_user_in_other_account() {
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:*","Resource":["arn:aws:s3:::BUCKETNAME","arn:aws:s3:::BUCKETNAME/*"]},
        {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::444455556666:user/Bob","arn:aws:iam::444455556666:root"]},
         "Action":"s3:*","Resource":["arn:aws:s3:::BUCKETNAME","arn:aws:s3:::BUCKETNAME/*"]}]}"#,
    );
    let set = identity(ALLOW_ALL);
    let get =
        |who: RequestPrincipal| Request::new(who, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k");
    assert_eq!(
        decide(&set, Some(&res), &get(user_in("444455556666", "Bob"))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, Some(&res), &get(user_in("444455556666", "Alice"))),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, Some(&res), &get(user("carlos"))),
        Effect::ExplicitDeny
    );
    let deny_only = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::444455556666:user/Bob","arn:aws:iam::444455556666:root"]},
        "Action":"s3:*","Resource":["arn:aws:s3:::BUCKETNAME","arn:aws:s3:::BUCKETNAME/*"]}]}"#,
    );
    assert_eq!(
        decide(&set, Some(&deny_only), &get(user_in("444455556666", "Bob"))),
        Effect::ImplicitDeny
    );
}

/// IAM role in a different account: only the named assumed-role session is left out of the
/// Deny; another session of the same role is denied.
#[test]
fn not_principal_assumed_role_session() {
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/cross-account-read-only-role"},"Action":"s3:*","Resource":"arn:aws:s3:::Bucket_AccountAudit/*"},
        {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
          "arn:aws:iam::444455556666:role/cross-account-read-only-role","arn:aws:iam::444455556666:root"]},
         "Action":"s3:*","Resource":["arn:aws:s3:::Bucket_AccountAudit","arn:aws:s3:::Bucket_AccountAudit/*"]}]}"#,
    );
    let set = identity(ALLOW_ALL);
    let get = |session: &str| {
        Request::new(
            session_of("444455556666", "cross-account-read-only-role", session),
            "s3:GetObject",
            "arn:aws:s3:::Bucket_AccountAudit/report",
        )
    };
    assert_eq!(
        decide(&set, Some(&res), &get("cross-account-audit-app")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, Some(&res), &get("someone-else")),
        Effect::ExplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// "IAM JSON policy elements: NotAction"

/// NotAction with Allow: every S3 action on S3 resources except DeleteBucket; not
/// `ListAllMyBuckets` (it needs the `*` resource) and nothing in other services.
#[test]
fn not_action_allow_all_s3_but_delete_bucket() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"s3:DeleteBucket","Resource":"arn:aws:s3:::*"}}"#,
    );
    let r = |a: &str, res: &str| Request::new(user("a"), a, res);
    assert_eq!(
        decide(&set, None, &r("s3:GetObject", "arn:aws:s3:::b/k")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("s3:CreateBucket", "arn:aws:s3:::b")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("s3:DeleteBucket", "arn:aws:s3:::b")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("s3:ListAllMyBuckets", "*")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "ec2:TerminateInstances",
                &format!("arn:aws:ec2:us-east-1:{ACCT}:instance/i-1")
            )
        ),
        Effect::ImplicitDeny
    );
}

/// NotAction with Allow: every action in every service except IAM.
#[test]
fn not_action_allow_everything_but_iam() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
    );
    let r = |a: &str| Request::new(user("a"), a, "*");
    assert_eq!(decide(&set, None, &r("ec2:RunInstances")), Effect::Allow);
    assert_eq!(decide(&set, None, &r("s3:ListAllMyBuckets")), Effect::Allow);
    assert_eq!(
        decide(&set, None, &r("iam:CreateUser")),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("IAM:ListUsers")),
        Effect::ImplicitDeny
    );
}

/// NotAction with Deny: non-IAM actions are denied unless signed in with MFA; IAM actions are
/// not denied (nor allowed) by it.
#[test]
fn not_action_deny_without_mfa() {
    let set = with_admin(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllUsersNotUsingMFA","Effect":"Deny","NotAction":"iam:*",
        "Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
    );
    let r = |a: &str, mfa: Option<bool>| {
        let r = Request::new(user("a"), a, "*");
        match mfa {
            Some(m) => r.with_context("aws:MultiFactorAuthPresent", ContextValue::bool(m)),
            None => r,
        }
    };
    assert_eq!(
        decide(&set, None, &r("ec2:RunInstances", Some(false))),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("ec2:RunInstances", None)),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("ec2:RunInstances", Some(true))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("iam:ListMFADevices", Some(false))),
        Effect::Allow
    );
    // Alone, the policy allows nothing.
    let alone = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"iam:*","Resource":"*",
        "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
    );
    assert_eq!(
        decide(&alone, None, &r("iam:ListMFADevices", Some(true))),
        Effect::ImplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// "IAM JSON policy elements: NotResource"

/// The `HRPayroll` group: every S3 resource except the Payroll folder is denied; the Deny
/// grants nothing, an Allow must.
#[test]
fn not_resource_deny_all_but_payroll() {
    let deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*",
        "NotResource":["arn:aws:s3:::HRBucket/Payroll","arn:aws:s3:::HRBucket/Payroll/*"]}}"#;
    let set = with_admin(deny);
    let r = |a: &str, res: &str| Request::new(user("a"), a, res);
    assert_eq!(
        decide(
            &set,
            None,
            &r("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2024.csv")
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll")
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r("s3:GetObject", "arn:aws:s3:::HRBucket/Benefits/x")
        ),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("s3:ListBucket", "arn:aws:s3:::OtherBucket")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("ec2:DescribeInstances", "*")),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &identity(deny),
            None,
            &r("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2024.csv")
        ),
        Effect::ImplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// "AWS JSON policy elements: Principal"

/// AWS account principals: `"123456789012"` and `arn:aws:iam::123456789012:root` are the same
/// principal, and both delegate to the account: its identities still need an identity policy.
#[test]
fn principal_account_forms_are_equivalent() {
    for form in ["123456789012", "arn:aws:iam::123456789012:root"] {
        let res = resource(
            "111122223333",
            &format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{form}"}},
                "Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}}}}"#
            ),
        );
        let r = Request::new(user("a"), "s3:GetObject", "arn:aws:s3:::shared/k");
        let allowed = identity(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        );
        assert_eq!(decide(&allowed, Some(&res), &r), Effect::Allow, "{form}");
        assert_eq!(
            decide(&PrincipalPolicies::default(), Some(&res), &r),
            Effect::ImplicitDeny,
            "{form}"
        );
        let stranger = Request::new(
            user_in("444455556666", "x"),
            "s3:GetObject",
            "arn:aws:s3:::shared/k",
        );
        assert_eq!(
            decide(&allowed, Some(&res), &stranger),
            Effect::ImplicitDeny,
            "{form}"
        );
    }
}

/// IAM role principals: a role ARN names every session of that role; AWS service principals:
/// a trust policy names the service that may assume the role.
#[test]
fn principal_role_and_service() {
    let res = resource(
        "111122223333",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/role-name"},
        "Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}}"#,
    );
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    let get = |who| Request::new(who, "s3:GetObject", "arn:aws:s3:::shared/k");
    assert_eq!(
        decide(&set, Some(&res), &get(session_of(ACCT, "role-name", "any"))),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            Some(&res),
            &get(session_of(ACCT, "other-role", "any"))
        ),
        Effect::ImplicitDeny
    );

    let trust = ResourcePolicies {
        owner_account: ACCT.into(),
        policy: Some(p(
            "trust",
            PolicyType::Trust,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}}"#,
        )),
        kind: ResourcePolicyKind::Trust,
        ..Default::default()
    };
    let role = format!("arn:aws:iam::{ACCT}:role/ec2-role");
    let assume = |svc: &str| {
        Request::new(
            principal_from_text(svc).unwrap(),
            "sts:AssumeRole",
            role.as_str(),
        )
    };
    let none = PrincipalPolicies::default();
    assert_eq!(
        decide(&none, Some(&trust), &assume("ec2.amazonaws.com")),
        Effect::Allow
    );
    assert_eq!(
        decide(&none, Some(&trust), &assume("lambda.amazonaws.com")),
        Effect::ImplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// "Permissions boundaries for IAM entities"

/// Resource-based policies: within an account, a boundary does not reduce what a resource-based
/// policy grants to the user, but it does reduce what identity policies grant.
#[test]
fn boundary_does_not_limit_resource_policy_grant_to_user() {
    let set = PrincipalPolicies {
        identity: vec![p(
            "id",
            PolicyType::Identity,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        )],
        boundary: Some(p(
            "boundary",
            PolicyType::Boundary,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#,
        )),
        ..Default::default()
    };
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/shirley"},
        "Action":"s3:GetObject","Resource":"arn:aws:s3:::granted/*"}}"#,
    );
    let granted = Request::new(user("shirley"), "s3:GetObject", "arn:aws:s3:::granted/k");
    let d = evaluate(&set, Some(&res), &granted);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::Allow, Layer::ResourceBased)
    );
    let other = Request::new(user("shirley"), "s3:GetObject", "arn:aws:s3:::other/k")
        .with_resource_account(ACCT);
    let d = evaluate(&set, Some(&res), &other);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::PermissionsBoundary)
    );
}

/// Resource-based policies and explicit denies: a Deny in the boundary overrides the resource
/// policy's grant (the `XCompanyBoundaries` `DenyS3Logs` statement).
#[test]
fn boundary_explicit_deny_overrides_resource_grant() {
    let set = PrincipalPolicies {
        boundary: Some(p(
            "XCompanyBoundaries",
            PolicyType::Boundary,
            r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"ServiceBoundaries","Effect":"Allow","Action":["s3:*","cloudwatch:*","ec2:*","dynamodb:*"],"Resource":"*"},
            {"Sid":"DenyS3Logs","Effect":"Deny","Action":"s3:*","Resource":["arn:aws:s3:::logs","arn:aws:s3:::logs/*"]}]}"#,
        )),
        ..Default::default()
    };
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/new"},
        "Action":"s3:*","Resource":["arn:aws:s3:::logs","arn:aws:s3:::logs/*"]}}"#,
    );
    let r = Request::new(user("new"), "s3:GetObject", "arn:aws:s3:::logs/app.log");
    let d = evaluate(&set, Some(&res), &r);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ExplicitDeny, Layer::PermissionsBoundary)
    );
    assert!(d.matched.iter().any(|m| m.sid == Some("DenyS3Logs")));
}

/// Organizations SCPs: with an SCP, a boundary and an identity policy, a request is allowed
/// only if all three allow.
#[test]
fn boundary_scp_and_identity_all_must_allow() {
    let set = |scp_actions: &str, boundary_actions: &str, identity_actions: &str| {
        PrincipalPolicies {
            scp_levels: vec![vec![p(
                "scp",
                PolicyType::Scp,
                &format!(
                    r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":{scp_actions},"Resource":"*"}}}}"#
                ),
            )]],
            boundary: Some(p(
                "b",
                PolicyType::Boundary,
                &format!(
                    r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":{boundary_actions},"Resource":"*"}}}}"#
                ),
            )),
            identity: vec![p(
                "i",
                PolicyType::Identity,
                &format!(
                    r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":{identity_actions},"Resource":"*"}}}}"#
                ),
            )],
            ..Default::default()
        }
    };
    let r = Request::new(user("a"), "ec2:RunInstances", "*");
    let all = r#"["ec2:*","s3:*"]"#;
    assert_eq!(decide(&set(all, all, all), None, &r), Effect::Allow);
    let s = set(r#""s3:*""#, all, all);
    let d = evaluate(&s, None, &r);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::ServiceControlPolicy)
    );
    let s = set(all, r#""s3:*""#, all);
    let d = evaluate(&s, None, &r);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::PermissionsBoundary)
    );
    let s = set(all, all, r#""s3:*""#);
    let d = evaluate(&s, None, &r);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::IdentityBased)
    );
}

/// Session policies: the session's permissions are what the identity policy, the boundary
/// and the session policy all allow.
#[test]
fn boundary_with_session_policy_all_three() {
    let set = PrincipalPolicies {
        identity: vec![p(
            "i",
            PolicyType::Identity,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*","ec2:*","sqs:*"],"Resource":"*"}}"#,
        )],
        boundary: Some(p(
            "b",
            PolicyType::Boundary,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*","ec2:*"],"Resource":"*"}}"#,
        )),
        session: vec![p(
            "s",
            PolicyType::Session,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*","sqs:*"],"Resource":"*"}}"#,
        )],
        ..Default::default()
    };
    let s = session_of(ACCT, "r", "s");
    let r = |a: &str| Request::new(s.clone(), a, "*");
    assert_eq!(decide(&set, None, &r("s3:ListAllMyBuckets")), Effect::Allow);
    assert_eq!(
        evaluate(&set, None, &r("ec2:RunInstances")).deciding_layer,
        Layer::SessionPolicy
    );
    assert_eq!(
        evaluate(&set, None, &r("sqs:SendMessage")).deciding_layer,
        Layer::PermissionsBoundary
    );
    assert_eq!(
        decide(&set, None, &r("ec2:RunInstances")),
        Effect::ImplicitDeny
    );
}

/// Delegating responsibility using permissions boundaries: Zhang may create users only with the
/// `XCompanyBoundaries` boundary, may not remove boundaries, may not edit the boundary
/// policies, and his own boundary keeps him out of S3.
#[test]
fn boundary_delegation_zhang() {
    let boundary_arn = format!("arn:aws:iam::{ACCT}:policy/XCompanyBoundaries");
    let delegated_boundary = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"CreateOrChangeOnlyWithBoundary","Effect":"Allow","Action":["iam:CreateUser","iam:DeleteUserPolicy",
          "iam:AttachUserPolicy","iam:DetachUserPolicy","iam:PutUserPermissionsBoundary"],"Resource":"*",
          "Condition":{{"StringEquals":{{"iam:PermissionsBoundary":"{boundary_arn}"}}}}}},
        {{"Sid":"CloudWatchAndOtherIAMTasks","Effect":"Allow","Action":["cloudwatch:*","iam:GetUser","iam:ListUsers",
          "iam:DeleteUser","iam:UpdateUser","iam:CreateAccessKey","iam:*Group*","iam:CreatePolicy","iam:DeletePolicy",
          "iam:GetPolicy","iam:PutUserPolicy","iam:SetDefaultPolicyVersion","iam:SimulatePrincipalPolicy"],"Resource":"*"}},
        {{"Sid":"NoBoundaryPolicyEdit","Effect":"Deny","Action":["iam:CreatePolicyVersion","iam:DeletePolicy",
          "iam:DeletePolicyVersion","iam:SetDefaultPolicyVersion"],
          "Resource":["{boundary_arn}","arn:aws:iam::{ACCT}:policy/DelegatedUserBoundary"]}},
        {{"Sid":"NoBoundaryUserDelete","Effect":"Deny","Action":"iam:DeleteUserPermissionsBoundary","Resource":"*"}}]}}"#
    );
    let set = PrincipalPolicies {
        identity: vec![p(
            "DelegatedUserPermissions",
            PolicyType::Identity,
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"IAM","Effect":"Allow","Action":"iam:*","Resource":"*"},
            {"Sid":"S3BucketContents","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::ZhangBucket"}]}"#,
        )],
        boundary: Some(p(
            "DelegatedUserBoundary",
            PolicyType::Boundary,
            &delegated_boundary,
        )),
        ..Default::default()
    };
    let zhang = user("Zhang");
    let new_user = format!("arn:aws:iam::{ACCT}:user/NewUser");
    let create = |b: Option<&str>| {
        let r = Request::new(zhang.clone(), "iam:CreateUser", new_user.as_str());
        match b {
            Some(b) => r.with_context("iam:PermissionsBoundary", ContextValue::string(b)),
            None => r,
        }
    };
    assert_eq!(
        decide(&set, None, &create(Some(&boundary_arn))),
        Effect::Allow
    );
    let other = format!("arn:aws:iam::{ACCT}:policy/AdministratorAccess");
    let d = evaluate(&set, None, &create(Some(&other)));
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::PermissionsBoundary)
    );
    assert_eq!(decide(&set, None, &create(None)), Effect::ImplicitDeny);
    let remove = Request::new(
        zhang.clone(),
        "iam:DeleteUserPermissionsBoundary",
        new_user.as_str(),
    );
    assert_eq!(decide(&set, None, &remove), Effect::ExplicitDeny);
    let edit = Request::new(
        zhang.clone(),
        "iam:SetDefaultPolicyVersion",
        boundary_arn.as_str(),
    );
    assert_eq!(decide(&set, None, &edit), Effect::ExplicitDeny);
    let other_policy = format!("arn:aws:iam::{ACCT}:policy/TeamPolicy");
    let edit_other = Request::new(
        zhang.clone(),
        "iam:SetDefaultPolicyVersion",
        other_policy.as_str(),
    );
    assert_eq!(decide(&set, None, &edit_other), Effect::Allow);
    let list = Request::new(zhang, "s3:ListBucket", "arn:aws:s3:::ZhangBucket");
    assert_eq!(
        evaluate(&set, None, &list).deciding_layer,
        Layer::PermissionsBoundary
    );
}

/// Delegating responsibility: a new user under `XCompanyBoundaries` with an administrator
/// policy manages only their own keys, cannot manage other users, and cannot reach the logs
/// bucket or the production instance.
#[test]
fn boundary_delegation_new_user_limits() {
    let set = PrincipalPolicies {
        identity: vec![p("admin", PolicyType::Identity, ALLOW_ALL)],
        boundary: Some(p(
            "XCompanyBoundaries",
            PolicyType::Boundary,
            r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"ServiceBoundaries","Effect":"Allow","Action":["s3:*","cloudwatch:*","ec2:*","dynamodb:*"],"Resource":"*"},
            {"Sid":"AllowIAMConsoleForCredentials","Effect":"Allow","Action":["iam:ListUsers","iam:GetAccountPasswordPolicy"],"Resource":"*"},
            {"Sid":"AllowManageOwnPasswordAndAccessKeys","Effect":"Allow","Action":["iam:*AccessKey*","iam:ChangePassword","iam:GetUser",
              "iam:*ServiceSpecificCredential*","iam:*SigningCertificate*"],"Resource":["arn:aws:iam::*:user/${aws:username}"]},
            {"Sid":"DenyS3Logs","Effect":"Deny","Action":"s3:*","Resource":["arn:aws:s3:::logs","arn:aws:s3:::logs/*"]},
            {"Sid":"DenyEC2Production","Effect":"Deny","Action":"ec2:*","Resource":"arn:aws:ec2:*:*:instance/i-1234567890abcdef0"}]}"#,
        )),
        ..Default::default()
    };
    let r = |a: &str, res: &str| Request::new(user("nikhil"), a, res);
    let own = format!("arn:aws:iam::{ACCT}:user/nikhil");
    let other = format!("arn:aws:iam::{ACCT}:user/zhang");
    assert_eq!(
        decide(&set, None, &r("iam:CreateAccessKey", &own)),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("iam:ChangePassword", &own)),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("iam:CreateAccessKey", &other)),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("iam:CreateUser", &other)),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&set, None, &r("iam:ListUsers", "*")), Effect::Allow);
    assert_eq!(
        decide(&set, None, &r("s3:GetObject", "arn:aws:s3:::logs/a")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("s3:GetObject", "arn:aws:s3:::data/a")),
        Effect::Allow
    );
    let prod = format!("arn:aws:ec2:us-east-1:{ACCT}:instance/i-1234567890abcdef0");
    let dev = format!("arn:aws:ec2:us-east-1:{ACCT}:instance/i-0000000000000000a");
    assert_eq!(
        decide(&set, None, &r("ec2:StopInstances", &prod)),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("ec2:StopInstances", &dev)),
        Effect::Allow
    );
}

// ---------------------------------------------------------------------------------------------
// "Policy evaluation logic" and "Session policies"

/// Identity-based and resource-based policies (the JohnSmith / CarlosSalazar / MaryMajor /
/// ZhangWei figure): within one account either kind of policy can allow, and an explicit deny
/// in the resource-based policy overrides an identity allow.
#[test]
fn evaluation_identity_and_resource_policies_figure() {
    let res_z = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/ZhangWei"},"Action":"s3:*","Resource":"arn:aws:s3:::resource-z/*"},
        {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/CarlosSalazar"},"Action":"s3:*","Resource":"arn:aws:s3:::resource-z/*"}]}"#,
    );
    let carlos = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:List*","s3:Get*"],"Resource":"*"}}"#,
    );
    let z = |who: &str, a: &str| Request::new(user(who), a, "arn:aws:s3:::resource-z/k");
    assert_eq!(
        decide(&carlos, Some(&res_z), &z("CarlosSalazar", "s3:GetObject")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(
            &PrincipalPolicies::default(),
            Some(&res_z),
            &z("ZhangWei", "s3:PutObject")
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(&carlos, Some(&res_z), &z("MaryMajor", "s3:GetObject")),
        Effect::Allow
    );
    assert_eq!(
        decide(&carlos, Some(&res_z), &z("MaryMajor", "s3:PutObject")),
        Effect::ImplicitDeny
    );
}

/// Session policies: a resource-based policy naming the session's ARN grants in addition to the
/// session policy; one naming the role ARN is limited by it.
#[test]
fn session_policy_and_resource_policy_principal() {
    let set = PrincipalPolicies {
        identity: vec![p(
            "i",
            PolicyType::Identity,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#,
        )],
        session: vec![p(
            "s",
            PolicyType::Session,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#,
        )],
        ..Default::default()
    };
    let grant = |principal: &str| {
        resource(
            ACCT,
            &format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},
                "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}}}"#
            ),
        )
    };
    let s = session_of(ACCT, "app", "worker");
    let r = Request::new(s, "s3:GetObject", "arn:aws:s3:::b/k");
    let to_session = grant(&format!("arn:aws:sts::{ACCT}:assumed-role/app/worker"));
    assert_eq!(decide(&set, Some(&to_session), &r), Effect::Allow);
    let to_role = grant(&format!("arn:aws:iam::{ACCT}:role/app"));
    let d = evaluate(&set, Some(&to_role), &r);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::SessionPolicy)
    );
    // Without a session policy the role-ARN grant suffices.
    let plain = PrincipalPolicies {
        session: vec![],
        ..set
    };
    assert_eq!(decide(&plain, Some(&to_role), &r), Effect::Allow);
}

/// Cross-account policy evaluation logic: a role trust policy naming another account only
/// delegates; that account's user also needs `sts:AssumeRole` in an identity policy. Within the
/// account, a trust policy naming the user directly is enough.
#[test]
fn cross_account_assume_role() {
    let trust = |principal: &str| ResourcePolicies {
        owner_account: ACCT.into(),
        policy: Some(p(
            "trust",
            PolicyType::Trust,
            &format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}}}"#
            ),
        )),
        kind: ResourcePolicyKind::Trust,
        ..Default::default()
    };
    let role = format!("arn:aws:iam::{ACCT}:role/UpdateApp");
    let can_assume = identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{role}"}}}}"#
    ));
    let none = PrincipalPolicies::default();
    let dev = Request::new(
        user_in("111122223333", "dev"),
        "sts:AssumeRole",
        role.as_str(),
    );
    let other_acct = trust("arn:aws:iam::111122223333:root");
    assert_eq!(decide(&can_assume, Some(&other_acct), &dev), Effect::Allow);
    assert_eq!(decide(&none, Some(&other_acct), &dev), Effect::ImplicitDeny);
    let mine = Request::new(user("ops"), "sts:AssumeRole", role.as_str());
    assert_eq!(
        decide(
            &none,
            Some(&trust(&format!("arn:aws:iam::{ACCT}:user/ops"))),
            &mine
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(&none, Some(&trust(ACCT)), &mine),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&can_assume, Some(&trust(ACCT)), &mine),
        Effect::Allow
    );
    // A trust policy that names nobody in the caller's account denies even with an identity grant.
    assert_eq!(
        decide(
            &can_assume,
            Some(&trust("arn:aws:iam::444455556666:root")),
            &mine
        ),
        Effect::ImplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// "Example IAM identity-based policies"

/// "AWS: Denies access to AWS based on the source IP": everything is denied from outside the
/// company ranges; the policy allows nothing by itself.
#[test]
fn example_deny_outside_source_ip() {
    let deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*",
        "Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}}}"#;
    let set = with_admin(deny);
    let from = |ip: &str| {
        Request::new(user("a"), "ec2:RunInstances", "*")
            .with_context("aws:SourceIp", ContextValue::string(ip))
    };
    assert_eq!(decide(&set, None, &from("192.0.2.17")), Effect::Allow);
    assert_eq!(decide(&set, None, &from("203.0.113.200")), Effect::Allow);
    assert_eq!(
        decide(&set, None, &from("198.51.100.1")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&identity(deny), None, &from("192.0.2.17")),
        Effect::ImplicitDeny
    );
}

/// "AWS: Denies access to AWS based on the requested Region": outside eu-central-1 and
/// eu-west-1 everything is denied except the listed global services.
#[test]
fn example_deny_outside_requested_regions() {
    let set = with_admin(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOutsideRequestedRegions","Effect":"Deny",
        "NotAction":["cloudfront:*","iam:*","route53:*","support:*"],"Resource":"*",
        "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-central-1","eu-west-1"]}}}]}"#,
    );
    let r = |a: &str, region: &str| {
        Request::new(user("a"), a, "*")
            .with_context("aws:RequestedRegion", ContextValue::string(region))
    };
    assert_eq!(
        decide(&set, None, &r("ec2:RunInstances", "eu-central-1")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("ec2:RunInstances", "us-east-1")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("iam:CreateUser", "us-east-1")),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r("route53:ChangeResourceRecordSets", "us-east-1")
        ),
        Effect::Allow
    );
}

/// "AWS: Allows access based on date and time, with MFA": both the window and MFA are required.
#[test]
fn example_mfa_within_dates() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["service-prefix-1:*","service-prefix-2:action-name-a"],
        "Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":true},
        "DateGreaterThan":{"aws:CurrentTime":"2017-07-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2017-12-31T23:59:59Z"}}}]}"#,
    );
    let r = |a: &str, mfa: bool, t: &str| {
        Request::new(user("a"), a, "*")
            .with_context("aws:MultiFactorAuthPresent", ContextValue::bool(mfa))
            .with_context("aws:CurrentTime", ContextValue::string(t))
    };
    assert_eq!(
        decide(
            &set,
            None,
            &r("service-prefix-1:Anything", true, "2017-09-01T10:00:00Z")
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "service-prefix-2:action-name-a",
                true,
                "2017-09-01T10:00:00Z"
            )
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "service-prefix-2:action-name-b",
                true,
                "2017-09-01T10:00:00Z"
            )
        ),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r("service-prefix-1:Anything", false, "2017-09-01T10:00:00Z")
        ),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r("service-prefix-1:Anything", true, "2018-01-01T00:00:00Z")
        ),
        Effect::ImplicitDeny
    );
}

/// "IAM: Allows MFA-authenticated IAM users to manage their own credentials": without MFA only
/// the listed MFA-setup actions escape the Deny; with MFA the user manages their own
/// credentials, never another user's.
#[test]
fn example_self_manage_credentials_with_mfa() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"AllowViewAccountInfo","Effect":"Allow","Action":["iam:GetAccountPasswordPolicy","iam:ListVirtualMFADevices"],"Resource":"*"},
        {"Sid":"AllowManageOwnPasswords","Effect":"Allow","Action":["iam:ChangePassword","iam:GetUser"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
        {"Sid":"AllowManageOwnAccessKeys","Effect":"Allow","Action":["iam:CreateAccessKey","iam:DeleteAccessKey","iam:ListAccessKeys","iam:UpdateAccessKey"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
        {"Sid":"AllowManageOwnVirtualMFADevice","Effect":"Allow","Action":["iam:CreateVirtualMFADevice"],"Resource":"arn:aws:iam::*:mfa/*"},
        {"Sid":"AllowManageOwnUserMFA","Effect":"Allow","Action":["iam:DeactivateMFADevice","iam:EnableMFADevice","iam:ListMFADevices","iam:ResyncMFADevice"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
        {"Sid":"DenyAllExceptListedIfNoMFA","Effect":"Deny","NotAction":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser",
          "iam:ListMFADevices","iam:ListVirtualMFADevices","iam:ResyncMFADevice","sts:GetSessionToken"],"Resource":"*",
         "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
    );
    let own = format!("arn:aws:iam::{ACCT}:user/alice");
    let other = format!("arn:aws:iam::{ACCT}:user/bob");
    let r = |a: &str, res: &str, mfa: Option<bool>| {
        let r = Request::new(user("alice"), a, res);
        match mfa {
            Some(m) => r.with_context("aws:MultiFactorAuthPresent", ContextValue::bool(m)),
            None => r,
        }
    };
    // Signed in without MFA, or with long-term access keys (no key): only the MFA setup works.
    for mfa in [Some(false), None] {
        assert_eq!(
            decide(&set, None, &r("iam:EnableMFADevice", &own, mfa)),
            Effect::Allow
        );
        assert_eq!(
            decide(&set, None, &r("iam:CreateAccessKey", &own, mfa)),
            Effect::ExplicitDeny
        );
        assert_eq!(
            decide(&set, None, &r("iam:ChangePassword", &own, mfa)),
            Effect::ExplicitDeny
        );
    }
    assert_eq!(
        decide(&set, None, &r("iam:CreateAccessKey", &own, Some(true))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("iam:ChangePassword", &own, Some(true))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r("iam:CreateAccessKey", &other, Some(true))),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "iam:CreateVirtualMFADevice",
                &format!("arn:aws:iam::{ACCT}:mfa/alice"),
                Some(false)
            )
        ),
        Effect::Allow
    );
}

/// "EC2: Start or stop instances based on matching principal and resource tags" (ABAC): the
/// instance's `Project` tag must equal the caller's.
#[test]
fn example_abac_matching_project_tags() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:StartInstances","ec2:StopInstances"],"Resource":"*",
        "Condition":{"StringEquals":{"aws:ResourceTag/Project":"${aws:PrincipalTag/Project}"}}},
        {"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}"#,
    );
    let inst = format!("arn:aws:ec2:us-east-1:{ACCT}:instance/i-1");
    let r = |principal: Option<&str>, res_tag: Option<&str>| {
        let mut r = Request::new(user("a"), "ec2:StopInstances", inst.as_str());
        if let Some(t) = principal {
            r = r.with_context("aws:PrincipalTag/Project", ContextValue::string(t));
        }
        if let Some(t) = res_tag {
            r = r.with_context("aws:ResourceTag/Project", ContextValue::string(t));
        }
        r
    };
    assert_eq!(
        decide(&set, None, &r(Some("DataAnalytics"), Some("DataAnalytics"))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &r(Some("DataAnalytics"), Some("Web"))),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r(None, Some("DataAnalytics"))),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r(Some("DataAnalytics"), None)),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &Request::new(user("a"), "ec2:DescribeInstances", "*")
        ),
        Effect::Allow
    );
}

/// "EC2: Start or stop an instance based on tags" with the owner: the instance's `Owner` tag
/// must be the caller's user name.
#[test]
fn example_instance_owner_tag_is_username() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:StartInstances","ec2:StopInstances"],
        "Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"aws:ResourceTag/Owner":"${aws:username}"}}}]}"#,
    );
    let stop = |who: &str, owner: &str| {
        Request::new(
            user(who),
            "ec2:StopInstances",
            format!("arn:aws:ec2:us-east-1:{ACCT}:instance/i-1"),
        )
        .with_context("aws:ResourceTag/Owner", ContextValue::string(owner))
    };
    assert_eq!(decide(&set, None, &stop("alice", "alice")), Effect::Allow);
    assert_eq!(
        decide(&set, None, &stop("alice", "bob")),
        Effect::ImplicitDeny
    );
}

/// "IAM: Access the policy simulator API based on user path": only users under the
/// `Department/Development/` path can be simulated.
#[test]
fn example_policy_simulator_by_user_path() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Action":["iam:GetContextKeysForPrincipalPolicy","iam:SimulatePrincipalPolicy"],
        "Effect":"Allow","Resource":"arn:aws:iam::*:user/Department/Development/*"}]}"#,
    );
    let sim = |target: &str| {
        Request::new(
            user("a"),
            "iam:SimulatePrincipalPolicy",
            format!("arn:aws:iam::{ACCT}:user/{target}"),
        )
    };
    assert_eq!(
        decide(&set, None, &sim("Department/Development/alice")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &sim("Department/Development/team/bob")),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, None, &sim("Department/Finance/carol")),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&set, None, &sim("dave")), Effect::ImplicitDeny);
}

// ---------------------------------------------------------------------------------------------
// Organizations User Guide, "Service control policies (SCPs)" and "Example SCPs"

fn scp_set(levels: &[&[&str]]) -> PrincipalPolicies {
    PrincipalPolicies {
        scp_levels: levels
            .iter()
            .enumerate()
            .map(|(i, texts)| {
                texts
                    .iter()
                    .enumerate()
                    .map(|(j, t)| p(&format!("scp-{i}-{j}"), PolicyType::Scp, t))
                    .collect()
            })
            .collect(),
        identity: vec![p("admin", PolicyType::Identity, ALLOW_ALL)],
        ..Default::default()
    }
}

const FULL_AWS_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// SCP inheritance (allow list strategy): every level from the root to the account must allow;
/// an OU that allows only EC2 and S3 blocks IAM even for an administrator.
#[test]
fn scp_allow_list_every_level_must_allow() {
    let ou = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","s3:*"],"Resource":"*"}]}"#;
    let set = scp_set(&[&[FULL_AWS_ACCESS], &[ou], &[FULL_AWS_ACCESS]]);
    assert_eq!(
        decide(
            &set,
            None,
            &Request::new(user("admin"), "s3:ListAllMyBuckets", "*")
        ),
        Effect::Allow
    );
    let d = evaluate(
        &set,
        None,
        &Request::new(user("admin"), "iam:CreateUser", "*"),
    );
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ImplicitDeny, Layer::ServiceControlPolicy)
    );
    // SCPs grant nothing: without an identity policy nothing is allowed.
    let no_identity = PrincipalPolicies {
        identity: vec![],
        ..set
    };
    assert_eq!(
        decide(
            &no_identity,
            None,
            &Request::new(user("a"), "s3:ListAllMyBuckets", "*")
        ),
        Effect::ImplicitDeny
    );
}

/// SCP effects on permissions: SCPs restrict the member account's root user and do not restrict
/// service-linked roles.
#[test]
fn scp_binds_member_root_not_service_linked_roles() {
    let deny_ec2 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
        {"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}"#;
    let set = scp_set(&[&[deny_ec2]]);
    let root = RequestPrincipal::from_arn(&format!("arn:aws:iam::{ACCT}:root")).unwrap();
    assert_eq!(
        decide(
            &set,
            None,
            &Request::new(root.clone(), "ec2:RunInstances", "*")
        ),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &Request::new(root, "s3:ListAllMyBuckets", "*")),
        Effect::Allow
    );
    let mut slr = session_of(ACCT, "AWSServiceRoleForAutoScaling", "AutoScaling");
    slr.service_linked_role = true;
    assert_eq!(
        decide(&set, None, &Request::new(slr, "ec2:RunInstances", "*")),
        Effect::Allow
    );
}

/// Example SCPs: prevent the account from leaving the organization and from stopping
/// CloudTrail logging.
#[test]
fn scp_deny_list_leave_org_and_cloudtrail() {
    let deny = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"},
        {"Effect":"Deny","Action":["cloudtrail:StopLogging","cloudtrail:DeleteTrail"],"Resource":"*"}]}"#;
    let set = scp_set(&[&[FULL_AWS_ACCESS, deny]]);
    let r = |a: &str| Request::new(user("admin"), a, "*");
    assert_eq!(
        decide(&set, None, &r("organizations:LeaveOrganization")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("cloudtrail:StopLogging")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r("cloudtrail:LookupEvents")),
        Effect::Allow
    );
}

/// Example SCPs: deny every action to the root user of member accounts.
#[test]
fn scp_deny_root_user() {
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"RestrictRootUser","Effect":"Deny","Action":"*","Resource":"*",
        "Condition":{"StringLike":{"aws:PrincipalArn":["arn:aws:iam::*:root"]}}}]}"#;
    let set = scp_set(&[&[FULL_AWS_ACCESS, deny]]);
    let root = RequestPrincipal::from_arn(&format!("arn:aws:iam::{ACCT}:root")).unwrap();
    assert_eq!(
        decide(&set, None, &Request::new(root, "s3:ListAllMyBuckets", "*")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &Request::new(user("a"), "s3:ListAllMyBuckets", "*")
        ),
        Effect::Allow
    );
}

/// Example SCPs: require a `Project` tag on new EC2 instances (a `Null` check on the request
/// tag); other resources of the launch are not affected.
#[test]
fn scp_require_tag_on_run_instances() {
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyRunInstanceWithNoProjectTag","Effect":"Deny",
        "Action":"ec2:RunInstances","Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"Null":{"aws:RequestTag/Project":"true"}}}]}"#;
    let set = scp_set(&[&[FULL_AWS_ACCESS, deny]]);
    let inst = format!("arn:aws:ec2:us-east-1:{ACCT}:instance/*");
    let run = Request::new(user("a"), "ec2:RunInstances", inst.as_str());
    assert_eq!(decide(&set, None, &run), Effect::ExplicitDeny);
    let tagged = run.with_context("aws:RequestTag/Project", ContextValue::string("x"));
    assert_eq!(decide(&set, None, &tagged), Effect::Allow);
    let image = Request::new(
        user("a"),
        "ec2:RunInstances",
        "arn:aws:ec2:us-east-1::image/ami-1",
    );
    assert_eq!(decide(&set, None, &image), Effect::Allow);
}

/// Example SCPs: deny outside the approved Regions, except for an administrator role that may
/// bypass the SCP (`ArnNotLike` on `aws:PrincipalARN`).
#[test]
fn scp_region_deny_with_exempt_role() {
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOutsideEU","Effect":"Deny",
        "NotAction":["iam:*","organizations:*","route53:*","sts:*","support:*"],"Resource":"*",
        "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-central-1","eu-west-1"]},
                     "ArnNotLike":{"aws:PrincipalARN":["arn:aws:iam::*:role/Role1AllowedToBypassThisSCP"]}}}]}"#;
    let set = scp_set(&[&[FULL_AWS_ACCESS, deny]]);
    let r = |who: RequestPrincipal, region: &str| {
        Request::new(who, "ec2:RunInstances", "*")
            .with_context("aws:RequestedRegion", ContextValue::string(region))
    };
    assert_eq!(
        decide(&set, None, &r(user("a"), "us-east-1")),
        Effect::ExplicitDeny
    );
    assert_eq!(
        decide(&set, None, &r(user("a"), "eu-west-1")),
        Effect::Allow
    );
    let bypass = session_of(ACCT, "Role1AllowedToBypassThisSCP", "admin");
    assert_eq!(decide(&set, None, &r(bypass, "us-east-1")), Effect::Allow);
    let other_role = session_of(ACCT, "Developer", "dev");
    assert_eq!(
        decide(&set, None, &r(other_role, "us-east-1")),
        Effect::ExplicitDeny
    );
}

/// "AWS JSON policy elements: NotPrincipal", key points: a Deny with `NotPrincipal` in a
/// resource-based policy always denies an IAM principal that has a permissions boundary,
/// whatever the `NotPrincipal` element lists.
#[test]
fn not_principal_deny_always_denies_principals_with_a_boundary() {
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::123456789012:user/Bob","arn:aws:iam::123456789012:root"]},
         "Action":"s3:*","Resource":["arn:aws:s3:::BUCKETNAME","arn:aws:s3:::BUCKETNAME/*"]}]}"#,
    );
    let mut set = identity(ALLOW_ALL);
    let get = Request::new(user("Bob"), "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k");
    assert_eq!(decide(&set, Some(&res), &get), Effect::Allow);
    set.boundary = Some(p("boundary", PolicyType::Boundary, ALLOW_ALL));
    let d = evaluate(&set, Some(&res), &get);
    assert_eq!(
        (d.effect, d.deciding_layer),
        (Effect::ExplicitDeny, Layer::ResourceBased)
    );
    // A role session with a boundary on its role, named by its session ARN, is denied too.
    let session = session_of(ACCT, "auditor", "app");
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::123456789012:assumed-role/auditor/app",
          "arn:aws:iam::123456789012:role/auditor","arn:aws:iam::123456789012:root"]},
         "Action":"s3:*","Resource":"arn:aws:s3:::BUCKETNAME/*"}]}"#,
    );
    let r = Request::new(session, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k");
    assert_eq!(decide(&set, Some(&res), &r), Effect::ExplicitDeny);
    set.boundary = None;
    assert_eq!(decide(&set, Some(&res), &r), Effect::Allow);
}

/// "IAM JSON policy elements: Condition operators", IP address operators: an address without
/// a routing prefix is read as `/32`.
#[test]
fn condition_operators_ip_without_prefix_is_slash_32() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*",
        "Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.5"}}}}"#,
    );
    let from = |ip: &str| {
        Request::new(user("a"), "s3:ListAllMyBuckets", "*")
            .with_context("aws:SourceIp", ContextValue::string(ip))
    };
    assert_eq!(decide(&set, None, &from("203.0.113.5")), Effect::Allow);
    assert_eq!(
        decide(&set, None, &from("203.0.113.6")),
        Effect::ImplicitDeny
    );
}

/// "IAM JSON policy elements: Condition operators", date operators: values in the W3C forms of
/// ISO 8601 (with or without seconds, fractions, an offset) or in epoch seconds compare as the
/// same instant.
#[test]
fn condition_operators_date_formats() {
    let before = |value: &str| {
        identity(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"*",
            "Condition":{{"DateLessThan":{{"aws:CurrentTime":"{value}"}}}}}}}}"#
        ))
    };
    let at = |t: &str| {
        Request::new(user("a"), "s3:ListAllMyBuckets", "*")
            .with_context("aws:CurrentTime", ContextValue::string(t))
    };
    // All of these are 2021-01-01T00:00:00Z.
    for value in [
        "2021-01-01T00:00:00Z",
        "2021-01-01T00:00Z",
        "2021-01-01T01:00:00+01:00",
        "2021-01-01T00:00:00.000Z",
        "2021-01-01",
        "1609459200",
    ] {
        let set = before(value);
        assert_eq!(
            decide(&set, None, &at("2020-12-31T23:59:59Z")),
            Effect::Allow,
            "{value}"
        );
        assert_eq!(
            decide(&set, None, &at("2021-01-01T00:00:00Z")),
            Effect::ImplicitDeny,
            "{value}"
        );
        assert_eq!(
            decide(&set, None, &at("1609459199")),
            Effect::Allow,
            "{value} epoch request"
        );
    }
}

/// "IAM JSON policy elements: Resource": wildcards within ARN segments; `*` in the resource
/// segment spans slashes (user paths), and each segment is matched on its own.
#[test]
fn resource_wildcards() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::123456789012:user/*"},
        {"Effect":"Allow","Action":"dynamodb:Query","Resource":"arn:aws:dynamodb:us-east-?:*:table/Books"}]}"#,
    );
    let r = |a: &str, res: &str| Request::new(user("a"), a, res);
    assert_eq!(
        decide(
            &set,
            None,
            &r("iam:GetUser", "arn:aws:iam::123456789012:user/Bob")
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "iam:GetUser",
                "arn:aws:iam::123456789012:user/division_abc/subdivision_xyz/Bob"
            )
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r("iam:GetUser", "arn:aws:iam::123456789012:group/Admins")
        ),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r("iam:GetUser", "arn:aws:iam::111122223333:user/Bob")
        ),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-2:123456789012:table/Books"
            )
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "dynamodb:Query",
                "arn:aws:dynamodb:us-west-2:123456789012:table/Books"
            )
        ),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(
            &set,
            None,
            &r(
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-2:123456789012:table/Books/index/x"
            )
        ),
        Effect::ImplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// "Access to AWS resources owned by third parties" (external ID), "Configuring MFA-protected
// API access", and "AWS global condition context keys"

fn trust_of(text: &str) -> ResourcePolicies {
    ResourcePolicies {
        owner_account: ACCT.into(),
        policy: Some(p("trust", PolicyType::Trust, text)),
        kind: ResourcePolicyKind::Trust,
        ..Default::default()
    }
}

/// External ID: the third party's account may assume the role only when it passes the ID the
/// customer gave it.
#[test]
fn trust_external_id() {
    let trust = trust_of(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole",
        "Condition":{"StringEquals":{"sts:ExternalId":"Unique ID Assigned by Example Corp"}}}}"#,
    );
    let role = format!("arn:aws:iam::{ACCT}:role/ExampleCorpAccess");
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
    );
    let assume = |id: Option<&str>| {
        let r = Request::new(
            user_in("111122223333", "app"),
            "sts:AssumeRole",
            role.as_str(),
        );
        match id {
            Some(id) => r.with_context("sts:ExternalId", ContextValue::string(id)),
            None => r,
        }
    };
    assert_eq!(
        decide(
            &set,
            Some(&trust),
            &assume(Some("Unique ID Assigned by Example Corp"))
        ),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, Some(&trust), &assume(Some("guessed"))),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, Some(&trust), &assume(None)),
        Effect::ImplicitDeny
    );
}

/// MFA-protected API access: a trust policy that lets the account's users assume the role only
/// after authenticating with MFA.
#[test]
fn trust_requires_mfa() {
    let trust = trust_of(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},
        "Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#,
    );
    let role = format!("arn:aws:iam::{ACCT}:role/Admin");
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
    );
    let assume = |mfa: Option<bool>| {
        let r = Request::new(user("a"), "sts:AssumeRole", role.as_str());
        match mfa {
            Some(m) => r.with_context("aws:MultiFactorAuthPresent", ContextValue::bool(m)),
            None => r,
        }
    };
    assert_eq!(
        decide(&set, Some(&trust), &assume(Some(true))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, Some(&trust), &assume(Some(false))),
        Effect::ImplicitDeny
    );
    assert_eq!(
        decide(&set, Some(&trust), &assume(None)),
        Effect::ImplicitDeny
    );
}

/// MFA-protected API access: `aws:MultiFactorAuthAge` limits how long ago MFA happened; a
/// request without MFA has no such key and does not match.
#[test]
fn mfa_auth_age() {
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:StopInstances","Resource":"*",
        "Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}}"#,
    );
    let stop = |age: Option<f64>| {
        let r = Request::new(user("a"), "ec2:StopInstances", "*");
        match age {
            Some(a) => r.with_context("aws:MultiFactorAuthAge", ContextValue::number(a)),
            None => r,
        }
    };
    assert_eq!(decide(&set, None, &stop(Some(300.0))), Effect::Allow);
    assert_eq!(
        decide(&set, None, &stop(Some(7200.0))),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&set, None, &stop(None)), Effect::ImplicitDeny);
}

/// `aws:PrincipalOrgID`: a bucket open to every principal (`"AWS": "*"`) of one organization;
/// callers from other accounts still need their own identity policy, and callers outside the
/// organization are not named.
#[test]
fn principal_org_id_bucket_policy() {
    let res = resource(
        ACCT,
        r#"{"Version":"2012-10-17","Statement":{"Sid":"AllowPutObject","Effect":"Allow","Principal":{"AWS":"*"},
        "Action":"s3:PutObject","Resource":"arn:aws:s3:::policy-ninja-dev/*",
        "Condition":{"StringEquals":{"aws:PrincipalOrgID":["o-xxxxxxxxxxx"]}}}}"#,
    );
    let set = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}"#,
    );
    let put = |org: Option<&str>| {
        let r = Request::new(
            user_in("444455556666", "writer"),
            "s3:PutObject",
            "arn:aws:s3:::policy-ninja-dev/k",
        );
        match org {
            Some(o) => r.with_context("aws:PrincipalOrgID", ContextValue::string(o)),
            None => r,
        }
    };
    assert_eq!(
        decide(&set, Some(&res), &put(Some("o-xxxxxxxxxxx"))),
        Effect::Allow
    );
    assert_eq!(
        decide(&set, Some(&res), &put(Some("o-yyyyyyyyyyy"))),
        Effect::ImplicitDeny
    );
    assert_eq!(decide(&set, Some(&res), &put(None)), Effect::ImplicitDeny);
    assert_eq!(
        decide(
            &PrincipalPolicies::default(),
            Some(&res),
            &put(Some("o-xxxxxxxxxxx"))
        ),
        Effect::ImplicitDeny
    );
}
