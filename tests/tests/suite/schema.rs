//! Every rule of the data model lives in the database, PostgreSQL and SQLite alike:
//! each is shown by an insert that the database refuses and one that it accepts,
//! against the migrated schema of the suite's backend.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::{BigInt, Text};
use natter_api::db::DbConnection;
use natter_domain::Nickname;
use natter_tests::TestDb;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// Runs `sql` (ending in `RETURNING id`) and returns the id.
fn insert(conn: &mut DbConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Id>(conn)
        .unwrap_or_else(|error| panic!("`{sql}` should succeed: {error}"))
        .id
}

fn accepted(conn: &mut DbConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|error| panic!("`{sql}` should succeed: {error}"));
}

/// Runs `sql` in a savepoint and returns how the database refused it.
fn refused(conn: &mut DbConnection, sql: &str) -> DatabaseErrorKind {
    let result = conn.transaction(|conn| diesel::sql_query(sql).execute(conn));
    match result {
        Err(Error::DatabaseError(kind, _)) => kind,
        other => panic!("`{sql}` should be refused, got {other:?}"),
    }
}

fn user(conn: &mut DbConnection, nickname: &str) -> i64 {
    let nick = Nickname::parse(nickname).expect("valid nickname");
    insert(
        conn,
        &format!(
            "INSERT INTO auth_users (nickname, nickname_key, password_hash) \
             VALUES ('{}', '{}', '$argon2id$test') RETURNING id",
            nick.as_str(),
            nick.canonical()
        ),
    )
}

struct Fixture {
    alice: i64,
    bob: i64,
    conversation: i64,
    other_conversation: i64,
    message: i64,
    other_message: i64,
    emoji: i64,
}

fn fixture(conn: &mut DbConnection) -> Fixture {
    let alice = user(conn, "Alice");
    let bob = user(conn, "Bob");
    let conversation = insert(
        conn,
        &format!(
            "INSERT INTO chat_conversations (title, created_by) VALUES ('Plans', {alice}) RETURNING id"
        ),
    );
    let other_conversation = insert(
        conn,
        &format!(
            "INSERT INTO chat_conversations (title, created_by) VALUES ('Other', {bob}) RETURNING id"
        ),
    );
    accepted(
        conn,
        &format!(
            "INSERT INTO chat_conversation_members (conversation_id, user_id, owner) \
             VALUES ({conversation}, {alice}, TRUE), ({conversation}, {bob}, FALSE)"
        ),
    );
    let message = insert(
        conn,
        &format!(
            "INSERT INTO chat_messages (conversation_id, sender_id, content) VALUES ({conversation}, {alice}, 'hi') RETURNING id"
        ),
    );
    let other_message = insert(
        conn,
        &format!(
            "INSERT INTO chat_messages (conversation_id, sender_id, content) VALUES ({other_conversation}, {bob}, 'elsewhere') RETURNING id"
        ),
    );
    let emoji = insert(conn, "SELECT id FROM chat_emojis WHERE key = 'thumbs_up'");
    Fixture {
        alice,
        bob,
        conversation,
        other_conversation,
        message,
        other_message,
        emoji,
    }
}

#[test]
fn nicknames_are_unique_ignoring_case_and_width() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    user(conn, "Alice");
    user(conn, "Alicia");
    for taken in ["alice", "ALICE", "ＡＬＩＣＥ"] {
        let key = Nickname::parse(taken).expect("valid").canonical();
        let sql = format!(
            "INSERT INTO auth_users (nickname, nickname_key, password_hash) VALUES ('{taken}', '{key}', 'h')"
        );
        assert_eq!(
            refused(conn, &sql),
            DatabaseErrorKind::UniqueViolation,
            "{taken}"
        );
    }
}

#[test]
fn user_columns_are_required_and_bounded() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    assert_eq!(
        refused(
            conn,
            "INSERT INTO auth_users (nickname, nickname_key, password_hash) VALUES (NULL, 'x', 'h')"
        ),
        DatabaseErrorKind::NotNullViolation
    );
    assert_eq!(
        refused(
            conn,
            "INSERT INTO auth_users (nickname, nickname_key, password_hash) VALUES ('', 'x', 'h')"
        ),
        DatabaseErrorKind::CheckViolation
    );
    let long = "a".repeat(33);
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO auth_users (nickname, nickname_key, password_hash) VALUES ('{long}', 'x', 'h')"
            )
        ),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(
            conn,
            "INSERT INTO auth_users (nickname, nickname_key, password_hash) VALUES ('x', 'x', '')"
        ),
        DatabaseErrorKind::CheckViolation
    );
    let max = "é".repeat(32);
    accepted(
        conn,
        &format!(
            "INSERT INTO auth_users (nickname, nickname_key, password_hash) VALUES ('{max}', '{max}', 'h')"
        ),
    );
}

