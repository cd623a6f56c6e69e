//! PostgreSQL going away: requests answer 503 quickly (a bounded wait for a
//! connection) and the same natter process recovers when the database is back.

use std::time::{Duration, Instant};

use natter_tests::proxy::TcpProxy;
use natter_tests::{SpawnOptions, TestApp, require_postgres};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn a_database_outage_is_503_and_heals_without_a_restart() {
    require_postgres("a database server to lose");
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().expect("address"))
        .await
        .expect("proxy");
    let app = TestApp::spawn_with(SpawnOptions {
        database_port: Some(proxy.port()),
        extra_env: vec![("NATTER_DB_TIMEOUT".into(), "1s".into())],
        ..SpawnOptions::default()
    })
    .await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Outage", &[&bob]).await;
    let pid = app.pid();

    proxy.cut();
    let started = Instant::now();
    let me = app.get("/me", &alice).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", me.body);
    assert_eq!(me.code(), "unavailable");
    let register = app
        .call(
            Method::POST,
            "/users",
            None,
            Some(&json!({"nickname": "carol", "password": "long enough"})),
        )
        .await;
    assert_eq!(register.status, StatusCode::SERVICE_UNAVAILABLE);
    let health = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.body["database"], "unavailable");
    // A send goes through the node's send writer: the same 503, and when to retry.
    let send = app
        .client
        .post(app.url(&format!("/api/conversations/{c}/messages")))
        .bearer_auth(&alice.token)
        .json(&json!({"content": "during the outage"}))
        .send()
        .await
        .expect("request");
    assert_eq!(send.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(send.headers()["retry-after"], "2");
    eprintln!(
        "four requests during the outage answered in {:?}",
        started.elapsed()
    );
    assert!(
        !me.body.to_string().contains("connection"),
        "no internals in the answer: {}",
        me.body
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = app.call(Method::GET, "/health", None, None).await;
        if health.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "natter did not recover within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/me", &alice).await.status, StatusCode::OK);
    assert_eq!(app.pid(), pid, "the same process recovered");
    let internal = app.internal_errors();
    assert!(
        internal.is_empty(),
        "an outage is not an internal error: {internal:#?}"
    );
}
