//! Moving from SQLite to PostgreSQL: data made through the API on SQLite, copied by
//! `natter copy-to-postgres`, is served by natter on PostgreSQL with the same answers,
//! to the same tokens, and the live stream resumes from the same cursors.

use std::sync::Arc;
use std::time::Duration;

use natter_tests::api::Person;
use natter_tests::sse::SseStream;
use natter_tests::{Backend, SpawnOptions, TestApp, TestDb, require_postgres, run_natter_command};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What each person sees, through every read the API offers.
async fn answers(
    app: &TestApp,
    people: &[&Person],
    conversations: &[i64],
    messages: &[i64],
) -> Vec<Value> {
    let mut seen = Vec::new();
    for person in people {
        for path in [
            "/me".to_owned(),
            "/conversations".to_owned(),
            "/emojis".to_owned(),
        ]
        .into_iter()
        .chain(conversations.iter().flat_map(|c| {
            [
                format!("/conversations/{c}"),
                format!("/conversations/{c}/messages"),
            ]
        }))
        .chain(messages.iter().flat_map(|m| {
            [
                format!("/messages/{m}/seen"),
                format!("/messages/{m}/edits"),
            ]
        }))
        .chain(["/users?q=a".to_owned()])
        // The copy rebuilds the search index: words, parts of words, an edit's text.
        .chain(["friday", "ship%20it", "iday", "works", "ye"].map(|q| format!("/search?q={q}")))
        {
            let reply = app.get(&path, person).await;
            seen.push(json!({"who": person.nickname, "path": path, "status": reply.status.as_u16(), "body": reply.body}));
        }
    }
    seen
}

/// Everything the stream replays to `person` after position 1, as (id, event, data).
async fn replay(app: &TestApp, person: &Person) -> Vec<(Option<String>, String, String)> {
    let mut stream = SseStream::open(app, &person.token, Some(1)).await;
    let mut events = Vec::new();
    while let Some(event) = stream.next(Duration::from_millis(1500)).await {
        events.push((event.id, event.event, event.data));
    }
    events
}

struct History {
    ada: Person,
    grace: Person,
    linus: Person,
    launch: i64,
    old: i64,
    first: i64,
    edited: i64,
    plan: i64,
}

