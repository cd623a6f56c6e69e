//! Presence: who is online, away or offline, told only to the people who share a
//! conversation, merged to one change per person per 10 s, across nodes, and hidden
//! by `share_presence`.

use std::time::{Duration, Instant};

use natter_tests::TestApp;
use natter_tests::api::Person;
use natter_tests::sse::SseStream;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Long enough for a change to be announced after the 10 s merge window.
const AFTER_MERGE: Duration = Duration::from_secs(16);

/// The `presence_changed` events about `who` that `stream` gets within `wait`.
async fn changes_about(stream: &mut SseStream, who: &Person, wait: Duration) -> Vec<Value> {
    let until = Instant::now() + wait;
    let mut found = Vec::new();
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        let Some(event) = stream.next(left).await else {
            break;
        };
        if event.event == "presence_changed" && event.json()["user_id"] == who.id {
            assert_eq!(event.id, None, "presence has no id: it is never replayed");
            found.push(event.json());
        }
    }
    found
}

/// The first `presence_changed` about `who` within `wait`.
async fn next_change(stream: &mut SseStream, who: &Person, wait: Duration) -> Option<String> {
    let until = Instant::now() + wait;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        let event = stream.next(left).await?;
        if event.event == "presence_changed" && event.json()["user_id"] == who.id {
            return event.json()["presence"].as_str().map(str::to_owned);
        }
    }
    None
}

async fn listed(app: &TestApp, viewer: &Person, who: &Person) -> Option<String> {
    let list = app.get("/presence", viewer).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    list.body["people"]
        .as_array()
        .expect("people")
        .iter()
        .find(|p| p["user_id"] == who.id)
        .map(|p| p["presence"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one person's comings and goings, watched by two
async fn presence_reaches_only_those_who_share_a_conversation_merged_and_hidden_on_request() {
    let app = TestApp::spawn().await;
    // On PostgreSQL, alice's stream is on another node than her watchers'.
    let other_node = if natter_tests::backend() == natter_tests::Backend::Postgres {
        Some(app.spawn_node().await)
    } else {
        None
    };
    let alices_node = other_node.as_ref().unwrap_or(&app);
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.conversation(&bob, "Together", &[&alice]).await;
    app.conversation(&carol, "Apart", &[&bob]).await;
    let mut bob_watching = SseStream::open(&app, &bob.token, None)
        .await
        .with_presence();
    let mut carol_watching = SseStream::open(&app, &carol.token, None)
        .await
        .with_presence();

    // Alice opens a stream: bob hears she is online; carol, who shares nothing
    // with her, hears nothing.
    let alice_tab = SseStream::open(alices_node, &alice.token, None).await;
    assert_eq!(
        next_change(&mut bob_watching, &alice, Duration::from_secs(8)).await,
        Some("online".into())
    );
    assert_eq!(listed(&app, &bob, &alice).await, Some("online".into()));
    assert_eq!(listed(&app, &carol, &alice).await, None);
    assert_eq!(listed(&app, &alice, &carol).await, None);
    assert!(
        changes_about(&mut carol_watching, &alice, Duration::from_secs(2))
            .await
            .is_empty()
    );

    // Idle for over 10 minutes, with her stream open: away. (Her activity is set
    // back in the database, as if the minutes had passed.)
    let moved = app
        .number("SELECT count(*) AS n FROM chat_presence_streams WHERE active_at > '2000-01-01'");
    assert!(moved >= 1);
    let mut conn = app.db.connect();
    {
        use diesel::RunQueryDsl;
        diesel::sql_query("UPDATE chat_presence_streams SET active_at = '2000-01-01 00:00:00'")
            .execute(&mut conn)
            .expect("alice idles");
    }
    assert_eq!(
        next_change(&mut bob_watching, &alice, AFTER_MERGE).await,
        Some("away".into())
    );
    // Back after a while (her stream closed, a new one opened): online.
    drop(alice_tab);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alice_tab = SseStream::open(alices_node, &alice.token, None).await;
    assert_eq!(
        next_change(&mut bob_watching, &alice, AFTER_MERGE).await,
        Some("online".into())
    );

    // She stops sharing her presence: offline to everyone, stream or not.
    let hidden = app
        .call(
            Method::PATCH,
            "/me/settings",
            Some(&alice.token),
            Some(&json!({"share_presence": false})),
        )
        .await;
    assert_eq!(hidden.status, StatusCode::OK, "{:?}", hidden.body);
    assert_eq!(
        next_change(&mut bob_watching, &alice, AFTER_MERGE).await,
        Some("offline".into())
    );
    assert_eq!(listed(&app, &bob, &alice).await, None);
    let shown = app
        .call(
            Method::PATCH,
            "/me/settings",
            Some(&alice.token),
            Some(&json!({"share_presence": true})),
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);

    // A flapping connection: her stream closes and reopens four times within a
    // few seconds. Bob hears one change at most per 10 s, and it ends online.
    drop(alice_tab);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let flap = SseStream::open(alices_node, &alice.token, None).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(flap);
    }
    let _steady = SseStream::open(alices_node, &alice.token, None).await;
    let heard = changes_about(&mut bob_watching, &alice, Duration::from_secs(12)).await;
    assert!(heard.len() <= 2, "merged, not one per flap: {heard:?}");
    assert_eq!(
        heard.last().map(|c| c["presence"].clone()),
        Some(json!("online")),
        "{heard:?}"
    );
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}
