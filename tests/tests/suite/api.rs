//! Each route's happy path over HTTP against the real server, asserting the JSON a
//! client relies on.

#![allow(clippy::too_many_lines)] // a scenario reads best as one story

use natter_tests::TestApp;
use natter_tests::api::PASSWORD;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn register_login_me_logout() {
    let app = TestApp::spawn().await;
    let alice = app.register("Alice").await;
    assert_eq!(alice.nickname, "Alice");

    let me = app.get("/me", &alice).await;
    assert_eq!(me.status, StatusCode::OK);
    // The instance's first account is its admin.
    assert_eq!(
        me.body,
        json!({"id": alice.id, "nickname": "Alice", "admin": true, "edit_window_seconds": 3600})
    );

    // Logging in with another letter case of the nickname works too.
    let login = app
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    assert_eq!(login.body["user"]["id"], alice.id);
    let second = login.body["token"].as_str().expect("token").to_owned();
    assert_ne!(second, alice.token);
    assert!(login.body["expires_at"].is_string());

    let logout = app
        .call(Method::DELETE, "/sessions/current", Some(&second), None)
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = app.call(Method::GET, "/me", Some(&second), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "unauthenticated");
    // The other session is untouched.
    assert_eq!(app.get("/me", &alice).await.status, StatusCode::OK);
}

#[tokio::test]
async fn login_sets_an_http_only_strict_cookie_that_authenticates() {
    let app = TestApp::spawn().await;
    app.register("carol").await;
    let response = app
        .client
        .post(app.url("/api/sessions"))
        .json(&json!({"nickname": "carol", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.starts_with("natter_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/api"), "{cookie}");
    let pair = cookie.split(';').next().expect("pair").to_owned();

    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);

    // A state-changing request by cookie alone, as a cross-site form would send it.
    let forged = app
        .client
        .post(app.url("/api/conversations"))
        .header("cookie", &pair)
        .json(&json!({"title": "x", "member_ids": [1]}))
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let logout = app
        .client
        .delete(app.url("/api/sessions/current"))
        .header("cookie", &pair)
        .header("x-requested-with", "natter")
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("natter_session=;")
    );
}

#[tokio::test]
async fn user_search_finds_by_prefix_in_any_case() {
    let app = TestApp::spawn().await;
    let alice = app.register("Alice").await;
    app.register("alfred").await;
    app.register("Bob").await;
    let found = app.get("/users?q=AL", &alice).await;
    assert_eq!(found.status, StatusCode::OK);
    let names: Vec<&str> = found
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|u| u["nickname"].as_str().expect("nick"))
        .collect();
    assert_eq!(names, ["alfred", "Alice"]);
    let none = app.get("/users?q=%25%25", &alice).await;
    assert_eq!(none.body, json!([]), "a % is not a wildcard");
}

#[tokio::test]
async fn emojis_are_listed() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let emojis = app.get("/emojis", &alice).await;
    assert_eq!(emojis.status, StatusCode::OK);
    let list = emojis.body.as_array().expect("list");
    assert!(list.len() >= 30);
    assert_eq!(list[0], json!({"key": "thumbs_up", "unicode": "👍"}));
}

