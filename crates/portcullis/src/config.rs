//! Settings: built-in defaults, then a TOML file, then `PORTCULLIS_*` environment variables,
//! then command-line flags; the later source wins.
//!
//! clap folds the environment and the flags into one value per setting (a flag beats its
//! variable); this module lays the file underneath and resolves the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;

use portcullis_core::AccountId;
use portcullis_iam::Quotas;
use portcullis_store::StoreLocation;

/// The default address: the port AWS local tooling (awscli-local and others) assumes.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";
/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "portcullis-data";
/// The default account in dev mode, as other local emulators use.
pub const DEFAULT_DEV_ACCOUNT: &str = "000000000000";
/// The default bound on request bodies.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Which calls are answered only once their audit record is on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuditDurability {
    /// Calls that changed state: an acknowledged change is always in the trail. Records of
    /// reads, of issued temporary credentials and of refusals are committed within a few
    /// milliseconds after the answer, as CloudTrail delivers events after the fact; a crash can
    /// lose those last milliseconds of them.
    #[default]
    Changes,
    /// Every call, reads and refusals included: no answered call is ever missing from the
    /// trail, at the cost of a disk sync (shared by the calls of the moment) in every answer.
    All,
}

/// `portcullis serve` flags. Every flag also reads `PORTCULLIS_<NAME>` from the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:4566]
    #[arg(long, env = "PORTCULLIS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded database, the master key and root-credentials.json [default: ./portcullis-data]
    #[arg(long, env = "PORTCULLIS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Store: `postgres://user@host/db`, `sqlite:PATH`, or `memory` [default: SQLite in the data dir; memory with --dev]
    #[arg(long, env = "PORTCULLIS_STORE")]
    pub store: Option<String>,
    /// A TOML file with any of these settings (keys as the flags, e.g. `listen`, `data-dir`)
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Dev mode for CI and local testing: unknown access keys act as an account's root user
    #[arg(long, env = "PORTCULLIS_DEV")]
    pub dev: bool,
    /// In dev mode, the account of unknown access keys [default: 000000000000]
    #[arg(long, env = "PORTCULLIS_DEFAULT_ACCOUNT")]
    pub default_account: Option<AccountId>,
    /// The management account id to create on first start [default: random]
    #[arg(long, env = "PORTCULLIS_ACCOUNT_ID")]
    pub account_id: Option<AccountId>,
    /// Log format [default: human]
    #[arg(long, env = "PORTCULLIS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key)
    #[arg(long, env = "PORTCULLIS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, env = "PORTCULLIS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes [default: 8388608]
    #[arg(long, env = "PORTCULLIS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// File holding the master key [default: DATA_DIR/master.key, created on first start]
    #[arg(long, env = "PORTCULLIS_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Which calls wait for their audit record to be on disk before they are answered [default: changes]
    #[arg(long, env = "PORTCULLIS_AUDIT_DURABILITY", value_enum)]
    pub audit_durability: Option<AuditDurability>,
    /// Threads that serve connections, each with an event loop of its own [default: one per CPU]
    #[arg(long, env = "PORTCULLIS_WORKERS")]
    pub workers: Option<usize>,
}

/// The same settings as read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    dev: Option<bool>,
    default_account: Option<AccountId>,
    account_id: Option<AccountId>,
    log_format: Option<LogFormat>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    master_key_file: Option<PathBuf>,
    audit_durability: Option<AuditDurability>,
    workers: Option<usize>,
    iam: Option<IamConfig>,
}

/// The `[iam]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct IamConfig {
    /// `[iam.quotas]`: IAM's quotas; a key left out keeps AWS's default.
    #[serde(default)]
    quotas: Quotas,
}

/// Where the master key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// A file, created with mode 0600 on first start.
    File(PathBuf),
    /// A fresh key held only in memory (dev mode with in-memory state).
    Ephemeral,
}