#[test]
fn sessions_belong_to_a_user_and_expire_after_creation() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let alice = user(conn, "alice");
    assert_eq!(
        refused(
            conn,
            "INSERT INTO auth_sessions (user_id, expires_at) VALUES (999999, '2999-01-01 00:00:00')"
        ),
        DatabaseErrorKind::ForeignKeyViolation
    );
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO auth_sessions (user_id, expires_at) VALUES ({alice}, '2000-01-01 00:00:00')"
            )
        ),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(
            conn,
            &format!("INSERT INTO auth_sessions (user_id) VALUES ({alice})")
        ),
        DatabaseErrorKind::NotNullViolation
    );
    accepted(
        conn,
        &format!(
            "INSERT INTO auth_sessions (user_id, expires_at) VALUES ({alice}, '2999-01-01 00:00:00')"
        ),
    );
}

#[test]
fn conversations_need_a_title_and_a_real_creator() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let alice = user(conn, "alice");
    assert_eq!(
        refused(
            conn,
            &format!("INSERT INTO chat_conversations (title, created_by) VALUES ('', {alice})")
        ),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(
            conn,
            &format!("INSERT INTO chat_conversations (title, created_by) VALUES (NULL, {alice})")
        ),
        DatabaseErrorKind::NotNullViolation
    );
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO chat_conversations (title, created_by) VALUES ('{}', {alice})",
                "t".repeat(101)
            )
        ),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(
            conn,
            "INSERT INTO chat_conversations (title, created_by) VALUES ('x', 424242)"
        ),
        DatabaseErrorKind::ForeignKeyViolation
    );
    accepted(
        conn,
        &format!("INSERT INTO chat_conversations (title, created_by) VALUES ('Launch', {alice})"),
    );
}

#[test]
fn one_membership_per_user_per_conversation() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO chat_conversation_members (conversation_id, user_id) VALUES ({}, {})",
                f.conversation, f.bob
            )
        ),
        DatabaseErrorKind::UniqueViolation
    );
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO chat_conversation_members (conversation_id, user_id) VALUES ({}, 31337)",
                f.conversation
            )
        ),
        DatabaseErrorKind::ForeignKeyViolation
    );
    accepted(
        conn,
        &format!(
            "INSERT INTO chat_conversation_members (conversation_id, user_id) VALUES ({}, {})",
            f.other_conversation, f.bob
        ),
    );
}

#[test]
fn at_most_one_owner_per_conversation() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    assert_eq!(
        refused(
            conn,
            &format!(
                "UPDATE chat_conversation_members SET owner = TRUE WHERE conversation_id = {} AND user_id = {}",
                f.conversation, f.bob
            )
        ),
        DatabaseErrorKind::UniqueViolation
    );
    let carol = user(conn, "carol");
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO chat_conversation_members (conversation_id, user_id, owner) VALUES ({}, {carol}, TRUE)",
                f.conversation
            )
        ),
        DatabaseErrorKind::UniqueViolation
    );
    // Many members who are not owners, and handing ownership over, are fine.
    accepted(
        conn,
        &format!(
            "INSERT INTO chat_conversation_members (conversation_id, user_id) VALUES ({}, {carol})",
            f.conversation
        ),
    );
    accepted(
        conn,
        &format!(
            "UPDATE chat_conversation_members SET owner = (user_id = {}) WHERE conversation_id = {}",
            f.bob, f.conversation
        ),
    );
}

