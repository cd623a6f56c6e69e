//! Running an instance: admins, who may register, disabled accounts, passwords and
//! their resets, deleting an account, and the `natter admin` and `natter backup`
//! commands. Against the real server and the real binary, on the suite's backend.

use std::time::Duration;

use natter_tests::api::{PASSWORD, Person};
use natter_tests::sse::SseStream;
use natter_tests::{SpawnOptions, TestApp, require_postgres, run_natter_command};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const STREAM_END: Duration = Duration::from_secs(10);

fn registration(rule: &str) -> SpawnOptions {
    SpawnOptions::with_env(&[("NATTER_REGISTRATION", rule)])
}

/// `natter ARGS` on `app`'s database: exit success and output.
async fn natter(app: &TestApp, args: &[&str]) -> (bool, String) {
    let (status, output) = run_natter_command(args, &[("DATABASE_URL", app.db.url())])
        .await
        .expect("natter runs");
    (status.success(), output)
}

async fn register_with(app: &TestApp, nickname: &str, code: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"nickname": nickname, "password": PASSWORD});
    if let Some(code) = code {
        body["invite_code"] = json!(code);
    }
    let reply = app.call(Method::POST, "/users", None, Some(&body)).await;
    (reply.status, reply.body)
}

async fn sign_in_as(app: &TestApp, nickname: &str, password: &str) -> (StatusCode, Value) {
    let reply = app
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": nickname, "password": password})),
        )
        .await;
    (reply.status, reply.body)
}

fn token_of(body: &Value) -> String {
    body["token"].as_str().expect("a token").to_owned()
}

async fn me_with(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let reply = app.call(Method::GET, "/me", Some(token), None).await;
    (reply.status, reply.body)
}

async fn invite(app: &TestApp, admin: &Person, body: &Value) -> Value {
    let reply = app.post("/invites", admin, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body
}

#[tokio::test]
async fn the_first_account_is_admin_and_only_admins_reach_admin_routes() {
    let app = TestApp::spawn().await;
    let root = app.register("root").await;
    let bob = app.register("bob").await;
    assert_eq!(app.get("/me", &root).await.body["admin"], json!(true));
    assert_eq!(app.get("/me", &bob).await.body["admin"], json!(false));

    for (method, path) in [
        (Method::GET, "/invites"),
        (Method::POST, "/invites"),
        (Method::DELETE, "/invites/0123456789abcdef0123"),
        (Method::GET, "/admin/users"),
        (Method::POST, &*format!("/admin/users/{}/disable", root.id)),
        (Method::POST, &*format!("/admin/users/{}/enable", root.id)),
    ] {
        let reply = app
            .call(method.clone(), path, Some(&bob.token), Some(&json!({})))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(reply.code(), "forbidden");
    }
    assert_eq!(app.count("auth_invites"), 0);

    // Everyone, a page at a time.
    app.register("carol").await;
    let first = app.get("/admin/users?limit=2", &root).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let users = first.body["users"].as_array().expect("users");
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["nickname"], "root");
    assert_eq!(users[0]["admin"], json!(true));
    assert_eq!(users[1]["disabled"], json!(false));
    assert!(users[0]["created_at"].is_string() && users[0]["last_active_at"].is_string());
    let after = first.body["next_after"].as_i64().expect("a next page");
    let second = app
        .get(&format!("/admin/users?limit=2&after={after}"), &root)
        .await;
    assert_eq!(second.body["users"][0]["nickname"], "carol");
    assert_eq!(second.body["next_after"], Value::Null);
    let bad = app.get("/admin/users?limit=0", &root).await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit")
    );
    assert!(app.internal_errors().is_empty());
}

