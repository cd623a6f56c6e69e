//! Helpers for Natter's black-box tests: a fresh PostgreSQL database per test, the real
//! `natter` binary started on port 0 against it, and a real HTTP client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub mod api;
pub mod browser;
pub mod proxy;
pub mod sse;

/// The PostgreSQL server tests create their databases on (no database name).
pub fn server_url() -> String {
    std::env::var("NATTER_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_owned()
}

/// A uniquely named database, dropped (with its connections) when this is dropped.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// An empty database.
    pub fn empty() -> Self {
        let name = format!("natter_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create test database");
        let url = format!("{}/{name}", server_url());
        Self { name, url }
    }

    /// A database with every migration applied, as `natter` would leave it.
    pub fn migrated() -> Self {
        let db = Self::empty();
        db.connect()
            .run_pending_migrations(natter_api::db::MIGRATIONS)
            .expect("apply migrations");
        db
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut admin = admin_connection();
        if let Err(error) = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

fn admin_connection() -> PgConnection {
    let url = format!("{}/postgres", server_url());
    PgConnection::establish(&url).unwrap_or_else(|error| {
        panic!("tests need PostgreSQL at {url} (set NATTER_TEST_PG to change): {error}")
    })
}

/// `url` with its host's port replaced by `port` on 127.0.0.1.
fn with_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
    let path = rest.find('/').map_or("", |at| &rest[at..]);
    let credentials = if credentials.is_empty() {
        String::new()
    } else {
        format!("{credentials}@")
    };
    format!("{scheme}://{credentials}127.0.0.1:{port}{path}")
}

/// The `natter` binary built next to the test executables (scripts/test.sh builds it).
pub fn natter_binary() -> PathBuf {
    if let Ok(path) = std::env::var("NATTER_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps");
    let binary = profile_dir.join("natter");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build -p natter-api --bin natter` (scripts/test.sh does)",
        binary.display()
    );
    binary
}

/// A running `natter` process on its own database. Killed when dropped.
pub struct TestApp {
    // Declared first so the process dies before its database is dropped.
    child: Child,
    pub address: String,
    pub client: reqwest::Client,
    logs: Arc<Mutex<Vec<String>>>,
    pub db: Arc<TestDb>,
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct SpawnOptions {
    pub web_dir: Option<PathBuf>,
    /// Reach PostgreSQL through this local port (a [`proxy::TcpProxy`]) instead.
    pub database_port: Option<u16>,
    pub extra_env: Vec<(String, String)>,
}

impl TestApp {
    /// `natter` on port 0 with a fresh database and no web client.
    pub async fn spawn() -> Self {
        Self::spawn_with(SpawnOptions::default()).await
    }

    pub async fn spawn_with(options: SpawnOptions) -> Self {
        Self::spawn_on(Arc::new(TestDb::empty()), options).await
    }

    /// Another `natter` node on this app's database.
    pub async fn spawn_node(&self) -> Self {
        self.spawn_node_with(SpawnOptions::default()).await
    }

    pub async fn spawn_node_with(&self, options: SpawnOptions) -> Self {
        Self::spawn_on(self.db.clone(), options).await
    }

    /// A node on a database shared with others (e.g. several started at once).
    pub async fn spawn_on_shared(db: Arc<TestDb>) -> Self {
        Self::spawn_on(db, SpawnOptions::default()).await
    }

    async fn spawn_on(db: Arc<TestDb>, options: SpawnOptions) -> Self {
        let url = match options.database_port {
            Some(port) => with_port(db.url(), port),
            None => db.url().to_owned(),
        };
        let (child, address, logs) = start_natter(&url, &options).await.expect("natter starts");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            child,
            address,
            client,
            logs,
            db,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Everything the process has logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("log lock").clone()
    }

    /// Log lines of requests that failed inside natter (a 500): there should be none.
    pub fn internal_errors(&self) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|line| line.contains("request failed"))
            .collect()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

async fn start_natter(
    database_url: &str,
    options: &SpawnOptions,
) -> anyhow::Result<(Child, String, Arc<Mutex<Vec<String>>>)> {
    let web_dir = options
        .web_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("natter-no-web-client"));
    let mut command = Command::new(natter_binary());
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("NATTER_LISTEN", "127.0.0.1:0")
        .env("NATTER_WEB_DIR", web_dir)
        .env("NATTER_WORKERS", "2")
        .env("NATTER_DB_POOL_SIZE", "4")
        .env("RUST_LOG", "info")
        .envs(options.extra_env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().context("spawn natter")?;
    let logs = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().context("natter stdout")?;
    let stderr = child.stderr.take().context("natter stderr")?;
    let (address_tx, address_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(collect_lines(stdout, logs.clone(), Some(address_tx)));
    tokio::spawn(collect_lines(stderr, logs.clone(), None));
    if let Ok(Ok(address)) = tokio::time::timeout(Duration::from_secs(30), address_rx).await {
        return Ok((child, address, logs));
    }
    let _ = child.kill().await;
    let logs = logs.lock().map(|l| l.join("\n")).unwrap_or_default();
    bail!("natter did not report its address; its output:\n{logs}")
}

async fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin,
    logs: Arc<Mutex<Vec<String>>>,
    mut address_tx: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(address) = listening_address(&line)
            && let Some(tx) = address_tx.take()
        {
            let _ = tx.send(address);
        }
        if let Ok(mut logs) = logs.lock() {
            logs.push(line);
        }
    }
}

/// The address in natter's "listening on http://HOST:PORT" log line.
fn listening_address(line: &str) -> Option<String> {
    let start = line.find("listening on http://")? + "listening on ".len();
    let address: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    Some(address)
}

/// Runs `natter` to completion (for start-up failures) and returns its exit status
/// and output.
pub async fn run_natter_expecting_exit(
    env: &[(&str, &str)],
) -> anyhow::Result<(std::process::ExitStatus, String)> {
    let output = tokio::time::timeout(
        Duration::from_mins(1),
        Command::new(natter_binary())
            .env_clear()
            .env("NATTER_LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("natter did not exit")??;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status, text))
}

#[cfg(test)]
mod tests {
    use super::listening_address;

    #[test]
    fn rewrites_the_port() {
        assert_eq!(
            super::with_port("postgres://postgres@127.0.0.1:5432/natter_test_x", 6000),
            "postgres://postgres@127.0.0.1:6000/natter_test_x"
        );
    }

    #[test]
    fn finds_the_address_in_pretty_and_json_logs() {
        assert_eq!(
            listening_address(
                "2026 INFO natter_api::startup: listening on http://127.0.0.1:4567 database=x"
            ),
            Some("http://127.0.0.1:4567".into())
        );
        assert_eq!(
            listening_address(r#"{"message":"listening on http://127.0.0.1:80","level":"INFO"}"#),
            Some("http://127.0.0.1:80".into())
        );
        assert_eq!(listening_address("starting"), None);
    }
}
