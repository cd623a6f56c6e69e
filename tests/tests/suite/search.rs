//! Search: words, parts of words and scripts without spaces, in my conversations only
//! (as they are now), following edits and deletions at once, paged by `before`, and
//! every query answered as text.

use natter_domain::api::{SearchHit, SearchPage};
use natter_tests::TestApp;
use natter_tests::api::Person;
use reqwest::{Method, StatusCode};

/// `GET /api/search` with these parameters, encoded.
fn search_path(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params("http://natter/search", params).expect("a url");
    format!("/search?{}", url.query().unwrap_or(""))
}

async fn search(app: &TestApp, who: &Person, params: &[(&str, &str)]) -> SearchPage {
    let reply = app.get(&search_path(params), who).await;
    assert_eq!(reply.status, StatusCode::OK, "{params:?}: {:?}", reply.body);
    serde_json::from_value(reply.body).expect("a page of results")
}

/// The ids found for `q`, in the order given.
async fn found(app: &TestApp, who: &Person, q: &str) -> Vec<i64> {
    ids(&search(app, who, &[("q", q)]).await.results)
}

fn ids(results: &[SearchHit]) -> Vec<i64> {
    results.iter().map(|hit| hit.message.id.get()).collect()
}

/// The marked parts of a result's text.
fn marked(hit: &SearchHit) -> Vec<String> {
    let chars: Vec<char> = hit.message.content.chars().collect();
    hit.highlights
        .iter()
        .map(|range| chars[range.start..range.end].iter().collect())
        .collect()
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one conversation's worth of cases, read top to bottom
async fn finds_words_parts_of_words_and_scripts_without_spaces_in_my_conversations() {
    let app = TestApp::spawn().await;
    let (ada, bob, eve) = (
        app.register("ada").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let plans = app.conversation(&ada, "Plans", &[&bob]).await;
    let theirs = app.conversation(&eve, "Theirs", &[&bob]).await;
    let friday = app
        .send(plans, &ada, "Deploy on Friday, after the release notes")
        .await;
    let tokyo = app.send(plans, &bob, "明日は東京都に行きます").await;
    let hello = app.send(plans, &bob, "你好世界").await;
    let notes = app.send(plans, &bob, "Notes about the release").await;
    let exact = app.send(plans, &ada, "The release notes are out").await;
    let secret = app.send(theirs, &eve, "Friday is our secret").await;

    // A word, whatever its case, with where it is in the text.
    let page = search(&app, &ada, &[("q", "FRIDAY")]).await;
    assert_eq!(
        ids(&page.results),
        [friday],
        "not eve's message: ada is not in Theirs"
    );
    let hit = &page.results[0];
    assert_eq!(hit.conversation_id.get(), plans);
    assert_eq!(hit.conversation_title, "Plans");
    assert_eq!(hit.sender.as_ref().map(|s| s.id.get()), Some(ada.id));
    assert_eq!(hit.message.sender, hit.sender);
    assert_eq!(
        (hit.highlights[0].start, hit.highlights[0].end),
        (10, 16),
        "character offsets of Friday"
    );
    assert_eq!(page.next_before, None, "nothing more");
    // Bob is in both conversations.
    assert_eq!(found(&app, &bob, "friday").await, [secret, friday]);

    // Part of a word, and text with no spaces to split it into words.
    assert_eq!(found(&app, &ada, "eplo").await, [friday]);
    assert_eq!(found(&app, &ada, "東京都").await, [tokyo]);
    assert_eq!(found(&app, &ada, "東京").await, [tokyo], "two characters");
    assert_eq!(found(&app, &ada, "世界").await, [hello]);
    let page = search(&app, &ada, &[("q", "京都に")]).await;
    assert_eq!(marked(&page.results[0]), ["京都に"]);

    // Both words anywhere; the message holding the phrase as typed comes first.
    let page = search(&app, &ada, &[("q", "release notes")]).await;
    assert_eq!(ids(&page.results), [exact, friday, notes]);
    assert_eq!(
        page.results.iter().map(|hit| hit.exact).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(marked(&page.results[2]), ["Notes", "release"]);
    assert_eq!(marked(&page.results[0]), ["release notes"]);

    // Filters: one conversation (only one of mine), one sender.
    let only = |conversation: i64| conversation.to_string();
    let page = search(
        &app,
        &bob,
        &[("q", "friday"), ("conversation_id", &only(theirs))],
    )
    .await;
    assert_eq!(ids(&page.results), [secret]);
    let reply = app
        .get(
            &search_path(&[("q", "friday"), ("conversation_id", &only(theirs))]),
            &ada,
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let bobs = bob.id.to_string();
    let page = search(&app, &ada, &[("q", "release"), ("sender_id", &bobs)]).await;
    assert_eq!(ids(&page.results), [notes]);

    // Someone removed from a conversation finds nothing of it from then on.
    let removed = app
        .call(
            Method::DELETE,
            &format!("/conversations/{theirs}/members/{}", bob.id),
            Some(&eve.token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(found(&app, &bob, "friday").await, [friday]);
    assert_eq!(found(&app, &bob, "secret").await, Vec::<i64>::new());
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

#[tokio::test]
async fn edits_and_deletions_change_what_is_found_at_once() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Edits", &[&bob]).await;
    let m = app.send(c, &ada, "the meeting moves to tuesday").await;
    assert_eq!(found(&app, &bob, "tuesday").await, [m]);

    let edited = app
        .call(
            Method::PATCH,
            &format!("/messages/{m}"),
            Some(&ada.token),
            Some(&serde_json::json!({"content": "the meeting moves to thursday", "expected_version": 1})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert!(
        found(&app, &bob, "tuesday").await.is_empty(),
        "the old text is gone"
    );
    assert!(found(&app, &bob, "uesd").await.is_empty());
    assert_eq!(found(&app, &bob, "thursday").await, [m]);
    assert_eq!(found(&app, &bob, "ursd").await, [m]);

    let deleted = app
        .call(
            Method::DELETE,
            &format!("/messages/{m}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for q in ["thursday", "ursd", "meeting", "th"] {
        assert!(
            found(&app, &bob, q).await.is_empty(),
            "{q} finds a deleted message"
        );
    }
}

#[tokio::test]
async fn pages_go_back_by_before_and_stay_put_as_messages_arrive() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Pages", &[&bob]).await;
    let mut sent = Vec::new();
    for n in 0..7 {
        sent.push(app.send(c, &bob, &format!("standup note {n}")).await);
        app.send(c, &bob, "unrelated chatter").await;
    }
    sent.reverse();
    let page = search(&app, &ada, &[("q", "standup"), ("limit", "3")]).await;
    assert_eq!(ids(&page.results), sent[..3]);
    let before = page.next_before.expect("more").get().to_string();
    // A new match does not move the pages behind it.
    app.send(c, &bob, "standup note, late").await;
    let second = search(
        &app,
        &ada,
        &[("q", "standup"), ("limit", "3"), ("before", &before)],
    )
    .await;
    assert_eq!(ids(&second.results), sent[3..6]);
    let before = second.next_before.expect("more").get().to_string();
    let last = search(
        &app,
        &ada,
        &[("q", "standup"), ("limit", "3"), ("before", &before)],
    )
    .await;
    assert_eq!(ids(&last.results), sent[6..]);
    assert_eq!(last.next_before, None);
}

#[tokio::test]
async fn short_queries_look_through_a_bounded_number_of_messages_a_page() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Long", &[&bob]).await;
    let old = app.send(c, &ada, "ok, old").await;
    // More messages than one page of a short query looks through, seeded in bulk.
    app.seed_messages(c, bob.id, 6000);
    let new = app.send(c, &ada, "ok, new").await;

    let first = search(&app, &bob, &[("q", "ok")]).await;
    assert_eq!(ids(&first.results), [new]);
    let before = first
        .next_before
        .expect("the scan stopped short of the start");
    assert!(before.get() > old, "it looked at 5,000 messages, not all");
    let mut pages = 1;
    let mut next = Some(before);
    let mut all = ids(&first.results);
    while let Some(before) = next {
        let page = search(&app, &bob, &[("q", "ok"), ("before", &before.to_string())]).await;
        all.extend(ids(&page.results));
        next = page.next_before;
        pages += 1;
        assert!(pages < 5, "paging ends");
    }
    assert_eq!(all, [new, old]);
}

#[tokio::test]
async fn any_query_is_text_and_bad_parameters_name_their_field() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Syntax", &[&bob]).await;
    let percent = app.send(c, &ada, "done 100% of it").await;
    app.send(c, &ada, "done 1000 of it").await;
    let underscore = app.send(c, &ada, "call snake_case names").await;
    let quoted = app.send(c, &ada, r#"she said "ship it" and left"#).await;

    assert_eq!(
        found(&app, &bob, "100%").await,
        [percent],
        "% is not a wildcard"
    );
    assert_eq!(found(&app, &bob, "%").await, [percent]);
    assert_eq!(
        found(&app, &bob, "e_c").await,
        [underscore],
        "_ is not a wildcard"
    );
    assert_eq!(found(&app, &bob, r#""ship it""#).await, [quoted]);
    for q in [
        "'; DROP TABLE chat_messages; --",
        "NEAR(ship it)",
        "\"unbalanced",
        "ship OR",
        "ship AND NOT",
        "*",
        "^ship",
        "ship*",
        "-",
        "--",
        "!",
        "a:b",
        "(((",
        "ship\u{0}it",
        "\u{202e}ship",
        "\\",
        "\\%",
        "{}[]",
        "\u{1F600}",
        "ma\u{0301}s",
    ] {
        let reply = app.get(&search_path(&[("q", q)]), &bob).await;
        assert_eq!(reply.status, StatusCode::OK, "{q:?}: {:?}", reply.body);
    }
    assert_eq!(found(&app, &bob, "\u{202e}ship").await, [quoted]);
    assert_eq!(found(&app, &bob, "ship\u{0}it").await, [quoted]);

    let long = "x".repeat(201);
    let limit_over = (natter_domain::api::SearchQuery::MAX_LIMIT + 1).to_string();
    for (params, field) in [
        (vec![("q", "")], "q"),
        (vec![("q", "   ")], "q"),
        (vec![("q", "\u{0}")], "q"),
        (vec![("q", long.as_str())], "q"),
        (vec![("q", "ship"), ("limit", "0")], "limit"),
        (vec![("q", "ship"), ("limit", limit_over.as_str())], "limit"),
        (vec![("q", "ship"), ("before", "-1")], "before"),
    ] {
        let reply = app.get(&search_path(&params), &bob).await;
        assert_eq!(
            (reply.status, reply.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, field),
            "{params:?}: {:?}",
            reply.body
        );
    }
    let reply = app
        .get(&search_path(&[("q", "ship"), ("limit", "many")]), &bob)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let unsigned = app
        .call(Method::GET, &search_path(&[("q", "ship")]), None, None)
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn a_search_past_its_time_is_stopped_and_refused() {
    natter_tests::require_postgres("statement_timeout");
    let app = TestApp::spawn_with(natter_tests::SpawnOptions::with_env(&[(
        "NATTER_SEARCH_TIMEOUT",
        "1ms",
    )]))
    .await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let c = app.conversation(&ada, "Slow", &[&bob]).await;
    app.seed_messages(c, bob.id, 50_000);
    let reply = app.get(&search_path(&[("q", "zq")]), &ada).await;
    assert_eq!(
        (reply.status, reply.code(), reply.field()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "q"),
        "{:?}",
        reply.body
    );
    // The connection it ran on is fine for the next request.
    for _ in 0..3 {
        assert_eq!(app.get("/conversations", &ada).await.status, StatusCode::OK);
    }
    assert!(
        app.internal_errors().is_empty(),
        "{:?}",
        app.internal_errors()
    );
}