#[test]
fn a_message_text_is_erased_exactly_when_it_is_deleted_and_versions_are_kept_once() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    let (c, a, m) = (f.conversation, f.alice, f.message);
    let now = "'2026-11-30 00:00:00'";
    // A tombstone has no text; a live message must have some.
    assert_eq!(
        refused(
            conn,
            &format!("UPDATE chat_messages SET deleted_at = {now} WHERE id = {m}")
        ),
        DatabaseErrorKind::CheckViolation,
        "deleted with its text still there"
    );
    accepted(
        conn,
        &format!(
            "INSERT INTO chat_messages (conversation_id, sender_id, content, deleted_at, version) \
             VALUES ({c}, {a}, '', {now}, 2)"
        ),
    );
    assert_eq!(
        refused(
            conn,
            &format!("UPDATE chat_messages SET version = 0 WHERE id = {m}")
        ),
        DatabaseErrorKind::CheckViolation
    );
    let edit = |version: i64| {
        format!(
            "INSERT INTO chat_message_edits (message_id, version, content, written_at, replaced_at) \
             VALUES ({m}, {version}, 'before', {now}, {now})"
        )
    };
    accepted(conn, &edit(1));
    assert_eq!(refused(conn, &edit(1)), DatabaseErrorKind::UniqueViolation);
    assert_eq!(
        refused(
            conn,
            "INSERT INTO chat_message_edits (message_id, version, content, written_at, replaced_at) \
             VALUES (987654, 1, 'x', '2026-11-30 00:00:00', '2026-11-30 00:00:00')"
        ),
        DatabaseErrorKind::ForeignKeyViolation
    );
}

#[test]
fn messages_are_bounded_and_client_ids_unique_per_sender() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    let (c, a, b) = (f.conversation, f.alice, f.bob);
    let send = |content: &str, sender: i64, client_id: &str| {
        format!(
            "INSERT INTO chat_messages (conversation_id, sender_id, content, client_id) VALUES ({c}, {sender}, '{content}', {client_id})"
        )
    };
    // Empty text is allowed: a message may carry files alone (the API refuses a
    // message with neither).
    assert_eq!(
        refused(conn, &send(&"x".repeat(4001), a, "NULL")),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO chat_messages (conversation_id, sender_id, content) VALUES ({c}, {a}, NULL)"
            )
        ),
        DatabaseErrorKind::NotNullViolation
    );
    assert_eq!(
        refused(conn, &send("x", a, "'not-a-uuid'")),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(
            conn,
            &send("x", a, "'6F9619FF-8B86-D011-B42D-00C04FC964FF'")
        ),
        DatabaseErrorKind::CheckViolation,
        "client ids are stored in canonical lowercase"
    );
    let id = "'6f9619ff-8b86-d011-b42d-00c04fc964ff'";
    accepted(conn, &send("first", a, id));
    assert_eq!(
        refused(conn, &send("retry", a, id)),
        DatabaseErrorKind::UniqueViolation
    );
    accepted(conn, &send("same id, other sender", b, id));
    accepted(conn, &send(&"x".repeat(4000), a, "NULL"));
    accepted(conn, &send("no client id again", a, "NULL"));
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO chat_messages (conversation_id, sender_id, content) VALUES (987654, {a}, 'x')"
            )
        ),
        DatabaseErrorKind::ForeignKeyViolation
    );
}

#[test]
fn watermark_points_at_a_message_of_its_conversation() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    assert_eq!(
        refused(
            conn,
            &format!(
                "UPDATE chat_conversation_members SET last_seen_message_id = {} WHERE conversation_id = {} AND user_id = {}",
                f.other_message, f.conversation, f.bob
            )
        ),
        DatabaseErrorKind::ForeignKeyViolation
    );
    accepted(
        conn,
        &format!(
            "UPDATE chat_conversation_members SET last_seen_message_id = {} WHERE conversation_id = {} AND user_id = {}",
            f.message, f.conversation, f.bob
        ),
    );
}

#[test]
fn emoji_set_is_seeded_with_unique_keys() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let count = insert(conn, "SELECT count(*) AS id FROM chat_emojis");
    assert!(count >= 30, "a useful default set, got {count}");
    let thumbs =
        diesel::sql_query("SELECT unicode AS line FROM chat_emojis WHERE key = 'thumbs_up'")
            .get_result::<Line>(conn)
            .expect("thumbs_up is seeded");
    assert_eq!(thumbs.line, "👍");
    assert_eq!(
        refused(
            conn,
            "INSERT INTO chat_emojis (key, unicode) VALUES ('thumbs_up', '👍')"
        ),
        DatabaseErrorKind::UniqueViolation
    );
    assert_eq!(
        refused(
            conn,
            "INSERT INTO chat_emojis (key, unicode) VALUES ('Thumbs Up', '👍')"
        ),
        DatabaseErrorKind::CheckViolation
    );
    accepted(
        conn,
        "INSERT INTO chat_emojis (key, unicode) VALUES ('llama', '🦙')",
    );
}

