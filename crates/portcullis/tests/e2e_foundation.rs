//! End to end: the real binary, driven by the real AWS CLI and boto3 (issue: foundation).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "end-to-end test code: a failed unwrap is a failed test"
)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use serde_json::{Value, json};
use support::{Credentials, Server, clients_available, json_ok, portcullis, stderr_err};

fn signed(server: &Server, creds: &Credentials, spec: Value) -> Value {
    let out = json_ok(&server.python(creds, "signed_request.py", &[&spec.to_string()]));
    // Every API response, success or error, carries its request id.
    let headers = out["headers"].as_object().unwrap();
    assert!(
        headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("x-amzn-requestid")),
        "{out}"
    );
    out
}

#[test]
fn first_start_creates_the_root_user_and_the_cli_gets_its_identity() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();

    let file = dir.path().join("root-credentials.json");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let account = doc["AccountId"].as_str().unwrap().to_owned();
    assert_eq!(account.len(), 12);
    assert_eq!(doc["Arn"], format!("arn:aws:iam::{account}:root"));
    assert!(doc["AccessKeyId"].as_str().unwrap().starts_with("AKIA"));
    assert_eq!(doc["SecretAccessKey"].as_str().unwrap().len(), 40);
    assert!(
        server.stdout.contains(&account),
        "first start prints the account: {}",
        server.stdout
    );
    assert!(server.stdout.contains(&creds.access_key_id));

    let identity = json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    assert_eq!(
        identity,
        json!({"UserId": account, "Account": account, "Arn": format!("arn:aws:iam::{account}:root")})
    );
    assert!(server.stop().success());

    // A later start reuses the account and the key, and shows no secret again.
    let server = Server::start(dir.path(), &[]);
    assert!(!server.stdout.contains(&creds.secret_access_key));
    let identity = json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    assert_eq!(identity["Account"], account.as_str());
}

#[test]
fn bad_credentials_and_clock_skew_are_refused_with_aws_errors() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();

    let wrong = Credentials::new(
        &creds.access_key_id,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let err = stderr_err(&server.aws(&wrong, &["sts", "get-caller-identity"]));
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");

    let unknown = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let err = stderr_err(&server.aws(&unknown, &["sts", "get-caller-identity"]));
    assert!(err.contains("InvalidClientTokenId"), "{err}");

    let form = json!({"Action": "GetCallerIdentity", "Version": "2011-06-15"});
    for (minutes, says) in [
        (-20, "Signature expired"),
        (20, "Signature not yet current"),
    ] {
        let out = signed(
            &server,
            &creds,
            json!({"form": form, "time_offset": minutes * 60}),
        );
        assert_eq!(out["status"], 403, "{out}");
        let body = out["body"].as_str().unwrap();
        assert!(
            body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{body}"
        );
        assert!(body.contains(says), "{body}");
    }
    let out = signed(
        &server,
        &creds,
        json!({"form": form, "time_offset": 5 * 60}),
    );
    assert_eq!(
        out["status"], 200,
        "a 5-minute skew is within AWS's 15: {out}"
    );

    let out = signed(&server, &creds, json!({"form": form, "sign": false}));
    assert_eq!(out["status"], 403, "{out}");
    assert!(
        out["body"]
            .as_str()
            .unwrap()
            .contains("MissingAuthenticationToken"),
        "{out}"
    );
}

#[test]
fn boto3_and_presigned_urls_authenticate() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();

    let out = json_ok(&server.python(&creds, "boto3_identity.py", &[]));
    assert!(
        out["identity"]["Arn"].as_str().unwrap().ends_with(":root"),
        "{out}"
    );
    assert_eq!(out["bad_secret"]["code"], "SignatureDoesNotMatch", "{out}");
    assert_eq!(out["bad_secret"]["status"], 403, "{out}");
    assert!(
        out["bad_secret"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{out}"
    );

    let out = json_ok(&server.python(&creds, "presign.py", &[]));
    assert_eq!(out["status"], 200, "{out}");
    assert!(
        out["body"]
            .as_str()
            .unwrap()
            .contains("<GetCallerIdentityResult>"),
        "{out}"
    );
    assert!(
        out["url"].as_str().unwrap().contains("X-Amz-Signature="),
        "{out}"
    );
}

