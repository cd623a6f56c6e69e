//! `--metrics-listen`: Prometheus text at `/metrics`, read back with a real parser.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use natter_tests::sse::SseStream;
use natter_tests::{SpawnOptions, TestApp, venv_tool};
use reqwest::Method;

/// The address natter says it serves metrics on.
async fn metrics_address(app: &TestApp) -> String {
    for _ in 0..100 {
        if let Some(address) = app.logs().iter().find_map(|line| {
            line.split("serving metrics on ")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        }) {
            return address;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "natter did not say where it serves metrics: {:?}",
        app.logs()
    );
}

/// One sample as the parser read it.
#[derive(Debug, serde::Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads `/metrics` and parses it with the Prometheus client library's own text-format
/// parser (Python's prometheus_client, from the venv scripts/setup.sh makes).
async fn scrape(app: &TestApp, url: &str) -> Vec<Sample> {
    let response = app.client.get(url).send().await.expect("scrape");
    assert!(response.status().is_success());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("body");
    let mut parser = std::process::Command::new(venv_tool("python"))
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the parser");
    parser
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("hand over the text");
    let output = parser.wait_with_output().expect("the parser ends");
    assert!(
        output.status.success(),
        "not valid Prometheus text format: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the parser's samples")
}

const PARSE: &str = "
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = [
    {'name': s.name, 'labels': s.labels, 'value': s.value}
    for family in text_string_to_metric_families(sys.stdin.read())
    for s in family.samples
]
print(json.dumps(samples))
";

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[
        ("NATTER_METRICS_LISTEN", "127.0.0.1:0"),
        ("NATTER_RATE_SEARCH", "1/h"),
    ]))
    .await;
    let url = metrics_address(&app).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let conversation = app.conversation(&alice, "metrics", &[&bob]).await;
    let mut stream = SseStream::open(&app, &bob.token, None).await;
    for n in 0..3 {
        app.send(conversation, &alice, &format!("message {n}"))
            .await;
    }
    // Dispatched once Bob's stream has them (PostgreSQL stamps after commit).
    let mut delivered = 0;
    while delivered < 3 {
        let event = stream
            .next(Duration::from_secs(10))
            .await
            .expect("the sends reach Bob's stream");
        if event.event == "message_created" {
            delivered += 1;
        }
    }
    // One search allowed an hour: the second is refused.
    for _ in 0..2 {
        app.call(Method::GET, "/users?q=bo", Some(&alice.token), None)
            .await;
    }
    app.get(&format!("/conversations/{conversation}"), &alice)
        .await;

    let samples = scrape(&app, &url).await;
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for wanted in [
        "natter_http_requests_total",
        "natter_http_request_duration_seconds_bucket",
        "natter_event_streams_open",
        "natter_events_dispatched_total",
        "natter_sends_per_batch_bucket",
        "natter_db_pool_connections",
        "natter_db_pool_wait_seconds_bucket",
        "natter_rate_limited_total",
        "natter_password_queue_depth",
    ] {
        assert!(names.contains(wanted), "{wanted} missing from {names:?}");
    }
    // Routes by pattern, never by raw path or id.
    let routes: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.name == "natter_http_requests_total")
        .filter_map(|s| s.labels.get("route").map(String::as_str))
        .collect();
    assert!(routes.contains("/api/conversations/{id}"), "{routes:?}");
    assert!(
        routes.contains("/api/conversations/{id}/messages"),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|r| r.contains(&conversation.to_string())),
        "{routes:?}"
    );
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v)))
            .map(|s| s.value)
            .sum()
    };
    assert!(value("natter_event_streams_open", None) >= 1.0);
    assert!(value("natter_rate_limited_total", Some(("action", "search"))) >= 1.0);
    assert!(value("natter_events_dispatched_total", None) >= 3.0);
    assert!(value("natter_sends_per_batch_count", None) >= 1.0);
    let sends = samples
        .iter()
        .filter(|s| s.name == "natter_http_requests_total")
        .filter(|s| {
            s.labels.get("route").map(String::as_str) == Some("/api/conversations/{id}/messages")
        })
        .filter(|s| s.labels.get("status").map(String::as_str) == Some("201"))
        .map(|s| s.value)
        .sum::<f64>();
    assert!(sends >= 3.0, "sends counted by route and status: {sends}");
}
#[tokio::test]
async fn metrics_are_off_unless_asked_for() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    assert!(
        !app.logs().iter().any(|l| l.contains("serving metrics")),
        "no metrics listener by default"
    );
}
