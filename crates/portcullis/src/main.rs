//! Portcullis: a self-hosted, AWS-compatible security plane in one binary.
//!
//! `portcullis serve` runs the server; `portcullis audit` verifies and queries the audit trail;
//! `portcullis policy` validates and simulates IAM policies offline.

mod audit;
mod cloudtrail;
mod config;
mod front;
mod metrics;
mod route;
mod server;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};

use portcullis_core::Clock;
use portcullis_iam::Authenticator;
use portcullis_store::{AuditQuery, AuditVerification, Store};

use crate::audit::AuditSink;
use crate::config::{LogFormat, ServeArgs, Settings};
use crate::metrics::Metrics;

/// Everything a request handler reaches.
pub struct App {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Resolves access keys to principals.
    pub auth: Arc<Authenticator>,
    /// Decides whether a principal may make a call.
    pub authz: Arc<portcullis_iam::Authorizer>,
    /// Identity and Access Management.
    pub iam: portcullis_iam::Iam,
    /// Organizations.
    pub orgs: portcullis_iam::Organizations,
    /// The audit trail.
    pub audit: AuditSink,
    /// Request counters.
    pub metrics: Metrics,
    /// Key Management Service.
    pub kms: portcullis_kms::Kms,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Request body bound.
    pub max_body_bytes: usize,
    /// Dev mode.
    pub dev: bool,
}

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A self-hosted, AWS-compatible security plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server
    Serve(ServeArgs),
    /// Verify or query the audit trail
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Validate and simulate IAM policies offline
    Policy {
        #[command(subcommand)]
        command: portcullis_policy::cli::PolicyCommand,
    },
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Data directory of the server [default: ./portcullis-data]
    #[arg(long, env = "PORTCULLIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Store URL, when not the SQLite database in the data directory
    #[arg(long, env = "PORTCULLIS_STORE")]
    store: Option<String>,
    /// Master key file [default: DATA_DIR/master.key]
    #[arg(long, env = "PORTCULLIS_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exit 0 when intact, 1 naming the first broken record otherwise
    Verify(StoreArgs),
    /// Print audit records, newest first, one CloudTrail JSON record per line
    Query {
        #[command(flatten)]
        store: StoreArgs,
        /// Only records at or after this time (RFC 3339)
        #[arg(long)]
        start: Option<String>,
        /// Only records at or before this time (RFC 3339)
        #[arg(long)]
        end: Option<String>,
        /// Only records of this principal (ARN, user name or access key id)
        #[arg(long)]
        principal: Option<String>,
        /// Only records of this API operation
        #[arg(long)]
        event_name: Option<String>,
        /// Only records that failed with this error code
        #[arg(long)]
        error_code: Option<String>,
        /// Only records of this account
        #[arg(long)]
        account: Option<String>,
        /// At most this many records
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Audit { command } => audit_command(command),
        Command::Policy { command } => {
            let code = portcullis_policy::cli::run(&command, &mut std::io::stdout());
            ExitCode::from(code)
        }
    }
}

/// The main thread's runtime: for `serve`, the acceptor and the background tasks (the audit
/// writer among them); requests run on the worker threads' own runtimes (`workers`).
fn runtime() -> Result<tokio::runtime::Runtime, std::io::Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn serve(args: ServeArgs) -> ExitCode {
    let settings = match Settings::resolve(args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log_format);
    let result = runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(server::run(settings))
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("portcullis: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>, String> {
    let serve_args = ServeArgs {
        data_dir: args.data_dir.clone(),
        store: args.store.clone(),
        master_key_file: args.master_key_file.clone(),
        ..ServeArgs::default()
    };
    let settings = Settings::resolve(serve_args).map_err(|e| e.to_string())?;
    if let config::MasterKeySource::File(path) = &settings.master_key
        && std::env::var_os("PORTCULLIS_MASTER_KEY").is_none()
        && !path.exists()
    {
        return Err(format!(
            "no master key at {}: is this a Portcullis data directory?",
            path.display()
        ));
    }
    if let portcullis_store::StoreLocation::Sqlite { path } = &settings.store
        && !path.exists()
    {
        return Err(format!("no database at {}", path.display()));
    }
    let master = server::master_key(&settings.master_key).map_err(|e| e.to_string())?;
    portcullis_store::open(&settings.store, master.derive("audit-chain"))
        .await
        .map_err(|e| e.to_string())
}

fn audit_command(command: AuditCommand) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        match command {
            AuditCommand::Verify(args) => {
                let store = match open_store(&args).await {
                    Ok(store) => store,
                    Err(e) => {
                        eprintln!("portcullis: {e}");
                        return ExitCode::from(2);
                    }
                };
                match store.verify_audit().await {
                    Ok(AuditVerification::Intact { records }) => {
                        println!("audit trail intact: {records} records");
                        ExitCode::SUCCESS
                    }
                    Ok(AuditVerification::Broken { seq, reason }) => {
                        println!("audit trail broken at record {seq}: {reason}");
                        ExitCode::FAILURE
                    }
                    Err(e) => {
                        eprintln!("portcullis: {e}");
                        ExitCode::from(2)
                    }
                }
            }
            AuditCommand::Query {
                store,
                start,
                end,
                principal,
                event_name,
                error_code,
                account,
                limit,
            } => {
                let parse_time = |text: Option<String>| -> Result<Option<SystemTime>, String> {
                    text.map(|t| {
                        time::OffsetDateTime::parse(
                            &t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .map(|at| {
                            let secs = u64::try_from(at.unix_timestamp()).unwrap_or(0);
                            SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
                        })
                        .map_err(|e| format!("invalid time {t:?}: {e}"))
                    })
                    .transpose()
                };
                let query = match (parse_time(start), parse_time(end)) {
                    (Ok(start), Ok(end)) => AuditQuery {
                        start,
                        end,
                        principal,
                        event_name,
                        error_code,
                        account,
                        limit,
                        ..AuditQuery::default()
                    },
                    (Err(e), _) | (_, Err(e)) => {
                        eprintln!("portcullis: {e}");
                        return ExitCode::from(2);
                    }
                };
                let store = match open_store(&store).await {
                    Ok(store) => store,
                    Err(e) => {
                        eprintln!("portcullis: {e}");
                        return ExitCode::from(2);
                    }
                };
                match store.query_audit(query).await {
                    Ok(records) => {
                        for record in records {
                            println!("{}", audit::cloudtrail_json(&record));
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("portcullis: {e}");
                        ExitCode::from(2)
                    }
                }
            }
        }
    })
}
