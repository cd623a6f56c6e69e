//! Keyset pagination: walking a 1,000-message conversation page by page returns every
//! message exactly once, in order, in both directions.

use diesel::prelude::*;
use natter_tests::TestApp;
use natter_tests::api::Person;
use reqwest::StatusCode;

const TOTAL: i64 = 1000;

async fn seeded() -> (TestApp, Person, i64, Vec<i64>) {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let c = app.conversation(&alice, "Long", &[&bob]).await;
    // Seeded in bulk: the walk is what is under test, not the sending.
    diesel::sql_query(format!(
        "WITH RECURSIVE numbers (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < {TOTAL}) \
         INSERT INTO chat_messages (conversation_id, sender_id, content) \
         SELECT {c}, CASE WHEN n % 2 = 0 THEN {} ELSE {} END, 'message ' || n FROM numbers",
        alice.id, bob.id
    ))
    .execute(&mut app.db.connect())
    .expect("seed");
    // Another conversation's messages interleave ids and must never show up.
    let other = app.conversation(&bob, "Other", &[&alice]).await;
    app.send(other, &bob, "elsewhere").await;
    let page = app
        .get(&format!("/conversations/{c}/messages?limit=100"), &alice)
        .await;
    let newest = page.body["messages"][99]["id"].as_i64().expect("id");
    let expected: Vec<i64> = ((newest - TOTAL + 1)..=newest).collect();
    (app, alice, c, expected)
}

fn ids(page: &serde_json::Value) -> Vec<i64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn walking_back_sees_every_message_once_in_order() {
    let (app, alice, c, expected) = seeded().await;
    let mut seen: Vec<i64> = Vec::new();
    let mut before: Option<i64> = None;
    let mut pages = 0;
    loop {
        let query = before.map_or_else(
            || "limit=37".to_owned(),
            |id| format!("limit=37&before={id}"),
        );
        let page = app
            .get(&format!("/conversations/{c}/messages?{query}"), &alice)
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let page_ids = ids(&page.body);
        assert!(
            page_ids.windows(2).all(|w| w[0] < w[1]),
            "oldest first within a page"
        );
        assert_eq!(page.body["has_newer"], before.is_some());
        seen.splice(0..0, page_ids.iter().copied());
        pages += 1;
        if page.body["has_older"] == false {
            break;
        }
        before = page_ids.first().copied();
        assert!(pages < 100, "the walk does not end");
    }
    assert_eq!(pages, (TOTAL + 36) / 37);
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn walking_forward_sees_every_message_once_in_order() {
    let (app, alice, c, expected) = seeded().await;
    let mut seen: Vec<i64> = Vec::new();
    let mut after = expected[0] - 1;
    loop {
        let page = app
            .get(
                &format!("/conversations/{c}/messages?limit=100&after={after}"),
                &alice,
            )
            .await;
        let page_ids = ids(&page.body);
        seen.extend(&page_ids);
        if page.body["has_newer"] == false {
            break;
        }
        after = *page_ids
            .last()
            .expect("a page with more after it is not empty");
    }
    assert_eq!(seen, expected);
    let beyond = app
        .get(
            &format!("/conversations/{c}/messages?after={}", expected[999]),
            &alice,
        )
        .await;
    assert_eq!(ids(&beyond.body), Vec::<i64>::new());
    assert_eq!(beyond.body["has_older"], true);
}
