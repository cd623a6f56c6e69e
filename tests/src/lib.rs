//! Helpers for Natter's black-box tests: a fresh database per test (PostgreSQL or SQLite,
//! see [`backend`]), the real
//! `natter` binary started on port 0 against it, and a real HTTP client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use natter_api::db::DbConnection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub mod api;
pub mod browser;
pub mod proxy;
pub mod push;
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

/// The backend the suite runs against: `NATTER_TEST_BACKEND=sqlite` or `postgres`
/// (the default). scripts/test.sh runs the suite once with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub fn backend() -> Backend {
    match std::env::var("NATTER_TEST_BACKEND").as_deref() {
        Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") | Err(_) => Backend::Postgres,
        Ok(other) => panic!("NATTER_TEST_BACKEND must be sqlite or postgres, not {other}"),
    }
}

/// For tests of what only PostgreSQL does (several nodes on one database, its
/// stamper). Such a test is marked `#[ignore = "PostgreSQL only"]`, so that the SQLite
/// pass reports it as ignored rather than passed, and scripts/test.sh runs the
/// PostgreSQL pass with `--include-ignored`; this stops it with a clear message if it
/// is run on SQLite all the same.
pub fn require_postgres(what: &str) {
    assert!(
        backend() == Backend::Postgres,
        "{what} needs PostgreSQL: run it with NATTER_TEST_BACKEND=postgres"
    );
}

/// A database of the suite's backend, removed when this is dropped: a uniquely named
/// PostgreSQL database (dropped with its connections), or a SQLite file in a
/// temporary directory.
pub struct TestDb {
    kind: Kind,
    /// The file store of the nodes on this database (`NATTER_STORAGE`), shared by
    /// them as a bucket would be.
    files: tempfile::TempDir,
}

enum Kind {
    Postgres {
        name: String,
        url: String,
    },
    Sqlite {
        url: String,
        _dir: Option<tempfile::TempDir>,
    },
}

impl TestDb {
    /// A database of the suite's backend with every migration applied, as `natter`
    /// would leave it: a copy of this process's template, migrated once (see
    /// [`template`]).
    pub fn migrated() -> Self {
        Self::migrated_of(backend())
    }

    /// A migrated database of `backend`, whatever the suite's.
    pub fn migrated_of(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => {
                let db = Self::new_postgres();
                let template = template::postgres();
                db.create_postgres(&format!(" TEMPLATE {template}"));
                db
            }
            Backend::Sqlite => {
                let db = Self::sqlite_file();
                let Kind::Sqlite {
                    _dir: Some(dir), ..
                } = &db.kind
                else {
                    unreachable!("sqlite_file makes a file in a directory of its own");
                };
                std::fs::copy(template::sqlite(), dir.path().join(SQLITE_FILE))
                    .expect("copy the SQLite template");
                db
            }
        }
    }

    /// A database of the suite's backend with no tables at all (for tests of the
    /// migrations themselves).
    pub fn empty() -> Self {
        match backend() {
            Backend::Postgres => Self::postgres(),
            Backend::Sqlite => Self::sqlite_file(),
        }
    }

    /// An empty PostgreSQL database, whatever the suite's backend.
    pub fn postgres() -> Self {
        let db = Self::new_postgres();
        db.create_postgres("");
        db
    }

    /// The SQLite file natter keeps in the data directory `dir` by default (left
    /// where it is when this is dropped).
    pub fn sqlite_in(dir: &Path) -> Self {
        let url = format!("sqlite://{}", dir.join(SQLITE_FILE).display());
        Self {
            kind: Kind::Sqlite { url, _dir: None },
            files: files_dir(),
        }
    }

    /// A SQLite file (not yet created) in a fresh temporary directory.
    fn sqlite_file() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut db = Self::sqlite_in(dir.path());
        if let Kind::Sqlite { _dir: held, .. } = &mut db.kind {
            *held = Some(dir);
        }
        db
    }

    /// A uniquely named PostgreSQL database, not yet created (but dropped with this).
    fn new_postgres() -> Self {
        let name = format!("natter_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{}/{name}", server_url());
        Self {
            kind: Kind::Postgres { name, url },
            files: files_dir(),
        }
    }

    fn create_postgres(&self, options: &str) {
        let Kind::Postgres { name, .. } = &self.kind else {
            unreachable!("only PostgreSQL databases are created by statement");
        };
        diesel::sql_query(format!("CREATE DATABASE {name}{options}"))
            .execute(&mut admin_connection())
            .expect("create test database");
    }

    /// Where the nodes on this database keep files.
    pub fn files(&self) -> &Path {
        self.files.path()
    }

    pub fn url(&self) -> &str {
        match &self.kind {
            Kind::Postgres { url, .. } | Kind::Sqlite { url, .. } => url,
        }
    }

    /// A connection of either backend, as natter makes them (SQLite: WAL, foreign
    /// keys, busy timeout), for SQL that both understand.
    pub fn connect(&self) -> DbConnection {
        let url = self.url().parse().expect("a database URL");
        natter_api::db::establish(&url).expect("connect to test database")
    }

    /// A PostgreSQL connection, for tests of PostgreSQL itself.
    pub fn connect_pg(&self) -> PgConnection {
        PgConnection::establish(self.url()).expect("connect to the PostgreSQL test database")
    }

    /// Whether a migration of this database's backend is still to be applied.
    pub fn has_pending_migration(&self) -> bool {
        match self.connect() {
            DbConnection::Pg(mut conn) => conn.has_pending_migration(natter_api::db::PG_MIGRATIONS),
            DbConnection::Sqlite(mut conn) => {
                conn.has_pending_migration(natter_api::db::SQLITE_MIGRATIONS)
            }
        }
        .expect("read applied migrations")
    }
}

