//! The bad-input table of DESIGN §5: each row's status, error code and field, and
//! that nothing was written.

#![allow(clippy::too_many_lines)] // each test walks one row of the table through every field

use natter_tests::TestApp;
use natter_tests::api::{PASSWORD, Person};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Sends a raw body with a content type and returns status and JSON.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    who: Option<&Person>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("/api{path}")))
        .header("content-type", "application/json")
        .body(body);
    if let Some(who) = who {
        request = request.bearer_auth(&who.token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases: &[(&[u8], &str)] = &[
        (br#"{"nickname": 5, "password": "long enough"}"#, "nickname"),
        (br#"{"password": "long enough"}"#, "nickname"),
        (br#"{"nickname": "alice", "password": ["x"]}"#, "password"),
        (br#"{"nickname": "alice""#, ""),
        (b"nickname=alice&password=x", ""),
        (b"", ""),
    ];
    for (body, field) in cases {
        let (status, reply) = raw(&app, Method::POST, "/users", None, body.to_vec()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(reply["error"]["code"], "bad_request");
        assert_eq!(
            reply["error"]["field"].as_str().unwrap_or(""),
            *field,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Not JSON at all.
    let response = app
        .client
        .post(app.url("/api/users"))
        .body("nickname=alice")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("auth_users"), 0);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let c = app.conversation(&alice, "Big", &[&bob]).await;
    let body = serde_json::to_vec(&json!({"content": "x".repeat(70 * 1024)})).expect("json");
    let (status, reply) = raw(
        &app,
        Method::POST,
        &format!("/conversations/{c}/messages"),
        Some(&alice),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply["error"]["code"], "payload_too_large");
    assert_eq!(app.count("chat_messages"), 0);
}

#[tokio::test]
async fn invalid_values_are_422_naming_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let c = app.conversation(&alice, "Plans", &[&bob]).await;
    let (users, conversations, messages) = (
        app.count("auth_users"),
        app.count("chat_conversations"),
        app.count("chat_messages"),
    );

    let nicknames = [
        "",
        "   ",
        &"n".repeat(33),
        "ali\u{0}ce",
        "ali\nce",
        "ali\u{202E}ce",
        "ali\u{200B}ce",
        "\u{3164}",
        "<script>alert(1)</script>",
    ];
    for nickname in nicknames {
        let reply = app
            .call(
                Method::POST,
                "/users",
                None,
                Some(&json!({"nickname": nickname, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{nickname:?}"
        );
        assert_eq!(reply.code(), "invalid_value");
        assert_eq!(reply.field(), "nickname", "{nickname:?}");
    }
    for password in ["", "short", "pass\u{0}word"] {
        let reply = app
            .call(
                Method::POST,
                "/users",
                None,
                Some(&json!({"nickname": "carol", "password": password})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password:?}"
        );
        assert_eq!(reply.field(), "password");
    }
    let (status, reply) = raw(
        &app,
        Method::POST,
        "/users",
        None,
        b"{\"nickname\": \"ca\xffrol\", \"password\": \"long enough\"}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "invalid UTF-8");
    assert_eq!(reply["error"]["field"], "nickname");

    for title in ["", " \n ", &"t".repeat(101), "a\u{0}b", "a\u{202E}b"] {
        let reply = app
            .post(
                "/conversations",
                &alice,
                &json!({"title": title, "member_ids": [bob.id]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{title:?}");
        assert_eq!(reply.field(), "title");
        let rename = app
            .call(
                Method::PATCH,
                &format!("/conversations/{c}"),
                Some(&alice.token),
                Some(&json!({"title": title})),
            )
            .await;
        assert_eq!(rename.status, StatusCode::UNPROCESSABLE_ENTITY, "{title:?}");
    }
    for members in [json!([]), json!([alice.id]), json!([987_654])] {
        let reply = app
            .post(
                "/conversations",
                &alice,
                &json!({"title": "ok", "member_ids": members}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{members}");
        assert_eq!(reply.field(), "member_ids");
    }
    for content in ["", "  \n\t ", &"m".repeat(4001), "nul\u{0}", "bell\u{7}"] {
        let reply = app
            .post(
                &format!("/conversations/{c}/messages"),
                &alice,
                &json!({"content": content}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{content:?}"
        );
        assert_eq!(reply.field(), "content");
    }
    let reply = app
        .post(
            &format!("/conversations/{c}/messages"),
            &alice,
            &json!({"content": "hi", "client_id": "not-a-uuid"}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "client_id")
    );
    for limit in ["0", "101", "-5"] {
        let reply = app
            .get(
                &format!("/conversations/{c}/messages?limit={limit}"),
                &alice,
            )
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, "limit"),
            "{limit}"
        );
    }
    let reply = app
        .get(&format!("/conversations/{c}/messages?limit=abc"), &alice)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    assert_eq!(app.count("auth_users"), users);
    assert_eq!(app.count("chat_conversations"), conversations);
    assert_eq!(app.count("chat_messages"), messages);
}

#[tokio::test]
async fn taken_nicknames_conflict_in_any_case_or_width() {
    let app = TestApp::spawn().await;
    app.register("Alice").await;
    for taken in ["alice", "ALICE", "ＡＬＩＣＥ", " Alice "] {
        let reply = app
            .call(
                Method::POST,
                "/users",
                None,
                Some(&json!({"nickname": taken, "password": PASSWORD})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{taken}");
        assert_eq!(reply.code(), "nickname_taken");
    }
    assert_eq!(app.count("auth_users"), 1);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_answer_alike_then_429() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let wrong = app
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "alice", "password": "not the password"})),
        )
        .await;
    let unknown = app
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "nobody", "password": "not the password"})),
        )
        .await;
    // A nickname nobody could register, with a NUL that PostgreSQL's text cannot
    // hold, is an unknown user too (it was a 500 once).
    let impossible = app
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "El\u{0}i\u{1b}", "password": "not the password"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body, "the same answer for both");
    assert_eq!(impossible.body, unknown.body, "the same answer again");
    assert_eq!(wrong.code(), "invalid_credentials");
    for _ in 0..9 {
        app.call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "ALICE", "password": "guess"})),
        )
        .await;
    }
    let limited = app
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    // The address itself has been failing, so anyone signing in from it waits too;
    // the owner from elsewhere does not (see hostile.rs).
    app.register("bob").await;
    let bob = app
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "bob", "password": PASSWORD})),
        )
        .await;
    assert_eq!(bob.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn closed_conversations_take_no_messages_or_reactions() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Done", &[&bob]).await;
    let m = app.send(c, &bob, "last words").await;
    app.post(&format!("/conversations/{c}/close"), &alice, &json!({}))
        .await;
    let send = app
        .post(
            &format!("/conversations/{c}/messages"),
            &bob,
            &json!({"content": "more"}),
        )
        .await;
    assert_eq!(
        (send.status, send.code()),
        (StatusCode::CONFLICT, "conversation_closed")
    );
    let react = app
        .call(
            Method::PUT,
            &format!("/messages/{m}/reactions/thumbs_up"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(
        (react.status, react.code()),
        (StatusCode::CONFLICT, "conversation_closed")
    );
    assert_eq!(app.count("chat_messages"), 1);
    assert_eq!(app.count("chat_message_reactions"), 0);
}

#[tokio::test]
async fn the_owner_cannot_leave_without_handing_over() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Mine", &[&bob]).await;
    let leave = app
        .call(
            Method::DELETE,
            &format!("/conversations/{c}/members/{}", alice.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(
        (leave.status, leave.code()),
        (StatusCode::CONFLICT, "owner_must_transfer")
    );
    assert_eq!(
        app.get(&format!("/conversations/{c}"), &alice).await.body["members"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn markup_is_stored_and_returned_as_text() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let title = "<b onmouseover=alert(1)>Team</b>";
    let c = app.conversation(&alice, title, &[&bob]).await;
    let script = "<img src=x onerror=alert(1)> & <script>alert('x')</script>";
    app.send(c, &alice, script).await;
    let page = app.get(&format!("/conversations/{c}/messages"), &bob).await;
    assert_eq!(page.body["messages"][0]["content"], script);
    assert_eq!(
        app.get(&format!("/conversations/{c}"), &bob).await.body["title"],
        title
    );
}

#[tokio::test]
async fn identity_and_time_in_a_body_are_ignored() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Who", &[&bob]).await;
    let reply = app
        .post(
            &format!("/conversations/{c}/messages"),
            &bob,
            &json!({"content": "from bob", "sender_id": alice.id, "user_id": alice.id, "created_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["sender"]["id"], bob.id);
    assert!(
        !reply.body["created_at"]
            .as_str()
            .expect("time")
            .starts_with("2001")
    );
}

#[tokio::test]
async fn a_message_of_another_conversation_is_not_found_under_this_one() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let x = app.conversation(&alice, "X", &[&bob]).await;
    let y = app.conversation(&alice, "Y", &[&bob]).await;
    let in_x = app.send(x, &alice, "in x").await;
    let reply = app
        .post(
            &format!("/conversations/{y}/seen"),
            &bob,
            &json!({"up_to_message_id": in_x}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(app.count("chat_seen_messages"), 0);
    for path in [
        "/conversations/999999",
        "/conversations/abc",
        "/messages/999999/seen",
        "/conversations/999999/messages",
    ] {
        assert_eq!(
            app.get(path, &alice).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let unknown_emoji = app
        .call(
            Method::PUT,
            &format!("/messages/{in_x}/reactions/no_such_emoji"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(unknown_emoji.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_identical_sends_make_one_message() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Retry", &[&bob]).await;
    let path = format!("/conversations/{c}/messages");
    for round in 0..10 {
        let body = json!({"content": format!("round {round}"), "client_id": uuid::Uuid::new_v4().to_string()});
        let (a, b) = tokio::join!(
            app.post(&path, &alice, &body),
            app.post(&path, &alice, &body)
        );
        assert_eq!(a.body["id"], b.body["id"], "round {round}");
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 201],
            "round {round}: one created, one found"
        );
    }
    assert_eq!(app.count("chat_messages"), 10);
    assert_eq!(app.count("chat_events WHERE kind = 'message_created'"), 10);
}