#[tokio::test]
async fn registration_by_invitation() {
    let app = TestApp::spawn_with(registration("invite")).await;
    // The instance's first account needs no invitation, and administers it.
    let (status, body) = register_with(&app, "root", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
    let root = Person {
        id: body["user"]["id"].as_i64().expect("id"),
        nickname: "root".into(),
        token: token_of(&body),
    };
    for code in [None, Some("no-such-invitation-code")] {
        let (status, body) = register_with(&app, "bob", code).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
        assert_eq!(body["error"]["code"], "invite_required");
        assert_eq!(body["error"]["field"], "invite_code");
    }

    let once = invite(&app, &root, &json!({})).await;
    let code = once["code"].as_str().expect("code").to_owned();
    assert_eq!(once["uses_left"], 1);
    assert!(
        once["url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("/invite/{code}")),
        "{once:?}"
    );
    // A taken nickname does not spend the invitation.
    let (status, _) = register_with(&app, "ROOT", Some(&code)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = register_with(&app, "bob", Some(&code)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
    let (status, body) = register_with(&app, "carol", Some(&code)).await;
    assert_eq!(status, StatusCode::GONE, "{body:?}");
    assert_eq!(body["error"]["code"], "invite_expired");

    // Expired.
    let week = invite(&app, &root, &json!({"expires_in_hours": 1, "max_uses": 5})).await;
    let week_code = week["code"].as_str().expect("code").to_owned();
    expire_invite(&app, &week_code);
    let (status, _) = register_with(&app, "carol", Some(&week_code)).await;
    assert_eq!(status, StatusCode::GONE);

    // Listed, then revoked.
    let listed = app.get("/invites", &root).await;
    assert_eq!(listed.body.as_array().expect("invites").len(), 2);
    let third = invite(&app, &root, &json!({"max_uses": 3})).await;
    let third_code = third["code"].as_str().expect("code");
    let reply = app
        .call(
            Method::DELETE,
            &format!("/invites/{third_code}"),
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let (status, _) = register_with(&app, "carol", Some(third_code)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let again = app
        .call(
            Method::DELETE,
            &format!("/invites/{third_code}"),
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Bad input: 422 naming the field, and nothing written.
    let before = app.count("auth_invites");
    for (body, field) in [
        (json!({"max_uses": 0}), "max_uses"),
        (json!({"max_uses": 1001}), "max_uses"),
        (json!({"expires_in_hours": 0}), "expires_in_hours"),
        (json!({"expires_in_hours": 9000}), "expires_in_hours"),
    ] {
        let reply = app.post("/invites", &root, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.field(), field);
    }
    assert_eq!(app.count("auth_invites"), before);
    assert_eq!(app.count("auth_users"), 2);
    assert!(app.internal_errors().is_empty());
}

/// Moves an invitation's expiry into the past, directly in the database.
fn expire_invite(app: &TestApp, code: &str) {
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "UPDATE auth_invites SET created_at = '2020-01-01 00:00:00', expires_at = '2020-01-02 00:00:00' WHERE code = '{code}'"
    ))
    .execute(&mut app.db.connect())
    .expect("expire the invitation");
}

#[tokio::test]
async fn closed_registration_leaves_accounts_to_the_command_line() {
    let app = TestApp::spawn_with(registration("closed")).await;
    let (status, _) = register_with(&app, "root", None).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the first account may register"
    );
    let (status, body) = register_with(&app, "bob", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "registration_closed");

    let (ok, output) = natter(&app, &["admin", "create-user", "bob"]).await;
    assert!(ok, "{output}");
    let password = output.lines().nth(1).expect("the password line").trim();
    let (status, body) = sign_in_as(&app, "bob", password).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let (ok, output) = natter(&app, &["admin", "create-user", "BOB"]).await;
    assert!(!ok && output.contains("taken"), "{output}");
    assert_eq!(app.count("auth_users"), 2);
}

#[tokio::test]
async fn disabling_ends_sessions_and_streams_and_refuses_sign_in() {
    let app = TestApp::spawn().await;
    let root = app.register("root").await;
    let bob = app.register("bob").await;
    let conversation = app.conversation(&root, "team", &[&bob]).await;
    let mut stream = SseStream::open(&app, &bob.token, None).await;

    let reply = app
        .post(
            &format!("/admin/users/{}/disable", bob.id),
            &root,
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["disabled"], json!(true));
    assert!(stream.ends_within(STREAM_END).await, "bob's stream ended");
    assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = sign_in_as(&app, "bob", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "account_disabled");
    // Only to whoever knows the password.
    let (status, _) = sign_in_as(&app, "bob", "not bob's password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Still a member.
    let shown = app
        .get(&format!("/conversations/{conversation}"), &root)
        .await;
    assert_eq!(shown.body["members"].as_array().expect("members").len(), 2);

    let reply = app
        .post(
            &format!("/admin/users/{}/enable", bob.id),
            &root,
            &json!({}),
        )
        .await;
    assert_eq!(reply.body["disabled"], json!(false));
    assert_eq!(sign_in_as(&app, "bob", PASSWORD).await.0, StatusCode::OK);

    let reply = app
        .post(
            &format!("/admin/users/{}/disable", root.id),
            &root,
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.code(), "last_admin");
    let reply = app
        .post("/admin/users/999999/disable", &root, &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(app.internal_errors().is_empty());
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn disabling_ends_streams_on_every_node() {
    require_postgres("two nodes");
    let one = TestApp::spawn().await;
    let two = one.spawn_node().await;
    let root = one.register("root").await;
    let bob = one.register("bob").await;
    let mut stream = SseStream::open(&two, &bob.token, None).await;
    let reply = one
        .post(
            &format!("/admin/users/{}/disable", bob.id),
            &root,
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        stream.ends_within(STREAM_END).await,
        "ended on the other node"
    );
}

#[tokio::test]
async fn the_admin_command_works_beside_a_running_server() {
    let app = TestApp::spawn().await;
    let root = app.register("root").await;
    let bob = app.register("bob").await;

    let (ok, output) = natter(&app, &["admin", "grant", "Bob"]).await;
    assert!(ok, "{output}");
    assert_eq!(app.get("/me", &bob).await.body["admin"], json!(true));
    let (ok, output) = natter(&app, &["admin", "revoke", "bob"]).await;
    assert!(ok, "{output}");
    assert_eq!(app.get("/me", &bob).await.body["admin"], json!(false));
    let (ok, output) = natter(&app, &["admin", "revoke", "root"]).await;
    assert!(!ok && output.contains("last admin"), "{output}");
    assert_eq!(app.get("/me", &root).await.body["admin"], json!(true));
    for command in ["grant", "revoke", "disable", "enable", "reset-password"] {
        let (ok, output) = natter(&app, &["admin", command, "nobody"]).await;
        assert!(!ok, "{command}: {output}");
        assert!(output.contains("no account has this nickname"), "{output}");
    }

    let mut stream = SseStream::open(&app, &bob.token, None).await;
    let (ok, output) = natter(&app, &["admin", "disable", "bob"]).await;
    assert!(ok, "{output}");
    assert!(stream.ends_within(STREAM_END).await, "bob's stream ended");
    assert_eq!(
        sign_in_as(&app, "bob", PASSWORD).await.0,
        StatusCode::FORBIDDEN
    );
    let (ok, _) = natter(&app, &["admin", "enable", "bob"]).await;
    assert!(ok);
    assert_eq!(sign_in_as(&app, "bob", PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn changing_my_password_ends_my_other_sessions() {
    let app = TestApp::spawn().await;
    app.register("root").await;
    let bob = app.register("bob").await;
    let other = app.sign_in("bob").await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let reply = app
        .call(
            Method::PUT,
            "/me/password",
            Some(&bob.token),
            Some(&change("wrong password", "a new long password")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        (reply.code(), reply.field()),
        ("wrong_password", "current_password")
    );
    let reply = app
        .call(
            Method::PUT,
            "/me/password",
            Some(&bob.token),
            Some(&change(PASSWORD, "short")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.field(), "new_password");
    assert_eq!(
        me_with(&app, &other).await.0,
        StatusCode::OK,
        "nothing changed"
    );

    let reply = app
        .call(
            Method::PUT,
            "/me/password",
            Some(&bob.token),
            Some(&change(PASSWORD, "a new long password")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::OK);
    assert_eq!(me_with(&app, &other).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in_as(&app, "bob", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in_as(&app, "bob", "a new long password").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_reset_code_sets_a_new_password_once() {
    let app = TestApp::spawn().await;
    app.register("root").await;
    let bob = app.register("bob").await;
    let (ok, output) = natter(&app, &["admin", "reset-password", "bob"]).await;
    assert!(ok, "{output}");
    let code = output
        .lines()
        .nth(1)
        .expect("the code line")
        .trim()
        .to_owned();
    let stored: i64 = app.number(&format!(
        "SELECT count(*) AS n FROM auth_password_resets WHERE code_hash LIKE '%{code}%'"
    ));
    assert_eq!(stored, 0, "only the code's hash is kept");
    let reset = |code: &str, password: &str| json!({"nickname": "bob", "code": code, "new_password": password});

    let reply = app
        .call(
            Method::POST,
            "/password-resets",
            None,
            Some(&reset("not the code", "a new long password")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        (reply.code(), reply.field()),
        ("invalid_reset_code", "code")
    );
    let reply = app
        .call(
            Method::POST,
            "/password-resets",
            None,
            Some(&reset(&code, "short")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.field(), "new_password");

    let reply = app
        .call(
            Method::POST,
            "/password-resets",
            None,
            Some(&reset(&code, "a new long password")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    assert_eq!(me_with(&app, &bob.token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in_as(&app, "bob", "a new long password").await.0,
        StatusCode::OK
    );
    let reply = app
        .call(
            Method::POST,
            "/password-resets",
            None,
            Some(&reset(&code, "yet another password")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "a code works once");
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one account's whole departure, checked in order
async fn deleting_my_account_leaves_my_messages_from_nobody() {
    let app = TestApp::spawn().await;
    let root = app.register("root").await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    // Alice owns "team" (bob joined before carol) and is one of two in "pair".
    let team = app.conversation(&alice, "team", &[&bob, &carol]).await;
    let pair = app.conversation(&bob, "pair", &[&alice]).await;
    let said = app.send(team, &alice, "hello from alice").await;
    let answer = app.send(team, &bob, "hi alice").await;
    app.send(pair, &alice, "just us").await;
    let reply = app
        .call(
            Method::PUT,
            &format!("/messages/{answer}/reactions/heart"),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let reply = app
        .post(
            &format!("/conversations/{team}/seen"),
            &alice,
            &json!({"up_to_message_id": answer}),
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    // A failed sign-in leaves a throttle row keyed by her nickname.
    assert_eq!(
        sign_in_as(&app, "alice", "not her password").await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut bobs_stream = SseStream::open(&app, &bob.token, None).await;
    let mut alices_stream = SseStream::open(&app, &alice.token, None).await;

    let remove = |password: &str| json!({"password": password});
    let reply = app
        .call(
            Method::DELETE,
            "/me",
            Some(&alice.token),
            Some(&remove("wrong password")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        (reply.code(), reply.field()),
        ("wrong_password", "password")
    );
    let reply = app
        .call(
            Method::DELETE,
            "/me",
            Some(&alice.token),
            Some(&remove(PASSWORD)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    assert!(alices_stream.ends_within(STREAM_END).await);
    assert_eq!(
        me_with(&app, &alice.token).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The messages stay, from nobody, with no trace of the nickname.
    let history = app
        .get(&format!("/conversations/{team}/messages"), &bob)
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let messages = history.body["messages"].as_array().expect("messages");
    let hello = messages
        .iter()
        .find(|m| m["id"] == said)
        .expect("alice's message stays");
    assert_eq!(hello["sender"], Value::Null);
    assert_eq!(hello["content"], "hello from alice");
    assert!(
        !history.body.to_string().contains("\"alice\""),
        "{}",
        history.body
    );
    let hi = messages.iter().find(|m| m["id"] == answer).expect("bob's");
    assert_eq!(hi["reactions"], json!([]), "her reactions went");
    assert_eq!(hi["seen_by"], json!([]), "her receipts went");
    let list = app.get("/conversations", &bob).await;
    assert!(
        !list.body.to_string().contains("\"alice\""),
        "{}",
        list.body
    );

    // "team" passed to bob, the longest-standing member; "pair" closed.
    let shown = app.get(&format!("/conversations/{team}"), &bob).await;
    assert_eq!(shown.body["owner_id"], bob.id);
    assert_eq!(shown.body["members"].as_array().expect("members").len(), 2);
    assert_eq!(shown.body["closed_at"], Value::Null);
    let shown = app.get(&format!("/conversations/{pair}"), &bob).await;
    assert!(shown.body["closed_at"].is_string(), "{:?}", shown.body);
    // Events from before the deletion may still be arriving (PostgreSQL stamps them
    // after commit): read until the deletion's are in.
    let mut kinds = Vec::new();
    while !(kinds.contains(&"ownership_transferred".to_owned())
        && kinds.contains(&"conversation_closed".to_owned()))
    {
        let Some(event) = bobs_stream.next(STREAM_END).await else {
            panic!("the deletion's events did not all arrive: {kinds:?}");
        };
        kinds.push(event.event);
    }
    assert!(kinds.contains(&"member_removed".to_owned()), "{kinds:?}");

    // Nothing about her in auth_*; her nickname is free again.
    for table in ["auth_users", "auth_sessions", "auth_password_resets"] {
        let column = if table == "auth_users" {
            "id"
        } else {
            "user_id"
        };
        assert_eq!(
            app.number(&format!(
                "SELECT count(*) AS n FROM {table} WHERE {column} = {}",
                alice.id
            )),
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.number("SELECT count(*) AS n FROM auth_sign_in_throttle WHERE key LIKE '%alice%'"),
        0
    );
    let again = app.register("alice").await;
    assert_ne!(again.id, alice.id);
    let _ = root;
    assert!(app.internal_errors().is_empty());
}

#[tokio::test]
async fn the_last_admin_cannot_leave_or_step_down() {
    let app = TestApp::spawn().await;
    let root = app.register("root").await;
    app.register("bob").await;
    let reply = app
        .call(
            Method::DELETE,
            "/me",
            Some(&root.token),
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.code(), "last_admin");
    assert_eq!(app.count("auth_users"), 2);
}

#[tokio::test]
async fn a_backup_taken_during_sends_restores_every_acknowledged_message() {
    let data = tempfile::tempdir().expect("data dir");
    let app = TestApp::spawn_in_data_dir_with(data.path(), SpawnOptions::for_bench()).await;
    let owner = app.register("owner").await;
    let mut senders = Vec::new();
    for n in 0..3 {
        senders.push(app.register(&format!("sender{n}")).await);
    }
    let others: Vec<&Person> = senders.iter().collect();
    let conversation = app.conversation(&owner, "busy", &others).await;

    // Senders keep sending; each acknowledged id is noted with when it was.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for sender in senders {
        let (app, acknowledged, stop) = (app.clone(), acknowledged.clone(), stop.clone());
        tasks.spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = app.send(conversation, &sender, &format!("m{n}")).await;
                acknowledged
                    .lock()
                    .expect("ids")
                    .push((std::time::Instant::now(), id));
                n += 1;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let backup = data.path().join("backup.sqlite3");
    let started = std::time::Instant::now();
    let data_dir = data.path().display().to_string();
    let (status, output) = run_natter_command(
        &["backup", "--to", &backup.display().to_string()],
        &[("NATTER_DATA_DIR", &data_dir)],
    )
    .await
    .expect("natter backup runs");
    assert!(status.success(), "{output}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let before: Vec<i64> = acknowledged
        .lock()
        .expect("ids")
        .iter()
        .filter(|(at, _)| *at < started)
        .map(|(_, id)| *id)
        .collect();
    let total = acknowledged.lock().expect("ids").len();
    assert!(
        !before.is_empty() && total > before.len(),
        "sends went on before ({}) and during the backup ({total} in all)",
        before.len()
    );

    // Restore: the copy is the database of a fresh natter.
    let restored_dir = tempfile::tempdir().expect("restore dir");
    std::fs::copy(&backup, restored_dir.path().join("natter.sqlite3")).expect("restore");
    let restored = TestApp::spawn_in_data_dir(restored_dir.path()).await;
    let token = restored.sign_in("owner").await;
    let reply = restored
        .call(
            Method::GET,
            &format!("/conversations/{conversation}/export"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let kept: std::collections::BTreeSet<i64> = reply.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .collect();
    let lost: Vec<&i64> = before.iter().filter(|id| !kept.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the backup, missing: {lost:?}"
    );
}