fn files_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary file store")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Kind::Postgres { name, .. } = &self.kind else {
            return; // the temporary directory goes with it
        };
        drop_postgres_database(name);
    }
}

/// The file name natter gives its SQLite database in a data directory.
const SQLITE_FILE: &str = "natter.sqlite3";

fn drop_postgres_database(name: &str) {
    let mut admin = admin_connection();
    if let Err(error) = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
    {
        eprintln!("could not drop test database {name}: {error}");
    }
}

/// Each test's database is a copy of a template that this test process migrates once
/// per backend, on first use: copying is far cheaper than migrating. A template is
/// named after its process (`natter_tpl_<pid>_…`, `natter-tpl-<pid>-…`), since no
/// test outlives the process to drop it; whoever makes the next one removes those of
/// processes that have ended, and so does scripts/test.sh when the suite is done.
pub mod template {
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use diesel::prelude::*;
    use diesel_migrations::MigrationHarness;

    use super::{admin_connection, drop_postgres_database, server_url};

    /// The prefix of template names, followed by the owning process's id.
    pub const PREFIX: &str = "natter_tpl_";

    /// This process's PostgreSQL template database, made on first use.
    pub fn postgres() -> &'static str {
        static NAME: OnceLock<String> = OnceLock::new();
        NAME.get_or_init(|| {
            sweep_postgres();
            let name = format!(
                "{PREFIX}{}_{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut admin_connection())
                .expect("create the template database");
            let mut conn = PgConnection::establish(&format!("{}/{name}", server_url()))
                .expect("connect to the template database");
            conn.run_pending_migrations(natter_api::db::PG_MIGRATIONS)
                .expect("migrate the template database");
            // Copies wait for every session on the template to end: this one ends here.
            drop(conn);
            name
        })
    }

    /// This process's migrated SQLite file, made on first use.
    pub fn sqlite() -> &'static Path {
        static FILE: OnceLock<PathBuf> = OnceLock::new();
        FILE.get_or_init(|| {
            sweep_sqlite();
            let dir = std::env::temp_dir().join(format!(
                "natter-tpl-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ));
            std::fs::create_dir_all(&dir).expect("create the SQLite template's directory");
            let file = dir.join(super::SQLITE_FILE);
            let url = format!("sqlite://{}", file.display())
                .parse()
                .expect("a SQLite URL");
            let natter_api::db::DbConnection::Sqlite(mut conn) =
                natter_api::db::establish(&url).expect("open the SQLite template")
            else {
                unreachable!("a sqlite:// URL opens SQLite");
            };
            conn.run_pending_migrations(natter_api::db::SQLITE_MIGRATIONS)
                .expect("migrate the SQLite template");
            // Closing the last connection folds the WAL into the file, which is then
            // complete on its own.
            drop(conn);
            file
        })
    }

    /// The process a template name belongs to, if it is one.
    fn owner(name: &str, prefix: &str) -> Option<u32> {
        name.strip_prefix(prefix)?
            .split(['_', '-'])
            .next()?
            .parse()
            .ok()
    }

    fn has_ended(pid: u32) -> bool {
        !Path::new(&format!("/proc/{pid}")).exists()
    }

    /// Drops the template databases of processes that have ended.
    pub fn sweep_postgres() {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            datname: String,
        }
        let names = diesel::sql_query(format!(
            "SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"
        ))
        .load::<Name>(&mut admin_connection())
        .unwrap_or_default();
        for Name { datname } in names {
            if owner(&datname, PREFIX).is_some_and(has_ended) {
                drop_postgres_database(&datname);
            }
        }
    }

