//! Hostile users and overload: one account cannot stall the server, lock others out
//! or flood anyone. Each rule against the real server, on the suite's backend.

use std::time::Duration;

use diesel::RunQueryDsl;

use natter_tests::api::{PASSWORD, Person};
use natter_tests::proxy::TcpProxy;
use natter_tests::sse::SseStream;
use natter_tests::{SpawnOptions, TestApp, require_postgres};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// A node that believes `X-Forwarded-For` from the tests' own address, so that a test
/// can speak from several client addresses.
fn behind_proxy(extra: &[(&str, &str)]) -> SpawnOptions {
    let mut env = vec![("NATTER_TRUSTED_PROXIES", "127.0.0.1/32,::1")];
    env.extend_from_slice(extra);
    SpawnOptions::with_env(&env)
}

/// `POST /api/sessions` from client address `from` (through the trusted proxy).
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    nickname: &str,
    password: &str,
    from: &str,
) -> (StatusCode, Option<u64>, Value) {
    let response = client
        .post(format!("{base}/api/sessions"))
        .header("x-forwarded-for", from)
        .json(&json!({"nickname": nickname, "password": password}))
        .send()
        .await
        .expect("sign in");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn concurrent_guesses_get_ten_checks_and_the_owner_still_signs_in_elsewhere() {
    let app = TestApp::spawn_with(behind_proxy(&[])).await;
    app.register("alice").await;
    let mut guesses = JoinSet::new();
    for n in 0..200 {
        let (client, base) = (app.client.clone(), app.address.clone());
        guesses.spawn(async move {
            sign_in(
                &client,
                &base,
                "alice",
                &format!("guess {n}"),
                "198.51.100.7",
            )
            .await
        });
    }
    let (mut wrong, mut refused) = (0, 0);
    while let Some(answer) = guesses.join_next().await {
        let (status, retry_after, body) = answer.expect("a guess");
        match status {
            StatusCode::UNAUTHORIZED => wrong += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
            }
            other => panic!("a guess answered {other}: {body}"),
        }
    }
    assert!(
        wrong <= 10,
        "{wrong} guesses were checked, {refused} refused"
    );
    assert_eq!(wrong + refused, 200);
    // Now even the right password from the guessing address waits, unchecked…
    let (status, _, _) =
        sign_in(&app.client, &app.address, "alice", PASSWORD, "198.51.100.7").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // …but the owner, from an address that has not been failing, signs in.
    let (status, _, body) =
        sign_in(&app.client, &app.address, "alice", PASSWORD, "203.0.113.20").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The failures are kept per (account, address) and per address, bounded.
    assert!(app.count("auth_sign_in_throttle") <= 3);
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    // Every guess claims another address; none is believed, so they share one key.
    for n in 0..10 {
        let from = format!("198.51.100.{n}");
        let (status, _, _) = sign_in(&app.client, &app.address, "alice", "guess", &from).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, _) =
        sign_in(&app.client, &app.address, "alice", "guess", "198.51.100.99").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some());
}

