//! Every token that is not a current, correctly signed token of a live session is 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use natter_tests::api::Person;
use natter_tests::{SpawnOptions, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "a test signing key that is certainly long enough";

async fn app() -> TestApp {
    TestApp::spawn_with(SpawnOptions {
        extra_env: vec![("NATTER_TOKEN_SECRET".into(), SECRET.into())],
        ..SpawnOptions::default()
    })
    .await
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let reply = app.call(Method::GET, "/me", Some(token), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(reply.code(), "unauthenticated", "{what}");
}

/// Sending checks the session in its own statement (see `UncheckedSession`): the
/// same 401, and nothing written.
async fn assert_send_refused(app: &TestApp, token: &str, conversation: i64, what: &str) {
    let (messages, events) = (app.count("chat_messages"), app.count("chat_events"));
    let reply = app
        .call(
            Method::POST,
            &format!("/conversations/{conversation}/messages"),
            Some(token),
            Some(&json!({ "content": "still here?" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(reply.code(), "unauthenticated", "{what}");
    assert_eq!(app.count("chat_messages"), messages, "{what}");
    assert_eq!(app.count("chat_events"), events, "{what}");
}

async fn person(app: &TestApp) -> (Person, Value) {
    let alice = app.register("alice").await;
    let claims = claims_of(&alice.token);
    // The token as issued works, and re-signing its claims ourselves works too.
    assert_eq!(app.get("/me", &alice).await.status, StatusCode::OK);
    let resigned = sign(&claims, Algorithm::HS256, SECRET);
    assert_eq!(
        app.call(Method::GET, "/me", Some(&resigned), None)
            .await
            .status,
        StatusCode::OK
    );
    (alice, claims)
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    let app = app().await;
    let (_, claims) = person(&app).await;
    assert_refused(
        &app,
        &sign(
            &claims,
            Algorithm::HS256,
            "another key that is long enough too",
        ),
        "forged signature",
    )
    .await;
    assert_refused(
        &app,
        &sign(&claims, Algorithm::HS512, SECRET),
        "another algorithm",
    )
    .await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_refused(&app, &format!("{header}.{payload}."), "alg none").await;
    for junk in ["abc", "a.b.c", "Bearer", "", "eyJhbGciOiJIUzI1NiJ9.e30."] {
        assert_refused(&app, junk, junk).await;
    }
    let basic = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", "Basic YWxpY2U6cGFzc3dvcmQ=")
        .send()
        .await
        .expect("request");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_or_odd_claims_are_refused() {
    let app = app().await;
    let (alice, claims) = person(&app).await;
    let past = Utc::now() - Duration::hours(2);
    let mut expired = claims.clone();
    expired["iat"] = json!((past - Duration::hours(1)).timestamp());
    expired["nbf"] = json!((past - Duration::hours(1)).timestamp());
    expired["exp"] = json!(past.timestamp());
    assert_refused(&app, &sign(&expired, Algorithm::HS256, SECRET), "expired").await;

    let mut string_exp = claims.clone();
    string_exp["exp"] = json!(claims["exp"].to_string());
    assert_refused(
        &app,
        &sign(&string_exp, Algorithm::HS256, SECRET),
        "string exp",
    )
    .await;

    let mut no_exp = claims.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_refused(&app, &sign(&no_exp, Algorithm::HS256, SECRET), "no exp").await;

    let mut future = claims.clone();
    future["nbf"] = json!((Utc::now() + Duration::hours(1)).timestamp());
    assert_refused(
        &app,
        &sign(&future, Algorithm::HS256, SECRET),
        "not yet valid",
    )
    .await;

    let mut audience = claims.clone();
    audience["aud"] = json!("someone-else");
    assert_refused(
        &app,
        &sign(&audience, Algorithm::HS256, SECRET),
        "wrong audience",
    )
    .await;

    let mut issuer = claims.clone();
    issuer["iss"] = json!("someone-else");
    assert_refused(
        &app,
        &sign(&issuer, Algorithm::HS256, SECRET),
        "wrong issuer",
    )
    .await;

    // Alice's session, claiming to be Bob.
    let bob = app.register("bob").await;
    let mut other_user = claims.clone();
    other_user["sub"] = json!(bob.id.to_string());
    assert_refused(
        &app,
        &sign(&other_user, Algorithm::HS256, SECRET),
        "session of another user",
    )
    .await;
    assert_eq!(app.get("/me", &alice).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_and_deleted_sessions_are_refused() {
    let app = app().await;
    let (alice, claims) = person(&app).await;
    let bob = app.register("bob").await;
    let chat = app.conversation(&alice, "before", &[&bob]).await;
    app.send(chat, &alice, "hello").await;
    app.send(chat, &bob, "hi").await;
    let logout = app
        .call(
            Method::DELETE,
            "/sessions/current",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_refused(&app, &alice.token, "revoked by logout").await;
    assert_send_refused(&app, &alice.token, chat, "send after logout").await;
    assert_refused(
        &app,
        &sign(&claims, Algorithm::HS256, SECRET),
        "re-signed revoked",
    )
    .await;

    let sid = claims_of(&bob.token)["sid"].as_i64().expect("sid");
    {
        use diesel::prelude::*;
        diesel::sql_query(format!("DELETE FROM auth_sessions WHERE id = {sid}"))
            .execute(&mut app.db.connect())
            .expect("delete session");
    }
    assert_refused(&app, &bob.token, "deleted session").await;
    assert_send_refused(&app, &bob.token, chat, "send with a deleted session").await;
}
