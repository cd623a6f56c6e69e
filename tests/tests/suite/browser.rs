//! The real built client in headless Chromium against the real server: two people in
//! two separate browsers, everything live, nothing injected.
#![allow(clippy::too_many_lines)] // each test is one story a person would live through

use std::net::SocketAddr;
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::elements::Element;
use fantoccini::key::Key;
use natter_tests::browser::Browser;
use natter_tests::proxy::TcpProxy;
use natter_tests::{SpawnOptions, TestApp, repo_root};

const PASSWORD: &str = "correct horse battery";

async fn spawn() -> TestApp {
    spawn_with_env(&[]).await
}

/// The server with the built client, and these environment variables.
async fn spawn_with_env(env: &[(&str, &str)]) -> TestApp {
    let dist = repo_root().join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "the web client is not built: run scripts/build-web.sh (scripts/test.sh does)"
    );
    TestApp::spawn_with(SpawnOptions {
        web_dir: Some(dist),
        ..SpawnOptions::with_env(env)
    })
    .await
}

/// Registers `nickname` through the sign-in page and waits for the live messenger.
async fn register(browser: &Browser, app: &TestApp, nickname: &str) -> anyhow::Result<()> {
    browser.client.goto(&app.url("/")).await?;
    browser.click(r#"[data-testid="show-register"]"#).await?;
    browser.fill("#nickname", nickname).await?;
    browser.fill("#password", PASSWORD).await?;
    browser.click(r#"[data-testid="auth-submit"]"#).await?;
    browser
        .wait_for_text(r#"[data-testid="whoami"]"#, nickname)
        .await?;
    browser
        .wait_for(r#"[data-testid="connection"][data-state="live"]"#)
        .await?;
    Ok(())
}

/// Waits for the message in the open conversation whose text is `text`.
async fn message(browser: &Browser, text: &str) -> anyhow::Result<Element> {
    let xpath = format!(
        r#"//li[@data-testid="message"][.//*[@data-testid="body"][normalize-space(.)="{text}"]]"#
    );
    Ok(browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&xpath))
        .await?)
}

async fn send(browser: &Browser, text: &str) -> anyhow::Result<()> {
    let composer = browser.wait_for(r#"[data-testid="composer"]"#).await?;
    composer.send_keys(text).await?;
    composer.send_keys(&Key::Enter.to_string()).await?;
    Ok(())
}

#[tokio::test]
async fn the_sign_in_page_renders_with_the_server_state() -> anyhow::Result<()> {
    let app = spawn().await;
    let browser = Browser::start().await?;

    browser.client.goto(&app.url("/")).await?;
    let status = browser
        .wait_for(r#"[data-testid="server-status"][data-state="ok"]"#)
        .await?;
    assert!(status.text().await?.contains("Server online"));
    let heading = browser.wait_for("main h1").await?;
    assert_eq!(heading.text().await?, "Welcome to Natter");
    assert_eq!(browser.client.title().await?, "Natter");

    // The same validation as the server, before anything is sent.
    browser.click(r#"[data-testid="show-register"]"#).await?;
    browser.fill("#nickname", "ann").await?;
    browser.fill("#password", "short").await?;
    browser.click(r#"[data-testid="auth-submit"]"#).await?;
    browser
        .wait_for_text(r#"[data-testid="password-error"]"#, "at least 8 characters")
        .await?;
    // The server's own refusals show beside the field they concern.
    app.register("taken").await;
    browser.fill("#nickname", "TAKEN").await?;
    browser.fill("#password", PASSWORD).await?;
    browser.click(r#"[data-testid="auth-submit"]"#).await?;
    browser
        .wait_for_text(r#"[data-testid="nickname-error"]"#, "taken")
        .await?;
    browser.screenshot("sign-in").await?;

    // A wrong password is one plain message for the form.
    browser.click(r#"[role="tab"]:first-child"#).await?;
    browser.fill("#nickname", "taken").await?;
    browser.fill("#password", "wrong password").await?;
    browser.click(r#"[data-testid="auth-submit"]"#).await?;
    let error = browser
        .wait_for_text(r#"[data-testid="form-error"]"#, "")
        .await?;
    browser
        .wait_until("a login error", || async {
            Ok(!error.text().await?.is_empty())
        })
        .await?;

    browser.close().await?;
    assert_eq!(app.internal_errors(), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn two_people_talk_live_in_two_browsers() -> anyhow::Result<()> {
    let app = spawn().await;
    let (a, b) = (Browser::start().await?, Browser::start().await?);
    register(&a, &app, "alice").await?;
    register(&b, &app, "bob").await?;
    b.wait_for(r#"[data-testid="no-conversations"]"#).await?;

    // Alice starts a conversation with Bob, found by nickname.
    a.click(r#"[data-testid="new-conversation"]"#).await?;
    a.fill(r#"[data-testid="new-title"]"#, "Launch plan")
        .await?;
    a.screenshot("new-conversation-empty").await?;
    a.fill(r#"[data-testid="user-search"]"#, "bo").await?;
    a.click(r#"[data-testid="search-result"][data-nickname="bob"]"#)
        .await?;
    a.wait_for_text(r#"[data-testid="chosen-members"]"#, "bob")
        .await?;
    a.click(r#"[data-testid="create-conversation"]"#).await?;
    a.wait_for_text(r#"[data-testid="open-title"]"#, "Launch plan")
        .await?;

    // It appears in Bob's list without a reload; he opens it.
    b.wait_for_text(r#"[data-testid="conversation-title"]"#, "Launch plan")
        .await?;
    b.click(r#"[data-testid="conversation-item"]"#).await?;
    b.wait_for_text(r#"[data-testid="open-title"]"#, "Launch plan")
        .await?;

    // Alice sends; Bob sees it appear live.
    send(&a, "Hello Bob, ready for Friday?").await?;
    message(&a, "Hello Bob, ready for Friday?").await?;
    let received = message(&b, "Hello Bob, ready for Friday?").await?;
    assert_eq!(
        received
            .find(Locator::Css(r#"[data-testid="sender"]"#))
            .await?
            .text()
            .await?,
        "alice"
    );

    // Bob has it on screen, so it is marked seen: Alice sees "Seen by bob".
    a.wait_for_text(r#"[data-testid="seen-by"]"#, "Seen by bob")
        .await?;

    // Bob reacts; Alice sees the reaction live, with who reacted.
    received
        .find(Locator::Css(r#"[data-testid="add-reaction"]"#))
        .await?
        .click()
        .await?;
    b.click(r#"[data-testid="emoji-picker"] [data-emoji="thumbs_up"]"#)
        .await?;
    let chip = a
        .wait_for(r#"[data-testid="reaction"][data-emoji="thumbs_up"]"#)
        .await?;
    assert_eq!(
        chip.find(Locator::Css(r#"[data-testid="reaction-count"]"#))
            .await?
            .text()
            .await?,
        "1"
    );
    assert!(chip.attr("title").await?.is_some_and(|t| t.contains("bob")));
    b.wait_for(r#"[data-testid="reaction"][data-emoji="thumbs_up"][aria-pressed="true"]"#)
        .await?;

    // Markup is only ever text.
    let hostile = "<img src=x onerror=alert(1)>";
    send(&a, hostile).await?;
    let shown = b
        .wait_for_text(r#"[data-testid="body"]"#, "<img src=x")
        .await?;
    assert_eq!(shown.text().await?, hostile);
    assert!(
        b.client
            .find_all(Locator::Css(".timeline img"))
            .await?
            .is_empty(),
        "the message became an element"
    );
    assert!(b.client.get_alert_text().await.is_err(), "a script ran");
    // Shift+Enter starts a new line; Enter sends.
    let composer = b.wait_for(r#"[data-testid="composer"]"#).await?;
    composer
        .send_keys(&format!(
            "Yes!{}{}{}See you there",
            Key::Shift,
            Key::Enter,
            Key::Null
        ))
        .await?;
    composer.send_keys(&Key::Enter.to_string()).await?;
    let reply = a
        .wait_for_text(r#"[data-testid="body"]"#, "See you there")
        .await?;
    assert_eq!(reply.text().await?, "Yes!\nSee you there");

    a.screenshot("conversation").await?;
    b.screenshot("conversation-bob").await?;
    a.click(r#"[data-testid="toggle-members"]"#).await?;
    a.wait_for(r#"[data-testid="members-panel"]"#).await?;
    a.screenshot("members-panel").await?;

    // A reload keeps everything: messages, the reaction, the receipt.
    a.client.refresh().await?;
    message(&a, "Hello Bob, ready for Friday?").await?;
    a.wait_for(r#"[data-testid="reaction"][data-emoji="thumbs_up"]"#)
        .await?;
    message(&a, hostile).await?;
    a.wait_for_text(r#"[data-testid="body"]"#, "See you there")
        .await?;
    let bodies = a.texts(r#"[data-testid="body"]"#).await?;
    assert_eq!(
        bodies,
        [
            "Hello Bob, ready for Friday?",
            hostile,
            "Yes!\nSee you there"
        ],
        "each message once, in order"
    );

    // Phone width: one column, the conversation with a way back.
    a.client.set_window_size(390, 844).await?;
    a.wait_for(r#"[data-testid="timeline"]"#).await?;
    a.screenshot("phone-conversation").await?;
    a.client.set_window_size(1280, 800).await?;

    // Alice removes Bob: the conversation leaves Bob's list live.
    a.click(r#"[data-testid="toggle-members"]"#).await?;
    a.click(r#"[data-testid="member"][data-nickname="bob"] [data-testid="remove-member"]"#)
        .await?;
    b.wait_gone(r#"[data-testid="conversation-item"]"#).await?;
    b.wait_for(r#"[data-testid="conversation-gone"]"#).await?;
    a.wait_gone(r#"[data-testid="member"][data-nickname="bob"]"#)
        .await?;

    a.close().await?;
    b.close().await?;
    assert_eq!(app.internal_errors(), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn an_ended_session_returns_to_the_login_page() -> anyhow::Result<()> {
    let app = spawn().await;
    let browser = Browser::start().await?;
    register(&browser, &app, "carol").await?;

    // A deep link to nowhere is the app's own not-found page.
    browser.client.goto(&app.url("/no/such/page")).await?;
    browser.wait_for_text("main h1", "Page not found").await?;

    // The session is revoked elsewhere (say, "log out" in another tab). The cookie
    // is scoped to /api, where WebDriver can read it.
    browser.client.goto(&app.url("/api/health")).await?;
    let token = browser
        .client
        .get_named_cookie("natter_session")
        .await?
        .value()
        .to_owned();
    browser.client.goto(&app.url("/")).await?;
    browser
        .wait_for(r#"[data-testid="connection"][data-state="live"]"#)
        .await?;
    let answer = reqwest::Client::new()
        .delete(app.url("/api/sessions/current"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(answer.status(), 204);
    let notice = browser.wait_for(r#"[data-testid="auth-notice"]"#).await?;
    assert!(notice.text().await?.contains("log in again"));

    // Logging in again brings the messenger back.
    browser.fill("#nickname", "carol").await?;
    browser.fill("#password", PASSWORD).await?;
    browser.click(r#"[data-testid="auth-submit"]"#).await?;
    browser
        .wait_for(r#"[data-testid="connection"][data-state="live"]"#)
        .await?;
    browser.click(r#"[data-testid="logout"]"#).await?;
    browser.wait_for(r#"[data-testid="auth-submit"]"#).await?;

    // The account page lists the sessions; signing out everywhere ends them all.
    browser.fill("#nickname", "carol").await?;
    browser.fill("#password", PASSWORD).await?;
    browser.click(r#"[data-testid="auth-submit"]"#).await?;
    browser.click(r#"[data-testid="whoami"]"#).await?;
    browser
        .wait_for_text(r#"[data-testid="session"]"#, "(this one)")
        .await?;
    browser.screenshot("account").await?;
    browser
        .click(r#"[data-testid="sign-out-everywhere"]"#)
        .await?;
    browser.wait_for(r#"[data-testid="auth-submit"]"#).await?;
    let listed = reqwest::Client::new()
        .get(app.url("/api/sessions"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(listed.status(), 401);
    browser.close().await?;
    Ok(())
}

#[tokio::test]
async fn nothing_is_lost_or_doubled_across_a_network_drop_and_a_server_restart()
-> anyhow::Result<()> {
    let first = spawn().await;
    let upstream = |app: &TestApp| -> anyhow::Result<SocketAddr> {
        Ok(app.address.trim_start_matches("http://").parse()?)
    };
    let proxy = TcpProxy::start(upstream(&first)?).await?;
    let front = format!("http://127.0.0.1:{}", proxy.port());
    let (alice, bob) = (first.register("alice").await, first.register("bob").await);
    let c = first.conversation(&bob, "Field trip", &[&alice]).await;
    first.send(c, &bob, "before").await;

    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("{front}/conversations/{c}"))
        .await?;
    browser.fill("#nickname", "alice").await?;
    browser
        .fill("#password", natter_tests::api::PASSWORD)
        .await?;
    browser.click(r#"[data-testid="auth-submit"]"#).await?;
    message(&browser, "before").await?;
    let live = r#"[data-testid="connection"][data-state="live"]"#;
    browser.wait_for(live).await?;

    // The network drops: the app says so, and what happened meanwhile arrives once
    // it is back. A message typed while offline is sent once, by its retries.
    proxy.cut();
    browser
        .wait_for(r#"[data-testid="connection"][data-state="reconnecting"]"#)
        .await?;
    first.send(c, &bob, "during the drop 1").await;
    first.send(c, &bob, "during the drop 2").await;
    send(&browser, "typed offline").await?;
    browser
        .wait_for(r#"[data-testid="pending"][data-state="sending"]"#)
        .await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.restore();
    message(&browser, "during the drop 2").await?;
    message(&browser, "typed offline").await?;
    browser.wait_gone(r#"[data-testid="pending"]"#).await?;
    browser.wait_for(live).await?;

    // The server restarts (stops, and another process on the same database takes
    // the port).
    proxy.cut();
    let db = first.stop().await;
    let second = TestApp::spawn_on(
        db,
        SpawnOptions {
            web_dir: Some(repo_root().join("dist")),
            ..SpawnOptions::default()
        },
    )
    .await;
    second.send(c, &bob, "while restarting").await;
    proxy.set_upstream(upstream(&second)?);
    proxy.restore();
    message(&browser, "while restarting").await?;
    browser.wait_for(live).await?;
    second.send(c, &bob, "after the restart").await;
    message(&browser, "after the restart").await?;

    let bodies = browser.texts(r#"[data-testid="body"]"#).await?;
    assert_eq!(
        bodies,
        [
            "before",
            "during the drop 1",
            "during the drop 2",
            "typed offline",
            "while restarting",
            "after the restart"
        ]
    );
    let stored: Vec<String> = second
        .get(&format!("/conversations/{c}/messages"), &bob)
        .await
        .body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(stored, bodies, "the server has each message once too");
    browser.close().await?;
    assert_eq!(second.internal_errors(), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn an_admin_invites_and_disables_and_people_look_after_their_accounts() -> anyhow::Result<()>
{
    let app = spawn_with_env(&[("NATTER_REGISTRATION", "invite")]).await;
    let admin = Browser::start().await?;
    // The instance's first account needs no invitation, and is its admin.
    register(&admin, &app, "root").await?;
    admin.click(r#"[data-testid="admin-link"]"#).await?;
    admin
        .wait_for(r#"[data-testid="person"][data-nickname="root"]"#)
        .await?;
    admin.click(r#"[data-testid="create-invite"]"#).await?;
    let link = admin.wait_for(r#"[data-testid="invite-url"]"#).await?;
    let url = link.prop("value").await?.unwrap_or_default();
    assert!(url.contains("/invite/"), "{url}");
    admin.screenshot("admin").await?;

    // The link opens the sign-up form with the code filled in.
    let dana = Browser::start().await?;
    dana.client.goto(&url).await?;
    let code = dana.wait_for(r#"[data-testid="invite-code"]"#).await?;
    assert!(url.ends_with(&code.prop("value").await?.unwrap_or_default()));
    dana.fill("#nickname", "dana").await?;
    dana.fill("#password", PASSWORD).await?;
    dana.click(r#"[data-testid="auth-submit"]"#).await?;
    dana.wait_for_text(r#"[data-testid="whoami"]"#, "dana")
        .await?;
    assert!(
        dana.client
            .find_all(Locator::Css(r#"[data-testid="admin-link"]"#))
            .await?
            .is_empty(),
        "only admins are offered the admin page"
    );

    // Disabling Dana signs her out there and then.
    admin.client.refresh().await?;
    admin
        .click(r#"[data-testid="person"][data-nickname="dana"] [data-testid="disable"]"#)
        .await?;
    admin
        .wait_for(r#"[data-testid="person"][data-nickname="dana"] [data-testid="enable"]"#)
        .await?;
    dana.wait_for(r#"[data-testid="auth-submit"]"#).await?;
    admin
        .click(r#"[data-testid="person"][data-nickname="dana"] [data-testid="enable"]"#)
        .await?;
    admin
        .wait_for(r#"[data-testid="person"][data-nickname="dana"] [data-testid="disable"]"#)
        .await?;
    // The used invitation can be revoked.
    admin.click(r#"[data-testid="revoke-invite"]"#).await?;
    admin.wait_gone(r#"[data-testid="invite"]"#).await?;

    // Root changes their password on the account page.
    admin.click(r#"[data-testid="whoami"]"#).await?;
    admin.fill("#current-password", PASSWORD).await?;
    admin.fill("#new-password", "a brand new password").await?;
    admin
        .click(r#"[data-testid="change-password"] button[type="submit"]"#)
        .await?;
    admin
        .wait_for_text(r#"[data-testid="password-said"]"#, "Password changed")
        .await?;
    admin.screenshot("account-password").await?;
    let signed_in = reqwest::Client::new()
        .post(app.url("/api/sessions"))
        .json(&serde_json::json!({"nickname": "root", "password": "a brand new password"}))
        .send()
        .await?;
    assert_eq!(signed_in.status(), 200);

    // Dana, enabled again, deletes her account.
    dana.fill("#nickname", "dana").await?;
    dana.fill("#password", PASSWORD).await?;
    dana.click(r#"[data-testid="auth-submit"]"#).await?;
    dana.click(r#"[data-testid="whoami"]"#).await?;
    dana.fill("#delete-password", PASSWORD).await?;
    dana.click(r#"[data-testid="delete-account-submit"]"#)
        .await?;
    dana.wait_for_text(r#"[data-testid="auth-notice"]"#, "deleted")
        .await?;
    admin.client.goto(&app.url("/admin")).await?;
    admin
        .wait_for(r#"[data-testid="person"][data-nickname="root"]"#)
        .await?;
    assert!(
        admin
            .client
            .find_all(Locator::Css(
                r#"[data-testid="person"][data-nickname="dana"]"#
            ))
            .await?
            .is_empty(),
        "dana is gone"
    );

    admin.close().await?;
    dana.close().await?;
    assert_eq!(app.internal_errors(), Vec::<String>::new());
    Ok(())
}

/// Asserts that axe-core finds nothing serious or critical on the page as it is.
async fn assert_accessible(browser: &Browser, page: &str) -> anyhow::Result<()> {
    let faults = browser.accessibility_faults().await?;
    assert!(faults.is_empty(), "{page}: {faults:#?}");
    Ok(())
}

/// The open message whose body contains `text`, once it does.
async fn message_containing(browser: &Browser, text: &str) -> anyhow::Result<Element> {
    let xpath = format!(
        r#"//li[@data-testid="message"][.//*[@data-testid="body"][contains(normalize-space(.), "{text}")]]"#
    );
    Ok(browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&xpath))
        .await?)
}

#[tokio::test]
async fn people_reply_edit_and_delete_formatted_messages_live_and_accessibly() -> anyhow::Result<()>
{
    let app = spawn().await;
    let (a, b) = (Browser::start().await?, Browser::start().await?);
    a.client.goto(&app.url("/")).await?;
    a.wait_for(r#"[data-testid="server-status"][data-state="ok"]"#)
        .await?;
    assert_accessible(&a, "the sign-in page").await?;
    register(&a, &app, "alice").await?;
    register(&b, &app, "bob").await?;
    a.click(r#"[data-testid="new-conversation"]"#).await?;
    a.fill(r#"[data-testid="new-title"]"#, "Release").await?;
    a.fill(r#"[data-testid="user-search"]"#, "bo").await?;
    a.click(r#"[data-testid="search-result"][data-nickname="bob"]"#)
        .await?;
    a.click(r#"[data-testid="create-conversation"]"#).await?;
    a.wait_for_text(r#"[data-testid="open-title"]"#, "Release")
        .await?;
    b.click(r#"[data-testid="conversation-item"]"#).await?;
    b.wait_for_text(r#"[data-testid="open-title"]"#, "Release")
        .await?;

    // Formatted text: elements built from the parser's events, links only to safe
    // places, opening apart.
    send(
        &a,
        "**Ship** it on *Friday*, plan at https://natter.example/plan and run `make ship`",
    )
    .await?;
    let formatted = message_containing(&b, "Ship it on Friday").await?;
    for css in ["strong", "em", "code"] {
        formatted.find(Locator::Css(css)).await?;
    }
    let link = formatted
        .find(Locator::Css(r#"a[href="https://natter.example/plan"]"#))
        .await?;
    assert_eq!(
        link.attr("rel").await?.as_deref(),
        Some("noopener noreferrer nofollow")
    );
    send(
        &a,
        "[click me](javascript:alert(1)) ![pic](https://natter.example/p.png)",
    )
    .await?;
    let unsafe_link = message_containing(&b, "click me").await?;
    let links = unsafe_link.find_all(Locator::Css("a")).await?;
    assert_eq!(links.len(), 1, "only the image, as a link");
    assert_eq!(
        links[0].attr("href").await?.as_deref(),
        Some("https://natter.example/p.png")
    );
    assert!(
        b.client
            .find_all(Locator::Css(".timeline img"))
            .await?
            .is_empty()
    );

    // Bob answers the first message from the keyboard: the menu opens on Enter, its
    // first item (Reply) has the focus.
    let menu = formatted
        .find(Locator::Css(r#"[data-testid="message-menu"]"#))
        .await?;
    menu.send_keys(&Key::Enter.to_string()).await?;
    b.wait_for(r#"[data-testid="menu"]"#).await?;
    b.client
        .active_element()
        .await?
        .send_keys(&Key::Enter.to_string())
        .await?;
    b.wait_for_text(r#"[data-testid="replying-to"]"#, "alice")
        .await?;
    send(&b, "Count me in").await?;
    let reply = message_containing(&a, "Count me in").await?;
    let quote = reply
        .find(Locator::Css(r#"[data-testid="reply-quote"]"#))
        .await?;
    assert!(quote.text().await?.contains("**Ship** it on *Friday*"));

    // Alice fixes her last message: ↑ in the empty composer edits it in place.
    let composer = a.wait_for(r#"[data-testid="composer"]"#).await?;
    composer.send_keys(&Key::Up.to_string()).await?;
    let editor = a.wait_for(r#"[data-testid="edit-input"]"#).await?;
    editor.clear().await?;
    editor.send_keys("Fixed: https://natter.example/ok").await?;
    editor.send_keys(&Key::Enter.to_string()).await?;
    let fixed = message_containing(&b, "Fixed: https://natter.example/ok").await?;
    let edited = fixed
        .find(Locator::Css(r#"[data-testid="edited"]"#))
        .await?;
    assert!(
        edited
            .attr("title")
            .await?
            .is_some_and(|t| t.starts_with("Edited "))
    );
    a.wait_gone(r#"[data-testid="edit-input"]"#).await?;

    // Esc cancels an edit.
    composer.send_keys(&Key::Up.to_string()).await?;
    let editor = a.wait_for(r#"[data-testid="edit-input"]"#).await?;
    editor.send_keys(" not this").await?;
    editor.send_keys(&Key::Escape.to_string()).await?;
    a.wait_gone(r#"[data-testid="edit-input"]"#).await?;
    message(&a, "Fixed: https://natter.example/ok").await?;

    // Alice deletes her first message from the keyboard, after confirming: the menu
    // opens on Enter at Reply, Tab moves to Edit and Delete, the confirmation takes the
    // focus. Bob sees it deleted, and his reply's quote says so.
    let first = message_containing(&a, "Ship it on Friday").await?;
    first
        .find(Locator::Css(r#"[data-testid="message-menu"]"#))
        .await?
        .send_keys(&Key::Enter.to_string())
        .await?;
    a.wait_for(r#"[data-testid="menu"]"#).await?;
    for key in [Key::Tab, Key::Tab, Key::Enter] {
        a.client
            .active_element()
            .await?
            .send_keys(&key.to_string())
            .await?;
    }
    a.wait_for(r#"[data-testid="confirm"]"#).await?;
    let focused = a.client.active_element().await?;
    assert_eq!(
        focused.attr("data-testid").await?.as_deref(),
        Some("confirm-delete")
    );
    focused.send_keys(&Key::Enter.to_string()).await?;
    b.wait_for_text(r#"[data-testid="body"]"#, "Message deleted")
        .await?;
    b.wait_for_text(r#"[data-testid="reply-quote"]"#, "Message deleted")
        .await?;
    let bodies = b.texts(r#"[data-testid="body"]"#).await?;
    assert!(
        !bodies.iter().any(|body| body.contains("Ship it")),
        "{bodies:?}"
    );

    // The quote takes Bob to the original, highlighted.
    b.click(r#"[data-testid="reply-quote"]"#).await?;
    b.wait_for(r#"[data-testid="message"].highlighted"#).await?;
    b.screenshot("replies-edits-deletions").await?;

    assert_accessible(&b, "a conversation with every kind of message").await?;
    a.client.goto(&app.url("/")).await?;
    a.wait_for(r#"[data-testid="conversation-item"]"#).await?;
    assert_accessible(&a, "the conversation list").await?;

    a.close().await?;
    b.close().await?;
    assert_eq!(app.internal_errors(), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn search_finds_a_message_deep_in_history_and_opens_the_conversation_there()
-> anyhow::Result<()> {
    let app = spawn().await;
    let (a, b) = (Browser::start().await?, Browser::start().await?);
    register(&a, &app, "alice").await?;
    register(&b, &app, "bob").await?;
    a.click(r#"[data-testid="new-conversation"]"#).await?;
    a.fill(r#"[data-testid="new-title"]"#, "Launch").await?;
    a.fill(r#"[data-testid="user-search"]"#, "bo").await?;
    a.click(r#"[data-testid="search-result"][data-nickname="bob"]"#)
        .await?;
    a.click(r#"[data-testid="create-conversation"]"#).await?;
    a.wait_for_text(r#"[data-testid="open-title"]"#, "Launch")
        .await?;
    let url = a.client.current_url().await?;
    let conversation: i64 = url
        .path()
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("the conversation's id in the address");
    // Bob's message, then three pages of history after it, so that it is far from
    // the newest page.
    b.click(r#"[data-testid="conversation-item"]"#).await?;
    send(&b, "The deploy checklist lives in the wiki").await?;
    message(&a, "The deploy checklist lives in the wiki").await?;
    let bob = app.number("SELECT id AS n FROM auth_users WHERE nickname = 'bob'");
    app.seed_messages(conversation, bob, 150);
    send(&a, "Shall we deploy tonight?").await?;
    message(&b, "Shall we deploy tonight?").await?;
    a.client.goto(&app.url("/")).await?;
    a.wait_for(r#"[data-testid="connection"][data-state="live"]"#)
        .await?;

    // `/` goes to the search box; results come as one types, matches marked.
    a.client
        .find(Locator::Css("body"))
        .await?
        .send_keys("/")
        .await?;
    let focused = a
        .client
        .execute(
            "return document.activeElement.getAttribute('data-testid')",
            vec![],
        )
        .await?;
    assert_eq!(focused.as_str(), Some("message-search"));
    let search = a.wait_for(r#"[data-testid="message-search"]"#).await?;
    search.send_keys("deploy").await?;
    // (Typed a key at a time: the answers to "d", "de"… may show first.)
    a.wait_until("two results, deploy marked", || async {
        Ok(a.texts(".search-snippet mark").await? == ["deploy", "deploy"])
    })
    .await?;
    assert_accessible(&a, "the search results").await?;
    // From this person: only Bob's.
    a.client
        .find(Locator::Css(r#"[data-testid="search-from"]"#))
        .await?
        .select_by_label("bob")
        .await?;
    a.wait_until("one result", || async {
        Ok(a.texts(r#"[data-testid="search-hit"]"#).await?.len() == 1)
    })
    .await?;
    let hit = a.wait_for(r#"[data-testid="search-hit"]"#).await?;
    let found = hit.attr("data-message-id").await?.expect("an id");
    assert!(hit.text().await?.contains("checklist"));

    // The keyboard picks it; Enter opens the conversation at it, highlighted, with
    // the history around it and not the newest page.
    search.send_keys(&Key::Down.to_string()).await?;
    a.wait_for(r#"[data-testid="search-hit"][aria-selected="true"]"#)
        .await?;
    search.send_keys(&Key::Enter.to_string()).await?;
    a.wait_for_text(r#"[data-testid="open-title"]"#, "Launch")
        .await?;
    a.wait_for(&format!(
        r#".message.highlighted[data-message-id="{found}"]"#
    ))
    .await?;
    assert!(
        a.texts(r#"[data-testid="body"]"#)
            .await?
            .iter()
            .all(|text| text != "Shall we deploy tonight?"),
        "the newest page is not loaded"
    );
    // Scrolling down loads the pages after it, up to the newest.
    a.wait_until("the newest message", || async {
        a.client
            .execute(
                "const t = document.querySelector('[data-testid=timeline]'); \
                 t.scrollTop = t.scrollHeight; t.dispatchEvent(new Event('scroll'));",
                vec![],
            )
            .await?;
        Ok(a.texts(r#"[data-testid="body"]"#)
            .await?
            .iter()
            .any(|text| text == "Shall we deploy tonight?"))
    })
    .await?;
    // And up, the pages before it.
    message(&a, "The deploy checklist lives in the wiki").await?;

    // Ctrl+K comes back to it; what Bob says now is found.
    send(&b, "Checklist updated").await?;
    a.client
        .find(Locator::Css("body"))
        .await?
        .send_keys(&format!("{}k", Key::Control))
        .await?;
    let search = a.wait_for(r#"[data-testid="message-search"]"#).await?;
    search.clear().await?;
    search.send_keys("checklist").await?;
    a.wait_until("both of Bob's checklist messages", || async {
        Ok(a.texts(r#"[data-testid="search-hit"]"#).await?.len() == 2)
    })
    .await?;
    a.close().await?;
    b.close().await?;
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
    Ok(())
}

#[tokio::test]
async fn files_sent_in_one_browser_appear_live_in_the_other() -> anyhow::Result<()> {
    let app = spawn().await;
    let (a, b) = (Browser::start().await?, Browser::start().await?);
    register(&a, &app, "alice").await?;
    register(&b, &app, "bob").await?;
    a.click(r#"[data-testid="new-conversation"]"#).await?;
    a.fill(r#"[data-testid="new-title"]"#, "Design").await?;
    a.fill(r#"[data-testid="user-search"]"#, "bo").await?;
    a.click(r#"[data-testid="search-result"][data-nickname="bob"]"#)
        .await?;
    a.click(r#"[data-testid="create-conversation"]"#).await?;
    a.wait_for_text(r#"[data-testid="open-title"]"#, "Design")
        .await?;
    b.click(r#"[data-testid="conversation-item"]"#).await?;
    b.wait_for(r#"[data-testid="composer"]"#).await?;

    let dir = tempfile::tempdir()?;
    let picture = image::RgbImage::from_fn(600, 400, |x, y| {
        #[allow(clippy::cast_possible_truncation)] // within 0..=255
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let png = dir.path().join("mockup.png");
    picture.save(&png)?;
    let pdf = dir.path().join("spec.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n%%EOF\n")?;
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"remember the contrast")?;

    // A picked file shows its upload, and can be taken back.
    let input = a.wait_for(r#"[data-testid="attach-input"]"#).await?;
    input.send_keys(&notes.display().to_string()).await?;
    a.wait_for(r#"[data-testid="upload-ready"]"#).await?;
    a.click(r#"[data-testid="remove-upload"]"#).await?;
    a.wait_gone(r#"[data-testid="upload"]"#).await?;

    // An image and a PDF at once, with a line of text.
    let input = a.wait_for(r#"[data-testid="attach-input"]"#).await?;
    input
        .send_keys(&format!("{}\n{}", png.display(), pdf.display()))
        .await?;
    a.wait_until("both uploads ready", || async {
        Ok(a.texts(r#"[data-testid="upload-ready"]"#).await?.len() == 2)
    })
    .await?;
    send(&a, "The mockup and the spec").await?;
    a.wait_gone(r#"[data-testid="upload"]"#).await?;

    // Bob sees both, live: the thumbnail loaded, the PDF as a chip.
    message(&b, "The mockup and the spec").await?;
    b.wait_for(r#"[data-testid="attachment-image"] img"#)
        .await?;
    b.wait_for_text(r#"[data-testid="attachment-file"]"#, "spec.pdf")
        .await?;
    b.wait_until("the thumbnail loaded", || async {
        let width = b
            .client
            .execute(
                "const i = document.querySelector('[data-testid=attachment-image] img'); \
                 return i.complete ? i.naturalWidth : 0;",
                vec![],
            )
            .await?;
        Ok(width.as_u64() == Some(400))
    })
    .await?;
    // It opens full size; Esc closes it.
    b.click(r#"[data-testid="attachment-image"]"#).await?;
    b.wait_for(r#"[data-testid="image-viewer"] img"#).await?;
    b.wait_until("the full image loaded", || async {
        let width = b
            .client
            .execute(
                "const i = document.querySelector('[data-testid=image-viewer] img'); \
                 return i.complete ? i.naturalWidth : 0;",
                vec![],
            )
            .await?;
        Ok(width.as_u64() == Some(600))
    })
    .await?;
    assert_accessible(&b, "the image viewer").await?;
    b.client
        .find(Locator::Css("body"))
        .await?
        .send_keys(&Key::Escape.to_string())
        .await?;
    b.wait_gone(r#"[data-testid="image-viewer"]"#).await?;

    // A file with no text at all.
    let input = a.wait_for(r#"[data-testid="attach-input"]"#).await?;
    input.send_keys(&notes.display().to_string()).await?;
    a.wait_for(r#"[data-testid="upload-ready"]"#).await?;
    a.click(r#"[data-testid="send"]"#).await?;
    b.wait_for_text(r#"[data-testid="attachment-file"]"#, "notes.txt")
        .await?;
    assert_accessible(&b, "a conversation with files").await?;
    a.close().await?;
    b.close().await?;
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
    Ok(())
}

#[tokio::test]
async fn a_mention_shows_in_badges_and_the_title_and_marking_unread_brings_them_back()
-> anyhow::Result<()> {
    let app = spawn().await;
    let (a, b) = (Browser::start().await?, Browser::start().await?);
    register(&a, &app, "alice").await?;
    register(&b, &app, "bob").await?;
    b.click(r#"[data-testid="new-conversation"]"#).await?;
    b.fill(r#"[data-testid="new-title"]"#, "Review").await?;
    b.fill(r#"[data-testid="user-search"]"#, "ali").await?;
    b.click(r#"[data-testid="search-result"][data-nickname="alice"]"#)
        .await?;
    b.click(r#"[data-testid="create-conversation"]"#).await?;
    b.wait_for_text(r#"[data-testid="open-title"]"#, "Review")
        .await?;
    // Typing @ offers the members; Enter picks one, and it is sent as her token.
    let composer = b.wait_for(r#"[data-testid="composer"]"#).await?;
    composer.send_keys("@al").await?;
    b.wait_for_text(r#"[data-testid="mention-option"]"#, "alice")
        .await?;
    assert_accessible(&b, "the mention picker").await?;
    composer.send_keys(&Key::Enter.to_string()).await?;
    b.wait_gone(r#"[data-testid="mention-options"]"#).await?;
    send(&b, "can you review this?").await?;

    // Alice, on her list: one unread, one mention, and the tab says so.
    a.wait_for_text(r#"[data-testid="unread"]"#, "1").await?;
    a.wait_for_text(r#"[data-testid="mentions"]"#, "@1").await?;
    let alice = app.number("SELECT id AS n FROM auth_users WHERE nickname = 'alice'");
    let stored = app.number(&format!(
        "SELECT count(*) AS n FROM chat_messages WHERE content = '<@{alice}> can you review this?'"
    ));
    assert_eq!(stored, 1, "sent as her token");
    a.wait_until("the title counts it", || async {
        Ok(a.client.title().await? == "(1) Natter")
    })
    .await?;
    assert_accessible(&a, "the list with badges").await?;

    // Opened, the mention shows her nickname, marked as her own; reading clears it.
    a.click(r#"[data-testid="conversation-item"]"#).await?;
    a.wait_for_text(r#"[data-testid="mention"]"#, "@alice")
        .await?;
    let class = a
        .wait_for(r#"[data-testid="mention"]"#)
        .await?
        .attr("class")
        .await?
        .unwrap_or_default();
    assert!(class.contains("me"), "{class}");
    a.wait_gone(r#"[data-testid="unread"]"#).await?;
    a.wait_until("the title is plain again", || async {
        Ok(a.client.title().await? == "Natter")
    })
    .await?;

    // Mark unread from Bob's message: back on the list, unread and mentioned again.
    let item = message_containing(&a, "can you review this?").await?;
    item.find(Locator::Css(r#"[data-testid="message-menu"]"#))
        .await?
        .click()
        .await?;
    a.click(r#"[data-testid="mark-unread"]"#).await?;
    a.wait_for_text(r#"[data-testid="unread"]"#, "1").await?;
    a.wait_for_text(r#"[data-testid="mentions"]"#, "@1").await?;

    // Bob types: Alice sees it; his message ends it.
    a.click(r#"[data-testid="conversation-item"]"#).await?;
    a.wait_for(r#"[data-testid="composer"]"#).await?;
    b.wait_for(r#"[data-testid="composer"]"#)
        .await?
        .send_keys("Also")
        .await?;
    a.wait_for_text(r#"[data-testid="typing"]"#, "bob is typing…")
        .await?;
    b.wait_for(r#"[data-testid="composer"]"#)
        .await?
        .send_keys(&format!(", ship it{}", Key::Enter))
        .await?;
    message(&a, "Also, ship it").await?;
    a.wait_until("the typing line clears", || async {
        Ok(a.texts(r#"[data-testid="typing"]"#).await? == [""])
    })
    .await?;

    // Muted, the conversation is dimmed and out of the title's count.
    a.click(r#"[data-testid="toggle-members"]"#).await?;
    a.client
        .find(Locator::Css(r#"[data-testid="notification-level"]"#))
        .await?
        .select_by_value("none")
        .await?;
    a.wait_for(r#"[data-testid="conversation-item"].muted"#)
        .await?;
    a.client.goto(&app.url("/")).await?;
    a.wait_for(r#"[data-testid="connection"][data-state="live"]"#)
        .await?;
    send(&b, "one more").await?;
    a.wait_for_text(r#"[data-testid="unread"]"#, "1").await?;
    a.wait_until("the title leaves it out", || async {
        Ok(a.client.title().await? == "Natter")
    })
    .await?;
    let level = app.number(
        "SELECT count(*) AS n FROM chat_conversation_members WHERE notification_level = 'none'",
    );
    assert_eq!(level, 1);
    a.close().await?;
    b.close().await?;
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
    Ok(())
}

/// Replaces the page's `Notification` with one that records what is shown (granted),
/// and says the tab is hidden: what the app does then is what the test reads back.
const FAKE_NOTIFICATIONS: &str = r"
    window.__shown = [];
    window.Notification = class {
        constructor(title, options) {
            this.title = title;
            this.body = options && options.body;
            window.__shown.push(this);
        }
        static get permission() { return 'granted'; }
        static requestPermission() { return Promise.resolve('granted'); }
    };
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
";

#[tokio::test]
async fn notifications_are_offered_shown_while_hidden_and_open_the_message() -> anyhow::Result<()> {
    let app = spawn().await;
    let (a, b) = (Browser::start().await?, Browser::start().await?);
    register(&a, &app, "alice").await?;
    register(&b, &app, "bob").await?;

    // The app offers notifications; the browser is asked only from "Turn on".
    a.wait_for(r#"[data-testid="notification-prompt"]"#).await?;
    assert_accessible(&a, "the notification prompt").await?;
    a.click(r#"[data-testid="notifications-later"]"#).await?;
    a.wait_gone(r#"[data-testid="notification-prompt"]"#)
        .await?;
    a.client.refresh().await?;
    a.wait_for(r#"[data-testid="connection"][data-state="live"]"#)
        .await?;
    assert!(
        a.texts(r#"[data-testid="notification-prompt"]"#)
            .await?
            .is_empty(),
        "put off, it stays away"
    );
    b.wait_for(r#"[data-testid="notification-prompt"]"#).await?;
    b.click(r#"[data-testid="notifications-allow"]"#).await?;
    // Headless Chromium answers the request itself (no one to ask): either way the
    // question is settled and the prompt goes.
    b.wait_gone(r#"[data-testid="notification-prompt"]"#)
        .await?;

    // One to one: each sees the other's presence beside the conversation.
    b.click(r#"[data-testid="new-conversation"]"#).await?;
    b.fill(r#"[data-testid="new-title"]"#, "Pair").await?;
    b.fill(r#"[data-testid="user-search"]"#, "ali").await?;
    b.click(r#"[data-testid="search-result"][data-nickname="alice"]"#)
        .await?;
    b.click(r#"[data-testid="create-conversation"]"#).await?;
    b.wait_for_text(r#"[data-testid="open-title"]"#, "Pair")
        .await?;
    a.wait_for(
        r#"[data-testid="conversation-item"] [data-testid="presence"][data-presence="online"]"#,
    )
    .await?;
    b.click(r#"[data-testid="toggle-members"]"#).await?;
    b.wait_for(r#"[data-testid="member"][data-nickname="alice"] [data-presence="online"]"#)
        .await?;

    // Alice's tab is hidden: Bob's message shows a notification; a click opens it.
    a.client.execute(FAKE_NOTIFICATIONS, Vec::new()).await?;
    send(&b, "are you there?").await?;
    a.wait_until("a notification is shown", || async {
        let shown = a
            .client
            .execute(
                "return window.__shown.map(n => [n.title, n.body]);",
                Vec::new(),
            )
            .await?;
        Ok(shown == serde_json::json!([["bob in Pair", "are you there?"]]))
    })
    .await?;
    a.client
        .execute("window.__shown[0].onclick();", Vec::new())
        .await?;
    a.wait_for_text(r#"[data-testid="open-title"]"#, "Pair")
        .await?;
    message(&a, "are you there?").await?;
    let url = a.client.current_url().await?;
    assert!(url.path().starts_with("/conversations/"), "{url}");

    a.close().await?;
    b.close().await?;
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
    Ok(())
}
