//! The README's curl walk-through, run as written against a fresh server.

use natter_tests::{TestApp, repo_root};
use serde_json::Value;

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    let block = &readme[start..end];
    let code = block.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let close = block[code..].find("```").expect("closing fence");
    block[code..code + close].to_owned()
}

#[tokio::test]
async fn the_curl_walkthrough_works_as_written() {
    let app = TestApp::spawn().await;
    let script = format!("set -euo pipefail\n{}", walkthrough());
    let output = tokio::process::Command::new("bash")
        .args(["-c", &script])
        .env("API", app.url("/api"))
        .output()
        .await
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the walk-through failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let history: Value =
        serde_json::from_str(stdout.lines().last().expect("output")).expect("history JSON");
    let message = &history["messages"][0];
    assert_eq!(message["content"], "Ship it on Friday!");
    assert_eq!(message["version"], 2);
    assert!(message["edited_at"].is_string());
    assert_eq!(message["sender"]["nickname"], "ada");
    assert_eq!(message["reactions"][0]["emoji"], "thumbs_up");
    assert_eq!(message["reactions"][0]["users"][0]["nickname"], "grace");
    assert_eq!(message["seen_by"][0]["user"]["nickname"], "grace");
    let answer = &history["messages"][1];
    assert_eq!(answer["reply_to"]["id"], message["id"]);
    assert_eq!(answer["reply_to"]["excerpt"], "Ship it on Friday!");
    let tombstone = &history["messages"][2];
    assert_eq!(tombstone["deleted"], true);
    assert!(tombstone.get("content").is_none());
    let file = &history["messages"][3]["attachments"][0];
    assert_eq!(file["filename"], "checklist.txt");
    assert_eq!(file["content_type"], "text/plain; charset=utf-8");
    assert!(stdout.contains("T-0: go"), "Ada downloaded it: {stdout}");
}