    fn sweep_sqlite() {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if owner(&name.to_string_lossy(), "natter-tpl-").is_some_and(has_ended) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_template_names_its_process() {
            assert_eq!(
                super::owner("natter_tpl_4242_0a1b2c3d", super::PREFIX),
                Some(4242)
            );
            assert_eq!(
                super::owner("natter-tpl-17-0a1b2c3d", "natter-tpl-"),
                Some(17)
            );
            assert_eq!(super::owner("natter_test_4242", super::PREFIX), None);
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

/// A tool in the Python venv scripts/setup.sh makes (schemathesis, the Prometheus
/// client's parser): `$NATTER_VENV`, else `$XDG_DATA_HOME/natter/venv`.
pub fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("NATTER_VENV").map_or_else(
        || {
            let data = std::env::var_os("XDG_DATA_HOME").map_or_else(
                || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share"),
                PathBuf::from,
            );
            data.join("natter/venv")
        },
        PathBuf::from,
    );
    let path = venv.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    path
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

impl SpawnOptions {
    /// A node set up as `scripts/bench.sh` sets one up: no rate limits, and stream
    /// caps far above what a scenario opens.
    pub fn for_bench() -> Self {
        Self::with_env(&[
            ("NATTER_RATE_LIMITS", "off"),
            ("NATTER_MAX_STREAMS_PER_SESSION", "1000000"),
            ("NATTER_MAX_STREAMS_PER_USER", "1000000"),
        ])
    }

    /// A node with these environment variables (natter's flags have one each).
    pub fn with_env(env: &[(&str, &str)]) -> Self {
        Self {
            extra_env: env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            ..Self::default()
        }
    }
}

impl TestApp {
    /// `natter` on port 0 with a fresh database and no web client.
    pub async fn spawn() -> Self {
        Self::spawn_with(SpawnOptions::default()).await
    }

    pub async fn spawn_with(options: SpawnOptions) -> Self {
        Self::spawn_on(Arc::new(TestDb::migrated()), options).await
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

    /// Kills the process and waits until it is gone (its SQLite lock with it).
    pub async fn stop(mut self) -> Arc<TestDb> {
        let _ = self.child.kill().await;
        self.db.clone()
    }

    /// `natter` with no DATABASE_URL and NATTER_DATA_DIR=`dir`, as a person would
    /// first run it.
    pub async fn spawn_in_data_dir(dir: &Path) -> Self {
        Self::spawn_in_data_dir_with(dir, SpawnOptions::default()).await
    }

    /// As [`Self::spawn_in_data_dir`], with `options`.
    pub async fn spawn_in_data_dir_with(dir: &Path, mut options: SpawnOptions) -> Self {
        options
            .extra_env
            .push(("NATTER_DATA_DIR".into(), dir.display().to_string()));
        Self::start(Arc::new(TestDb::sqlite_in(dir)), None, &options).await
    }

    pub async fn spawn_on(db: Arc<TestDb>, options: SpawnOptions) -> Self {
        let url = match options.database_port {
            Some(port) => with_port(db.url(), port),
            None => db.url().to_owned(),
        };
        Self::start(db, Some(&url), &options).await
    }

    async fn start(db: Arc<TestDb>, url: Option<&str>, options: &SpawnOptions) -> Self {
        let chosen = |name: &str| options.extra_env.iter().any(|(n, _)| n == name);
        let mut options_with_files;
        let mut options = options;
        if !chosen("NATTER_STORAGE") && !chosen("NATTER_DATA_DIR") {
            options_with_files = SpawnOptions {
                web_dir: options.web_dir.clone(),
                database_port: options.database_port,
                extra_env: options.extra_env.clone(),
            };
            options_with_files
                .extra_env
                .push(("NATTER_STORAGE".into(), db.files().display().to_string()));
            options = &options_with_files;
        }
        let (child, address, logs) = start_natter(url, options).await.expect("natter starts");
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
    database_url: Option<&str>,
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
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
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

/// Keeps every line of `stream` in `logs`; the first goes to `first_line` too (on
/// standard output, natter's first line is the address it serves on).
async fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin,
    logs: Arc<Mutex<Vec<String>>>,
    mut first_line: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(tx) = first_line.take() {
            let _ = tx.send(line.clone());
        }
        if let Ok(mut logs) = logs.lock() {
            logs.push(line);
        }
    }
}

/// Runs `natter` to completion (for start-up failures) and returns its exit status
/// and output.
pub async fn run_natter_expecting_exit(
    env: &[(&str, &str)],
) -> anyhow::Result<(std::process::ExitStatus, String)> {
    run_natter_command(&[], env).await
}

/// Runs `natter ARGS` (a command such as `copy-to-postgres`) to completion and
/// returns its exit status and output.
pub async fn run_natter_command(
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(std::process::ExitStatus, String)> {
    let output = tokio::time::timeout(
        Duration::from_mins(1),
        Command::new(natter_binary())
            .args(args)
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
    #[test]
    fn rewrites_the_port() {
        assert_eq!(
            super::with_port("postgres://postgres@127.0.0.1:5432/natter_test_x", 6000),
            "postgres://postgres@127.0.0.1:6000/natter_test_x"
        );
    }
}
