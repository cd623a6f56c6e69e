//! natter-bench against a real natter, for a few seconds with small numbers, so that
//! the tool cannot rot. Its figures are printed, never asserted.

use std::path::PathBuf;
use std::process::Output;

use natter_tests::{SpawnOptions, TestApp, natter_binary, repo_root, require_postgres};

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
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
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
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
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
    assert!(
        out.contains("send: nodes=1 senders=2 messages=20 in "),
        "{out}"
    );
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
        ..SpawnOptions::for_bench()
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

#[tokio::test]
async fn the_streams_scenario_runs() {
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
    let pid = app.pid().expect("natter runs").to_string();
    let out = bench(&[
        "streams",
        "--node",
        &app.address,
        "--streams",
        "50",
        "--people",
        "3",
        "--natter-pid",
        &pid,
        "--hold",
        "0",
    ])
    .await;
    assert!(
        out.contains("streams: 50/50 open over 1 source address(es)"),
        "{out}"
    );
    assert!(out.contains("KiB RSS per stream"), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn the_storm_scenario_runs() {
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
    let out = bench(&[
        "storm",
        "--node",
        &app.address,
        "--streams",
        "40",
        "--people",
        "4",
        "--conversation-size",
        "2",
        "--rate",
        "20",
        "--window",
        "1",
    ])
    .await;
    assert!(
        out.contains("storm: 40/40 streams reconnected within 1s"),
        "{out}"
    );
    assert!(out.contains(", lost=0, doubled=0"), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn the_history_scenario_runs() {
    require_postgres("the history scenario seeds PostgreSQL");
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
    let out = bench(&[
        "history",
        "--node",
        &app.address,
        "--database",
        app.db.url(),
        "--messages",
        "1000",
        "--pages",
        "5",
    ])
    .await;
    assert!(out.contains("history: seeded 1000 messages"), "{out}");
    assert!(
        out.contains("page of 50 at the oldest depth, 5 reads"),
        "{out}"
    );
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn the_latency_scenario_runs_across_two_nodes() {
    require_postgres("two nodes share one PostgreSQL");
    let a = TestApp::spawn_with(SpawnOptions::for_bench()).await;
    let b = a.spawn_node_with(SpawnOptions::for_bench()).await;
    let out = bench(&[
        "latency",
        "--node",
        &a.address,
        "--node",
        &b.address,
        "--members",
        "4",
        "--senders",
        "2",
        "--messages",
        "20",
        "--rate",
        "50",
    ])
    .await;
    assert!(out.contains("deliveries=80/80 lost=0"), "{out}");
    assert!(out.contains("  on another node: p50="), "{out}");
    assert_eq!(a.internal_errors(), Vec::<String>::new());
    assert_eq!(b.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn the_overload_scenario_runs() {
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
    let pid = app.pid().expect("natter runs").to_string();
    let out = bench(&[
        "overload",
        "--node",
        &app.address,
        "--streams",
        "20",
        "--senders",
        "4",
        "--measure",
        "1",
        "--seconds",
        "1",
        "--natter-pid",
        &pid,
    ])
    .await;
    assert!(out.contains("overload: 20 idle streams open"), "{out}");
    assert!(out.contains("capacity: "), "{out}");
    assert!(out.contains("admitted sends' latency ms: p50="), "{out}");
    assert!(out.contains("natter resident MiB: "), "{out}");
    assert!(out.contains("back to normal"), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn the_replay_storm_scenario_runs() {
    // With the default caps: the scenario spreads its streams over enough sessions.
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[("NATTER_RATE_LIMITS", "off")])).await;
    let out = bench(&[
        "replay-storm",
        "--node",
        &app.address,
        "--events",
        "200",
        "--replays",
        "40",
        "--seconds",
        "1",
    ])
    .await;
    assert!(out.contains("replay-storm: seeded 200 messages"), "{out}");
    assert!(out.contains("40 streams with Last-Event-ID: 1"), "{out}");
    assert!(out.contains("GET /api/me ms, during: p50="), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn the_upload_scenario_runs() {
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
    let pid = app.pid().expect("natter runs").to_string();
    let out = bench(&[
        "upload",
        "--node",
        &app.address,
        "--uploads",
        "3",
        "--mib",
        "2",
        "--thumbnails",
        "20",
        "--natter-pid",
        &pid,
    ])
    .await;
    assert!(out.contains("upload: 3 × 2 MiB at once in "), "{out}");
    assert!(out.contains("growth per concurrent upload"), "{out}");
    assert!(out.contains("thumbnail requests, 8 at once: p50="), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn the_presence_scenario_runs() {
    let app = TestApp::spawn_with(SpawnOptions::for_bench()).await;
    let out = bench(&[
        "presence",
        "--node",
        &app.address,
        "--streams",
        "40",
        "--people",
        "8",
        "--group",
        "4",
        "--flap-seconds",
        "3",
    ])
    .await;
    assert!(
        out.contains("presence: 8 people in conversations of 4, 40 streams"),
        "{out}"
    );
    // Streams opened after a person's announcement miss it (it is not replayed), so
    // how many arrive depends on timing: some do.
    let delivered = out
        .lines()
        .find(|line| line.starts_with("connect: 40 streams in "))
        .and_then(|line| {
            line.split(" presence_changed")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<u64>()
                .ok()
        });
    assert!(delivered.is_some_and(|n| n > 0), "{out}");
    assert!(out.contains("leave: 4 people left;"), "{out}");
    assert!(out.contains("flap: "), "{out}");
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}
