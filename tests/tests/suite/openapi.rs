//! The OpenAPI document: valid OpenAPI 3, and schemathesis, generating requests from
//! it against the real server with every check it has, finds nothing: no 5xx, no
//! valid request refused, no invalid one accepted, no undeclared method answered but
//! with 405. The few requests the document calls valid that natter is right to refuse
//! are excluded by name in tests/schemathesis/natter_hooks.py.
//! `NATTER_SCHEMATHESIS_EXAMPLES` sets the examples per operation (default 25; try
//! 1000 for a long run).

use std::process::Command;

use natter_domain::{ConversationTitle, MessageBody, Nickname};
use natter_tests::{TestApp, venv_tool as tool};
use serde_json::Value;

#[tokio::test]
async fn the_document_is_valid_openapi_3() {
    let app = TestApp::spawn().await;
    let document: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    assert_eq!(document["servers"][0]["url"], "/api");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), document.to_string()).expect("write");
    let output = Command::new(tool("openapi-spec-validator"))
        .arg(file.path())
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Every error answer is documented with the error body.
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if status.starts_with('4') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_nothing_with_every_check() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Fuzz", &[&bob]).await;
    app.send(c, &bob, "something to react to").await;
    let examples = std::env::var("NATTER_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let reports = tempfile::tempdir().expect("temp dir");
    let output = tokio::process::Command::new(tool("st"))
        .args(["run", &app.url("/api/openapi.json")])
        .args(["--checks", "all"])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", alice.token),
        ])
        // Signing out would revoke the token the rest of the run uses.
        .args(["--exclude-path", "/sessions/current"])
        // Signing out everywhere, or a session by its (small) id, ends the run's token.
        .args(["--exclude-operation-id", "sign_out_everywhere"])
        .args(["--exclude-operation-id", "end_session"])
        // The run's account is the instance's only admin: disabling it answers 409
        // (a fact of the data) and disabling anyone else changes what later calls
        // see; tests/suite/admin.rs covers both.
        .args(["--exclude-operation-id", "disable_user"])
        .args(["--exclude-operation-id", "enable_user"])
        // The event stream never ends by itself; tests/tests/events.rs covers it.
        .args(["--exclude-path", "/events"])
        .args([
            "--max-examples",
            &examples,
            "--seed",
            "20261124",
            // One worker: Python 3.11's parser state is not thread-safe ("AST
            // constructor recursion depth mismatch" in schemathesis with two).
            "--workers",
            "1",
        ])
        .args(["--no-color", "--report-dir"])
        .arg(reports.path())
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("SCHEMATHESIS_HOOKS", "natter_hooks")
        .env(
            "NATTER_LIMITS",
            format!(
                "content={},title={},nickname={}",
                MessageBody::MAX_CHARS,
                ConversationTitle::MAX_CHARS,
                Nickname::MAX_CHARS
            ),
        )
        .env(
            "PYTHONPATH",
            natter_tests::repo_root().join("tests/schemathesis"),
        )
        // Its cache of crashes goes with the run, not into the repository.
        .current_dir(reports.path())
        .output()
        .await
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = text.lines().filter(|l| l.contains("generated")).collect();
    // The figures for the closing note: "N generated, N passed".
    eprintln!("schemathesis ({examples} examples per operation): {summary:?}");
    assert!(
        output.status.success(),
        "schemathesis failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!summary.is_empty(), "schemathesis ran no test:\n{text}");
    let internal = app.internal_errors();
    assert!(
        internal.is_empty(),
        "natter logged internal errors: {internal:#?}"
    );
}