/// A little of everything: messages, a reaction, a receipt, an edit, a reply, a
/// deletion, a rename, a removal, a closed conversation and a failed login.
#[allow(clippy::too_many_lines)] // one history with a little of everything, in order
async fn make_history(sqlite: &TestApp) -> History {
    let (ada, grace, linus) = (
        sqlite.register("ada").await,
        sqlite.register("grace").await,
        sqlite.register("linus").await,
    );
    let launch = sqlite.conversation(&ada, "Launch", &[&grace, &linus]).await;
    let first = sqlite.send(launch, &ada, "Ship it on Friday?").await;
    sqlite.send(launch, &grace, "Yes!").await;
    let reply = sqlite
        .call(
            Method::PUT,
            &format!("/messages/{first}/reactions/rocket"),
            Some(&grace.token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let seen = sqlite
        .post(
            &format!("/conversations/{launch}/seen"),
            &grace,
            &json!({"up_to_message_id": first}),
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK);
    let edited = sqlite.send(launch, &grace, "Frday works").await;
    let edit = sqlite
        .call(
            Method::PATCH,
            &format!("/messages/{edited}"),
            Some(&grace.token),
            Some(&json!({"content": "Friday works", "expected_version": 1})),
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK);
    let answer = sqlite
        .post(
            &format!("/conversations/{launch}/messages"),
            &ada,
            &json!({"content": "Great", "reply_to_id": edited}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let plan = sqlite
        .uploaded(&ada, "plan.txt", b"T-1: fuel".to_vec())
        .await;
    let with_file = sqlite
        .post(
            &format!("/conversations/{launch}/messages"),
            &ada,
            &json!({"content": "", "attachment_ids": [plan]}),
        )
        .await;
    assert_eq!(
        with_file.status,
        StatusCode::CREATED,
        "{:?}",
        with_file.body
    );
    let oops = sqlite.send(launch, &ada, "wrong window").await;
    let deleted = sqlite
        .call(
            Method::DELETE,
            &format!("/messages/{oops}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let renamed = sqlite
        .call(
            Method::PATCH,
            &format!("/conversations/{launch}"),
            Some(&ada.token),
            Some(&json!({"title": "Launch day"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let removed = sqlite
        .call(
            Method::DELETE,
            &format!("/conversations/{launch}/members/{}", linus.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{:?}", removed.body);
    let old = sqlite.conversation(&grace, "Old", &[&ada]).await;
    sqlite.send(old, &grace, "archived").await;
    let closed = sqlite
        .post(&format!("/conversations/{old}/close"), &grace, &json!({}))
        .await;
    assert_eq!(closed.status, StatusCode::OK);
    // A failed login is data too.
    let wrong = sqlite
        .call(
            Method::POST,
            "/sessions",
            None,
            Some(&json!({"nickname": "ada", "password": "not it at all"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    History {
        ada,
        grace,
        linus,
        launch,
        old,
        first,
        edited,
        plan,
    }
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn data_made_on_sqlite_is_served_the_same_from_postgresql() {
    require_postgres("the copy's target");
    let sqlite = TestApp::spawn_on(
        Arc::new(TestDb::migrated_of(Backend::Sqlite)),
        SpawnOptions::default(),
    )
    .await;
    let History {
        ada,
        grace,
        linus,
        launch,
        old,
        first,
        edited,
        plan,
    } = make_history(&sqlite).await;
    let people = [&ada, &grace, &linus];
    let before = answers(&sqlite, &people, &[launch, old], &[first, edited]).await;
    for q in ["friday", "iday", "works", "ye"] {
        let path = format!("/search?q={q}");
        assert!(
            before.iter().any(|answer| answer["path"] == path.as_str()
                && answer["body"]["results"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())),
            "{path} finds something: {:?}",
            before
                .iter()
                .filter(|a| a["path"] == path.as_str())
                .collect::<Vec<_>>()
        );
    }
    let replayed_before = replay(&sqlite, &grace).await;
    assert!(replayed_before.len() > 5, "{replayed_before:?}");
    let source = sqlite.stop().await;

    let target = Arc::new(TestDb::postgres());
    let (status, output) = run_natter_command(
        &["copy-to-postgres", "--to", target.url()],
        &[("DATABASE_URL", source.url())],
    )
    .await
    .expect("the copy runs");
    assert!(status.success(), "{output}");
    eprintln!("{output}"); // the counts, shown with --nocapture
    for table in [
        "auth_users",
        "chat_messages",
        "chat_message_edits",
        "chat_message_reactions",
        "chat_seen_messages",
        "chat_events",
        "chat_attachments",
    ] {
        assert!(output.contains(table), "the counts name {table}: {output}");
    }

    // The files stay where they are: the new node is pointed at the same store.
    let files = source.files().display().to_string();
    let postgres = TestApp::spawn_on(
        target.clone(),
        SpawnOptions::with_env(&[("NATTER_STORAGE", &files)]),
    )
    .await;
    let file = postgres
        .fetch(&format!("/attachments/{plan}"), &grace, &[])
        .await;
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), b"T-1: fuel");
    assert_eq!(
        answers(&postgres, &people, &[launch, old], &[first, edited]).await,
        before
    );
    assert_eq!(replay(&postgres, &grace).await, replayed_before);
    // Ids continue after the copied ones.
    let next = postgres.send(launch, &ada, "Moved to PostgreSQL").await;
    assert!(next > first, "{next} after {first}");
    assert_eq!(postgres.internal_errors(), Vec::<String>::new());

    // A database that already holds data is not a copy's target.
    let (status, output) = run_natter_command(
        &["copy-to-postgres", "--to", target.url()],
        &[("DATABASE_URL", source.url())],
    )
    .await
    .expect("the second copy runs");
    assert!(!status.success(), "{output}");
    assert!(output.contains("empty database"), "{output}");
}
