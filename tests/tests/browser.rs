//! Headless Chromium loads the real built client from the real server: the Leptos
//! shell renders and shows the server's state, so the WebAssembly really ran.

use natter_tests::browser::Browser;
use natter_tests::{SpawnOptions, TestApp, repo_root};

#[tokio::test]
async fn the_shell_renders_with_the_server_state() -> anyhow::Result<()> {
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
    let browser = Browser::start().await?;

    browser.client.goto(&app.url("/")).await?;
    let status = browser
        .wait_for(r#"[data-testid="server-status"][data-state="ok"]"#)
        .await?;
    assert!(status.text().await?.contains("Server online"));
    let heading = browser.wait_for("main h1").await?;
    assert_eq!(heading.text().await?, "Welcome to Natter");
    assert_eq!(browser.client.title().await?, "Natter");

    // A deep link is answered with the app, whose router shows its own not-found page.
    browser.client.goto(&app.url("/no/such/page")).await?;
    browser
        .wait_for(r#"[data-testid="server-status"][data-state="ok"]"#)
        .await?;
    let heading = browser.wait_for("main h1").await?;
    assert_eq!(heading.text().await?, "Page not found");

    let screenshots = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&screenshots)?;
    browser.client.goto(&app.url("/")).await?;
    browser
        .wait_for(r#"[data-testid="server-status"][data-state="ok"]"#)
        .await?;
    std::fs::write(
        screenshots.join("shell.png"),
        browser.client.screenshot().await?,
    )?;

    browser.close().await?;
    Ok(())
}