#[test]
fn each_emoji_once_per_person_per_message() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    let react = |conversation: i64, message: i64, user: i64, emoji: i64| {
        format!(
            "INSERT INTO chat_message_reactions (conversation_id, message_id, user_id, emoji_id) VALUES ({conversation}, {message}, {user}, {emoji})"
        )
    };
    accepted(conn, &react(f.conversation, f.message, f.bob, f.emoji));
    assert_eq!(
        refused(conn, &react(f.conversation, f.message, f.bob, f.emoji)),
        DatabaseErrorKind::UniqueViolation
    );
    accepted(conn, &react(f.conversation, f.message, f.alice, f.emoji));
    let heart = insert(conn, "SELECT id FROM chat_emojis WHERE key = 'heart'");
    accepted(conn, &react(f.conversation, f.message, f.bob, heart));
    // The message must belong to the conversation the reaction names.
    assert_eq!(
        refused(
            conn,
            &react(f.conversation, f.other_message, f.bob, f.emoji)
        ),
        DatabaseErrorKind::ForeignKeyViolation
    );
    assert_eq!(
        refused(conn, &react(f.conversation, f.message, f.bob, 999_999)),
        DatabaseErrorKind::ForeignKeyViolation
    );
}

#[test]
fn seen_receipts_record_watermark_moves() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    let seen = |conversation: i64, message: i64| {
        format!(
            "INSERT INTO chat_seen_messages (conversation_id, user_id, up_to_message_id) VALUES ({conversation}, {}, {message})",
            f.bob
        )
    };
    accepted(conn, &seen(f.conversation, f.message));
    assert_eq!(
        refused(conn, &seen(f.conversation, f.message)),
        DatabaseErrorKind::UniqueViolation
    );
    assert_eq!(
        refused(conn, &seen(f.conversation, f.other_message)),
        DatabaseErrorKind::ForeignKeyViolation
    );
    assert_eq!(
        refused(
            conn,
            &format!(
                "INSERT INTO chat_seen_messages (conversation_id, user_id, up_to_message_id) VALUES ({}, {}, NULL)",
                f.conversation, f.bob
            )
        ),
        DatabaseErrorKind::NotNullViolation
    );
}

#[test]
fn events_have_one_position_per_conversation() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    let c = f.conversation;
    // Writers take the next position from the conversation row, inside their transaction.
    let seq = insert(
        conn,
        &format!(
            "UPDATE chat_conversations SET last_event_seq = last_event_seq + 1 WHERE id = {c} RETURNING last_event_seq AS id"
        ),
    );
    assert_eq!(seq, 1);
    let event = |conversation: i64, seq: i64, kind: &str| {
        format!(
            "INSERT INTO chat_events (conversation_id, seq, kind, payload) VALUES ({conversation}, {seq}, '{kind}', '{{}}')"
        )
    };
    accepted(conn, &event(c, seq, "message_created"));
    assert_eq!(
        refused(conn, &event(c, seq, "message_created")),
        DatabaseErrorKind::UniqueViolation
    );
    assert_eq!(
        refused(conn, &event(c, 0, "message_created")),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(conn, &event(c, 2, "")),
        DatabaseErrorKind::CheckViolation
    );
    assert_eq!(
        refused(conn, &event(424_242, 1, "x")),
        DatabaseErrorKind::ForeignKeyViolation
    );
    accepted(conn, &event(f.other_conversation, 1, "message_created"));
}

#[test]
fn history_pages_use_the_keyset_index() {
    let db = TestDb::migrated();
    let conn = &mut db.connect();
    let f = fixture(conn);
    let query = format!(
        "SELECT id FROM chat_messages WHERE conversation_id = {} AND id < 1000 ORDER BY id DESC LIMIT 50",
        f.conversation
    );
    let (plan, index) = match conn {
        DbConnection::Pg(pg) => {
            accepted_pg(pg, "SET enable_seqscan = off");
            let plan: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN {query}"))
                .load(pg)
                .expect("explain");
            (
                plan.into_iter().map(|l| l.plan).collect::<Vec<_>>(),
                "chat_messages_conversation_id_unique",
            )
        }
        DbConnection::Sqlite(sqlite) => {
            let plan: Vec<SqlitePlanLine> =
                diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}"))
                    .load(sqlite)
                    .expect("explain");
            // SQLite names a UNIQUE constraint's index itself.
            (
                plan.into_iter().map(|l| l.detail).collect::<Vec<_>>(),
                "INDEX sqlite_autoindex_chat_messages",
            )
        }
    };
    let plan = plan.join("\n");
    assert!(
        plan.contains(index),
        "history should walk the (conversation_id, id) index:\n{plan}"
    );
}

fn accepted_pg(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|error| panic!("`{sql}` should succeed: {error}"));
}
