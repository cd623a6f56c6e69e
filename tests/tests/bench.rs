//! natter-bench against a real natter, for a few seconds with small numbers, so that
//! the tool cannot rot. Its figures are printed, never asserted.

use std::path::PathBuf;
use std::process::Output;

use natter_tests::{SpawnOptions, TestApp, natter_binary, repo_root};

/// natter-bench, built beside `natter` (scripts/test.sh builds both).
fn bench_binary() -> PathBuf {
    let binary = natter_binary().with_file_name("natter-bench");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build -p natter-bench` (scripts/test.sh does)",
        binary.display()
    );
    binary
}

async fn bench(args: &[&str]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::process::Command::new(bench_binary())
        .args(args)
        .output()
        .await
        .expect("natter-bench runs");
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    eprintln!("{stdout}"); // shown with --nocapture
    assert!(
        status.success(),
        "natter-bench {args:?} failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    assert!(stdout.starts_with("machine: "), "{stdout}");
    stdout
}

#[tokio::test]
async fn the_latency_scenario_runs() {
    let app = TestApp::spawn().await;
    let out = bench(&[
        "latency",
        "--node",
        &app.address,
        "--members",
        "3",
        "--messages",
        "20",
        "--rate",
        "50",
    ])
    .await;
    assert!(out.contains("deliveries=60/60 lost=0"), "{out}");
    assert!(out.contains("send-to-delivery ms: p50="), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn the_send_scenario_runs() {
    let app = TestApp::spawn().await;
    let out = bench(&[
        "send",
        "--node",
        &app.address,
        "--senders",
        "2",
        "--messages",
        "10",
    ])
    .await;
    assert!(out.contains("send: senders=2 messages=20 in "), "{out}");
    assert!(out.contains("send latency ms: p50="), "{out}");
    assert!(out.contains("cpu over "), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn the_web_scenario_runs() {
    let dist = repo_root().join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "the web client is not built: run scripts/build-web.sh (scripts/test.sh does)"
    );
    let app = TestApp::spawn_with(SpawnOptions {
        web_dir: Some(dist),
        ..SpawnOptions::default()
    })
    .await;
    let out = bench(&[
        "web",
        "--node",
        &app.address,
        "--loads",
        "1",
        "--conversations",
        "2",
    ])
    .await;
    assert!(out.contains("_bg.wasm"), "{out}");
    assert!(out.contains("load 1: conversation list shown at"), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}