/// Resolved settings for `serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Where state lives.
    pub store: StoreLocation,
    /// Dev mode.
    pub dev: bool,
    /// Dev mode's default account.
    pub default_account: AccountId,
    /// The management account to create on first start.
    pub account_id: Option<AccountId>,
    /// Log format.
    pub log_format: LogFormat,
    /// Certificate and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Request body bound.
    pub max_body_bytes: usize,
    /// Master key source.
    pub master_key: MasterKeySource,
    /// IAM's quotas (`[iam.quotas]`; AWS's defaults otherwise).
    pub iam_quotas: Quotas,
    /// Which calls wait for their audit record to be durable.
    pub audit_durability: AuditDurability,
    /// Connection-serving threads.
    pub workers: usize,
}

/// Why settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A setting's value is not usable.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// Resolves flags and environment (already in `args`) over the config file over defaults.
    pub fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let dev = args.dev || file.dev.unwrap_or(false);
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let store_text = args.store.or(file.store);
        let store = match store_text.as_deref() {
            Some(text) => parse_store(text)?,
            None if dev => StoreLocation::SqliteInMemory,
            None => StoreLocation::Sqlite {
                path: data_dir.join("portcullis.db"),
            },
        };
        let master_key = match args.master_key_file.or(file.master_key_file) {
            Some(path) => MasterKeySource::File(path),
            None if dev && matches!(store, StoreLocation::SqliteInMemory) => {
                MasterKeySource::Ephemeral
            }
            None => MasterKeySource::File(data_dir.join("master.key")),
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "tls-cert/tls-key",
                    message: "both a certificate and a key are needed for HTTPS".into(),
                });
            }
        };
        let default_account = match args.default_account.or(file.default_account) {
            Some(account) => account,
            None => AccountId::parse(DEFAULT_DEV_ACCOUNT).map_err(|e| ConfigError::Invalid {
                name: "default-account",
                message: e.to_string(),
            })?,
        };
        let listen = match args.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                    name: "listen",
                    message: e.to_string(),
                })?,
        };
        let workers = match args.workers.or(file.workers) {
            Some(0) => {
                return Err(ConfigError::Invalid {
                    name: "workers",
                    message: "at least one worker thread is needed".into(),
                });
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        Ok(Self {
            listen,
            data_dir,
            store,
            dev,
            default_account,
            account_id: args.account_id.or(file.account_id),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Human),
            tls,
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
            master_key,
            iam_quotas: file.iam.map(|iam| iam.quotas).unwrap_or_default(),
            audit_durability: args
                .audit_durability
                .or(file.audit_durability)
                .unwrap_or_default(),
            workers,
        })
    }
}

