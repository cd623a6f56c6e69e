//! Restart a node and restart PostgreSQL while people send: every subscriber ends with
//! exactly the committed messages, each once, in one order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_tests::proxy::TcpProxy;
use natter_tests::sse::SseStream;
use natter_tests::{SpawnOptions, TestApp, require_postgres};
use serde_json::json;

const MESSAGES_PER_SENDER: usize = 40;

/// A subscriber that, like a browser, reconnects with `Last-Event-ID` whenever its
/// stream ends, trying the nodes in turn. Returns the message ids in arrival order.
async fn subscribe(
    nodes: Arc<Mutex<Vec<String>>>,
    token: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<i64> {
    let mut cursor: Option<i64> = None;
    let mut received = Vec::new();
    let mut attempt = 0_usize;
    loop {
        if *stop.borrow() {
            return received;
        }
        let base = {
            let nodes = nodes.lock().expect("nodes");
            nodes[attempt % nodes.len()].clone()
        };
        attempt += 1;
        let Ok(mut stream) = SseStream::try_open(&base, &token, cursor).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        loop {
            if *stop.borrow() {
                return received;
            }
            match stream.next(Duration::from_millis(500)).await {
                Some(event) => {
                    if event.position() > 0 {
                        cursor = Some(event.position());
                    }
                    if event.event == "message_created" {
                        received.push(event.json()["message"]["id"].as_i64().expect("id"));
                    }
                }
                None if stream.ended() => break,
                None => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends with a client_id and retries the same request until the server answers;
/// returns the id of the one message it made.
async fn send(nodes: Arc<Mutex<Vec<String>>>, token: &str, conversation: i64, text: String) -> i64 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let body = json!({"content": text, "client_id": uuid::Uuid::new_v4().to_string()});
    for attempt in 0.. {
        let base = {
            let nodes = nodes.lock().expect("nodes");
            nodes[attempt % nodes.len()].clone()
        };
        let response = client
            .post(format!("{base}/api/conversations/{conversation}/messages"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
        let response_error = match response {
            Ok(response) if response.status().is_success() => {
                let message: serde_json::Value = response.json().await.expect("json");
                return message["id"].as_i64().expect("id");
            }
            Ok(response) => format!(
                "{} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ),
            Err(error) => error.to_string(),
        };
        assert!(attempt < 100, "a send never succeeded: {response_error}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn node_and_database_restarts_lose_and_double_nothing() {
    require_postgres("several nodes and a database server to restart");
    let upstream = "127.0.0.1:5432".parse().expect("address");
    let proxy = TcpProxy::start(upstream).await.expect("proxy");
    let options = |port| SpawnOptions {
        database_port: Some(port),
        extra_env: vec![("NATTER_DB_TIMEOUT".into(), "1s".into())],
        ..SpawnOptions::default()
    };
    let node_a = TestApp::spawn_with(options(proxy.port())).await;
    let node_b = node_a.spawn_node_with(options(proxy.port())).await;
    let (alice, bob, carol) = (
        node_a.register("alice").await,
        node_a.register("bob").await,
        node_a.register("carol").await,
    );
    let c = node_a.conversation(&alice, "Storm", &[&bob, &carol]).await;
    let nodes = Arc::new(Mutex::new(vec![node_a.url(""), node_b.url("")]));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let subscribers: Vec<_> = [&bob, &carol]
        .iter()
        .map(|p| tokio::spawn(subscribe(nodes.clone(), p.token.clone(), stop_rx.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let senders: Vec<_> = [(&alice, "a"), (&bob, "b")]
        .into_iter()
        .map(|(person, tag)| {
            let nodes = nodes.clone();
            let token = person.token.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..MESSAGES_PER_SENDER {
                    ids.push(send(nodes.clone(), &token, c, format!("{tag}{i}")).await);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                ids
            })
        })
        .collect();

    // PostgreSQL "restarts": every connection drops, nothing connects for a while.
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restore();
    // Node A restarts: killed, and a new node takes its place.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let node_a2 = node_b.spawn_node_with(options(proxy.port())).await;
    nodes.lock().expect("nodes")[0] = node_a2.url("");
    drop(node_a);

    let mut committed = Vec::new();
    for sender in senders {
        committed.extend(sender.await.expect("sender"));
    }
    // Let the streams catch up, then stop them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send(true).expect("stop");
    let expected: HashSet<i64> = committed.iter().copied().collect();
    assert_eq!(
        expected.len(),
        2 * MESSAGES_PER_SENDER,
        "each send made one message"
    );
    let mut orders = Vec::new();
    for subscriber in subscribers {
        let received = subscriber.await.expect("subscriber");
        let unique: HashSet<i64> = received.iter().copied().collect();
        assert_eq!(unique.len(), received.len(), "no message twice");
        assert_eq!(unique, expected, "exactly the committed messages");
        orders.push(received);
    }
    assert_eq!(orders[0], orders[1], "one order for every subscriber");
    drop(node_a2);
}
