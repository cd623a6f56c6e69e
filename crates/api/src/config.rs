//! Typed configuration from flags and environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::db::accounts::Registration;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "natter",
    version,
    about = "Natter: a self-hosted, real-time team messenger"
)]
pub struct Config {
    /// Without a command, natter serves.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where everything is stored: `postgres://…` for PostgreSQL (several nodes may
    /// share it), or `sqlite://PATH` for a SQLite file (one node). Without it, a SQLite
    /// file in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,

    /// Where natter keeps its SQLite database when DATABASE_URL is not set (created on
    /// first start).
    #[arg(long, env = "NATTER_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Address and port to serve on; port 0 picks a free one. Once natter accepts
    /// connections it writes the address it serves on, `http://HOST:PORT`, as the
    /// first line of its standard output (its logs go to standard error).
    #[arg(long, env = "NATTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory holding the built web client (index.html and its assets).
    #[arg(long, env = "NATTER_WEB_DIR", default_value = "dist")]
    pub web_dir: PathBuf,

    /// Most database connections this node keeps open.
    #[arg(long, env = "NATTER_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "NATTER_DB_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub db_timeout: Duration,

    /// Key for signing session tokens (at least 32 characters). Every node must share
    /// it; without it natter generates one and keeps it in the database.
    #[arg(long, env = "NATTER_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<Secret>,

    /// The VAPID private key that signs Web Push (RFC 8292): a P-256 key, 32 bytes
    /// in unpadded base64url. Every node must share it; without it natter generates
    /// one and keeps it in the database, like the token key. Changing it ends every
    /// browser's subscription.
    #[arg(long, env = "NATTER_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<Secret>,

    /// Whom push services may contact about natter's pushes: a `mailto:` or `https:`
    /// URL. Default: `--public-url`, else `mailto:admin@localhost`.
    #[arg(long, env = "NATTER_VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,

    /// How long the event log keeps events for streams to resume from; a stream whose
    /// cursor is older gets a `resync` event and reloads.
    #[arg(long, env = "NATTER_EVENT_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub event_retention: Duration,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "NATTER_WORKERS")]
    pub workers: Option<usize>,

    /// Log lines for people (`pretty`) or for log collectors (`json`).
    #[arg(long, env = "NATTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// The address people reach natter at, e.g. `https://chat.example.org`. With
    /// `https`, the session cookie is always `Secure` and every answer carries HSTS,
    /// whatever a proxy in front says.
    #[arg(long, env = "NATTER_PUBLIC_URL")]
    pub public_url: Option<PublicUrl>,

    /// Proxies (comma-separated addresses or CIDRs, e.g. `10.0.0.0/8,::1`) whose
    /// `X-Forwarded-For` and `X-Forwarded-Proto` natter believes. Empty by default:
    /// the client's address is the connection's.
    #[arg(long, env = "NATTER_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Most event streams one session may have open on this node.
    #[arg(long, env = "NATTER_MAX_STREAMS_PER_SESSION", default_value_t = 8)]
    pub max_streams_per_session: usize,

    /// Most event streams one person may have open on this node, all sessions together.
    #[arg(long, env = "NATTER_MAX_STREAMS_PER_USER", default_value_t = 32)]
    pub max_streams_per_user: usize,

    /// How long a sign-in lasts; its event streams end with it.
    #[arg(long, env = "NATTER_SESSION_LIFETIME", default_value = "30d", value_parser = parse_lifetime)]
    pub session_lifetime: Duration,

    /// How long after sending its author may edit a message: a duration such as 15m,
    /// 1h or 2d, or `unlimited`. (`0` is refused rather than read as either.)
    #[arg(long, env = "NATTER_EDIT_WINDOW", default_value = "1h", value_parser = parse_edit_window)]
    pub edit_window: EditWindow,
    /// How long one search may run on PostgreSQL before it is stopped and answered 503
    /// (field `q`), so that no query, however unlucky or hostile, holds the database.
    #[arg(long, env = "NATTER_SEARCH_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub search_timeout: Duration,

    /// Where uploaded files are kept: a directory (default: `files` in the data
    /// directory), or `s3://bucket/prefix` for S3-compatible storage that several
    /// nodes share (credentials, region and endpoint from the usual `AWS_*`
    /// variables, e.g. `AWS_ENDPOINT=http://127.0.0.1:9000` for a local server).
    #[arg(long, env = "NATTER_STORAGE", value_parser = parse_storage)]
    pub storage: Option<StorageUrl>,
    /// The largest file that may be uploaded, in bytes or with a unit (KiB, MiB,
    /// GiB); a larger one is refused (413) as soon as it passes the limit.
    #[arg(long, env = "NATTER_MAX_UPLOAD", default_value = "25MiB", value_parser = parse_size)]
    pub max_upload: u64,
    /// How long an upload may wait to be attached to a message before it is removed.
    #[arg(long, env = "NATTER_KEEP_UNATTACHED", default_value = "24h", value_parser = parse_duration)]
    pub keep_unattached: Duration,

