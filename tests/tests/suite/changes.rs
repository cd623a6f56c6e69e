//! Messages that change: edits with their history, deletions that erase, replies
//! built when read, and the page around a message.

use std::time::Duration;

use natter_domain::api::{EXCERPT_CHARS, Message, MessageEdit, MessagePage};
use natter_tests::api::Person;
use natter_tests::sse::SseStream;
use natter_tests::{SpawnOptions, TestApp, require_postgres};
use reqwest::Method;
use serde_json::{Value, json};

async fn edit(app: &TestApp, who: &Person, id: i64, content: &str, version: i64) -> (u16, Value) {
    let reply = app
        .call(
            Method::PATCH,
            &format!("/messages/{id}"),
            Some(&who.token),
            Some(&json!({"content": content, "expected_version": version})),
        )
        .await;
    (reply.status.as_u16(), reply.body)
}

async fn delete(app: &TestApp, who: &Person, id: i64) -> u16 {
    app.call(
        Method::DELETE,
        &format!("/messages/{id}"),
        Some(&who.token),
        None,
    )
    .await
    .status
    .as_u16()
}

async fn reply(app: &TestApp, who: &Person, conversation: i64, to: i64, content: &str) -> Value {
    let reply = app
        .post(
            &format!("/conversations/{conversation}/messages"),
            who,
            &json!({"content": content, "reply_to_id": to}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

async fn page(app: &TestApp, who: &Person, path: &str) -> MessagePage {
    let reply = app.get(path, who).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    serde_json::from_value(reply.body).expect("a page")
}

async fn message(app: &TestApp, who: &Person, conversation: i64, id: i64) -> Message {
    page(
        app,
        who,
        &format!("/conversations/{conversation}/messages?around={id}&limit=1"),
    )
    .await
    .messages
    .into_iter()
    .find(|m| m.id.get() == id)
    .expect("the message")
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one story through every rule of an edit
async fn edits_are_versioned_kept_and_refused_by_the_rules() {
    let app = TestApp::spawn().await;
    let (ada, bob, eve) = (
        app.register("ada").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let c = app.conversation(&ada, "Edits", &[&bob]).await;
    let m = app.send(c, &bob, "teh first").await;
    let fresh = message(&app, &bob, c, m).await;
    assert_eq!((fresh.version, fresh.edited_at), (1, None));

    let mut stream = SseStream::open(&app, &ada.token, None).await;
    let (status, body) = edit(&app, &bob, m, "the first", 1).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["content"], "the first");
    assert!(body["edited_at"].is_string());
    let event = stream
        .first_of("message_edited", Duration::from_secs(5))
        .await
        .expect("message_edited")
        .json();
    assert_eq!(event["message"]["version"], 2);
    assert_eq!(event["message"]["content"], "the first");

    // A stale version answers the message as it is now, and changes nothing.
    let (status, body) = edit(&app, &bob, m, "the first!!", 1).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "version_conflict");
    assert_eq!(body["current"]["version"], 2);
    assert_eq!(body["current"]["content"], "the first");
    // The same text again: 200, no new version, no event.
    let (status, body) = edit(&app, &bob, m, "the first", 2).await;
    assert_eq!((status, body["version"].as_i64()), (200, Some(2)));
    assert!(
        stream.next(Duration::from_millis(700)).await.is_none(),
        "an unchanged edit says nothing"
    );
    let (status, _) = edit(&app, &bob, m, "the first one", 2).await;
    assert_eq!(status, 200);

    // Only the author edits: others get 403, non-members 404.
    let (status, body) = edit(&app, &ada, m, "mine now", 3).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = edit(&app, &eve, m, "mine now", 3).await;
    assert_eq!(status, 404);
    // Bad content: 422 naming it, and nothing written.
    for content in ["", " \n ", &"x".repeat(4001)] {
        let (status, body) = edit(&app, &bob, m, content, 3).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("content"))
        );
    }
    let missing = app
        .call(
            Method::PATCH,
            &format!("/messages/{m}"),
            Some(&bob.token),
            Some(&json!({"content": "no version"})),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(message(&app, &bob, c, m).await.version, 3);

    // The earlier versions: for the author and the owner, no one else.
    let edits = app.get(&format!("/messages/{m}/edits"), &bob).await;
    assert_eq!(edits.status, 200);
    let edits: Vec<MessageEdit> = serde_json::from_value(edits.body).expect("edits");
    let texts: Vec<(i64, &str)> = edits
        .iter()
        .map(|e| (e.version, e.content.as_str()))
        .collect();
    assert_eq!(texts, [(1, "teh first"), (2, "the first")]);
    assert!(edits[0].written_at <= edits[0].replaced_at);
    assert_eq!(edits[0].replaced_at, edits[1].written_at);
    assert_eq!(
        app.get(&format!("/messages/{m}/edits"), &ada).await.status,
        200
    );
    let carol = app.register("carol").await;
    app.post(
        &format!("/conversations/{c}/members"),
        &ada,
        &json!({"user_id": carol.id}),
    )
    .await;
    assert_eq!(
        app.get(&format!("/messages/{m}/edits"), &carol)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/messages/{m}/edits"), &eve).await.status,
        404
    );

    // A closed conversation takes no edits.
    app.post(&format!("/conversations/{c}/close"), &ada, &json!({}))
        .await;
    let (status, body) = edit(&app, &bob, m, "after closing", 3).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conversation_closed"))
    );
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

#[tokio::test]
async fn the_edit_window_closes_and_unlimited_never_does() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[("NATTER_EDIT_WINDOW", "1s")])).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let me = app.get("/me", &ada).await;
    assert_eq!(me.body["edit_window_seconds"], 1);
    let c = app.conversation(&ada, "Window", &[&bob]).await;
    let m = app.send(c, &ada, "quick").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, body) = edit(&app, &ada, m, "too late", 1).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "edit_window_passed");
    assert_eq!(message(&app, &ada, c, m).await.content, "quick");

    let forever = TestApp::spawn_with(SpawnOptions::with_env(&[(
        "NATTER_EDIT_WINDOW",
        "unlimited",
    )]))
    .await;
    let ada = forever.register("ada").await;
    assert_eq!(
        forever.get("/me", &ada).await.body["edit_window_seconds"],
        Value::Null
    );
    for zero in ["0", "0s"] {
        let (status, output) =
            natter_tests::run_natter_expecting_exit(&[("NATTER_EDIT_WINDOW", zero)])
                .await
                .expect("natter ran");
        assert!(!status.success());
        assert!(output.contains("edit-window"), "{output}");
    }
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one story through a deletion and what it reaches
async fn a_deleted_message_is_erased_everywhere_and_stays_a_tombstone() {
    let app = TestApp::spawn().await;
    let (ada, bob, eve) = (
        app.register("ada").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let c = app.conversation(&ada, "Secrets", &[&bob]).await;
    // Where a replay will start: before anything below.
    let mut first = SseStream::open(&app, &ada.token, None).await;
    let start = first
        .next(Duration::from_secs(5))
        .await
        .expect("ready")
        .position();
    drop(first);

    let m = app.send(c, &bob, "the launch code is swordfish").await;
    edit(&app, &bob, m, "the launch code is marlin", 1).await;
    let r = reply(&app, &ada, c, m, "noted").await["id"]
        .as_i64()
        .expect("id");
    app.call(
        Method::PUT,
        &format!("/messages/{m}/reactions/eyes"),
        Some(&ada.token),
        None,
    )
    .await;
    // Someone added later sees the last message in their event: the reply, not m.
    let carol = app.register("carol").await;
    app.post(
        &format!("/conversations/{c}/members"),
        &ada,
        &json!({"user_id": carol.id}),
    )
    .await;

    // Neither a member who did not write it nor a stranger may delete it.
    assert_eq!(delete(&app, &carol, m).await, 403);
    assert_eq!(delete(&app, &eve, m).await, 404);
    assert_eq!(delete(&app, &bob, m).await, 204);
    assert_eq!(delete(&app, &bob, m).await, 204, "deleting again is fine");

    // History shows the tombstone, and the reply shows it deleted.
    let history = app
        .get(&format!("/conversations/{c}/messages"), &ada)
        .await
        .body;
    let tombstone = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| message["id"] == m)
        .expect("the tombstone")
        .clone();
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone["version"], 3);
    assert!(tombstone.get("content").is_none(), "{tombstone}");
    assert_eq!(tombstone["sender"]["nickname"], "bob");
    assert!(tombstone["created_at"].is_string());
    assert_eq!(tombstone["reactions"], json!([]));
    let shown = message(&app, &ada, c, r).await.reply_to.expect("a reply");
    assert!(shown.deleted && shown.excerpt.is_empty());

    // Editing it, reacting to it, answering it and its history: gone.
    let (status, body) = edit(&app, &bob, m, "back again", 3).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("message_deleted"))
    );
    let react = app
        .call(
            Method::PUT,
            &format!("/messages/{m}/reactions/fire"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(
        (react.status.as_u16(), react.code()),
        (410, "message_deleted")
    );
    assert_eq!(
        app.get(&format!("/messages/{m}/edits"), &bob).await.status,
        410
    );
    let refused = app
        .post(
            &format!("/conversations/{c}/messages"),
            &ada,
            &json!({"content": "still?", "reply_to_id": m}),
        )
        .await;
    assert_eq!(
        (refused.status.as_u16(), refused.field()),
        (422, "reply_to_id")
    );

    // The database holds no trace of either version, nor do its event copies.
    for word in ["swordfish", "marlin"] {
        for table in ["chat_messages", "chat_message_edits", "chat_events"] {
            let column = if table == "chat_events" {
                "payload"
            } else {
                "content"
            };
            assert_eq!(
                app.number(&format!(
                    "SELECT count(*) AS n FROM {table} WHERE {column} LIKE '%{word}%'"
                )),
                0,
                "{word} is still in {table}"
            );
        }
    }
    assert_eq!(
        app.number(&format!(
            "SELECT count(*) AS n FROM chat_message_reactions WHERE message_id = {m}"
        )),
        0
    );

    // A replay from before it all delivers the tombstone, never the text.
    let mut replay = SseStream::open(&app, &ada.token, Some(start)).await;
    let mut kinds = Vec::new();
    while let Some(event) = replay.next(Duration::from_millis(1500)).await {
        assert!(
            !event.data.contains("swordfish") && !event.data.contains("marlin"),
            "{}",
            event.data
        );
        kinds.push(event.event);
    }
    for kind in ["message_created", "message_edited", "message_deleted"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

#[tokio::test]
async fn the_owner_deletes_anyones_message_live_for_everyone() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Moderated", &[&bob]).await;
    let m = app.send(c, &bob, "something regrettable").await;
    let mut stream = SseStream::open(&app, &bob.token, None).await;
    assert_eq!(delete(&app, &ada, m).await, 204);
    let deleted = stream
        .first_of("message_deleted", Duration::from_secs(5))
        .await
        .expect("message_deleted")
        .json();
    assert_eq!(
        deleted,
        json!({"type": "message_deleted", "conversation_id": c, "message_id": m, "version": 2})
    );
}

#[tokio::test]
async fn replies_show_their_original_as_it_is_now() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Threads", &[&bob]).await;
    let other = app.conversation(&ada, "Elsewhere", &[&bob]).await;
    let long = "ü".repeat(EXCERPT_CHARS + 20);
    let original = app.send(c, &ada, &long).await;
    let elsewhere = app.send(other, &ada, "not here").await;

    let mut stream = SseStream::open(&app, &ada.token, None).await;
    let sent = reply(&app, &bob, c, original, "agreed").await;
    let excerpt = sent["reply_to"]["excerpt"].as_str().expect("an excerpt");
    assert_eq!(excerpt.chars().count(), EXCERPT_CHARS);
    assert!(excerpt.ends_with('…'));
    assert_eq!(sent["reply_to"]["sender"]["nickname"], "ada");
    assert_eq!(sent["reply_to"]["deleted"], false);
    // The event says the same as the answer (on PostgreSQL, SQL builds it). The
    // stream may first bring the messages sent just before it opened.
    let created = stream
        .first(Duration::from_secs(5), |event| {
            event.event == "message_created" && event.json()["message"]["id"] == sent["id"]
        })
        .await
        .expect("the reply's message_created")
        .json();
    assert_eq!(created["message"]["reply_to"], sent["reply_to"]);
    let r = sent["id"].as_i64().expect("id");

    // Bad targets: another conversation's message, no message, not a number.
    for to in [json!(elsewhere), json!(i64::MAX), json!(-1)] {
        let refused = app
            .post(
                &format!("/conversations/{c}/messages"),
                &bob,
                &json!({"content": "answer", "reply_to_id": to}),
            )
            .await;
        assert_eq!(
            (refused.status.as_u16(), refused.field()),
            (422, "reply_to_id"),
            "{to}"
        );
    }

    // An edit of the original shows in the reply at once.
    edit(&app, &ada, original, "short now", 1).await;
    let shown = message(&app, &bob, c, r).await.reply_to.expect("a reply");
    assert_eq!(
        (shown.excerpt.as_str(), shown.deleted),
        ("short now", false)
    );
}

#[tokio::test]
async fn the_page_around_a_message_is_centred_on_it() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Long", &[&bob]).await;
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(app.send(c, &ada, &format!("message {n}")).await);
    }
    let around =
        |id: i64, limit: i64| format!("/conversations/{c}/messages?around={id}&limit={limit}");
    let centred = page(&app, &bob, &around(ids[15], 10)).await;
    let got: Vec<i64> = centred.messages.iter().map(|m| m.id.get()).collect();
    assert_eq!(got, ids[11..21], "four before, the message, five after");
    assert!(centred.has_older && centred.has_newer);
    let first = page(&app, &bob, &around(ids[0], 10)).await;
    assert_eq!(first.messages.first().map(|m| m.id.get()), Some(ids[0]));
    assert!(!first.has_older && first.has_newer);
    let last = page(&app, &bob, &around(ids[29], 10)).await;
    assert_eq!(last.messages.last().map(|m| m.id.get()), Some(ids[29]));
    assert!(last.has_older && !last.has_newer);

    let other = app.conversation(&ada, "Other", &[&bob]).await;
    let elsewhere = app.send(other, &ada, "elsewhere").await;
    assert_eq!(app.get(&around(elsewhere, 10), &bob).await.status, 404);
    let both = app
        .get(
            &format!(
                "/conversations/{c}/messages?around={}&before={}",
                ids[3], ids[9]
            ),
            &bob,
        )
        .await;
    assert_eq!(both.status, 400);
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn a_dump_after_a_deletion_holds_no_trace_of_the_text() {
    require_postgres("pg_dump of the database");
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Dumped", &[&bob]).await;
    let m = app.send(c, &bob, "version one: albatross").await;
    edit(&app, &bob, m, "version two: pelican", 1).await;
    reply(&app, &ada, c, m, "replying to it").await;
    let carol = app.register("carol").await;
    app.post(
        &format!("/conversations/{c}/members"),
        &ada,
        &json!({"user_id": carol.id}),
    )
    .await;
    let dump = || {
        let output = std::process::Command::new("pg_dump")
            .args(["--data-only", "--dbname", app.db.url()])
            .output()
            .expect("run pg_dump (scripts/setup.sh test installs it)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let before = dump();
    assert!(before.contains("albatross") && before.contains("pelican"));
    assert_eq!(delete(&app, &bob, m).await, 204);
    let after = dump();
    for word in ["albatross", "pelican"] {
        assert!(
            !after.contains(word),
            "{word} survived the deletion in the dump"
        );
    }
}
