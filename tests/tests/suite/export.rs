//! `GET /api/conversations/{id}/export`: everything a member can see of a
//! conversation, as one streamed JSON document.

use diesel::RunQueryDsl;
use natter_domain::api::ConversationExport;
use natter_tests::TestApp;
use reqwest::{Method, StatusCode};

/// More messages than one page of the export (500) holds, twice over.
const MANY: i64 = 1_100;

#[tokio::test]
async fn an_export_holds_members_messages_reactions_and_receipts_with_times() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let outsider = app.register("outsider").await;
    let id = app.conversation(&alice, "Exported", &[&bob]).await;
    let first = app.send(id, &alice, "first").await;
    let second = app.send(id, &bob, "second").await;
    let reply = app
        .call(
            Method::PUT,
            &format!("/messages/{first}/reactions/heart"),
            Some(&bob.token),
            None,
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let reply = app
        .post(
            &format!("/conversations/{id}/seen"),
            &alice,
            &serde_json::json!({"up_to_message_id": second}),
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    // Many more, written straight into the database: the export pages through them.
    let values: Vec<String> = (0..MANY)
        .map(|n| format!("({id}, {}, 'bulk {n}')", alice.id))
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO chat_messages (conversation_id, sender_id, content) VALUES {}",
        values.join(", ")
    ))
    .execute(&mut app.db.connect())
    .expect("bulk messages");

    let response = app
        .client
        .get(app.url(&format!("/api/conversations/{id}/export")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(header("content-type").starts_with("application/json"));
    assert!(header("content-disposition").starts_with("attachment"));
    let text = response.text().await.expect("body");
    let export: ConversationExport = serde_json::from_str(&text).expect("one JSON document");

    assert_eq!(export.id.get(), id);
    assert_eq!(export.title, "Exported");
    let members: Vec<&str> = export
        .members
        .iter()
        .map(|m| m.user.nickname.as_str())
        .collect();
    assert_eq!(members, ["alice", "bob"]);
    assert!(export.members[0].owner);
    assert_eq!(
        export.members[0]
            .last_seen_message_id
            .map(natter_domain::MessageId::get),
        Some(second)
    );
    let total = usize::try_from(MANY).expect("a count") + 2;
    assert_eq!(export.messages.len(), total, "every message, across pages");
    assert!(
        export.messages.windows(2).all(|w| w[0].id < w[1].id),
        "oldest first"
    );
    let opening = &export.messages[0];
    assert_eq!(opening.content, "first");
    assert_eq!(opening.sender.as_ref().map(|s| s.id.get()), Some(alice.id));
    assert_eq!(opening.reactions.len(), 1);
    assert_eq!(opening.reactions[0].emoji, "heart");
    assert_eq!(opening.reactions[0].user.id.get(), bob.id);
    assert!(opening.reactions[0].created_at >= opening.created_at);
    // Bob sent the second; Alice has seen both, and Bob the first (his own reaction
    // does not mark it seen, so nobody else but Alice appears).
    let seen: Vec<i64> = export.messages[1]
        .seen_by
        .iter()
        .map(|s| s.user.id.get())
        .collect();
    assert_eq!(seen, [alice.id]);

    let stranger = app
        .call(
            Method::GET,
            &format!("/conversations/{id}/export"),
            Some(&outsider.token),
            None,
        )
        .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert!(app.internal_errors().is_empty());
}
