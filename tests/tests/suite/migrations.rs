//! Each backend's migrations run up, down and up again to the same schema, one step at
//! a time and all together; the committed schema.rs is what the diesel CLI generates
//! from the PostgreSQL ones.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::MigrationHarness;
use natter_api::db::{DbConnection, PG_MIGRATIONS, SQLITE_MIGRATIONS};
use natter_tests::{TestDb, repo_root, require_postgres};

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// PostgreSQL: tables, columns, constraints and indexes of the public schema, as text.
const PG_SCHEMA: &str = "
    SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name,
                  data_type, is_nullable, coalesce(column_default, '-')) AS line
      FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
      FROM pg_constraint
     WHERE connamespace = 'public'::regnamespace
       AND conrelid <> '__diesel_schema_migrations'::regclass
    UNION ALL
    SELECT format('index %s', indexdef)
      FROM pg_indexes
     WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
    ORDER BY 1";

/// SQLite: every table, index and trigger as written (its own bookkeeping aside). A
/// table rebuilt and renamed (how SQLite changes a column) is written back with its
/// name quoted: the same table.
const SQLITE_SCHEMA: &str = "
    SELECT type || ' ' || name || ' ' ||
           replace(coalesce(sql, ''), 'CREATE TABLE \"' || name || '\"', 'CREATE TABLE ' || name) AS line
      FROM sqlite_master
     WHERE name NOT LIKE '__diesel%' AND name NOT LIKE 'sqlite_%'
     ORDER BY 1";

/// A fresh database of the suite's backend, on its own connection type, with its
/// own migrations.
enum Migrating {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` the connection and `$m` its backend's migrations.
macro_rules! on_backend {
    ($migrating:expr, $c:ident, $m:ident => $body:expr) => {
        match $migrating {
            Migrating::Pg($c) => {
                let $m = PG_MIGRATIONS;
                $body
            }
            Migrating::Sqlite($c) => {
                let $m = SQLITE_MIGRATIONS;
                $body
            }
        }
    };
}

impl Migrating {
    fn fresh(db: &TestDb) -> Self {
        match db.connect() {
            DbConnection::Pg(conn) => Self::Pg(conn),
            DbConnection::Sqlite(conn) => Self::Sqlite(conn),
        }
    }

    fn schema(&mut self) -> String {
        let sql = match self {
            Self::Pg(_) => PG_SCHEMA,
            Self::Sqlite(_) => SQLITE_SCHEMA,
        };
        let lines: Vec<Line> =
            on_backend!(self, c, _m => diesel::sql_query(sql).load(c).expect("read schema"));
        lines
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn emoji_count(&mut self) -> i64 {
        let query = diesel::sql_query("SELECT count(*) AS n FROM chat_emojis");
        on_backend!(self, c, _m => query.get_result::<Count>(c).expect("count emojis").n)
    }

    fn pending(&mut self) -> usize {
        on_backend!(self, c, m => c.pending_migrations(m).expect("pending").len())
    }

    /// Applies the next migration; false when none is left.
    fn up_one(&mut self) -> bool {
        on_backend!(self, c, m => c.run_next_migration(m).is_ok())
    }

    fn down_one(&mut self) {
        on_backend!(self, c, m => c.revert_last_migration(m).map(drop).expect("revert"));
    }

    fn up_all(&mut self) {
        on_backend!(self, c, m => c.run_pending_migrations(m).map(drop).expect("up"));
    }

    fn down_all(&mut self) {
        on_backend!(self, c, m => c.revert_all_migrations(m).map(drop).expect("down"));
    }
}

#[test]
fn every_migration_reverts_to_the_schema_before_it() {
    let db = TestDb::empty();
    let conn = &mut Migrating::fresh(&db);
    let total = conn.pending();
    assert!(total > 0, "there are migrations to apply");
    let mut steps = 0;
    loop {
        let before = conn.schema();
        if !conn.up_one() {
            // No pending migration left (or a broken one, which the next test shows).
            break;
        }
        let after = conn.schema();
        assert_ne!(before, after, "migration {steps} changed nothing");
        conn.down_one();
        assert_eq!(
            conn.schema(),
            before,
            "migration {steps} down did not undo its up"
        );
        assert!(conn.up_one(), "migration {steps} applies again");
        assert_eq!(
            conn.schema(),
            after,
            "migration {steps} applied twice differs"
        );
        steps += 1;
    }
    assert_eq!(steps, total);
    assert_eq!(conn.pending(), 0);
}

#[test]
fn all_migrations_go_down_and_up_again_to_the_same_schema() {
    let db = TestDb::empty();
    let conn = &mut Migrating::fresh(&db);
    conn.up_all();
    let first = conn.schema();
    assert!(first.contains("chat_conversation_members_one_owner"));
    let seeded = conn.emoji_count();
    conn.down_all();
    assert_eq!(conn.schema(), "", "down leaves nothing behind");
    conn.up_all();
    assert_eq!(conn.schema(), first);
    assert_eq!(conn.emoji_count(), seeded, "the emoji seed is applied once");
}

#[test]
#[ignore = "PostgreSQL only"]
fn schema_rs_is_what_diesel_generates() {
    // diesel.toml generates schema.rs from the PostgreSQL migrations.
    require_postgres("diesel print-schema");
    let db = TestDb::postgres();
    db.connect_pg()
        .run_pending_migrations(PG_MIGRATIONS)
        .expect("apply migrations");
    let root = repo_root();
    let output = std::process::Command::new("diesel")
        .args(["print-schema", "--database-url", db.url(), "--config-file"])
        .arg(root.join("diesel.toml"))
        .current_dir(&root)
        .output()
        .expect("run the diesel CLI (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "diesel print-schema failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = String::from_utf8(output.stdout).expect("utf-8");
    let committed =
        std::fs::read_to_string(root.join("crates/api/src/schema.rs")).expect("schema.rs");
    assert_eq!(
        committed, generated,
        "crates/api/src/schema.rs is stale: run `diesel migration run` against a fresh database"
    );
}
