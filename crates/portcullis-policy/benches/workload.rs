//! The benchmark workloads, described once so that the Cedar comparison
//! (`bench/cedar-compare`) renders the same policies in Cedar.
//!
//! Typical principal: a user in 2 groups with 6 attached managed policies holding 40
//! statements (wildcard actions and resources, 2 conditions each), a permissions boundary and
//! 3 SCP levels. Large: the same shape with 1,000 statements.

#![allow(dead_code, reason = "each bench binary uses a different part")]

/// One Allow statement: actions (with wildcards), a resource pattern, two conditions.
pub struct Stmt {
    pub actions: Vec<String>,
    pub resource: String,
    /// `StringEquals aws:PrincipalTag/team`.
    pub team: String,
    /// `IpAddress aws:SourceIp`.
    pub cidr: String,
}

const SERVICES: [&str; 5] = ["s3", "dynamodb", "sqs", "sns", "ec2"];

/// `n` statements; the request below matches only the last one, so every statement is tried.
pub fn statements(n: usize) -> Vec<Stmt> {
    (0..n)
        .map(|i| {
            let svc = SERVICES[i % SERVICES.len()];
            Stmt {
                actions: vec![format!("{svc}:Get*"), format!("{svc}:List*")],
                resource: if svc == "s3" {
                    format!("arn:aws:s3:::bucket-{i}/*")
                } else {
                    format!("arn:aws:{svc}:*:111122223333:res-{i}*")
                },
                team: if i + 1 == n {
                    "dev".into()
                } else {
                    format!("team-{i}")
                },
                cidr: "10.0.0.0/8".into(),
            }
        })
        .collect()
}

/// Splits statements into managed policies: 6 for the typical principal, and as many as the
/// 6,144-character managed policy quota needs (25 statements each) for larger sets.
pub fn split(stmts: &[Stmt]) -> Vec<&[Stmt]> {
    let k = stmts.len().div_ceil(25).max(6);
    let per = stmts.len().div_ceil(k);
    stmts.chunks(per.max(1)).collect()
}

/// An IAM policy document holding `stmts`.
pub fn iam_json(stmts: &[Stmt]) -> String {
    let body: Vec<String> = stmts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let actions: Vec<String> = s.actions.iter().map(|a| format!("\"{a}\"")).collect();
            format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Action":[{}],"Resource":"{}","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"{}"}},"IpAddress":{{"aws:SourceIp":"{}"}}}}}}"#,
                actions.join(","),
                s.resource,
                s.team,
                s.cidr
            )
        })
        .collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    )
}

/// The boundary: the five services.
pub const BOUNDARY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","dynamodb:*","sqs:*","sns:*","ec2:*"],"Resource":"*"}]}"#;

/// SCP levels: root full access; OU full access plus a region deny; account allow-list.
pub const SCP_ROOT: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
pub const SCP_OU: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}}]}"#;
pub const SCP_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","dynamodb:*","sqs:*","sns:*","ec2:*","iam:*"],"Resource":"*"}]}"#;

/// The request: the last statement's service and resource, matching context.
pub fn request_target(n: usize) -> (String, String) {
    let i = n - 1;
    let svc = SERVICES[i % SERVICES.len()];
    let action = format!("{svc}:GetThing");
    let resource = if svc == "s3" {
        format!("arn:aws:s3:::bucket-{i}/key")
    } else {
        format!("arn:aws:{svc}:us-east-1:111122223333:res-{i}-x")
    };
    (action, resource)
}
