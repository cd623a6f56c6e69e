//! Web Push: a browser's subscription, and messages pushed to it while its person has
//! no stream open, through a push service on loopback that speaks RFC 8030. Each push
//! is decrypted with the subscription's private key (RFC 8291) and its VAPID claim
//! (RFC 8292) checked against the server's public key.

use std::time::Duration;

use natter_tests::TestApp;
use natter_tests::push::{BrowserKeys, Push, PushService, vapid_claims};
use natter_tests::sse::SseStream;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Waits up to `wait` for `check` to hold.
async fn eventually(what: &str, wait: Duration, mut check: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + wait;
    while !check() {
        assert!(std::time::Instant::now() < until, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The push's notification, decrypted, after checking its headers and VAPID claim.
fn opened(push: &Push, keys: &BrowserKeys, service: &PushService, server_key: &str) -> Value {
    assert_eq!(push.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(push.header("ttl"), Some("86400"), "a day to deliver it");
    let (claims, key) = vapid_claims(push.header("authorization").expect("a VAPID authorization"))
        .expect("a VAPID claim signed by its key");
    assert_eq!(
        key, server_key,
        "signed with the key GET /api/push/key gives"
    );
    assert_eq!(claims["aud"], service.origin());
    let exp = claims["exp"].as_i64().expect("exp");
    let now = chrono::Utc::now().timestamp();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within a day: {exp}"
    );
    assert!(
        claims["sub"]
            .as_str()
            .is_some_and(|s| s.starts_with("mailto:"))
    );
    serde_json::from_slice(&keys.decrypt(&push.body).expect("decrypts")).expect("JSON")
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // the life of one subscription
async fn messages_are_pushed_encrypted_while_no_stream_is_open() {
    let app = TestApp::spawn().await;
    // On PostgreSQL a second node runs too: one of the two drains the outbox, and
    // each push arrives once.
    let _other_node = if natter_tests::backend() == natter_tests::Backend::Postgres {
        Some(app.spawn_node().await)
    } else {
        None
    };
    let mut service = PushService::start().await.expect("a push service");
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = app.conversation(&alice, "Launch", &[&bob]).await;
    let key = app.get("/push/key", &bob).await;
    assert_eq!(key.status, StatusCode::OK);
    let server_key = key.body["key"].as_str().expect("key").to_owned();
    assert_eq!(
        app.get("/push/key", &alice).await.body["key"],
        server_key,
        "one key"
    );

    // Bad subscriptions: 422 naming the field, nothing stored.
    let keys = BrowserKeys::default();
    let endpoint = service.endpoint("bob");
    let mut refusals = Vec::new();
    let mut not_https = keys.subscription("http://push.example.net/x");
    refusals.push((not_https.take(), "endpoint"));
    let mut short_key = keys.subscription(&endpoint);
    short_key["keys"]["p256dh"] = json!("BCVxsr7N_eNgVRqvHtD0zTZsEc6");
    refusals.push((short_key, "keys.p256dh"));
    let mut long_auth = keys.subscription(&endpoint);
    long_auth["keys"]["auth"] = json!("BTBZMqHH6r4Tts7J_aSIggAA");
    refusals.push((long_auth, "keys.auth"));
    for (body, field) in refusals {
        let refused = app.post("/push/subscriptions", &bob, &body).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(refused.field(), field, "{:?}", refused.body);
    }
    assert_eq!(app.count("push_subscriptions"), 0);
    let stored = app
        .post("/push/subscriptions", &bob, &keys.subscription(&endpoint))
        .await;
    assert_eq!(stored.status, StatusCode::NO_CONTENT, "{:?}", stored.body);

    // A message that mentions bob, who has no stream open: pushed, urgent.
    let first = app
        .send(id, &alice, &format!("ready, <@{}>?", bob.id))
        .await;
    let push = service
        .next(Duration::from_secs(10))
        .await
        .expect("a push arrives");
    assert_eq!(push.path, "/push/bob");
    assert_eq!(push.header("urgency"), Some("high"), "a mention is urgent");
    let notice = opened(&push, &keys, &service, &server_key);
    assert_eq!(notice["title"], "alice in Launch");
    assert_eq!(notice["body"], "ready, @bob?");
    assert_eq!(notice["conversation_id"], id);
    assert_eq!(notice["message_id"], first);
    assert_eq!(
        notice["url"],
        format!("/conversations/{id}?message={first}")
    );
    assert!(
        service.next(Duration::from_millis(1500)).await.is_none(),
        "pushed once"
    );

    // An edit that adds a mention of bob: pushed to him again, as a mention.
    let plain = app.send(id, &alice, "plain words").await;
    let pushed = service.next(Duration::from_secs(10)).await.expect("pushed");
    assert_eq!(
        opened(&pushed, &keys, &service, &server_key)["body"],
        "plain words"
    );
    let edited = app
        .call(
            Method::PATCH,
            &format!("/messages/{plain}"),
            Some(&alice.token),
            Some(&json!({"content": format!("plain words, <@{}>", bob.id), "expected_version": 1})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    let mentioned = service
        .next(Duration::from_secs(10))
        .await
        .expect("the mention is pushed");
    assert_eq!(mentioned.header("urgency"), Some("high"));
    assert_eq!(
        opened(&mentioned, &keys, &service, &server_key)["body"],
        "plain words, @bob"
    );

    // Bob has a tab open: nothing is pushed (the tab notifies him itself).
    let tab = SseStream::open(&app, &bob.token, None).await;
    eventually("bob's stream is known", Duration::from_secs(5), || {
        app.count("chat_presence_streams") > 0
    })
    .await;
    app.send(id, &alice, "while bob is here").await;
    assert!(service.next(Duration::from_secs(3)).await.is_none());
    drop(tab);
    eventually("bob's stream is gone", Duration::from_secs(5), || {
        app.count("chat_presence_streams") == 0
    })
    .await;

    // The service fails once: the push is tried again, and arrives.
    service.answer(&[500]);
    app.send(id, &alice, "try, try again").await;
    let failed = service.next(Duration::from_secs(10)).await.expect("tried");
    let again = service
        .next(Duration::from_secs(10))
        .await
        .expect("tried again");
    assert_eq!(again.header("urgency"), Some("normal"));
    assert_eq!(
        opened(&again, &keys, &service, &server_key)["body"],
        opened(&failed, &keys, &service, &server_key)["body"]
    );

    // Muted: nothing is pushed.
    let muted = app
        .call(
            Method::PUT,
            &format!("/conversations/{id}/notifications"),
            Some(&bob.token),
            Some(&json!({"level": "none"})),
        )
        .await;
    assert_eq!(muted.status, StatusCode::OK);
    app.send(id, &alice, "into the void").await;
    assert!(service.next(Duration::from_secs(3)).await.is_none());
    let unmuted = app
        .call(
            Method::PUT,
            &format!("/conversations/{id}/notifications"),
            Some(&bob.token),
            Some(&json!({"level": "all"})),
        )
        .await;
    assert_eq!(unmuted.status, StatusCode::OK);

    // The service says the subscription is gone: natter forgets it.
    service.answer(&[410]);
    app.send(id, &alice, "anyone?").await;
    service.next(Duration::from_secs(10)).await.expect("tried");
    eventually(
        "the subscription is forgotten",
        Duration::from_secs(5),
        || app.count("push_subscriptions") == 0,
    )
    .await;
    assert_eq!(app.count("push_outbox"), 0);

    // Unsubscribing: by endpoint, mine only.
    let stored = app
        .post("/push/subscriptions", &bob, &keys.subscription(&endpoint))
        .await;
    assert_eq!(stored.status, StatusCode::NO_CONTENT);
    let body = json!({"endpoint": endpoint});
    let not_hers = app
        .call(
            Method::DELETE,
            "/push/subscriptions",
            Some(&alice.token),
            Some(&body),
        )
        .await;
    assert_eq!(not_hers.status, StatusCode::NOT_FOUND);
    let removed = app
        .call(
            Method::DELETE,
            "/push/subscriptions",
            Some(&bob.token),
            Some(&body),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("push_subscriptions"), 0);
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}
