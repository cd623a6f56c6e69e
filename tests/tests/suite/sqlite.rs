//! What only the SQLite backend promises, whatever backend the rest of the suite runs
//! on: it is the zero-setup default, it serves one node, and concurrent writers queue
//! instead of failing with "database is locked".

use std::sync::Arc;

use natter_tests::sse::SseStream;
use natter_tests::{Backend, SpawnOptions, TestApp, TestDb, run_natter_expecting_exit};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn with_no_database_url_natter_keeps_a_sqlite_file_in_its_data_dir() {
    let home = tempfile::tempdir().expect("temp dir");
    let data = home.path().join("data");
    let app = TestApp::spawn_in_data_dir(&data).await;
    let file = data.join("natter.sqlite3");
    assert!(file.is_file(), "{} was not created", file.display());
    let logs = app.logs().join("\n");
    assert!(
        logs.contains(&file.display().to_string()),
        "the path is printed: {logs}"
    );

    let (ada, grace) = (app.register("ada").await, app.register("grace").await);
    let c = app.conversation(&ada, "First", &[&grace]).await;
    app.send(c, &ada, "hello from SQLite").await;

    // Stopped and started again on the same directory, everything is still there.
    drop(app.stop().await);
    let again = TestApp::spawn_in_data_dir(&data).await;
    let page = again
        .get(&format!("/conversations/{c}/messages"), &grace)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["messages"][0]["content"], "hello from SQLite");
}

#[tokio::test]
async fn a_second_node_on_the_same_sqlite_file_is_refused() {
    let app = TestApp::spawn_on(
        Arc::new(TestDb::migrated_of(Backend::Sqlite)),
        SpawnOptions::default(),
    )
    .await;
    let (status, output) = run_natter_expecting_exit(&[("DATABASE_URL", app.db.url())])
        .await
        .expect("the second natter exits");
    assert!(!status.success());
    assert!(output.contains("already serving"), "{output}");
    assert!(output.contains("PostgreSQL"), "{output}");
    // The first node is unharmed.
    let health = app
        .client
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_senders_on_sqlite_are_never_locked_out_and_lose_nothing() {
    const SENDERS: usize = 8;
    const EACH: usize = 25;
    let app = Arc::new(
        TestApp::spawn_on(
            Arc::new(TestDb::migrated_of(Backend::Sqlite)),
            SpawnOptions::default(),
        )
        .await,
    );
    let mut people = Vec::new();
    for i in 0..SENDERS {
        people.push(app.register(&format!("sender{i}")).await);
    }
    let others: Vec<_> = people[1..].iter().collect();
    let c = app.conversation(&people[0], "Busy", &others).await;
    let mut watcher = SseStream::open(&app, &people[0].token, None).await;
    watcher
        .next(std::time::Duration::from_secs(10))
        .await
        .expect("ready");

    let mut tasks = Vec::new();
    for person in people.clone() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                let reply = app
                    .post(
                        &format!("/conversations/{c}/messages"),
                        &person,
                        &json!({"content": format!("{} #{n}", person.nickname)}),
                    )
                    .await;
                assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
                // Reactions and receipts write too, interleaved with the sends.
                let id = reply.body["id"].as_i64().expect("id");
                let reacted = app
                    .call(
                        reqwest::Method::PUT,
                        &format!("/messages/{id}/reactions/thumbs_up"),
                        Some(&person.token),
                        None,
                    )
                    .await;
                assert_eq!(reacted.status, StatusCode::OK, "{:?}", reacted.body);
            }
        }));
    }
    for task in tasks {
        task.await.expect("sender finished");
    }
    let total = SENDERS * EACH;
    assert_eq!(
        app.count("chat_messages"),
        i64::try_from(total).expect("small")
    );
    assert_eq!(
        app.count("chat_message_reactions"),
        i64::try_from(total).expect("small")
    );
    let events = watcher
        .take(total * 2, std::time::Duration::from_secs(30))
        .await;
    let created = events
        .iter()
        .filter(|e| e.event == "message_created")
        .count();
    assert_eq!(created, total, "every message reached the stream once");
    assert!(
        events.windows(2).all(|w| w[0].position() < w[1].position()),
        "positions only grow"
    );
    assert_eq!(app.internal_errors(), Vec::<String>::new());
    let logs = app.logs().join("\n");
    assert!(!logs.contains("locked"), "{logs}");
}
