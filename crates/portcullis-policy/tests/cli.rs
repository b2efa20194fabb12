//! `portcullis policy validate|simulate`, driven through `cli::run` and clap parsing.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a panic is a test failure"
)]

use std::path::PathBuf;

use clap::Parser;
use portcullis_policy::cli::{PolicyCommand, run};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: PolicyCommand,
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("portcullis-policy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn file(name: &str, text: &str) -> String {
    let p = dir().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn exec(args: &[&str]) -> (u8, String) {
    let mut argv = vec!["policy"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    let code = run(&cli.cmd, &mut out);
    (code, String::from_utf8(out).unwrap())
}

const ALLOW_S3: &str = r#"{"Version":"2012-10-17","Statement":{"Sid":"S3","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;

#[test]
fn validate_valid_and_invalid() {
    let good = file("good.json", ALLOW_S3);
    let (code, out) = exec(&["validate", &good, "--type", "identity"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid identity policy"));

    let (code, out) = exec(&["validate", &good, "--type", "resource"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("MalformedPolicyDocument: Missing required field Principal"),
        "{out}"
    );

    let bad = file("bad.json", "{not json");
    let (code, out) = exec(&["validate", &bad, "--type", "scp", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["findings"][0]["code"], "MalformedPolicyDocument");
    assert_eq!(v["findings"][0]["message"], "Syntax errors in policy.");

    let (code, out) = exec(&["validate", "/nonexistent/policy.json"]);
    assert_eq!(code, 2);
    assert!(out.starts_with("error:"));
    assert!(Cli::try_parse_from(["policy", "validate", &good, "--type", "bogus"]).is_err());
}

#[test]
fn simulate_from_flags() {
    let id = file("id.json", ALLOW_S3);
    let boundary = file(
        "boundary.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#,
    );
    let base = [
        "simulate",
        "--identity",
        &id,
        "--boundary",
        &boundary,
        "--principal",
        "arn:aws:iam::111122223333:user/alice",
    ];
    let mut allow = base.to_vec();
    allow.extend(["--action", "s3:GetObject", "--resource", "arn:aws:s3:::b/k"]);
    let (code, out) = exec(&allow);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Decision: Allow"));
    assert!(out.contains("statement 0 (Sid S3)"), "{out}");

    let mut deny = base.to_vec();
    deny.extend([
        "--action",
        "s3:PutObject",
        "--resource",
        "arn:aws:s3:::b/k",
        "--json",
    ]);
    let (code, out) = exec(&deny);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["effect"], "ImplicitDeny");
    assert_eq!(v["deciding_layer"], "PermissionsBoundary");
    assert_eq!(
        v["message"],
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::b/k because no permissions boundary allows the s3:PutObject action"
    );
}

#[test]
fn simulate_scp_levels_and_context() {
    let id = file(
        "admin.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let full = file(
        "full.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let region = file(
        "region.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}}"#,
    );
    let level2 = format!("{full},{region}");
    let args = |reg: &'static str| {
        vec![
            "simulate".to_owned(),
            "--identity".into(),
            id.clone(),
            "--scp".into(),
            full.clone(),
            "--scp".into(),
            level2.clone(),
            "--principal".into(),
            "arn:aws:iam::111122223333:user/alice".into(),
            "--action".into(),
            "ec2:RunInstances".into(),
            "--context".into(),
            format!("aws:RequestedRegion=string:{reg}"),
            "--context".into(),
            "aws:SecureTransport=bool:true".into(),
        ]
    };
    let run_args = |v: Vec<String>| exec(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out) = run_args(args("eu-west-1"));
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_args(args("us-east-1"));
    assert_eq!(code, 1);
    assert!(
        out.contains("with an explicit deny in a service control policy"),
        "{out}"
    );
    assert!(out.contains("service control policy level 1"), "{out}");

    let (code, out) = exec(&[
        "simulate",
        "--principal",
        "arn:aws:iam::111122223333:user/a",
        "--action",
        "s3:X",
        "--context",
        "nonsense",
    ]);
    assert_eq!(code, 2);
    assert!(out.contains("KEY=TYPE:VALUE"));
}

#[test]
fn simulate_from_request_file_with_resource_policy() {
    let bucket = file(
        "bucket.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let req = file(
        "req.json",
        r#"{"principal":"arn:aws:iam::111122223333:user/alice","action":"s3:GetObject","resource":"arn:aws:s3:::b/k","context":{"aws:SourceIp":"10.0.0.1"}}"#,
    );
    let (code, out) = exec(&[
        "simulate",
        "--resource-policy",
        &bucket,
        "--resource-owner",
        "111122223333",
        "--request",
        &req,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["deciding_layer"], "ResourceBased");
    assert_eq!(v["matched_statements"][0]["layer"], "ResourceBased");
    assert_eq!(v["message"], serde_json::Value::Null);
    // An invalid policy file is reported, not evaluated.
    let bad = file(
        "bad-id.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#,
    );
    let (code, out) = exec(&["simulate", "--identity", &bad, "--request", &req]);
    assert_eq!(code, 2);
    assert!(
        out.contains("Policy document should not specify a principal."),
        "{out}"
    );
}