    /// Most members a conversation may have.
    #[arg(long, env = "NATTER_MAX_MEMBERS", default_value_t = 1000)]
    pub max_members: usize,

    /// Password checks and hashes that may wait for a hashing thread; beyond it, sign-ups
    /// and sign-ins are answered 503 with Retry-After.
    #[arg(long, env = "NATTER_PASSWORD_QUEUE", default_value_t = 64)]
    pub password_queue: usize,

    /// API requests this node works on at once; beyond, 503 with Retry-After at once.
    #[arg(long, env = "NATTER_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,

    /// Who may create an account: anyone (`open`), whoever has an admin's invitation
    /// (`invite`), or no one but admins at the command line (`closed`). The first
    /// account of an instance may always register, and becomes its admin.
    #[arg(long, env = "NATTER_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,

    /// Serve Prometheus metrics at `/metrics` on this address (e.g. 127.0.0.1:9091);
    /// off when not given. Keep it off the public internet.
    #[arg(long, env = "NATTER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    #[command(flatten)]
    pub rates: RateFlags,
}

/// Rate limits per person (per address when signed out), each `N/s`, `N/m` or `N/h`:
/// N requests, in bursts of up to N, replenished evenly over the period. Each node
/// counts its own. The README's table lists them.
#[derive(Debug, Clone, clap::Args)]
pub struct RateFlags {
    /// `off` lifts every rate limit below (for benchmarks and imports); sign-in
    /// throttling and the stream caps stay.
    #[arg(long, env = "NATTER_RATE_LIMITS", value_enum, default_value_t = Switch::On)]
    pub rate_limits: Switch,
    /// Sign-ups per address.
    #[arg(long, env = "NATTER_RATE_REGISTER", default_value = "30/h")]
    pub rate_register: Rate,
    /// Sign-in attempts per address, right or wrong.
    #[arg(long, env = "NATTER_RATE_SIGN_IN", default_value = "60/m")]
    pub rate_sign_in: Rate,
    /// New conversations per person.
    #[arg(long, env = "NATTER_RATE_CONVERSATIONS", default_value = "60/h")]
    pub rate_conversations: Rate,
    /// Renames, member and owner changes, closes and sign-outs per person.
    #[arg(long, env = "NATTER_RATE_CHANGES", default_value = "300/m")]
    pub rate_changes: Rate,
    /// Messages sent per person.
    #[arg(long, env = "NATTER_RATE_SENDS", default_value = "120/m")]
    pub rate_sends: Rate,
    /// Reactions added or taken back per person.
    #[arg(long, env = "NATTER_RATE_REACTIONS", default_value = "120/m")]
    pub rate_reactions: Rate,
    /// Messages marked seen per person.
    #[arg(long, env = "NATTER_RATE_SEEN", default_value = "600/m")]
    pub rate_seen: Rate,
    /// Searches (of people and of messages) and exports, per person.
    #[arg(long, env = "NATTER_RATE_SEARCH", default_value = "120/m")]
    pub rate_search: Rate,
    /// Files uploaded per person.
    #[arg(long, env = "NATTER_RATE_UPLOADS", default_value = "60/m")]
    pub rate_uploads: Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `N/s`, `N/m` or `N/h`: N requests per period, in bursts of up to N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: std::num::NonZeroU32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wrong = || format!("`{s}` is not a rate such as 120/m (N per s, m or h, N > 0)");
        let (count, unit) = s.trim().split_once('/').ok_or_else(wrong)?;
        let count = count.trim().parse().map_err(|_| wrong())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_mins(1),
            "h" => Duration::from_hours(1),
            _ => return Err(wrong()),
        };
        Ok(Self { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// `--public-url`: an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl FromStr for PublicUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_end_matches('/');
        let host = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or("must start with https:// or http://")?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err("must name a host, e.g. https://chat.example.org".to_owned());
        }
        Ok(Self(s.to_owned()))
    }
}

/// The longest `--session-lifetime`: a century.
const MAX_LIFETIME_DAYS: i64 = 36_500;

/// A duration of at least a second, for `--session-lifetime`.
fn parse_lifetime(raw: &str) -> Result<Duration, String> {
    let lifetime = parse_duration(raw)?;
    if lifetime < Duration::from_secs(1) {
        return Err("must be at least 1s".to_owned());
    }
    Ok(lifetime)
}

/// How long after sending a message may be edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditWindow {
    Within(Duration),
    Unlimited,
}