#[test]
fn protocol_errors_have_aws_shapes() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-body-bytes", "65536"]);
    let creds = server.root_credentials();

    let out = signed(
        &server,
        &creds,
        json!({"form": {"Action": "NoSuchAction", "Version": "2011-06-15"}}),
    );
    assert_eq!(out["status"], 400, "{out}");
    assert!(
        out["body"]
            .as_str()
            .unwrap()
            .contains("<Code>InvalidAction</Code>"),
        "{out}"
    );

    let out = signed(
        &server,
        &creds,
        json!({"form": {"Action": "GetCallerIdentity", "Version": "1999-01-01"}}),
    );
    assert_eq!(out["status"], 400, "{out}");
    assert!(
        out["body"].as_str().unwrap().contains("InvalidAction"),
        "{out}"
    );

    let out = signed(
        &server,
        &creds,
        json!({"form": {"Action": "GetCallerIdentity"}, "body_size": 70000}),
    );
    assert_eq!(out["status"], 413, "{out}");

    let out = signed(
        &server,
        &creds,
        json!({"service": "cloudtrail", "headers": {"X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
               "Content-Type": "application/x-amz-json-1.1"}, "body": "{not json"}),
    );
    assert_eq!(out["status"], 400, "{out}");
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert!(
        body["__type"]
            .as_str()
            .unwrap()
            .contains("SerializationException"),
        "{out}"
    );

    // Inputs are validated against the botocore model, with AWS's codes and messages.
    let out = signed(
        &server,
        &creds,
        json!({"form": {"Action": "AssumeRole", "Version": "2011-06-15", "RoleSessionName": "s"}}),
    );
    assert_eq!(out["status"], 400, "{out}");
    let body = out["body"].as_str().unwrap();
    assert!(body.contains("<Code>ValidationError</Code>"), "{body}");
    assert!(body.contains("Value null at &apos;roleArn&apos; failed to satisfy constraint: Member must not be null") || body.contains("Value null at 'roleArn' failed to satisfy constraint: Member must not be null"), "{body}");
    let out = signed(
        &server,
        &creds,
        json!({"form": {"Action": "GetSessionToken", "Version": "2011-06-15", "DurationSeconds": "many"}}),
    );
    assert_eq!(out["status"], 400, "{out}");
    let kms_target = |op: &str, body: &str| {
        json!({"service": "organizations", "headers": {"X-Amz-Target": format!("AWSOrganizationsV20161128.{op}"),
        "Content-Type": "application/x-amz-json-1.1"}, "body": body})
    };
    let out = signed(
        &server,
        &creds,
        kms_target("DescribePolicy", r#"{"PolicyId": "not-a-policy-id"}"#),
    );
    assert_eq!(out["status"], 400, "{out}");
    let error: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(error["__type"], "ValidationException", "{out}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("1 validation error detected: Value 'not-a-policy-id' at 'policyId'"),
        "{out}"
    );
    let out = signed(&server, &creds, kms_target("NoSuchOperation", "{}"));
    assert_eq!(out["status"], 400, "{out}");
    assert!(
        out["body"]
            .as_str()
            .unwrap()
            .contains("UnknownOperationException"),
        "{out}"
    );

    // Operations that exist in AWS but are not built yet say so plainly, in every protocol.
    let err = stderr_err(&server.aws(&creds, &["wafv2", "list-web-acls", "--scope", "REGIONAL"]));
    assert!(err.contains("NotImplemented"), "{err}");
    let err = stderr_err(&server.aws(&creds, &["guardduty", "list-detectors"]));
    assert!(err.contains("NotImplemented"), "{err}");
    let out = signed(
        &server,
        &creds,
        json!({"service": "guardduty", "method": "GET", "path": "/no/such/route"}),
    );
    assert_eq!(out["status"], 404, "{out}");
}