#[tokio::test]
async fn throttle_rows_stay_bounded_whatever_the_nickname() {
    let app = TestApp::spawn().await;
    for nickname in ["x".repeat(10_000), "\u{0}".repeat(50), "bob".to_owned()] {
        let (status, _, _) = sign_in(&app.client, &app.address, &nickname, "guess", "-").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // One row for the address, one for (bob, address); the impossible nicknames name
    // no account.
    assert_eq!(app.count("auth_sign_in_throttle"), 2);
    assert_eq!(
        app.number("SELECT count(*) AS n FROM auth_sign_in_throttle WHERE length(key) > 200"),
        0
    );
}

#[tokio::test]
async fn sign_ups_are_limited_per_address() {
    let app = TestApp::spawn_with(behind_proxy(&[("NATTER_RATE_REGISTER", "3/h")])).await;
    let register = |nickname: String, from: &'static str| {
        let (client, base) = (app.client.clone(), app.address.clone());
        async move {
            let response = client
                .post(format!("{base}/api/users"))
                .header("x-forwarded-for", from)
                .json(&json!({"nickname": nickname, "password": PASSWORD}))
                .send()
                .await
                .expect("register");
            let retry_after = response.headers().get("retry-after").cloned();
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            (status, retry_after, body)
        }
    };
    for n in 0..3 {
        let (status, _, _) = register(format!("user{n}"), "198.51.100.1").await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, retry_after, body) = register("user3".into(), "198.51.100.1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "rate_limited");
    let wait: u64 = retry_after
        .expect("Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=1200).contains(&wait), "{wait}");
    assert_eq!(
        app.count("auth_users"),
        3,
        "nothing written for the refusal"
    );
    let (status, _, _) = register("user3".into(), "198.51.100.2").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another address has its own limit"
    );
}

/// Sends as `who` until refused; answers how many were accepted and the refusal.
async fn send_until_refused(app: &TestApp, c: i64, who: &Person, most: usize) -> (usize, Value) {
    for sent in 0..most {
        let reply = app
            .post(
                &format!("/conversations/{c}/messages"),
                who,
                &json!({"content": format!("message {sent}")}),
            )
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            return (sent, reply.body);
        }
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    (most, Value::Null)
}

#[tokio::test]
async fn writes_and_searches_are_rate_limited_per_person_unless_switched_off() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[
        ("NATTER_RATE_SENDS", "5/m"),
        ("NATTER_RATE_SEARCH", "2/m"),
        ("NATTER_RATE_REACTIONS", "1/m"),
    ]))
    .await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Limits", &[&bob]).await;
    let (sent, refusal) = send_until_refused(&app, c, &alice, 20).await;
    assert_eq!(sent, 5);
    assert_eq!(refusal["error"]["code"], "rate_limited", "{refusal}");
    assert_eq!(
        app.count("chat_messages"),
        5,
        "the refused send wrote nothing"
    );
    // Bob has a bucket of his own.
    let (sent, _) = send_until_refused(&app, c, &bob, 1).await;
    assert_eq!(sent, 1);
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        assert_eq!(app.get("/users?q=bo", &alice).await.status, expected);
    }
    let m = app.send(c, &bob, "react to me").await;
    for (emoji, expected) in [
        ("thumbs_up", StatusCode::OK),
        ("heart", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let path = format!("/messages/{m}/reactions/{emoji}");
        let reply = app.call(Method::PUT, &path, Some(&alice.token), None).await;
        assert_eq!(reply.status, expected, "{emoji}");
    }
    assert_eq!(app.count("chat_message_reactions"), 1);

    let unlimited = TestApp::spawn_with(SpawnOptions::with_env(&[
        ("NATTER_RATE_LIMITS", "off"),
        ("NATTER_RATE_SENDS", "1/h"),
    ]))
    .await;
    let (alice, bob) = (
        unlimited.register("alice").await,
        unlimited.register("bob").await,
    );
    let c = unlimited.conversation(&alice, "Unlimited", &[&bob]).await;
    let (sent, _) = send_until_refused(&unlimited, c, &alice, 20).await;
    assert_eq!(sent, 20, "--rate-limits off lifts every limit");
}

#[tokio::test]
async fn streams_beyond_the_caps_are_429_too_many_streams() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(SseStream::open(&app, &alice.token, None).await);
    }
    let refused = app.get("/events", &alice).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.code(), "too_many_streams");
    // Another session of hers has room of its own, up to 32 for her in all.
    let mut sessions = vec![alice.token.clone()];
    for _ in 0..3 {
        sessions.push(app.sign_in("alice").await);
    }
    for token in &sessions[1..] {
        for _ in 0..8 {
            open.push(SseStream::open(&app, token, None).await);
        }
    }
    assert_eq!(open.len(), 32);
    let fifth = app.sign_in("alice").await;
    let token = fifth.as_str();
    let refused = app.call(Method::GET, "/events", Some(token), None).await;
    assert_eq!(refused.code(), "too_many_streams");
    // A closed stream makes room again.
    drop(open.pop());
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(stream) = SseStream::try_open(&app.address, token, None).await {
            reopened = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a stream opens once another closed");
}

/// The next event of a conversation-scoped kind on `stream`, skipping others.
async fn positions_until(stream: &mut SseStream, marker: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    while let Some(event) = stream.next(Duration::from_secs(10)).await {
        let json = event.json();
        let done = json["message"]["content"] == marker;
        seen.push(json);
        if done {
            return seen;
        }
    }
    panic!("the marker {marker} never came; saw {seen:?}");
}