/// `unlimited`, or a duration of at least a second.
fn parse_edit_window(raw: &str) -> Result<EditWindow, String> {
    if raw.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(EditWindow::Unlimited);
    }
    let window = parse_duration(raw)?;
    if window < Duration::from_secs(1) {
        return Err("must be at least 1s, or `unlimited` (0 is neither)".to_owned());
    }
    Ok(EditWindow::Within(window))
}

/// An address (`10.0.0.1`) or a network (`10.0.0.0/8`).
/// Where uploaded files are kept (`--storage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    Directory(PathBuf),
    /// `s3://bucket/prefix`: the prefix may be empty.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Directory(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

fn parse_storage(raw: &str) -> Result<StorageUrl, String> {
    let Some(rest) = raw.strip_prefix("s3://") else {
        if raw.contains("://") {
            return Err("give a directory, or s3://bucket/prefix".into());
        }
        if raw.trim().is_empty() {
            return Err("give a directory, or s3://bucket/prefix".into());
        }
        return Ok(StorageUrl::Directory(PathBuf::from(raw)));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("s3:// needs a bucket: s3://bucket/prefix".into());
    }
    Ok(StorageUrl::S3 {
        bucket: bucket.to_owned(),
        prefix: prefix.trim_matches('/').to_owned(),
    })
}

/// A size such as `25MiB`, `512KiB`, `1GiB` or plain bytes.
fn parse_size(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let at = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(at);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a size such as 25MiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{raw:?}: the unit must be B, KiB, MiB or GiB")),
    };
    match number.checked_mul(scale) {
        Some(0) => Err("the limit must be above 0".into()),
        Some(size) => Ok(size),
        None => Err(format!("{raw:?} is too large")),
    }
}