#[test]
fn audit_trail_is_queryable_and_tamper_evident() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();
    json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    let wrong = Credentials::new(
        &creds.access_key_id,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    stderr_err(&server.aws(&wrong, &["sts", "get-caller-identity"]));

    let events = json_ok(&server.aws(
        &creds,
        &[
            "cloudtrail",
            "lookup-events",
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=GetCallerIdentity",
        ],
    ));
    let events = events["Events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let failed: Value =
        serde_json::from_str(events[0]["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(failed["errorCode"], "SignatureDoesNotMatch");
    let ok: Value = serde_json::from_str(events[1]["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(ok["userIdentity"]["type"], "Root");
    assert_eq!(ok["eventSource"], "sts.amazonaws.com");
    assert_eq!(ok["readOnly"], true);
    assert!(server.stop().success());

    let data_dir = dir.path().to_str().unwrap();
    let verify = portcullis(&["audit", "verify", "--data-dir", data_dir]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    let query = portcullis(&[
        "audit",
        "query",
        "--data-dir",
        data_dir,
        "--error-code",
        "SignatureDoesNotMatch",
    ]);
    assert!(query.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["eventName"], "GetCallerIdentity");

    // Edit one record's body behind Portcullis's back: verify must name it.
    let db = dir.path().join("portcullis.db");
    let edit = Command::new("python3")
        .args(["-c", support::TAMPER_SCRIPT, db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        edit.status.success(),
        "{}",
        String::from_utf8_lossy(&edit.stderr)
    );
    let edited_seq = String::from_utf8_lossy(&edit.stdout).trim().to_owned();
    let verify = portcullis(&["audit", "verify", "--data-dir", data_dir]);
    assert_eq!(verify.status.code(), Some(1));
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(said.contains(&format!("record {edited_seq}")), "{said}");
}

#[test]
fn secrets_are_not_at_rest_or_in_logs() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();
    json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    let logs = server.logs();
    assert!(!logs.contains(&creds.secret_access_key));
    assert!(server.stop().success());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "root-credentials.json" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let needle = creds.secret_access_key.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "secret found in {}",
            path.display()
        );
    }
}

/// Runs `tests/py/calls_until_killed.py` with `kind` of call against `server` for four
/// seconds, kills the server with SIGKILL in the middle of the stream, and returns what the
/// client saw acknowledged: (id, request id) per call.
fn acknowledged_until_killed(
    server: Server,
    creds: &Credentials,
    kind: &str,
) -> Vec<(String, String)> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/calls_until_killed.py");
    let mut client = Command::new("python3")
        .arg(script)
        .env("PORTCULLIS_LOOP", kind)
        .env("PORTCULLIS_ENDPOINT", &server.endpoint)
        .env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = client.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead as _;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    server.kill();
    let _ = client.wait();
    let acknowledged: Vec<(String, String)> = reader
        .join()
        .unwrap()
        .iter()
        .map(|line| {
            let (id, request) = line.split_once(' ').unwrap();
            (id.to_owned(), request.to_owned())
        })
        .collect();
    assert!(
        acknowledged.len() > 10,
        "too few calls before the kill: {}",
        acknowledged.len()
    );
    acknowledged
}

/// Asserts that the trail in `data_dir` holds a record of every acknowledged `event_name` call
/// and that its chain verifies.
fn assert_every_acknowledged_call_recorded(
    data_dir: &str,
    event_name: &str,
    acknowledged: &[(String, String)],
) {
    let query = portcullis(&[
        "audit",
        "query",
        "--data-dir",
        data_dir,
        "--event-name",
        event_name,
        "--limit",
        "0",
    ]);
    assert!(
        query.status.success(),
        "{}",
        String::from_utf8_lossy(&query.stderr)
    );
    let recorded: std::collections::HashSet<String> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["requestID"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let missing = acknowledged
        .iter()
        .filter(|(_, request)| !recorded.contains(request))
        .count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged {event_name} calls missing from the trail",
        acknowledged.len()
    );
    assert!(
        portcullis(&["audit", "verify", "--data-dir", data_dir])
            .status
            .success()
    );
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();
    // A stream of writes (KMS CreateKey), killed in the middle.
    let acknowledged = acknowledged_until_killed(server, &creds, "create-key");
    // Every acknowledged change is in the audit trail, and the trail is intact.
    let data_dir = dir.path().to_str().unwrap();
    assert_every_acknowledged_call_recorded(data_dir, "CreateKey", &acknowledged);

    // Every acknowledged key is there after a restart.
    let server = Server::start(dir.path(), &[]);
    let listed = json_ok(&server.aws(&creds, &["kms", "list-keys"]));
    let keys: std::collections::HashSet<&str> = listed["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .map(|(key, _)| key)
        .filter(|k| !keys.contains(k.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged keys lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
}

#[test]
fn with_audit_durability_all_every_answered_read_survives_sigkill() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--audit-durability", "all"]);
    let creds = server.root_credentials();
    // Reads are not waited for by default; with `all` each answer means its record is on disk.
    let acknowledged = acknowledged_until_killed(server, &creds, "caller-identity");
    let data_dir = dir.path().to_str().unwrap();
    assert_every_acknowledged_call_recorded(data_dir, "GetCallerIdentity", &acknowledged);
}

#[test]
fn dev_mode_accepts_unknown_keys_as_account_roots_and_resets() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--dev"]);
    let any = Credentials::new("test", "test");
    let identity = json_ok(&server.aws(&any, &["sts", "get-caller-identity"]));
    assert_eq!(identity["Arn"], "arn:aws:iam::000000000000:root");
    let numeric = Credentials::new("111122223333", "test");
    let identity = json_ok(&server.aws(&numeric, &["sts", "get-caller-identity"]));
    assert_eq!(identity["Account"], "111122223333");
    assert!(
        !dir.path().join("root-credentials.json").exists(),
        "dev mode keeps no root key file"
    );

    for path in ["/_localstack/state/reset", "/moto-api/reset"] {
        let out = server.python(
            &any,
            "signed_request.py",
            &[&json!({"path": path, "sign": false}).to_string()],
        );
        assert_eq!(json_ok(&out)["status"], 200, "{path}");
    }
    json_ok(&server.aws(&any, &["sts", "get-caller-identity"]));
}

#[test]
fn health_and_metrics_endpoints() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let creds = server.root_credentials();
    json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    let get = |path: &str| {
        json_ok(&server.python(
            &creds,
            "signed_request.py",
            &[&json!({"path": path, "method": "GET", "sign": false}).to_string()],
        ))
    };
    let health = get("/health");
    assert_eq!(health["status"], 200);
    let metrics = get("/metrics");
    let text = metrics["body"].as_str().unwrap();
    assert!(text.contains("portcullis_requests_total{service=\"sts\",operation=\"GetCallerIdentity\",status=\"200\"} 1"), "{text}");
    assert!(
        text.contains("portcullis_request_duration_seconds_count"),
        "{text}"
    );
    // Reset endpoints exist only in dev mode.
    assert_eq!(
        json_ok(&server.python(
            &creds,
            "signed_request.py",
            &[&json!({"path": "/moto-api/reset", "sign": false}).to_string()]
        ))["status"],
        403
    );
}

#[test]
fn https_with_rustls() {
    if !clients_available() {
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl not found to make a test certificate");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        server.endpoint.starts_with("https://"),
        "{}",
        server.endpoint
    );
    let creds = server.root_credentials();
    let identity = json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    assert!(identity["Arn"].as_str().unwrap().ends_with(":root"));
}

#[test]
fn postgres_store_serves_the_same() {
    if !clients_available() {
        return;
    }
    let Some(url) = support::postgres_url() else {
        eprintln!("SKIPPED: set PORTCULLIS_TEST_POSTGRES_URL to run against PostgreSQL");
        return;
    };
    let schema = format!("e2e_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .arg(&url)
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--store", &store]);
    let creds = server.root_credentials();
    let identity = json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]));
    let account = identity["Account"].as_str().unwrap().to_owned();
    assert!(server.stop().success());
    let server = Server::start(dir.path(), &["--store", &store]);
    assert_eq!(
        json_ok(&server.aws(&creds, &["sts", "get-caller-identity"]))["Account"],
        account.as_str()
    );
    let wrong = Credentials::new(
        &creds.access_key_id,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    assert!(
        stderr_err(&server.aws(&wrong, &["sts", "get-caller-identity"]))
            .contains("SignatureDoesNotMatch")
    );
    assert!(server.stop().success());
    let verify = portcullis(&[
        "audit",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--store",
        &store,
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let dump = Command::new("pg_dump")
        .arg(&url)
        .args(["--schema", &schema])
        .output()
        .expect("pg_dump");
    assert!(dump.status.success());
    let needle = creds.secret_access_key.as_bytes();
    assert!(
        !dump.stdout.windows(needle.len()).any(|w| w == needle),
        "secret found in the database dump"
    );
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

/// One server owns an SQLite data directory: a second one is refused with a clear error while
/// the first runs (which keeps serving), and the claim ends with the first server, even killed.
#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    if !clients_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), &[]);
    let creds = first.root_credentials();
    let mut second = Command::new(support::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("PORTCULLIS_MASTER_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            second.kill().unwrap();
            panic!("a second server on the same data dir kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("in use by another Portcullis server"),
        "{stderr}"
    );
    json_ok(&first.aws(&creds, &["sts", "get-caller-identity"]));
    // `portcullis audit` reads the trail beside the running server.
    let verify = portcullis(&[
        "audit",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(verify.status.success(), "{verify:?}");

    first.kill();
    let again = Server::start(dir.path(), &[]);
    json_ok(&again.aws(&creds, &["sts", "get-caller-identity"]));
}
