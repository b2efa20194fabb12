//! Validation per policy type: each finding's AWS code and message.
#![expect(
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a panic is a test failure"
)]

use portcullis_policy::*;

fn findings(text: &str, ty: PolicyType) -> Vec<(FindingCode, String)> {
    parse(text, ty)
        .findings
        .into_iter()
        .map(|f| (f.code, f.message))
        .collect()
}

fn only(text: &str, ty: PolicyType) -> String {
    let f = findings(text, ty);
    assert_eq!(f.len(), 1, "{f:?}");
    f[0].1.clone()
}

const M: FindingCode = FindingCode::MalformedPolicyDocument;

fn stmt(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#)
}

#[test]
fn valid_documents_of_each_type() {
    let cases = [
        (
            PolicyType::Identity,
            r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#,
        ),
        (
            PolicyType::Boundary,
            r#""Effect":"Allow","Action":["s3:*","ec2:*"],"Resource":"*""#,
        ),
        (
            PolicyType::Session,
            r#""Effect":"Allow","NotAction":"iam:*","Resource":"*""#,
        ),
        (
            PolicyType::Resource,
            r#""Sid":"Public read","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#,
        ),
        (
            PolicyType::Trust,
            r#""Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole""#,
        ),
        (
            PolicyType::Scp,
            r#""Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*""#,
        ),
        (
            PolicyType::Rcp,
            r#""Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"BoolIfExists":{"aws:SecureTransport":"false"}}"#,
        ),
        (
            PolicyType::Key,
            r#""Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*""#,
        ),
    ];
    for (ty, body) in cases {
        assert!(
            findings(&stmt(body), ty).is_empty(),
            "{ty:?}: {:?}",
            findings(&stmt(body), ty)
        );
    }
    // Statement as a single object, and Version 2008-10-17.
    let obj =
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
    assert!(findings(obj, PolicyType::Identity).is_empty());
}

#[test]
fn syntax_errors() {
    for text in [
        "",
        "{",
        "[]",
        r#"{"Statement":"x"}"#,
        r#"{"Version":"2012-10-17"}"#,
        &stmt(r#""Effect":"Allow","Action":"s3:*","Resource":"*","Foo":1"#),
    ] {
        assert_eq!(
            findings(text, PolicyType::Identity)[0],
            (M, "Syntax errors in policy.".into()),
            "{text}"
        );
    }
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Action":"s3:*","NotAction":"s3:*","Resource":"*""#),
            PolicyType::Identity
        ),
        "Syntax errors in policy."
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Action":[1],"Resource":"*""#),
            PolicyType::Identity
        ),
        "Syntax errors in policy."
    );
}

#[test]
fn version_effect_actions_resources() {
    let bad_version =
        r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
    assert_eq!(
        only(bad_version, PolicyType::Identity),
        "The policy failed legacy parsing"
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"allow","Action":"s3:*","Resource":"*""#),
            PolicyType::Identity
        ),
        "Invalid effect: allow"
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Resource":"*""#),
            PolicyType::Identity
        ),
        "Policy statement must contain actions."
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Action":"s3:*""#),
            PolicyType::Identity
        ),
        "Policy statement must contain resources."
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Action":"GetObject","Resource":"*""#),
            PolicyType::Identity
        ),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Action":"s3:Get:Object","Resource":"*""#),
            PolicyType::Identity
        ),
        "Actions/Condition can contain only one colon."
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Action":"s3:*","Resource":"bucket""#),
            PolicyType::Identity
        ),
        "Resource bucket must be in ARN format or \"*\"."
    );
    assert_eq!(
        only(
            &stmt(r#""Effect":"Allow","Action":"s3:*","Resource":"arn:foo:s3:::b""#),
            PolicyType::Identity
        ),
        "Partition \"foo\" is not valid for resource \"arn:foo:s3:::b\"."
    );
}