fn parse_network(raw: &str) -> Result<ipnet::IpNet, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{raw}` is not an address or CIDR such as 10.0.0.0/8"))
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Administer the instance from the command line, with the server's database
    /// settings, whether it is running or not.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Write a consistent copy of the SQLite database to FILE while natter runs
    /// (SQLite's online backup). For PostgreSQL use pg_dump (see the README).
    Backup {
        /// The file to write; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Copy everything from the SQLite database (DATABASE_URL, or the one in the data
    /// directory) into an empty PostgreSQL database, and check the counts. Stop natter
    /// first; afterwards start it with DATABASE_URL set to the PostgreSQL database.
    CopyToPostgres {
        /// The PostgreSQL database to fill, e.g. postgres://natter@db/natter. Its schema
        /// is created if needed; it must hold no people, conversations or messages.
        #[arg(long)]
        to: DatabaseUrl,
    },
}

/// `natter admin …`: each names an account by its nickname.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Make NICK an admin.
    Grant { nickname: String },
    /// Stop NICK being an admin (never the last one).
    Revoke { nickname: String },
    /// Disable NICK: their sessions and streams end, and they cannot sign in.
    Disable { nickname: String },
    /// Let a disabled NICK sign in again.
    Enable { nickname: String },
    /// Create an account for NICK and print its generated password (whatever the
    /// registration rule).
    CreateUser { nickname: String },
    /// Print a one-time code, valid for an hour, with which NICK sets a new password
    /// (`POST /api/password-resets`, or "Forgot password" in the web client).
    ResetPassword { nickname: String },
}

/// Bounds on what one request may make the server hold, from the flags.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_members: usize,
    /// How long after sending a message may be edited; `None`: no limit.
    pub edit_window: Option<chrono::Duration>,
    pub session_lifetime: chrono::Duration,
    pub registration: Registration,
    pub search_timeout: Duration,
    pub max_upload: u64,
}

impl Config {
    pub fn limits(&self) -> Limits {
        Limits {
            registration: self.registration,
            max_members: self.max_members,
            search_timeout: self.search_timeout,
            max_upload: self.max_upload,
            edit_window: match self.edit_window {
                EditWindow::Within(window) => {
                    Some(chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX))
                }
                EditWindow::Unlimited => None,
            },
            session_lifetime: chrono::Duration::from_std(self.session_lifetime)
                .unwrap_or(chrono::Duration::MAX)
                .min(chrono::Duration::days(MAX_LIFETIME_DAYS)),
        }
    }

    /// Where files are kept: `--storage`, else `files` in the data directory.
    pub fn storage(&self) -> StorageUrl {
        self.storage
            .clone()
            .unwrap_or_else(|| StorageUrl::Directory(self.data_dir.join("files")))
    }

    /// The database to use: DATABASE_URL, else the SQLite file in the data directory.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.join("natter.sqlite3")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which database, chosen by the URL's scheme. A PostgreSQL password never reaches
/// a log line.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub const SCHEMES: &str = "postgres://, postgresql:// or sqlite://";
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_owned()));
        }
        // sqlite://relative/path, sqlite:///absolute/path, or sqlite:path.
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .ok_or_else(|| format!("must start with {}", Self::SCHEMES))?;
        if path.is_empty() || path.starts_with(':') || path.contains('?') {
            return Err("sqlite:// must be followed by the path of a database file".to_owned());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Display for DatabaseUrl {
    /// The URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match self {
            Self::Postgres(url) => url,
            Self::Sqlite(path) => return write!(f, "sqlite://{}", path.display()),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return f.write_str(url);
        };
        match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _password)) => write!(f, "{scheme}://{user}:***@{host}"),
                None => f.write_str(url),
            },
            None => f.write_str(url),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A secret value that never reaches a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() >= 32 {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be at least 32 characters".to_owned())
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `250ms`, `3s`, `2m`, `12h` or `7d`.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |at| raw.split_at(at));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration such as 500ms, 3s, 1m, 12h or 7d"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_mins(value)),
        "h" => Ok(Duration::from_hours(value)),
        "d" => Ok(Duration::from_hours(value * 24)),
        _ => Err(format!(
            "`{raw}` is not a duration such as 500ms, 3s, 1m, 12h or 7d"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_a_directory_or_an_s3_bucket() {
        assert_eq!(
            parse_storage("s3://team-files/natter/"),
            Ok(StorageUrl::S3 {
                bucket: "team-files".into(),
                prefix: "natter".into()
            })
        );
        assert_eq!(
            parse_storage("s3://b"),
            Ok(StorageUrl::S3 {
                bucket: "b".into(),
                prefix: String::new()
            })
        );
        assert!(parse_storage("s3:///x").is_err());
        assert!(parse_storage("gs://b").is_err());
        assert_eq!(
            parse_storage("/srv/files"),
            Ok(StorageUrl::Directory("/srv/files".into()))
        );
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("25MiB"), Ok(25 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn database_url_hides_the_password() {
        let url: DatabaseUrl = "postgres://natter:s3cret@db:5432/natter"
            .parse()
            .expect("valid");
        assert_eq!(url.to_string(), "postgres://natter:***@db:5432/natter");
        assert!(!format!("{url:?}").contains("s3cret"));
        let plain: DatabaseUrl = "postgres://postgres@127.0.0.1/natter"
            .parse()
            .expect("valid");
        assert_eq!(plain.to_string(), "postgres://postgres@127.0.0.1/natter");
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        let parse = |s: &str| s.parse::<DatabaseUrl>();
        assert_eq!(
            parse("sqlite://data/natter.sqlite3"),
            Ok(DatabaseUrl::Sqlite("data/natter.sqlite3".into()))
        );
        assert_eq!(
            parse("sqlite:///var/lib/natter/db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/natter/db".into()))
        );
        assert_eq!(parse("sqlite:x.db"), Ok(DatabaseUrl::Sqlite("x.db".into())));
        assert!(parse("sqlite://").is_err());
        assert!(parse("sqlite::memory:").is_err());
        assert_eq!(
            parse("sqlite://a.db").expect("valid").to_string(),
            "sqlite://a.db"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_mins(1)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_hours(168)));
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn rates_networks_and_public_urls() {
        let rate: Rate = "120/m".parse().expect("valid");
        assert_eq!((rate.count.get(), rate.per), (120, Duration::from_mins(1)));
        assert_eq!(rate.to_string(), "120/m");
        for wrong in ["0/m", "5", "5/d", "x/s", "-1/s"] {
            assert!(wrong.parse::<Rate>().is_err(), "{wrong}");
        }
        assert_eq!(
            parse_network("10.0.0.1").expect("an address").to_string(),
            "10.0.0.1/32"
        );
        assert!(parse_network("10.0.0.0/8").is_ok());
        assert!(parse_network("::1").is_ok());
        assert!(parse_network("proxy").is_err());
        assert!(
            "https://chat.example.org"
                .parse::<PublicUrl>()
                .expect("valid")
                .is_https()
        );
        assert!(
            !"http://localhost:8080"
                .parse::<PublicUrl>()
                .expect("valid")
                .is_https()
        );
        assert!("chat.example.org".parse::<PublicUrl>().is_err());
    }

    #[test]
    fn defaults_work_on_a_developer_machine() {
        let config = Config::try_parse_from(["natter"]).expect("defaults parse");
        assert_eq!(config.listen.port(), 8080);
        if config.database_url.is_none() {
            assert_eq!(
                config.database(),
                DatabaseUrl::Sqlite("data/natter.sqlite3".into())
            );
        }
        assert_eq!(config.db_timeout, Duration::from_secs(3));
    }
}