/// Parses a `--store` value.
pub fn parse_store(text: &str) -> Result<StoreLocation, ConfigError> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(StoreLocation::Postgres {
            url: text.to_owned(),
        });
    }
    if text == "memory" || text == "sqlite::memory:" {
        return Ok(StoreLocation::SqliteInMemory);
    }
    if let Some(path) = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
        && !path.is_empty()
    {
        return Ok(StoreLocation::Sqlite {
            path: PathBuf::from(path),
        });
    }
    Err(ConfigError::Invalid {
        name: "store",
        message: format!("expected postgres://..., sqlite:PATH or memory, got {text:?}"),
    })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn defaults_are_documented_ones() {
        let s = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.data_dir, PathBuf::from("portcullis-data"));
        assert!(
            matches!(s.store, StoreLocation::Sqlite { ref path } if path == Path::new("portcullis-data/portcullis.db"))
        );
        assert_eq!(
            s.master_key,
            MasterKeySource::File(PathBuf::from("portcullis-data/master.key"))
        );
        assert!(!s.dev);
    }

    #[test]
    fn dev_mode_defaults_to_memory() {
        let s = Settings::resolve(ServeArgs {
            dev: true,
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(s.store, StoreLocation::SqliteInMemory));
        assert_eq!(s.master_key, MasterKeySource::Ephemeral);
        assert_eq!(s.default_account.as_str(), "000000000000");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = write_config(
            "listen = \"127.0.0.1:9000\"\ndata-dir = \"/tmp/a\"\nmax-body-bytes = 10\n",
        );
        let args = ServeArgs {
            config: Some(file.path().to_owned()),
            listen: Some("127.0.0.1:9001".parse().unwrap()),
            ..Default::default()
        };
        let s = Settings::resolve(args).unwrap();
        assert_eq!(s.listen.port(), 9001);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/a"));
        assert_eq!(s.max_body_bytes, 10);
    }

    #[test]
    fn workers_default_to_one_per_cpu_and_zero_is_refused() {
        let s = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(
            s.workers,
            std::thread::available_parallelism().unwrap().get()
        );
        let file = write_config("workers = 3\n");
        let from_file = ServeArgs {
            config: Some(file.path().to_owned()),
            ..Default::default()
        };
        assert_eq!(Settings::resolve(from_file.clone()).unwrap().workers, 3);
        let flag = ServeArgs {
            workers: Some(5),
            ..from_file
        };
        assert_eq!(Settings::resolve(flag).unwrap().workers, 5);
        let zero = Settings::resolve(ServeArgs {
            workers: Some(0),
            ..Default::default()
        });
        assert!(matches!(
            zero,
            Err(ConfigError::Invalid {
                name: "workers",
                ..
            })
        ));
    }

    #[test]
    fn audit_durability_defaults_to_changes_and_the_flag_wins() {
        let s = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(s.audit_durability, AuditDurability::Changes);
        let file = write_config("audit-durability = \"all\"\n");
        let from_file = ServeArgs {
            config: Some(file.path().to_owned()),
            ..Default::default()
        };
        let s = Settings::resolve(from_file.clone()).unwrap();
        assert_eq!(s.audit_durability, AuditDurability::All);
        let s = Settings::resolve(ServeArgs {
            audit_durability: Some(AuditDurability::Changes),
            ..from_file
        })
        .unwrap();
        assert_eq!(s.audit_durability, AuditDurability::Changes);
        let bad = write_config("audit-durability = \"some\"\n");
        assert!(
            Settings::resolve(ServeArgs {
                config: Some(bad.path().to_owned()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn iam_quotas_come_from_the_file_over_aws_defaults() {
        let s = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(s.iam_quotas, Quotas::default());
        assert_eq!(s.iam_quotas.users_per_account, 5000);
        let file = write_config("[iam.quotas]\nusers-per-account = 20000\nroles-per-account = 5\n");
        let s = Settings::resolve(ServeArgs {
            config: Some(file.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.iam_quotas.users_per_account, 20000);
        assert_eq!(s.iam_quotas.roles_per_account, 5);
        assert_eq!(s.iam_quotas.groups_per_account, 300);
        let typo = write_config("[iam.quotas]\nuser-per-account = 1\n");
        let err = Settings::resolve(ServeArgs {
            config: Some(typo.path().to_owned()),
            ..Default::default()
        });
        assert!(matches!(err, Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let file = write_config("lisen = \"127.0.0.1:9000\"\n");
        let err = Settings::resolve(ServeArgs {
            config: Some(file.path().to_owned()),
            ..Default::default()
        });
        assert!(matches!(err, Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn store_urls() {
        assert!(matches!(
            parse_store("postgres://u@h/db"),
            Ok(StoreLocation::Postgres { .. })
        ));
        assert!(matches!(
            parse_store("memory"),
            Ok(StoreLocation::SqliteInMemory)
        ));
        assert!(matches!(
            parse_store("sqlite:/x/y.db"),
            Ok(StoreLocation::Sqlite { .. })
        ));
        assert!(parse_store("mysql://x").is_err());
        assert!(parse_store("sqlite:").is_err());
    }
}
