//! Scenario `web`: the web client's first load. Prints what the page's files weigh on
//! the wire (as served, per encoding), then times cold loads in headless Chromium,
//! each with a fresh profile: from navigation to the conversation list on screen
//! (the app marks that moment as `natter:conversations-shown` on the page's
//! performance timeline).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use natter_tests::browser::Browser;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use serde::Deserialize;
use serde_json::json;

use crate::people::{register, run_tag, send, start_conversation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node serving the web client.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Cold loads to time, each in a fresh Chromium profile.
    #[arg(long, default_value_t = 5)]
    loads: usize,
    /// Conversations in the list being loaded (each with a message).
    #[arg(long, default_value_t = 20)]
    conversations: usize,
}

const ENCODINGS: [&str; 3] = ["identity", "gzip", "br"];
const PASSWORD: &str = "benchmark password";

pub async fn run(args: Args) -> anyhow::Result<()> {
    let node = args.node.trim_end_matches('/');
    let client = reqwest::Client::new();
    print_sizes(&client, node).await?;

    let run = run_tag();
    let nickname = format!("w{run}_me");
    let me = register(&client, node, &nickname).await?;
    let other = register(&client, node, &format!("w{run}_you")).await?;
    for i in 0..args.conversations {
        let conversation =
            start_conversation(&client, node, &me, &[other.id], &format!("Topic {i}")).await?;
        send(
            &client,
            node,
            &other,
            conversation,
            "Morning! Ready when you are.",
        )
        .await?;
    }

    let mut shown = Vec::new();
    for load in 1..=args.loads {
        let timing = cold_load(node, &nickname, args.conversations).await?;
        println!(
            "load {load}: conversation list shown at {:.0} ms (DOMContentLoaded {:.0} ms, \
             load event {:.0} ms); wasm+js+css on the wire {} B",
            timing.shown, timing.dom_content_loaded, timing.load, timing.transfer
        );
        shown.push(timing.shown);
    }
    shown.sort_by(f64::total_cmp);
    if let (Some(first), Some(last)) = (shown.first(), shown.last()) {
        println!(
            "navigation to an interactive list of {} conversations: median {:.0} ms, min {first:.0} ms, max {last:.0} ms over {} cold loads",
            args.conversations,
            shown[shown.len() / 2],
            shown.len()
        );
    }
    Ok(())
}

/// Fetches the page and every wasm, js and css file it names in each encoding, and
/// prints the bytes on the wire.
async fn print_sizes(client: &reqwest::Client, node: &str) -> anyhow::Result<()> {
    let index = client
        .get(format!("{node}/"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let assets = asset_paths(&index);
    if assets.is_empty() {
        bail!("{node}/ names no .wasm, .js or .css file: is the web client built?");
    }
    println!("bytes on the wire per encoding (wasm + js + css, as served by {node}):");
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "file", ENCODINGS[0], ENCODINGS[1], ENCODINGS[2]
    );
    let mut totals = [0usize; ENCODINGS.len()];
    for path in &assets {
        let mut row = format!("{path:<44}");
        for (i, encoding) in ENCODINGS.iter().enumerate() {
            let response = client
                .get(format!("{node}{path}"))
                .header(ACCEPT_ENCODING, *encoding)
                .send()
                .await?
                .error_for_status()?;
            let served = response
                .headers()
                .get(CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("identity")
                .to_owned();
            let bytes = response.bytes().await?.len();
            totals[i] += bytes;
            // A file not served in the asked encoding shows what came instead.
            let cell = if served == *encoding {
                bytes.to_string()
            } else {
                format!("({served})")
            };
            let _ = write!(row, " {cell:>10}");
        }
        println!("{row}");
    }
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "total", totals[0], totals[1], totals[2]
    );
    Ok(())
}

/// The `href` and `src` values in `html` that name a wasm, js or css file on this server.
fn asset_paths(html: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let Some(end) = rest.find('"') else { continue };
            let value = &rest[..end];
            let is_asset = [".wasm", ".js", ".css"].iter().any(|e| value.ends_with(e));
            if is_asset && value.starts_with('/') && !paths.iter().any(|p| p == value) {
                paths.push(value.to_owned());
            }
        }
    }
    paths
}

#[derive(Debug, Deserialize)]
struct Timing {
    shown: f64,
    dom_content_loaded: f64,
    load: f64,
    transfer: u64,
    items: usize,
}

/// One load with an empty cache: sign in from an empty page (a 404 that loads
/// nothing else, under the web client's Content Security Policy, which lets a script
/// fetch from natter), then open the app and read its performance timeline.
async fn cold_load(node: &str, nickname: &str, conversations: usize) -> anyhow::Result<Timing> {
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("{node}/nothing-here.txt"))
        .await?;
    let signed_in = browser
        .client
        .execute_async(
            "const [nickname, password, done] = arguments;
             fetch('/api/sessions', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                     body: JSON.stringify({nickname, password})})
               .then(r => done(r.status), e => done(String(e)));",
            vec![json!(nickname), json!(PASSWORD)],
        )
        .await?;
    if signed_in != json!(201) && signed_in != json!(200) {
        bail!("signing in from the browser answered {signed_in}");
    }
    browser.client.goto(&format!("{node}/")).await?;
    let timing = tokio::time::timeout(
        Duration::from_mins(1),
        browser.client.execute_async(
            "const done = arguments[arguments.length - 1];
             (function poll() {
               const shown = performance.getEntriesByName('natter:conversations-shown')[0];
               if (!shown) { setTimeout(poll, 10); return; }
               const nav = performance.getEntriesByType('navigation')[0];
               const files = performance.getEntriesByType('resource')
                 .filter(r => /\\.(wasm|js|css)$/.test(new URL(r.name).pathname));
               done({
                 shown: shown.startTime,
                 dom_content_loaded: nav.domContentLoadedEventEnd,
                 load: nav.loadEventEnd,
                 transfer: files.reduce((sum, r) => sum + r.transferSize, 0),
                 items: document.querySelectorAll('[data-testid=conversation-item]').length,
               });
             })();",
            vec![],
        ),
    )
    .await
    .context("the conversation list did not show within 60 s")??;
    browser.close().await?;
    let timing: Timing = serde_json::from_value(timing)?;
    if timing.items != conversations {
        bail!(
            "the list showed {} conversations, not {conversations}",
            timing.items
        );
    }
    Ok(timing)
}

#[cfg(test)]
mod tests {
    use super::asset_paths;

    #[test]
    fn finds_the_files_a_trunk_page_names() {
        let html = r#"<link rel="stylesheet" href="/style-1a.css" integrity="x"/>
            <link rel="modulepreload" href="/app-2b.js"><link rel="preload" href="/app-2b_bg.wasm" as="fetch">
            <script type="module">import init from '/app-2b.js';</script>
            <a href="https://example.com/x.js">x</a><script src="/app-2b.js"></script>"#;
        assert_eq!(
            asset_paths(html),
            ["/style-1a.css", "/app-2b.js", "/app-2b_bg.wasm"]
        );
    }
}