#[tokio::test]
async fn conversation_lifecycle() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );

    // Duplicates and the creator's own id are ignored.
    let created = app
        .post(
            "/conversations",
            &alice,
            &json!({"title": " Launch ", "member_ids": [bob.id, bob.id, alice.id]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_i64().expect("id");
    assert_eq!(created.body["title"], "Launch");
    assert_eq!(created.body["owner_id"], alice.id);
    assert_eq!(created.body["closed_at"], json!(null));
    let members: Vec<(i64, bool)> = created.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_i64().expect("id"),
                m["owner"].as_bool().expect("owner"),
            )
        })
        .collect();
    assert_eq!(members, [(alice.id, true), (bob.id, false)]);

    let shown = app.get(&format!("/conversations/{id}"), &bob).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body, created.body);

    let renamed = app
        .call(
            Method::PATCH,
            &format!("/conversations/{id}"),
            Some(&alice.token),
            Some(&json!({"title": "Launch v2"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["title"], "Launch v2");

    let added = app
        .post(
            &format!("/conversations/{id}/members"),
            &alice,
            &json!({"user_id": carol.id}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    assert_eq!(added.body["members"].as_array().expect("members").len(), 3);

    let transferred = app
        .call(
            Method::PUT,
            &format!("/conversations/{id}/owner"),
            Some(&alice.token),
            Some(&json!({"user_id": bob.id})),
        )
        .await;
    assert_eq!(transferred.status, StatusCode::OK, "{:?}", transferred.body);
    assert_eq!(transferred.body["owner_id"], bob.id);

    // Alice is no longer the owner, so she may leave.
    let left = app
        .call(
            Method::DELETE,
            &format!("/conversations/{id}/members/{}", alice.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/conversations/{id}"), &alice)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let removed = app
        .call(
            Method::DELETE,
            &format!("/conversations/{id}/members/{}", carol.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);

    let closed = app
        .post(&format!("/conversations/{id}/close"), &bob, &json!({}))
        .await;
    assert_eq!(closed.status, StatusCode::OK);
    assert!(closed.body["closed_at"].is_string());
    // Closed conversations stay readable.
    assert_eq!(
        app.get(&format!("/conversations/{id}/messages"), &bob)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn my_conversations_show_last_message_unread_and_order() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let first = app.conversation(&alice, "First", &[&bob]).await;
    let second = app.conversation(&alice, "Second", &[&bob]).await;
    app.send(first, &alice, "hello in first").await;
    let m2 = app.send(first, &alice, "again in first").await;

    let list = app.get("/conversations", &bob).await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.body.as_array().expect("list").clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], first, "most recent activity first");
    assert_eq!(list[0]["unread_count"], 2);
    assert_eq!(list[0]["last_message"]["id"], m2);
    assert_eq!(list[0]["last_message"]["content"], "again in first");
    assert_eq!(list[0]["last_message"]["sender"]["nickname"], "alice");
    assert_eq!(list[1]["id"], second);
    assert_eq!(list[1]["last_message"], json!(null));
    assert_eq!(list[1]["unread_count"], 0);

    // My own messages are never unread to me.
    let mine = app.get("/conversations", &alice).await;
    assert_eq!(mine.body[0]["unread_count"], 0);

    let seen = app
        .post(
            &format!("/conversations/{first}/seen"),
            &bob,
            &json!({"up_to_message_id": m2}),
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(
        seen.body,
        json!({"last_seen_message_id": m2, "unread_count": 0, "mention_count": 0})
    );
    assert_eq!(
        app.get("/conversations", &bob).await.body[0]["unread_count"],
        0
    );
}

#[tokio::test]
async fn send_history_react_and_seen() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let c = app.conversation(&alice, "Plans", &[&bob, &carol]).await;

    let sent = app
        .post(&format!("/conversations/{c}/messages"), &alice, &json!({"content": "  <b>hi</b> all \n", "client_id": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    let m1 = sent.body["id"].as_i64().expect("id");
    assert_eq!(sent.body["content"], "<b>hi</b> all");
    assert_eq!(
        sent.body["sender"],
        json!({"id": alice.id, "nickname": "alice"})
    );
    assert_eq!(sent.body["conversation_id"], c);
    assert_eq!(
        sent.body["client_id"],
        "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    );
    assert_eq!(sent.body["reactions"], json!([]));
    assert_eq!(sent.body["seen_by"], json!([]));

    // The same client_id again: the same message, 200, nothing new.
    let again = app
        .post(&format!("/conversations/{c}/messages"), &alice, &json!({"content": "different text", "client_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], m1);
    assert_eq!(again.body["content"], "<b>hi</b> all");
    assert_eq!(app.count("chat_messages"), 1);

    let m2 = app.send(c, &bob, "second").await;

    let thumbs = app
        .call(
            Method::PUT,
            &format!("/messages/{m1}/reactions/thumbs_up"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(thumbs.status, StatusCode::OK, "{:?}", thumbs.body);
    // Idempotent.
    app.call(
        Method::PUT,
        &format!("/messages/{m1}/reactions/thumbs_up"),
        Some(&bob.token),
        None,
    )
    .await;
    let both = app
        .call(
            Method::PUT,
            &format!("/messages/{m1}/reactions/thumbs_up"),
            Some(&carol.token),
            None,
        )
        .await;
    assert_eq!(
        both.body,
        json!([{"emoji": "thumbs_up", "unicode": "👍", "count": 2, "reacted_by_me": true,
                "users": [{"id": bob.id, "nickname": "bob"}, {"id": carol.id, "nickname": "carol"}]}])
    );
    app.call(
        Method::PUT,
        &format!("/messages/{m1}/reactions/heart"),
        Some(&carol.token),
        None,
    )
    .await;
    let undone = app
        .call(
            Method::DELETE,
            &format!("/messages/{m1}/reactions/heart"),
            Some(&carol.token),
            None,
        )
        .await;
    assert_eq!(undone.status, StatusCode::OK);
    assert_eq!(undone.body.as_array().expect("list").len(), 1);
    let undone_again = app
        .call(
            Method::DELETE,
            &format!("/messages/{m1}/reactions/heart"),
            Some(&carol.token),
            None,
        )
        .await;
    assert_eq!(undone_again.status, StatusCode::OK);

    // Bob has seen up to m1, later Carol up to m2.
    app.post(
        &format!("/conversations/{c}/seen"),
        &bob,
        &json!({"up_to_message_id": m1}),
    )
    .await;
    app.post(
        &format!("/conversations/{c}/seen"),
        &carol,
        &json!({"up_to_message_id": m2}),
    )
    .await;
    // Moving back is ignored.
    let back = app
        .post(
            &format!("/conversations/{c}/seen"),
            &carol,
            &json!({"up_to_message_id": m1}),
        )
        .await;
    assert_eq!(back.body["last_seen_message_id"], m2);

    let page = app
        .get(&format!("/conversations/{c}/messages"), &alice)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["has_older"], false);
    assert_eq!(page.body["has_newer"], false);
    let messages = page.body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["id"], m1);
    assert_eq!(messages[0]["reactions"][0]["count"], 2);
    assert_eq!(
        messages[0]["reactions"][0]["reacted_by_me"], false,
        "alice did not react"
    );
    let seen_first: Vec<&str> = messages[0]["seen_by"]
        .as_array()
        .expect("seen")
        .iter()
        .map(|s| s["user"]["nickname"].as_str().expect("nick"))
        .collect();
    assert_eq!(seen_first, ["bob", "carol"]);
    let seen_second: Vec<&str> = messages[1]["seen_by"]
        .as_array()
        .expect("seen")
        .iter()
        .map(|s| s["user"]["nickname"].as_str().expect("nick"))
        .collect();
    assert_eq!(
        seen_second,
        ["carol"],
        "bob sent it; only carol has seen it"
    );

    let receipts = app.get(&format!("/messages/{m1}/seen"), &alice).await;
    assert_eq!(receipts.status, StatusCode::OK);
    assert_eq!(receipts.body, messages[0]["seen_by"]);
    let bob_first = receipts.body[0]["first_seen_at"]
        .as_str()
        .expect("time")
        .to_owned();

    // Bob moving further later does not change when he first saw m1.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.post(
        &format!("/conversations/{c}/seen"),
        &bob,
        &json!({"up_to_message_id": m2}),
    )
    .await;
    let receipts = app.get(&format!("/messages/{m1}/seen"), &alice).await;
    assert_eq!(receipts.body[0]["user"]["nickname"], "bob");
    assert_eq!(receipts.body[0]["first_seen_at"], bob_first);
    assert_eq!(
        app.count("chat_seen_messages"),
        3,
        "one row per watermark move"
    );
}

#[tokio::test]
async fn a_send_retried_concurrently_is_stored_once_and_event_numbers_stay_gapless() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Retries", &[&bob]).await;
    let body = json!({"content": "once", "client_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"});
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let request = app
            .client
            .post(app.url(&format!("/api/conversations/{c}/messages")))
            .bearer_auth(&alice.token)
            .json(&body);
        sends.spawn(async move {
            let reply = request.send().await.expect("send");
            let status = reply.status();
            let body: serde_json::Value = reply.json().await.expect("json");
            (status, body["id"].as_i64().expect("id"))
        });
    }
    let replies = sends.join_all().await;
    let created = replies
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{replies:?}");
    assert!(
        replies.iter().all(|(_, id)| *id == replies[0].1),
        "{replies:?}"
    );
    app.send(c, &bob, "after").await;
    assert_eq!(app.count("chat_messages"), 2);
    // Each event took the conversation's next number, none skipped.
    let counter = app.number(&format!(
        "SELECT last_event_seq AS n FROM chat_conversations WHERE id = {c}"
    ));
    let events = app.number(&format!(
        "SELECT count(*) AS n FROM chat_events WHERE conversation_id = {c}"
    ));
    let highest = app.number(&format!(
        "SELECT max(seq) AS n FROM chat_events WHERE conversation_id = {c}"
    ));
    assert_eq!((events, highest), (counter, counter));
}
