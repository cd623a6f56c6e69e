//! The live stream: delivery, exact resumption, several nodes, late commits, and
//! authorization applied to every pushed event.

use std::time::Duration;

use diesel::prelude::*;
use natter_tests::sse::{SseEvent, SseStream};
use natter_tests::{Backend, TestApp, backend, require_postgres};
use reqwest::{Method, StatusCode};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(1500);

fn kinds(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

fn contents(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event == "message_created")
        .map(|e| {
            e.json()["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Message events only, until `count` of them arrived. Streams opened right after a
/// change may also carry that change's event (its position was given after the
/// stream's starting point): clients apply events idempotently.
async fn messages(stream: &mut SseStream, count: usize) -> Vec<SseEvent> {
    let mut found = Vec::new();
    while found.len() < count {
        match stream.next(WAIT).await {
            Some(event) if event.event == "message_created" => found.push(event),
            Some(_) => {}
            None => break,
        }
    }
    found
}

fn assert_increasing(events: &[SseEvent]) {
    let positions: Vec<i64> = events.iter().map(SseEvent::position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions {positions:?}"
    );
}

#[tokio::test]
async fn events_arrive_live_and_resume_exactly() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let mut stream = SseStream::open(&app, &bob.token, None).await;
    let ready = stream.next(WAIT).await.expect("ready");
    assert_eq!(ready.event, "ready");

    let c = app.conversation(&alice, "Live", &[&bob]).await;
    for text in ["one", "two", "three"] {
        app.send(c, &alice, text).await;
    }
    let first = stream.take(4, WAIT).await;
    assert_eq!(
        kinds(&first),
        [
            "added_to_conversation",
            "message_created",
            "message_created",
            "message_created"
        ]
    );
    assert_eq!(contents(&first), ["one", "two", "three"]);
    assert_increasing(&first);
    let cursor = first.last().expect("events").position();
    drop(stream);

    // While Bob is away.
    app.send(c, &alice, "four").await;
    let m5 = app.send(c, &alice, "five").await;
    app.call(
        Method::PUT,
        &format!("/messages/{m5}/reactions/heart"),
        Some(&alice.token),
        None,
    )
    .await;

    let mut resumed = SseStream::open(&app, &bob.token, Some(cursor)).await;
    let missed = resumed.take(3, WAIT).await;
    assert_eq!(
        kinds(&missed),
        ["message_created", "message_created", "reaction_added"]
    );
    assert_eq!(contents(&missed), ["four", "five"]);
    assert!(missed[0].position() > cursor);
    app.send(c, &alice, "six").await;
    let live = resumed.take(1, WAIT).await;
    assert_eq!(contents(&live), ["six"]);
    assert!(resumed.next(QUIET).await.is_none(), "nothing twice");
}

#[tokio::test]
async fn a_browser_resumes_with_the_cursor_in_the_query() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Query", &[&bob]).await;
    app.send(c, &alice, "seen").await;
    let mut stream = SseStream::open(&app, &bob.token, Some(0)).await;
    let before = stream.take(2, WAIT).await;
    let cursor = before.last().expect("events").position();
    drop(stream);

    app.send(c, &alice, "missed").await;
    let mut resumed = SseStream::open_by_query(&app, &bob.token, cursor).await;
    let missed = resumed.take(1, WAIT).await;
    assert_eq!(contents(&missed), ["missed"]);
    assert!(resumed.next(QUIET).await.is_none(), "nothing twice");
}

#[tokio::test]
async fn a_cursor_the_server_never_issued_gets_resync() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let mut stream = SseStream::open(&app, &bob.token, Some(1_000_000)).await;
    assert_eq!(stream.next(WAIT).await.expect("an event").event, "resync");
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn two_nodes_share_every_event_in_order() {
    require_postgres("several nodes");
    let a = TestApp::spawn().await;
    let b = a.spawn_node().await;
    let (alice, bob) = (a.register("alice").await, a.register("bob").await);
    let mut on_b = SseStream::open(&b, &bob.token, None).await;
    on_b.next(WAIT).await.expect("ready");
    let c = a.conversation(&alice, "Across", &[&bob]).await;
    let texts: Vec<String> = (0..20).map(|i| format!("message {i}")).collect();
    for text in &texts {
        a.send(c, &alice, text).await;
    }
    let events = messages(&mut on_b, 20).await;
    assert_eq!(contents(&events), texts);
    assert_increasing(&events);
    drop(on_b);

    // Resume on the other node from where node B left off.
    let cursor = events[9].position();
    let mut on_a = SseStream::open(&a, &bob.token, Some(cursor)).await;
    let rest = on_a.take(10, WAIT).await;
    assert_eq!(contents(&rest), texts[10..]);
    assert!(on_a.next(QUIET).await.is_none());
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn a_transaction_that_commits_late_is_not_skipped() {
    require_postgres("the stamper and several nodes");
    let app = TestApp::spawn().await;
    let second_node = app.spawn_node().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let x = app.conversation(&alice, "X", &[&bob]).await;
    let y = app.conversation(&alice, "Y", &[&bob]).await;
    let mut watchers = vec![
        SseStream::open(&app, &bob.token, None).await,
        SseStream::open(&second_node, &alice.token, None).await,
    ];
    for watcher in &mut watchers {
        watcher.next(WAIT).await.expect("ready");
    }

    // A writer takes its event position in X, then holds its transaction open.
    let (commit_tx, commit_rx) = std::sync::mpsc::channel::<()>();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let db = app.db.clone();
    let alice_id = alice.id;
    let writer = std::thread::spawn(move || {
        let mut conn = db.connect();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query(format!(
                "WITH seq AS (UPDATE chat_conversations SET last_event_seq = last_event_seq + 1 \
                              WHERE id = {x} RETURNING last_event_seq) \
                 INSERT INTO chat_events (conversation_id, seq, kind, payload) \
                 SELECT {x}, last_event_seq, 'message_created', \
                        '{{\"type\":\"message_created\",\"message\":{{\"content\":\"held\",\"sender\":{{\"id\":{alice_id}}}}}}}' FROM seq"
            ))
            .execute(conn)?;
            held_tx.send(()).ok();
            commit_rx.recv().ok();
            Ok(())
        })
        .expect("held transaction commits");
    });
    held_rx.recv().expect("the writer holds its transaction");

    // Others commit meanwhile, with higher event ids.
    for text in ["y1", "y2", "y3"] {
        app.send(y, &alice, text).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    commit_tx.send(()).expect("let the writer commit");
    writer.join().expect("writer");
    app.send(x, &alice, "x after").await;

    let mut orders = Vec::new();
    for watcher in &mut watchers {
        let events = messages(watcher, 5).await;
        let mut got = contents(&events);
        assert_eq!(got.len(), 5, "every event exactly once: {got:?}");
        assert!(watcher.next(QUIET).await.is_none(), "and nothing twice");
        assert_increasing(&events);
        // Per conversation, the order is the writers' order.
        let in_x: Vec<&String> = got
            .iter()
            .filter(|c| c.starts_with('x') || *c == "held")
            .collect();
        assert_eq!(in_x, ["held", "x after"]);
        let in_y: Vec<&String> = got.iter().filter(|c| c.starts_with('y')).collect();
        assert_eq!(in_y, ["y1", "y2", "y3"]);
        got.sort();
        orders.push(events.iter().map(SseEvent::position).collect::<Vec<_>>());
    }
    assert_eq!(orders[0], orders[1], "every subscriber sees one order");
}

#[tokio::test]
async fn a_removed_member_hears_nothing_more() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let c = app.conversation(&alice, "Team", &[&bob, &carol]).await;
    let mut carols = SseStream::open(&app, &carol.token, None).await;
    let mut bobs = SseStream::open(&app, &bob.token, None).await;
    carols.next(WAIT).await.expect("ready");
    bobs.next(WAIT).await.expect("ready");

    let removed = app
        .call(
            Method::DELETE,
            &format!("/conversations/{c}/members/{}", carol.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let told = carols
        .first_of("member_removed", WAIT)
        .await
        .expect("carol hears of her removal");
    assert_eq!(told.json()["user_id"], carol.id);

    app.send(c, &alice, "after carol left").await;
    app.post(
        &format!("/conversations/{c}/messages"),
        &bob,
        &json!({"content": "bob too"}),
    )
    .await;
    let bob_got = messages(&mut bobs, 2).await;
    assert_eq!(contents(&bob_got), ["after carol left", "bob too"]);
    assert!(
        carols.next(QUIET).await.is_none(),
        "carol gets nothing more"
    );

    // Adding her back brings her the conversation again.
    app.post(
        &format!("/conversations/{c}/members"),
        &alice,
        &json!({"user_id": carol.id}),
    )
    .await;
    assert!(
        carols.first_of("member_added", WAIT).await.is_some(),
        "re-added"
    );
}

#[tokio::test]
async fn logging_out_ends_the_stream() {
    let app = TestApp::spawn().await;
    // On PostgreSQL, also a stream on another node.
    let second_node = match backend() {
        Backend::Postgres => Some(app.spawn_node().await),
        Backend::Sqlite => None,
    };
    let bob = app.register("bob").await;
    let mut here = SseStream::open(&app, &bob.token, None).await;
    here.next(WAIT).await.expect("ready");
    let mut there = None;
    if let Some(node) = &second_node {
        let mut stream = SseStream::open(node, &bob.token, None).await;
        stream.next(WAIT).await.expect("ready");
        there = Some(stream);
    }
    let logout = app
        .call(Method::DELETE, "/sessions/current", Some(&bob.token), None)
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert!(here.ends_within(WAIT).await, "the stream on this node ends");
    if let Some(mut there) = there {
        assert!(
            there.ends_within(WAIT).await,
            "the stream on the other node ends"
        );
    }
    let again = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cursor_older_than_retention_gets_resync() {
    let app = TestApp::spawn_with(natter_tests::SpawnOptions {
        extra_env: vec![("NATTER_EVENT_RETENTION".into(), "1s".into())],
        ..natter_tests::SpawnOptions::default()
    })
    .await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Old", &[&bob]).await;
    app.send(c, &alice, "old news").await;
    app.send(c, &alice, "newest").await;
    // Past retention, and past a pruning round (a tenth of it, at least a second).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut resumed = SseStream::open(&app, &bob.token, Some(1)).await;
    let event = resumed.next(WAIT).await.expect("an event");
    assert_eq!(event.event, "resync");
    // A cursor at the head still resumes normally.
    let head = event.position();
    let mut current = SseStream::open(&app, &bob.token, Some(head)).await;
    app.send(c, &alice, "fresh").await;
    assert_eq!(contents(&messages(&mut current, 1).await), ["fresh"]);
}
