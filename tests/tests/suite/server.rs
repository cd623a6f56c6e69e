//! The real `natter` process on port 0: health, the web client with history-API
//! fallback, JSON 404s under /api, and a clear refusal when the database is missing.

use natter_domain::api::{ComponentStatus, Health};
use natter_domain::{ErrorBody, ErrorCode};
use natter_tests::{SpawnOptions, TestApp, require_postgres, run_natter_expecting_exit};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};

const INDEX: &str = "<!DOCTYPE html><html><body><p id=marker>natter test client</p></body></html>";

fn web_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("index.html"), INDEX).expect("index.html");
    std::fs::write(dir.path().join("app-1234.js"), "console.log('natter');").expect("app.js");
    // A file the build precompressed: the siblings' bytes only need to differ here.
    for (name, bytes) in [
        ("app-1234_bg.wasm", "plain wasm"),
        ("app-1234_bg.wasm.br", "brotli wasm"),
        ("app-1234_bg.wasm.gz", "gzip wasm"),
    ] {
        std::fs::write(dir.path().join(name), bytes).expect("wasm");
    }
    dir
}

async fn spawn_with_client() -> (TestApp, tempfile::TempDir) {
    let web = web_fixture();
    let app = TestApp::spawn_with(SpawnOptions {
        web_dir: Some(web.path().to_owned()),
        ..SpawnOptions::default()
    })
    .await;
    (app, web)
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE].to_str().expect("ascii"),
        "application/json"
    );
    let health: Health = response.json().await.expect("health body");
    assert_eq!(health.status, ComponentStatus::Ok);
    assert_eq!(health.database, ComponentStatus::Ok);
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn root_serves_the_web_client() {
    let (app, _web) = spawn_with_client().await;
    let response = app.client.get(app.url("/")).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert_eq!(response.text().await.expect("body"), INDEX);

    let asset = app
        .client
        .get(app.url("/app-1234.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(
        asset.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .contains("javascript")
    );

    // Sent compressed to a browser that accepts it.
    let compressed = app
        .client
        .get(app.url("/app-1234.js"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(compressed.headers()[CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn precompressed_files_go_to_browsers_that_accept_them() {
    let (app, _web) = spawn_with_client().await;
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), Some("br"), "brotli wasm"),
        (Some("gzip;q=1, br;q=0.5"), Some("gzip"), "gzip wasm"),
        (Some("identity"), None, "plain wasm"),
        (None, None, "plain wasm"),
    ] {
        let mut request = app.client.get(app.url("/app-1234_bg.wasm"));
        if let Some(accept) = accept {
            request = request.header(ACCEPT_ENCODING, accept);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{accept:?}");
        let headers = response.headers().clone();
        assert_eq!(headers[CONTENT_TYPE], "application/wasm", "{accept:?}");
        assert_eq!(
            headers
                .get(CONTENT_ENCODING)
                .map(|v| v.to_str().expect("ascii")),
            encoding,
            "{accept:?}"
        );
        assert_eq!(headers[VARY], "accept-encoding", "{accept:?}");
        assert_eq!(response.text().await.expect("body"), body, "{accept:?}");
    }
}

#[tokio::test]
async fn unknown_client_routes_get_index_html() {
    let (app, _web) = spawn_with_client().await;
    for path in ["/conversations/42", "/login", "/a/b/c?x=1"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[CACHE_CONTROL].to_str().expect("ascii"),
            "no-cache",
            "{path}: the page must be revalidated so new builds show up"
        );
        assert_eq!(response.text().await.expect("body"), INDEX, "{path}");
    }
    // A missing asset is a real 404, not a page that would fail to parse as script.
    let missing = app
        .client
        .get(app.url("/missing-5678.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_api_paths_get_a_json_404() {
    let (app, _web) = spawn_with_client().await;
    for path in ["/api/nope", "/api/", "/api/conversations/1/nothing-here"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()[CONTENT_TYPE].to_str().expect("ascii"),
            "application/json",
            "{path}"
        );
        let body: ErrorBody = response.json().await.expect("error body");
        assert_eq!(body.error.code, ErrorCode::NotFound, "{path}");
        assert!(!body.error.message.is_empty());
    }
    let post = app
        .client
        .post(app.url("/api/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_path_with_other_methods_answers_405_with_allow() {
    let app = TestApp::spawn().await;
    for (method, path, allow) in [
        ("TRACE", "/api/conversations", "GET, POST"),
        ("PUT", "/api/conversations/7/messages", "GET, POST"),
        ("POST", "/api/messages/7/reactions/thumbs_up", "PUT, DELETE"),
    ] {
        let response = app
            .client
            .request(method.parse().expect("a method"), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: ErrorBody = response.json().await.expect("the error body");
        assert_eq!(body.error.code, ErrorCode::MethodNotAllowed);
    }
}

#[tokio::test]
async fn without_a_built_client_root_says_how_to_build_it() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/")).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("scripts/build-web.sh")
    );
    // Said once, as a warning: not once per worker, and not as an error.
    let logs = app.logs();
    let said = logs
        .iter()
        .filter(|line| line.contains("web client is not built"))
        .count();
    assert_eq!(said, 1, "{logs:#?}");
    assert!(!logs.iter().any(|line| line.contains("ERROR")), "{logs:#?}");
    // The API still works.
    let health = app
        .client
        .get(app.url("/api/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn migrations_are_applied_at_start_up() {
    let app = TestApp::spawn_on(
        std::sync::Arc::new(natter_tests::TestDb::empty()),
        SpawnOptions::default(),
    )
    .await;
    let logs = app.logs().join("\n");
    assert!(logs.contains("applied migration"), "{logs}");
    // A second node on the same database would find nothing left to apply.
    assert!(!app.db.has_pending_migration());
}

#[tokio::test]
async fn an_unreachable_database_is_named_in_the_error() {
    // Nothing listens on port 1 of loopback.
    let (status, output) = run_natter_expecting_exit(&[(
        "DATABASE_URL",
        "postgres://natter:secret@127.0.0.1:1/natter",
    )])
    .await
    .expect("natter exits");
    assert!(!status.success());
    assert!(output.contains("DATABASE_URL"), "{output}");
    assert!(output.contains("127.0.0.1:1"), "{output}");
    assert!(
        !output.contains("secret"),
        "the password must not be logged: {output}"
    );
}

#[tokio::test]
async fn a_missing_database_is_named_in_the_error() {
    let url = format!("{}/natter_test_does_not_exist", natter_tests::server_url());
    let (status, output) = run_natter_expecting_exit(&[("DATABASE_URL", url.as_str())])
        .await
        .expect("natter exits");
    assert!(!status.success());
    assert!(output.contains("DATABASE_URL"), "{output}");
    assert!(output.contains("does not exist"), "{output}");
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn nodes_started_together_on_a_fresh_database_all_come_up() {
    require_postgres("several nodes");
    let db = std::sync::Arc::new(natter_tests::TestDb::empty());
    let first = TestApp::spawn_on_shared(db.clone());
    let second = TestApp::spawn_on_shared(db.clone());
    let third = TestApp::spawn_on_shared(db);
    let (first, second, third) = tokio::join!(first, second, third);
    for app in [&first, &second, &third] {
        let health = app
            .client
            .get(app.url("/api/health"))
            .send()
            .await
            .expect("request");
        assert_eq!(health.status(), StatusCode::OK);
    }
}