#[tokio::test]
async fn a_member_removed_while_their_stream_opens_never_hears_what_follows() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[
        ("NATTER_RATE_LIMITS", "off"),
        ("NATTER_MAX_STREAMS_PER_SESSION", "1000"),
        ("NATTER_MAX_STREAMS_PER_USER", "1000"),
    ]))
    .await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let secret = app.conversation(&alice, "Secret", &[&bob]).await;
    // Bob stays in this one: its marker tells him everything before it has arrived.
    let open_one = app.conversation(&alice, "Open", &[&bob]).await;
    let rounds: usize = std::env::var("NATTER_RACE_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    for round in 0..rounds {
        if round > 0 {
            let added = app
                .post(
                    &format!("/conversations/{secret}/members"),
                    &alice,
                    &json!({"user_id": bob.id}),
                )
                .await;
            assert_eq!(added.status, StatusCode::OK);
        }
        let remove = format!("/conversations/{secret}/members/{}", bob.id);
        let (opening, removing) = tokio::join!(
            SseStream::open(&app, &bob.token, None),
            app.call(Method::DELETE, &remove, Some(&alice.token), None)
        );
        assert_eq!(removing.status, StatusCode::NO_CONTENT);
        let mut stream = opening;
        app.send(secret, &alice, &format!("not for bob {round}"))
            .await;
        let marker = format!("marker {round}");
        app.send(open_one, &alice, &marker).await;
        for event in positions_until(&mut stream, &marker).await {
            assert_ne!(
                event["message"]["conversation_id"], secret,
                "round {round}: bob heard {event}"
            );
        }
    }
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn a_newcomer_replays_nothing_from_before_they_joined() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    );
    let c = app.conversation(&alice, "Before", &[&bob]).await;
    app.send(c, &alice, "said before carol came").await;
    let added = app
        .post(
            &format!("/conversations/{c}/members"),
            &alice,
            &json!({"user_id": carol.id}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK);
    app.send(c, &alice, "said after").await;
    let mut stream = SseStream::open(&app, &carol.token, Some(0)).await;
    let events = stream.take(10, Duration::from_secs(2)).await;
    let kinds: Vec<String> = events.iter().map(|e| e.event.clone()).collect();
    let contents: Vec<Value> = events
        .iter()
        .map(|e| e.json()["message"]["content"].clone())
        .collect();
    assert!(
        !contents.contains(&json!("said before carol came")),
        "{kinds:?} {contents:?}"
    );
    assert!(
        contents.contains(&json!("said after")),
        "{kinds:?} {contents:?}"
    );
    assert!(
        kinds.contains(&"added_to_conversation".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn bounded_requests_are_refused_naming_the_field() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[("NATTER_MAX_MEMBERS", "3")])).await;
    let (alice, bob, carol, dan) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
        app.register("dan").await,
    );
    let many: Vec<i64> = (1..=101).collect();
    let reply = app
        .post(
            "/conversations",
            &alice,
            &json!({"title": "Crowd", "member_ids": many}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.field(), "member_ids");
    let reply = app
        .post(
            "/conversations",
            &alice,
            &json!({"title": "Crowd", "member_ids": [bob.id, carol.id, dan.id]}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "member_ids")
    );
    assert_eq!(app.count("chat_conversations"), 0);
    let c = app.conversation(&alice, "Three", &[&bob, &carol]).await;
    let reply = app
        .post(
            &format!("/conversations/{c}/members"),
            &alice,
            &json!({"user_id": dan.id}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user_id")
    );
    assert_eq!(app.count("chat_conversation_members"), 3);

    let reply = app.get("/users?q=a", &alice).await;
    assert_eq!(
        (reply.status, reply.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "q")
    );

    for (query, field) in [
        ("before=-1", "before"),
        ("after=-9223372036854775808", "after"),
    ] {
        let reply = app
            .get(&format!("/conversations/{c}/messages?{query}"), &alice)
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, field),
            "{query}"
        );
    }
    for query in [
        "before=9223372036854775807",
        "after=9223372036854775807",
        "before=0",
        "after=0",
    ] {
        let reply = app
            .get(&format!("/conversations/{c}/messages?{query}"), &alice)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
    }
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn user_search_treats_like_wildcards_as_letters() {
    let app = TestApp::spawn().await;
    let a_b = app.register("a_b").await;
    app.register("axb").await;
    let found = app.get("/users?q=a_", &a_b).await;
    assert_eq!(found.status, StatusCode::OK);
    let names: Vec<&str> = found
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|u| u["nickname"].as_str())
        .collect();
    assert_eq!(names, ["a_b"]);
}