#[test]
fn principals_per_type() {
    let with = stmt(
        r#""Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*""#,
    );
    assert_eq!(
        only(&with, PolicyType::Identity),
        "Policy document should not specify a principal."
    );
    assert_eq!(
        only(&with, PolicyType::Boundary),
        "Policy document should not specify a principal."
    );
    assert_eq!(
        only(&with, PolicyType::Session),
        "Has prohibited field Principal"
    );
    assert_eq!(
        only(&with, PolicyType::Scp),
        "The provided policy document does not meet the requirements of the specified policy type."
    );
    let not_principal = stmt(
        r#""Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*""#,
    );
    assert_eq!(
        only(&not_principal, PolicyType::Identity),
        "Has prohibited field NotPrincipal"
    );
    let without = stmt(r#""Effect":"Allow","Action":"s3:*","Resource":"*""#);
    for ty in [PolicyType::Resource, PolicyType::Key] {
        assert_eq!(only(&without, ty), "Missing required field Principal");
    }
    let trust_without = stmt(r#""Effect":"Allow","Action":"sts:AssumeRole""#);
    assert_eq!(
        only(&trust_without, PolicyType::Trust),
        "Missing required field Principal"
    );
    let bad = stmt(
        r#""Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"s3:*","Resource":"*""#,
    );
    assert_eq!(
        only(&bad, PolicyType::Resource),
        r#"Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/*""#
    );
    let bad_acct =
        stmt(r#""Effect":"Allow","Principal":{"AWS":"12345"},"Action":"s3:*","Resource":"*""#);
    assert_eq!(
        only(&bad_acct, PolicyType::Resource),
        r#"Invalid principal in policy: "AWS":"12345""#
    );
}

#[test]
fn trust_policy_rules() {
    let with_resource = stmt(
        r#""Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*""#,
    );
    assert_eq!(
        only(&with_resource, PolicyType::Trust),
        "Has prohibited field Resource"
    );
    let wrong_action = stmt(
        r#""Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"s3:GetObject""#,
    );
    assert_eq!(
        only(&wrong_action, PolicyType::Trust),
        "AssumeRole policy may only specify STS AssumeRole actions."
    );
}

#[test]
fn rcp_rules() {
    let specific_principal = stmt(
        r#""Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*""#,
    );
    let org =
        "The provided policy document does not meet the requirements of the specified policy type.";
    assert_eq!(only(&specific_principal, PolicyType::Rcp), org);
    let unsupported = stmt(r#""Effect":"Deny","Principal":"*","Action":"ec2:*","Resource":"*""#);
    assert_eq!(only(&unsupported, PolicyType::Rcp), org);
}

#[test]
fn sids() {
    let dup = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    assert_eq!(
        only(dup, PolicyType::Identity),
        "Statement IDs (SID) in a single policy must be unique."
    );
    let spaced = stmt(r#""Sid":"Read only","Effect":"Allow","Action":"s3:*","Resource":"*""#);
    assert_eq!(
        only(&spaced, PolicyType::Identity),
        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
    );
}

#[test]
fn conditions() {
    let bad_op = stmt(
        r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:SourceIp":"x"}}"#,
    );
    assert_eq!(
        only(&bad_op, PolicyType::Identity),
        "Invalid Condition type : StringEqualz"
    );
    let no_vendor = stmt(
        r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"SourceIp":"x"}}"#,
    );
    assert_eq!(
        only(&no_vendor, PolicyType::Identity),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
    let bad_ip = stmt(
        r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/8"}}"#,
    );
    assert_eq!(
        only(&bad_ip, PolicyType::Identity),
        "Syntax errors in policy."
    );
    let null_if_exists = stmt(
        r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"aws:SourceIp":"true"}}"#,
    );
    assert_eq!(
        only(&null_if_exists, PolicyType::Identity),
        "Invalid Condition type : NullIfExists"
    );
    // Every one of the 27 operators is accepted, with and without qualifiers.
    for (name, _) in OPERATORS {
        let value = match name {
            n if n.starts_with("Numeric") => "1",
            n if n.starts_with("Date") => "2020-01-01T00:00:00Z",
            n if n.contains("Ip") => "10.0.0.0/8",
            "Bool" | "Null" => "true",
            "BinaryEquals" => "aGVsbG8=",
            n if n.starts_with("Arn") => "arn:aws:s3:::b",
            _ => "x",
        };
        let text = stmt(&format!(
            r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{{"ForAnyValue:{name}":{{"k:k":"{value}"}}}}"#
        ));
        assert!(findings(&text, PolicyType::Identity).is_empty(), "{name}");
    }
}

#[test]
fn sizes_and_characters() {
    let big = |n: usize| {
        stmt(&format!(
            r#""Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::{}""#,
            "a".repeat(n)
        ))
    };
    assert_eq!(
        findings(&big(6100), PolicyType::Identity),
        vec![(
            FindingCode::LimitExceeded,
            "Cannot exceed quota for PolicySize: 6144".into()
        )]
    );
    assert!(
        findings(&big(6100), PolicyType::Resource)
            .iter()
            .all(|f| f.0 != FindingCode::LimitExceeded)
    );
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"Service":"{}.amazonaws.com"}},"Action":"sts:AssumeRole"}}}}"#,
        "a".repeat(2100)
    );
    assert_eq!(
        findings(&trust, PolicyType::Trust),
        vec![(
            FindingCode::LimitExceeded,
            "Cannot exceed quota for ACLSizePerRole: 2048".into()
        )]
    );
    assert_eq!(
        findings(&big(5100), PolicyType::Scp)[0].0,
        FindingCode::ConstraintViolation
    );
    assert!(findings(&big(5000), PolicyType::Scp).is_empty());
    assert_eq!(policy_size(" {\n\t\"a\" : 1 } "), 7);
    let snowman =
        stmt("\"Sid\":\"\u{2603}\",\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"");
    assert_eq!(
        findings(&snowman, PolicyType::Identity)[0].0,
        FindingCode::ValidationError
    );
    assert_eq!(
        check_inline_total(
            InlineOwner::Role,
            "r",
            [big(6100).as_str(), big(4200).as_str()]
        )
        .unwrap()
        .message,
        "Maximum policy size of 10240 bytes exceeded for role r"
    );
    assert!(check_inline_total(InlineOwner::Group, "g", [big(4000).as_str()]).is_none());
}

#[test]
fn policy_parse_reports_first_finding() {
    let err = Policy::parse("p", "{", PolicyType::Identity).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MalformedPolicyDocument: Syntax errors in policy."
    );
}
