//! Awareness, the server's part so far: unread and mention counts computed from the
//! read pointer (capped, without deleted messages or my own), mark-unread, mentions
//! recorded by send and by edit (`@all` where allowed), private reading, and
//! notification levels.

use std::time::Duration;

use natter_tests::TestApp;
use natter_tests::api::Person;
use natter_tests::sse::SseStream;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// My entry of `GET /api/conversations` for `id`.
async fn summary(app: &TestApp, who: &Person, id: i64) -> Value {
    let list = app.get("/conversations", who).await;
    list.body
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == id).cloned())
        .expect("the conversation is listed")
}

async fn counts(app: &TestApp, who: &Person, id: i64) -> (i64, i64) {
    let entry = summary(app, who, id).await;
    (
        entry["unread_count"].as_i64().expect("unread_count"),
        entry["mention_count"].as_i64().expect("mention_count"),
    )
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one reader's day: read, mark unread, be mentioned
async fn unread_and_mentions_are_counted_from_the_read_pointer() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = app.conversation(&alice, "Plans", &[&bob]).await;
    let other = app.conversation(&bob, "Elsewhere", &[&alice]).await;
    let elsewhere = app.send(other, &bob, "not here").await;

    app.send(id, &alice, "mine does not count").await;
    let first = app.send(id, &bob, "first").await;
    let mention = app
        .send(id, &bob, &format!("<@{}> can you look?", alice.id))
        .await;
    let gone = app.send(id, &bob, "oops").await;
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/messages/{gone}"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(counts(&app, &alice, id).await, (2, 1));
    assert_eq!(
        counts(&app, &bob, id).await,
        (0, 0),
        "bob's own messages moved his pointer past alice's"
    );

    // Alice's other tab hears of her reading; Bob hears nothing of it.
    let mut alice_tab = SseStream::open(&app, &alice.token, None).await;
    let mut bob_tab = SseStream::open(&app, &bob.token, None).await;
    let seen = app
        .post(
            &format!("/conversations/{id}/seen"),
            &alice,
            &json!({"up_to_message_id": mention}),
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.body);
    assert_eq!(
        (
            seen.body["unread_count"].as_i64(),
            seen.body["mention_count"].as_i64()
        ),
        (Some(0), Some(0))
    );
    let heard = alice_tab
        .first_of("read_state_changed", Duration::from_secs(5))
        .await
        .expect("alice's other tab hears of it");
    assert_eq!(heard.json()["last_seen_message_id"], mention);
    assert!(
        bob_tab
            .first_of("seen_moved", Duration::from_secs(5))
            .await
            .is_some()
    );

    // Mark unread from the first message: it and the mention are unread again.
    let unread = app
        .post(
            &format!("/conversations/{id}/unread"),
            &alice,
            &json!({"from_message_id": first}),
        )
        .await;
    assert_eq!(unread.status, StatusCode::OK, "{:?}", unread.body);
    assert_eq!(
        (
            unread.body["unread_count"].as_i64(),
            unread.body["mention_count"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(counts(&app, &alice, id).await, (2, 1));
    let heard = alice_tab
        .first_of("read_state_changed", Duration::from_secs(5))
        .await
        .expect("alice's other tab hears of it");
    assert_eq!(heard.json()["unread_count"], 2);
    // A replay for Bob holds none of Alice's read states.
    let mut replay = SseStream::open(&app, &bob.token, Some(1)).await;
    while let Some(event) = replay.next(Duration::from_millis(800)).await {
        assert_ne!(event.event, "read_state_changed", "{:?}", event.data);
    }
    // What Bob saw of her reading stays: the receipt is not taken back.
    let receipts = app.get(&format!("/messages/{mention}/seen"), &bob).await;
    assert_eq!(receipts.body[0]["user"]["nickname"], "alice");

    // Another conversation's message, or none, is refused by name.
    for (from, field) in [
        (json!(elsewhere), "from_message_id"),
        (json!(0), "from_message_id"),
    ] {
        let refused = app
            .post(
                &format!("/conversations/{id}/unread"),
                &alice,
                &json!({"from_message_id": from}),
            )
            .await;
        assert_eq!(
            (refused.status, refused.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, field)
        );
    }

    // Counts stop at 100.
    app.seed_messages(id, bob.id, 150);
    assert_eq!(counts(&app, &alice, id).await, (100, 1));

    // Her own message reads what came before it: her pointer moves past it.
    let answer = app.send(id, &alice, "on it").await;
    assert_eq!(counts(&app, &alice, id).await, (0, 0));
    let me = summary(&app, &alice, id).await;
    let pointer = me["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["user"]["id"] == alice.id))
        .map(|m| m["last_seen_message_id"].clone());
    assert_eq!(pointer, Some(json!(answer)));
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

#[tokio::test]
async fn mentions_count_for_members_by_send_and_by_edit_and_all_where_allowed() {
    let app = TestApp::spawn_with(natter_tests::SpawnOptions::with_env(&[(
        "NATTER_RATE_LIMITS",
        "off",
    )]))
    .await;
    let owner = app.register("owner").await;
    let mut people = Vec::new();
    for i in 0..21 {
        people.push(app.register(&format!("member{i}")).await);
    }
    let others: Vec<&Person> = people.iter().collect();
    let big = app.conversation(&owner, "Everyone", &others).await;
    let small = app
        .conversation(&owner, "Few", &[&people[0], &people[1]])
        .await;
    let (a, b) = (&people[0], &people[1]);

    // Over 20 members the default level is mentions; in a small one, all.
    assert_eq!(
        summary(&app, a, big).await["notification_level"],
        "mentions"
    );
    assert_eq!(summary(&app, a, small).await["notification_level"], "all");

    // @all from a member of a conversation over 20 is plain text; from its owner, not.
    app.send(big, a, "@all standup?").await;
    assert_eq!(counts(&app, b, big).await.1, 0);
    app.send(big, &owner, "@all standup now").await;
    assert_eq!(counts(&app, b, big).await.1, 1);
    assert_eq!(counts(&app, &owner, big).await.1, 0, "not myself");
    // In a small conversation anyone's @all counts.
    app.send(small, a, "@all lunch?").await;
    assert_eq!(counts(&app, b, small).await.1, 1);
    assert_eq!(counts(&app, &owner, small).await.1, 1);

    // A mention of someone who is not a member counts for nobody.
    let outsider = app.register("outsider").await;
    app.send(small, a, &format!("ask <@{}>", outsider.id)).await;

    // An edit that adds a mention counts for the newly mentioned; removing it takes
    // nothing back.
    let message = app.send(small, a, "hello").await;
    let edit =
        |content: String, version: i64| json!({"content": content, "expected_version": version});
    let path = format!("/messages/{message}");
    let reply = app
        .call(
            Method::PATCH,
            &path,
            Some(&a.token),
            Some(&edit(format!("hello <@{}>", b.id), 1)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(counts(&app, b, small).await.1, 2);
    assert_eq!(counts(&app, &owner, small).await.1, 1);
    app.call(
        Method::PATCH,
        &path,
        Some(&a.token),
        Some(&edit("hello".into(), 2)),
    )
    .await;
    assert_eq!(counts(&app, b, small).await.1, 2);
    assert_eq!(
        app.count("chat_mentions"),
        21 + 2 + 1,
        "owner's @all, a's @all, the edit"
    );
}

#[tokio::test]
async fn private_reading_hides_receipts_and_levels_are_chosen() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = app.conversation(&alice, "Quiet", &[&bob]).await;
    let message = app.send(id, &alice, "did you read this?").await;

    let settings = app
        .call(
            Method::PATCH,
            "/me/settings",
            Some(&bob.token),
            Some(&json!({"share_read_receipts": false})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{:?}", settings.body);
    assert_eq!(
        settings.body,
        json!({"share_read_receipts": false, "share_presence": true})
    );

    let mut alice_tab = SseStream::open(&app, &alice.token, None).await;
    let seen = app
        .post(
            &format!("/conversations/{id}/seen"),
            &bob,
            &json!({"up_to_message_id": message}),
        )
        .await;
    assert_eq!(seen.body["unread_count"], 0, "bob's own counts still move");
    assert!(
        alice_tab
            .first_of("seen_moved", Duration::from_secs(2))
            .await
            .is_none(),
        "alice hears no receipt"
    );
    let receipts = app.get(&format!("/messages/{message}/seen"), &alice).await;
    assert_eq!(receipts.body, json!([]));
    assert_eq!(app.count("chat_seen_messages"), 0);

    // Levels: chosen, shown in the list, refused by name when unknown.
    let muted = app
        .call(
            Method::PUT,
            &format!("/conversations/{id}/notifications"),
            Some(&bob.token),
            Some(&json!({"level": "none"})),
        )
        .await;
    assert_eq!(muted.status, StatusCode::OK, "{:?}", muted.body);
    assert_eq!(summary(&app, &bob, id).await["notification_level"], "none");
    assert_eq!(summary(&app, &alice, id).await["notification_level"], "all");
    let unknown = app
        .call(
            Method::PUT,
            &format!("/conversations/{id}/notifications"),
            Some(&bob.token),
            Some(&json!({"level": "loud"})),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "level")
    );
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

/// A stream's next `typing` event within `wait`, skipping others.
async fn typing_of(stream: &mut SseStream, wait: Duration) -> Option<natter_tests::sse::SseEvent> {
    stream.first_of("typing", wait).await
}

#[tokio::test]
async fn typing_reaches_the_others_on_every_node_and_is_never_stored() {
    let app = TestApp::spawn().await;
    let other_node = if natter_tests::backend() == natter_tests::Backend::Postgres {
        Some(app.spawn_node().await)
    } else {
        None
    };
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = app.conversation(&alice, "Typing", &[&bob]).await;
    let events_before = app.count("chat_events");

    let mut bob_here = SseStream::open(&app, &bob.token, None).await;
    let mut bob_on_other_node = match &other_node {
        Some(node) => Some(SseStream::open(node, &bob.token, None).await),
        None => None,
    };
    let mut alice_here = SseStream::open(&app, &alice.token, None).await;
    let path = format!("/conversations/{id}/typing");
    let said = app
        .call(Method::POST, &path, Some(&alice.token), None)
        .await;
    assert_eq!(said.status, StatusCode::NO_CONTENT, "{:?}", said.body);

    let heard = typing_of(&mut bob_here, Duration::from_secs(5))
        .await
        .expect("bob hears alice typing");
    assert_eq!(heard.id, None, "a typing event has no id");
    assert_eq!(heard.json()["user"]["nickname"], "alice");
    assert_eq!(heard.json()["conversation_id"], id);
    if let Some(stream) = &mut bob_on_other_node {
        let heard = typing_of(stream, Duration::from_secs(5))
            .await
            .expect("bob hears it on the other node too");
        assert_eq!(heard.id, None);
    }
    assert!(
        typing_of(&mut alice_here, Duration::from_millis(800))
            .await
            .is_none(),
        "alice's own streams do not hear her"
    );

    // Again within 2 s: refused; the log holds none of it; a replay brings none.
    let again = app
        .call(Method::POST, &path, Some(&alice.token), None)
        .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("chat_events"), events_before);
    let mut replay = SseStream::open(&app, &bob.token, Some(1)).await;
    while let Some(event) = replay.next(Duration::from_millis(800)).await {
        assert_ne!(event.event, "typing");
    }
    // Not a member: not found.
    let carol = app.register("carol").await;
    let outside = app
        .call(Method::POST, &path, Some(&carol.token), None)
        .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
}