#[tokio::test]
async fn confusable_nicknames_are_taken() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    for lookalike in ["\u{430}lice", "ALICE", "ａｌｉｃｅ"] {
        let reply = app
            .call(
                Method::POST,
                "/users",
                None,
                Some(&json!({"nickname": lookalike, "password": PASSWORD})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{lookalike}");
        assert_eq!(
            (reply.code(), reply.field()),
            ("nickname_taken", "nickname")
        );
    }
    assert_eq!(app.count("auth_users"), 1);
    app.register("bob").await;
}

#[tokio::test]
async fn a_full_password_queue_answers_503_and_writes_nothing() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[
        ("NATTER_PASSWORD_QUEUE", "1"),
        ("NATTER_RATE_LIMITS", "off"),
    ]))
    .await;
    let mut sign_ups = JoinSet::new();
    for n in 0..40 {
        let (client, base) = (app.client.clone(), app.address.clone());
        sign_ups.spawn(async move {
            let response = client
                .post(format!("{base}/api/users"))
                .json(&json!({"nickname": format!("rush{n}"), "password": PASSWORD}))
                .send()
                .await
                .expect("register");
            (
                response.status(),
                response.headers().contains_key("retry-after"),
            )
        });
    }
    let (mut created, mut busy) = (0, 0);
    while let Some(answer) = sign_ups.join_next().await {
        match answer.expect("a sign-up") {
            (StatusCode::CREATED, _) => created += 1,
            (StatusCode::SERVICE_UNAVAILABLE, true) => busy += 1,
            other => panic!("a sign-up answered {other:?}"),
        }
    }
    assert!(busy > 0, "40 at once should overflow a queue of 1");
    assert_eq!(app.count("auth_users"), created);
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
async fn security_headers_and_the_public_url() {
    let dist = natter_tests::repo_root().join("dist");
    let app = TestApp::spawn_with(SpawnOptions {
        web_dir: Some(dist),
        ..SpawnOptions::default()
    })
    .await;
    let page = app.client.get(app.url("/")).send().await.expect("the page");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("<script>") && !html.contains("<script type=\"module\">"),
        "no inline script: {html}"
    );
    for path in ["/", "/api/health", "/api/me", "/api/nowhere"] {
        let response = app.client.get(app.url(path)).send().await.expect("get");
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(!headers.contains_key("strict-transport-security"), "{path}");
    }
    // A client that claims HTTPS is not believed without a trusted proxy.
    let alice = app.register("alice").await;
    let claimed = app
        .client
        .post(app.url("/api/sessions"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"nickname": alice.nickname, "password": PASSWORD}))
        .send()
        .await
        .expect("sign in");
    let cookie = claimed.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(!cookie.contains("Secure"), "{cookie}");

    let public = TestApp::spawn_with(SpawnOptions::with_env(&[(
        "NATTER_PUBLIC_URL",
        "https://chat.example.org",
    )]))
    .await;
    let response = public
        .client
        .post(public.url("/api/users"))
        .json(&json!({"nickname": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .expect("ascii")
            .starts_with("max-age=")
    );
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn my_sessions_listed_and_ended_one_or_all() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut tokens = vec![alice.token.clone()];
    for agent in ["phone", "laptop"] {
        let response = app
            .client
            .post(app.url("/api/sessions"))
            .header("user-agent", agent)
            .json(&json!({"nickname": "alice", "password": PASSWORD}))
            .send()
            .await
            .expect("sign in");
        let body: Value = response.json().await.expect("json");
        tokens.push(body["token"].as_str().expect("token").to_owned());
    }
    let listed = app.get("/sessions", &alice).await;
    assert_eq!(listed.status, StatusCode::OK);
    let sessions = listed.body.as_array().expect("a list").clone();
    assert_eq!(sessions.len(), 3);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert!(sessions.iter().any(|s| s["user_agent"] == "phone"));
    for field in ["id", "created_at", "last_used_at", "expires_at"] {
        assert!(!sessions[0][field].is_null(), "{field}");
    }
    // End the phone's session: its token stops working, its stream ends.
    let phone = sessions
        .iter()
        .find(|s| s["user_agent"] == "phone")
        .expect("phone");
    let mut phone_stream = SseStream::open(&app, &tokens[1], None).await;
    let ended = app
        .call(
            Method::DELETE,
            &format!("/sessions/{}", phone["id"]),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    assert!(phone_stream.ends_within(Duration::from_secs(5)).await);
    assert_eq!(
        app.call(Method::GET, "/me", Some(&tokens[1]), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Not someone else's.
    let bob = app.register("bob").await;
    let listed = app.get("/sessions", &alice).await;
    let mine = listed.body[0]["id"].clone();
    let theirs = app
        .call(
            Method::DELETE,
            &format!("/sessions/{mine}"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    // Everywhere.
    let mut laptop_stream = SseStream::open(&app, &tokens[2], None).await;
    let all = app
        .call(Method::DELETE, "/sessions", Some(&alice.token), None)
        .await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    assert!(laptop_stream.ends_within(Duration::from_secs(5)).await);
    for token in &tokens {
        assert_eq!(
            app.call(Method::GET, "/me", Some(token), None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.get("/me", &bob).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_stream_ends_when_its_session_expires() {
    let app =
        TestApp::spawn_with(SpawnOptions::with_env(&[("NATTER_SESSION_LIFETIME", "3s")])).await;
    let alice = app.register("alice").await;
    let mut stream = SseStream::open(&app, &alice.token, None).await;
    assert!(
        stream.ends_within(Duration::from_secs(10)).await,
        "the stream outlived its session"
    );
    assert_eq!(
        app.get("/me", &alice).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn past_max_in_flight_requests_are_shed_with_503() {
    let app = TestApp::spawn_with(SpawnOptions::with_env(&[
        ("NATTER_MAX_IN_FLIGHT", "2"),
        ("NATTER_RATE_LIMITS", "off"),
    ]))
    .await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Busy", &[&bob]).await;
    let mut sends = JoinSet::new();
    for n in 0..60 {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/conversations/{c}/messages")),
            alice.token.clone(),
        );
        sends.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"content": format!("rush {n}")}))
                .send()
                .await
                .expect("send");
            let status = response.status();
            let retry = response.headers().contains_key("retry-after");
            let body: Value = response.json().await.expect("json");
            (status, retry, body)
        });
    }
    let (mut created, mut shed) = (0, 0);
    while let Some(answer) = sends.join_next().await {
        match answer.expect("a send") {
            (StatusCode::CREATED, _, _) => created += 1,
            (StatusCode::SERVICE_UNAVAILABLE, true, body) => {
                assert_eq!(body["error"]["code"], "unavailable");
                shed += 1;
            }
            other => panic!("a send answered {other:?}"),
        }
    }
    assert!(shed > 0, "60 at once past a bound of 2");
    assert_eq!(app.count("chat_messages"), created);
    assert_eq!(app.internal_errors(), Vec::<String>::new());
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn a_sign_out_reaches_a_node_whose_listener_was_away() {
    require_postgres("two nodes");
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().expect("address"))
        .await
        .expect("proxy");
    let a = TestApp::spawn().await;
    let b = a
        .spawn_node_with(SpawnOptions {
            database_port: Some(proxy.port()),
            ..SpawnOptions::with_env(&[("NATTER_DB_TIMEOUT", "1s")])
        })
        .await;
    let alice = a.register("alice").await;
    let mut stream = SseStream::open(&b, &alice.token, None).await;
    // Node B loses its database, listener and all; meanwhile Alice signs out on A,
    // whose announcement B cannot hear.
    proxy.cut();
    let signed_out = a
        .call(
            Method::DELETE,
            "/sessions/current",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!stream.ended(), "nothing could have ended it yet");
    proxy.restore();
    assert!(
        stream.ends_within(Duration::from_secs(15)).await,
        "node B's listener re-checks its streams' sessions when it is back"
    );
}

#[tokio::test]
async fn ended_sessions_and_old_throttle_rows_are_pruned() {
    // Pruning runs a tenth of the event retention apart (at least a second).
    let app =
        TestApp::spawn_with(SpawnOptions::with_env(&[("NATTER_EVENT_RETENTION", "10s")])).await;
    let alice = app.register("alice").await;
    let signed_out = app
        .call(
            Method::DELETE,
            "/sessions/current",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT);
    let (status, _, _) = sign_in(&app.client, &app.address, "alice", "guess", "-").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A throttle row whose window passed long ago, and one still counting.
    diesel::sql_query(
        "UPDATE auth_sign_in_throttle SET last_attempt_at = '2000-01-01 00:00:00' \
         WHERE key NOT LIKE '% alice'",
    )
    .execute(&mut app.db.connect())
    .expect("age a row");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (sessions, throttled) = (
            app.count("auth_sessions"),
            app.count("auth_sign_in_throttle"),
        );
        if sessions == 0 && throttled == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {sessions} sessions and {throttled} throttle rows"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
