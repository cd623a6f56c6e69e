//! Migrations run up, down and up again to the same schema, one step at a time and
//! all together; the committed schema.rs is what the diesel CLI generates from them.

use diesel::migration::{MigrationConnection, MigrationSource};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use natter_api::db::MIGRATIONS;
use natter_tests::{TestDb, repo_root};

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Tables, columns, constraints and indexes of the public schema, as text.
fn schema(conn: &mut PgConnection) -> String {
    let sql = "
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
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .expect("read schema")
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn emoji_count(conn: &mut PgConnection) -> i64 {
    use diesel::dsl::sql;
    diesel::select(sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM chat_emojis)",
    ))
    .get_result(conn)
    .expect("count emojis")
}

#[test]
fn every_migration_reverts_to_the_schema_before_it() {
    let db = TestDb::empty();
    let conn = &mut db.connect();
    conn.setup().expect("migrations table");
    let mut steps = 0;
    loop {
        let before = schema(conn);
        if conn.run_next_migration(MIGRATIONS).is_err() {
            // No pending migration left (or a broken one, which the next test shows).
            break;
        }
        let after = schema(conn);
        assert_ne!(before, after, "migration {steps} changed nothing");
        conn.revert_last_migration(MIGRATIONS).expect("revert");
        assert_eq!(
            schema(conn),
            before,
            "migration {steps} down did not undo its up"
        );
        conn.run_next_migration(MIGRATIONS).expect("apply again");
        assert_eq!(
            schema(conn),
            after,
            "migration {steps} applied twice differs"
        );
        steps += 1;
    }
    assert_eq!(
        steps,
        MigrationSource::<Pg>::migrations(&MIGRATIONS)
            .expect("list")
            .len()
    );
    assert!(!conn.has_pending_migration(MIGRATIONS).expect("pending"));
}

#[test]
fn all_migrations_go_down_and_up_again_to_the_same_schema() {
    let db = TestDb::empty();
    let conn = &mut db.connect();
    conn.run_pending_migrations(MIGRATIONS).expect("up");
    let first = schema(conn);
    assert!(first.contains("chat_conversation_members_one_owner"));
    let seeded = emoji_count(conn);
    conn.revert_all_migrations(MIGRATIONS).expect("down");
    assert_eq!(schema(conn), "", "down leaves nothing behind");
    conn.run_pending_migrations(MIGRATIONS).expect("up again");
    assert_eq!(schema(conn), first);
    assert_eq!(emoji_count(conn), seeded, "the emoji seed is applied once");
}

#[test]
fn schema_rs_is_what_diesel_generates() {
    let db = TestDb::migrated();
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
