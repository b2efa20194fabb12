//! Shared end-to-end harness: starts the real `portcullis` binary and drives it with the real
//! AWS CLI and boto3.
//!
//! The AWS CLI and boto3 are found on PATH (`aws`, `python3`). When they are missing the
//! end-to-end tests say so and pass as skipped, so `cargo test` works on a bare machine; CI sets
//! `PORTCULLIS_E2E=1`, which turns a missing client into a failure.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]
#![allow(
    clippy::zombie_processes,
    reason = "a spawned server is reaped by Server's Drop; a panic before that fails the test"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test harness: a failed unwrap is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// Whether the AWS CLI and boto3 are here; panics in CI (`PORTCULLIS_E2E=1`) when they are not.
pub fn clients_available() -> bool {
    let aws = Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let boto3 = Command::new("python3")
        .args(["-c", "import boto3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if aws && boto3 {
        return true;
    }
    if std::env::var("PORTCULLIS_E2E").is_ok_and(|v| v == "1") {
        panic!("PORTCULLIS_E2E=1 but the AWS CLI ({aws}) or boto3 ({boto3}) is missing");
    }
    eprintln!(
        "SKIPPED: end-to-end test needs the AWS CLI and boto3 (pip install -r tests/requirements.txt)"
    );
    false
}

/// The PostgreSQL URL for tests, when `PORTCULLIS_TEST_POSTGRES_URL` names one.
pub fn postgres_url() -> Option<String> {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A running server.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (or https).
    pub endpoint: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Everything it printed on stdout up to "listening".
    pub stdout: String,
    logs: mpsc::Receiver<String>,
    log_buffer: Vec<String>,
}

impl Server {
    /// Starts `portcullis serve --listen 127.0.0.1:0 --data-dir DIR ARGS...` and waits until it
    /// listens.
    pub fn start(data_dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(data_dir, args, &[])
    }

    /// As [`Server::start`], with extra environment variables.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("PORTCULLIS_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start portcullis");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let out_tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(format!("stdout: {line}"));
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let mut stdout_text = String::new();
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    let _ = child.kill();
                    panic!("server did not start; output:\n{}", seen.join("\n"))
                });
            if let Some(out) = line.strip_prefix("stdout: ") {
                stdout_text.push_str(out);
                stdout_text.push('\n');
            } else {
                seen.push(line.clone());
            }
            if let Some(at) = line.find("listening on ") {
                let endpoint = line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned();
                // stdout and stderr are read by two threads: collect what stdout still has in flight.
                while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                    match line.strip_prefix("stdout: ") {
                        Some(out) => {
                            stdout_text.push_str(out);
                            stdout_text.push('\n');
                        }
                        None => seen.push(line),
                    }
                }
                return Self {
                    child,
                    endpoint,
                    data_dir: data_dir.to_owned(),
                    stdout: stdout_text,
                    logs: rx,
                    log_buffer: seen,
                };
            }
        }
    }

    /// Everything the server has logged (stderr) so far.
    pub fn logs(&mut self) -> String {
        while let Ok(line) = self.logs.try_recv() {
            if !line.starts_with("stdout: ") {
                self.log_buffer.push(line);
            }
        }
        self.log_buffer.join("\n")
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(&self.child, "TERM");
        let status = wait_timeout(&mut self.child, Duration::from_secs(30))
            .expect("server did not stop on SIGTERM");
        let _ = self.logs();
        status
    }

    /// Sends SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The root credentials the first start wrote.
    pub fn root_credentials(&self) -> Credentials {
        let text = std::fs::read_to_string(self.data_dir.join("root-credentials.json"))
            .expect("root-credentials.json");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        Credentials {
            access_key_id: v["AccessKeyId"].as_str().unwrap().to_owned(),
            secret_access_key: v["SecretAccessKey"].as_str().unwrap().to_owned(),
            session_token: None,
        }
    }

    /// Runs the AWS CLI against this server.
    pub fn aws(&self, creds: &Credentials, args: &[&str]) -> Output {
        let mut command = Command::new("aws");
        command
            .arg("--endpoint-url")
            .arg(&self.endpoint)
            .args(args)
            .args(["--output", "json"]);
        client_env(&mut command, creds);
        if self.endpoint.starts_with("https") {
            command.arg("--no-verify-ssl");
        }
        command.output().expect("run aws")
    }

    /// Runs `tests/py/SCRIPT` with python3, the endpoint and credentials in its environment.
    pub fn python(&self, creds: &Credentials, script: &str, args: &[&str]) -> Output {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/py")
            .join(script);
        let mut command = Command::new("python3");
        command
            .arg(path)
            .args(args)
            .env("PORTCULLIS_ENDPOINT", &self.endpoint);
        client_env(&mut command, creds);
        command.output().expect("run python3")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An access key pair.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl Credentials {
    /// A key pair from literals.
    pub fn new(id: &str, secret: &str) -> Self {
        Self {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            session_token: None,
        }
    }
}

fn client_env(command: &mut Command, creds: &Credentials) {
    command
        .env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env("PYTHONWARNINGS", "ignore");
    match &creds.session_token {
        Some(token) => command.env("AWS_SESSION_TOKEN", token),
        None => command.env_remove("AWS_SESSION_TOKEN"),
    };
}

/// The stdout of a successful command as JSON; panics with stderr otherwise.
pub fn json_ok(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The stderr of a failed command; panics if it succeeded.
pub fn stderr_err(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "command unexpectedly succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs `portcullis ARGS...` to completion.
pub fn portcullis(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("PORTCULLIS_MASTER_KEY")
        .output()
        .expect("run portcullis")
}

/// Python: edits the body of the oldest audit record in the SQLite database `argv[1]` behind
/// Portcullis's back (its source address `127.0.0.1` becomes `127.0.0.2`, its lengths kept
/// right, its hash not) and prints its sequence number. The record is the first of the first
/// segment, so it has no base and its body's pieces are all written out; the format (version 2)
/// is `portcullis_store::segment`'s.
pub const TAMPER_SCRIPT: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
seq, records = db.execute(
    "SELECT first_seq, records FROM audit_segment ORDER BY first_seq LIMIT 1").fetchone()
assert records[0] == 2, "segment format version"
def varint(pos):
    value, shift = 0, 0
    while True:
        byte = records[pos]
        value |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
        if byte < 0x80:
            return value, pos
def put_varint(value):
    out = b""
    while value >= 0x80:
        out += bytes([value & 0x7F | 0x80])
        value >>= 7
    return out + bytes([value])
def text(pos):
    n, pos = varint(pos)
    return records[pos:pos + n], pos + n
_, pos = varint(1)  # event time
flags = records[pos]
base, pos = varint(pos + 1)
assert base == 0, "the first record has no base"
for _ in range(4):  # event id, account, event source, event name
    _, pos = text(pos)
for bit in (2, 4, 8, 16):  # principal ARN, user name, access key id, error code
    if flags & bit:
        _, pos = text(pos)
count, pos = varint(pos)
start, pieces = pos, []
for _ in range(count):
    piece, pos = text(pos)
    pieces.append(piece)
at = pieces.index(b"sourceIPAddress")
assert pieces[at + 2] == b"127.0.0.1", pieces[at + 2]
pieces[at + 2] = b"127.0.0.2"
edited = b"".join(put_varint(len(p)) + p for p in pieces)
records = records[:start] + edited + records[pos:]
db.execute("UPDATE audit_segment SET records = ? WHERE first_seq = ?", (records, seq))
assert db.total_changes == 1
db.commit()
print(seq)
"#;
