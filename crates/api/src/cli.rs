//! The commands an operator runs beside the server: `natter admin …` and `natter
//! backup`. They open the database with the server's settings, whether a server is
//! running on it or not.

use std::path::Path;

use anyhow::{Context, bail};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use natter_domain::{Nickname, Password, SessionId, UserId};

use crate::auth::password;
use crate::config::{AdminCommand, Config, DatabaseUrl};
use crate::db::accounts::{self, Gate};
use crate::db::migrations::{migrate_postgres, migrate_sqlite};
use crate::db::{DbConnection, DbResult, establish, sqlite, users};

/// Runs `natter admin ACTION`; answers what to print.
pub fn admin(config: &Config, action: &AdminCommand) -> anyhow::Result<String> {
    let url = config.database();
    if let DatabaseUrl::Sqlite(path) = &url
        && !path.is_file()
    {
        bail!(
            "there is no SQLite database at {} yet: start natter once, or set DATABASE_URL",
            path.display()
        );
    }
    match &url {
        DatabaseUrl::Postgres(_) => migrate_postgres(&url)?,
        DatabaseUrl::Sqlite(_) => migrate_sqlite(&url)?,
    }
    let mut conn = establish(&url).with_context(|| format!("cannot open {url}"))?;
    let said = match action {
        AdminCommand::Grant { nickname } => write(&mut conn, |conn| {
            let user = accounts::by_nickname(conn, nickname)?;
            accounts::set_admin(conn, UserId(user.id), true)?;
            Ok(format!("{} is now an admin", user.nickname))
        })?,
        AdminCommand::Revoke { nickname } => write(&mut conn, |conn| {
            let user = accounts::by_nickname(conn, nickname)?;
            accounts::set_admin(conn, UserId(user.id), false)?;
            Ok(format!("{} is no longer an admin", user.nickname))
        })?,
        AdminCommand::Disable { nickname } => write(&mut conn, |conn| {
            let user = accounts::by_nickname(conn, nickname)?;
            let ended = accounts::set_disabled(conn, UserId(user.id), true)?;
            for session in &ended {
                users::announce_revoked(conn, SessionId(*session))?;
            }
            Ok(format!(
                "disabled {}: {} session(s) ended; they cannot sign in until enabled",
                user.nickname,
                ended.len()
            ))
        })?,
        AdminCommand::Enable { nickname } => write(&mut conn, |conn| {
            let user = accounts::by_nickname(conn, nickname)?;
            accounts::set_disabled(conn, UserId(user.id), false)?;
            Ok(format!("enabled {}: they can sign in again", user.nickname))
        })?,
        AdminCommand::CreateUser { nickname } => {
            let nickname = Nickname::parse(nickname)
                .map_err(|error| anyhow::anyhow!("the nickname {error}"))?;
            let generated = random_text(24);
            let hash = password::hash(&Password::parse(&generated).context("generated password")?)?;
            write(&mut conn, |conn| {
                let user = accounts::register(conn, &nickname, &hash, &Gate::Admin)?;
                Ok(format!(
                    "created {} (id {}{}) with the password\n{generated}\nHand it over privately; \
                     they can change it on their account page.",
                    user.nickname,
                    user.id,
                    if user.admin { ", admin" } else { "" },
                ))
            })?
        }
        AdminCommand::ResetPassword { nickname } => {
            let code = random_text(32);
            let hash = password::hash(&Password::parse(&code).context("generated code")?)?;
            write(&mut conn, |conn| {
                let user = accounts::by_nickname(conn, nickname)?;
                accounts::store_reset(conn, UserId(user.id), &hash)?;
                Ok(format!(
                    "a one-time code for {}, valid for {} hour:\n{code}\nWith it they set a new \
                     password (\"Forgot password?\" in the web client, or POST \
                     /api/password-resets); every session of theirs then ends.",
                    user.nickname,
                    accounts::RESET_VALID_FOR.num_hours(),
                ))
            })?
        }
    };
    Ok(said)
}

/// Runs `f` as one transaction; on SQLite an immediate one, taking its turn with a
/// running server's writer.
fn write<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> DbResult<T>,
) -> anyhow::Result<T> {
    use diesel::Connection;
    let done = match conn {
        DbConnection::Sqlite(_) => sqlite::immediate_transaction(conn, f),
        DbConnection::Pg(_) => conn.transaction(f),
    };
    done.map_err(|error| anyhow::anyhow!("{error}"))
}

/// `length` characters from an alphabet without look-alikes (no 0/O, 1/l/I).
fn random_text(length: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = vec![0_u8; length];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
        .collect()
}

/// Every page in one step: one read transaction, so one consistent snapshot. In WAL
/// mode it holds no writer back; smaller steps would start over whenever the server
/// wrote in between, which a busy server always does.
const BACKUP_PAGES_PER_STEP: std::ffi::c_int = -1;

/// Runs `natter backup --to FILE`: a consistent copy of the SQLite database, taken
/// with SQLite's online backup while the server may be writing.
pub fn backup(config: &Config, to: &Path) -> anyhow::Result<String> {
    let url = config.database();
    let DatabaseUrl::Sqlite(path) = &url else {
        bail!(
            "natter backup copies a SQLite database; for PostgreSQL use pg_dump (see the README's \"Backups\")"
        );
    };
    if !path.is_file() {
        bail!("there is no SQLite database at {}", path.display());
    }
    if to.exists() {
        bail!("{} exists already: give a new file", to.display());
    }
    let copied = copy_online(path, to);
    if copied.is_err() {
        // No half-written copy left to be mistaken for a backup.
        let _ = std::fs::remove_file(to);
    }
    let messages = copied?;
    Ok(format!(
        "backed up {} to {} ({messages} messages); restore by stopping natter and putting it in place of the database file",
        path.display(),
        to.display()
    ))
}

/// Copies the database at `path` into a new file `to`; answers its message count.
fn copy_online(path: &Path, to: &Path) -> anyhow::Result<i64> {
    let source =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", path.display()))?;
    source.busy_timeout(std::time::Duration::from_millis(u64::from(
        sqlite::BUSY_TIMEOUT_MS,
    )))?;
    let mut target = rusqlite::Connection::open(to)
        .with_context(|| format!("cannot create {}", to.display()))?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
        loop {
            match backup
                .step(BACKUP_PAGES_PER_STEP)
                .context("the online backup failed")?
            {
                rusqlite::backup::StepResult::Done => break,
                // Busy or locked for a moment (a checkpoint): try again.
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }
    let check: String = target.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if check != "ok" {
        bail!(
            "the copy in {} failed its integrity check: {check}",
            to.display()
        );
    }
    Ok(target.query_row("SELECT count(*) FROM chat_messages", [], |row| row.get(0))?)
}
