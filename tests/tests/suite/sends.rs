//! Many sends at once. On PostgreSQL a node writes all the sends waiting at a moment
//! with one statement (group commit); each must still be answered as if it were alone,
//! and every conversation must keep its ids, times and event numbers in one order.

use natter_tests::api::Person;
use natter_tests::{SpawnOptions, TestApp, require_postgres};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// What a burst of sends is expected to come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Created,
    /// The same `client_id` twice: one created, the other answered with it.
    CreatedOnce,
    NotMember,
    Closed,
    SignedOut,
    /// A reply to the message with this id.
    Reply(i64),
    /// A reply to a message of another conversation (422).
    BadReply,
}

struct Send {
    node: usize,
    conversation: i64,
    token: String,
    body: Value,
    expect: Expect,
}

#[tokio::test]
#[ignore = "PostgreSQL only"]
async fn a_burst_of_sends_on_two_nodes_is_answered_send_by_send_and_kept_in_order() {
    require_postgres("two nodes on one database");
    // The nodes log the size of each batch they write.
    let logging = || SpawnOptions {
        extra_env: vec![(
            "RUST_LOG".into(),
            "info,natter_api::db::messages::send=debug".into(),
        )],
        ..SpawnOptions::default()
    };
    let a = TestApp::spawn_with(logging()).await;
    let b = a.spawn_node_with(logging()).await;
    let [ana, bo, cy, di, ed] = [
        a.register("ana").await,
        a.register("bo").await,
        a.register("cy").await,
        a.register("di").await,
        a.register("ed").await,
    ];
    let c1 = a.conversation(&ana, "One", &[&bo, &cy]).await;
    let c2 = a.conversation(&bo, "Two", &[&cy, &di, &ed]).await;
    let c3 = a.conversation(&di, "Three", &[&ana]).await;
    let shut = a.conversation(&ana, "Shut", &[&bo]).await;
    assert_eq!(
        a.post(&format!("/conversations/{shut}/close"), &ana, &json!({}))
            .await
            .status,
        StatusCode::OK
    );
    // Ed signs out: his token is genuine and unexpired, his session revoked.
    let gone = a
        .call(
            reqwest::Method::DELETE,
            "/sessions/current",
            Some(&ed.token),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{:?}", gone.body);

    // Replies go into the batches too, and one kind is refused.
    let answered = a.send(c1, &ana, "the one everyone answers").await;
    let elsewhere = a.send(c3, &di, "not in One").await;
    let sends = plan(
        &ana,
        &bo,
        &cy,
        &di,
        &ed,
        [c1, c2, c3, shut],
        [answered, elsewhere],
    );
    let replies = fire(&[&a, &b], &sends).await;
    let created = check_answers(&sends, &replies);
    // And the two messages answered (or not) above.
    assert_eq!(
        a.count("chat_messages"),
        i64::try_from(created + 2).expect("count")
    );
    check_the_log(&a);
    check_batches(&[&a, &b]);
    assert!(a.internal_errors().is_empty(), "{:?}", a.internal_errors());
    assert!(b.internal_errors().is_empty(), "{:?}", b.internal_errors());
}

/// Twenty rounds: each member sends to each of their conversations (every fifth round
/// twice with one `client_id`, through both nodes), Cy answers a message of One, and
/// four sends are refused.
fn plan(
    ana: &Person,
    bo: &Person,
    cy: &Person,
    di: &Person,
    ed: &Person,
    [c1, c2, c3, shut]: [i64; 4],
    [answered, elsewhere]: [i64; 2],
) -> Vec<Send> {
    let member_of: [(&Person, &[i64]); 4] = [
        (ana, &[c1, c3]),
        (bo, &[c1, c2]),
        (cy, &[c1, c2]),
        (di, &[c2, c3]),
    ];
    let mut sends = Vec::new();
    for round in 0..20 {
        for (who, conversations) in member_of {
            for &conversation in conversations {
                let content = format!("{} {round} in {conversation}", who.nickname);
                let expect = if round % 5 == 0 {
                    Expect::CreatedOnce
                } else {
                    Expect::Created
                };
                let body = if expect == Expect::CreatedOnce {
                    json!({"content": content, "client_id": uuid::Uuid::new_v4().to_string()})
                } else {
                    json!({"content": content})
                };
                let copies = if expect == Expect::CreatedOnce { 2 } else { 1 };
                for copy in 0..copies {
                    sends.push(Send {
                        node: (round + copy) % 2,
                        conversation,
                        token: who.token.clone(),
                        body: body.clone(),
                        expect,
                    });
                }
            }
        }
        sends.push(Send {
            node: round % 2,
            conversation: c1,
            token: cy.token.clone(),
            body: json!({"content": format!("cy answers {round}"), "reply_to_id": answered}),
            expect: Expect::Reply(answered),
        });
        sends.push(Send {
            node: (round + 1) % 2,
            conversation: c1,
            token: bo.token.clone(),
            body: json!({"content": format!("bo answers elsewhere {round}"), "reply_to_id": elsewhere}),
            expect: Expect::BadReply,
        });
        let refused = [
            (c1, di, Expect::NotMember),
            (shut, bo, Expect::Closed),
            (c2, ed, Expect::SignedOut),
        ];
        for (conversation, who, expect) in refused {
            sends.push(Send {
                node: round % 2,
                conversation,
                token: who.token.clone(),
                body: json!({"content": format!("refused {round}")}),
                expect,
            });
        }
    }
    sends
}

/// Sends them all at once; the replies in the same order.
async fn fire(nodes: &[&TestApp; 2], sends: &[Send]) -> Vec<(usize, StatusCode, Value)> {
    let mut running = JoinSet::new();
    for (index, send) in sends.iter().enumerate() {
        let node = nodes[send.node];
        let request = node
            .client
            .post(node.url(&format!(
                "/api/conversations/{}/messages",
                send.conversation
            )))
            .bearer_auth(&send.token)
            .json(&send.body);
        running.spawn(async move {
            let reply = request.send().await.expect("send");
            let status = reply.status();
            let body: Value = reply.json().await.expect("json");
            (index, status, body)
        });
    }
    let mut replies = running.join_all().await;
    replies.sort_by_key(|(index, ..)| *index);
    replies
}

/// Checks every reply against what its send expected; answers how many messages the
/// sends created.
fn check_answers(sends: &[Send], replies: &[(usize, StatusCode, Value)]) -> usize {
    let mut created = 0;
    let mut once: std::collections::HashMap<String, Vec<(StatusCode, i64)>> =
        std::collections::HashMap::new();
    for ((_, status, body), send) in replies.iter().zip(sends) {
        let wanted = match send.expect {
            Expect::Created => StatusCode::CREATED,
            Expect::Reply(to) => {
                assert_eq!(body["reply_to"]["id"], to, "{body}");
                assert_eq!(body["reply_to"]["excerpt"], "the one everyone answers");
                StatusCode::CREATED
            }
            Expect::BadReply => {
                assert_eq!(body["error"]["field"], "reply_to_id", "{body}");
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Expect::CreatedOnce => {
                let key = send.body["client_id"]
                    .as_str()
                    .expect("client_id")
                    .to_owned();
                once.entry(key)
                    .or_default()
                    .push((*status, body["id"].as_i64().expect("id")));
                continue;
            }
            Expect::NotMember => StatusCode::NOT_FOUND,
            Expect::Closed => StatusCode::CONFLICT,
            Expect::SignedOut => StatusCode::UNAUTHORIZED,
        };
        assert_eq!(*status, wanted, "{:?}: {body}", send.expect);
        if wanted == StatusCode::CREATED {
            created += 1;
            assert_eq!(body["content"], send.body["content"]);
            assert_eq!(body["conversation_id"], send.conversation);
        }
    }
    for (client_id, answers) in &once {
        let mut statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CREATED],
            "{client_id}: {answers:?}"
        );
        assert_eq!(answers[0].1, answers[1].1, "{client_id}: {answers:?}");
    }
    created + once.len()
}

/// The event log agrees with the messages, conversation by conversation.
fn check_the_log(a: &TestApp) {
    // Every conversation's events are numbered 1..=last_event_seq, none skipped.
    assert_eq!(
        a.number(
            "SELECT count(*) AS n FROM chat_conversations c \
              WHERE c.last_event_seq <> (SELECT count(*) FROM chat_events e \
                                          WHERE e.conversation_id = c.id) \
                 OR c.last_event_seq <> (SELECT coalesce(max(seq), 0) FROM chat_events e \
                                          WHERE e.conversation_id = c.id)"
        ),
        0
    );
    // One event per message, saying exactly what the message row says.
    assert_eq!(
        a.number(
            "SELECT count(*) AS n FROM chat_events e \
               JOIN chat_messages m ON m.id = (e.payload::jsonb #>> '{message,id}')::bigint \
               JOIN auth_users u ON u.id = m.sender_id \
              WHERE e.kind = 'message_created' AND e.conversation_id = m.conversation_id \
                AND e.payload::jsonb #>> '{message,content}' = m.content \
                AND e.payload::jsonb #>> '{message,sender,nickname}' = u.nickname \
                AND (e.payload::jsonb #>> '{message,created_at}')::timestamptz \
                    = m.created_at AT TIME ZONE 'UTC' \
                AND (e.payload::jsonb #>> '{message,reply_to,id}')::bigint \
                    IS NOT DISTINCT FROM m.reply_to_id"
        ),
        a.count("chat_messages")
    );
    // Within a conversation, event numbers, message ids and times grow together.
    assert_eq!(
        a.number(
            "SELECT count(*) AS n FROM ( \
               SELECT m.id, m.created_at, \
                      lag(m.id) OVER w AS id_before, lag(m.created_at) OVER w AS at_before \
                 FROM chat_events e \
                 JOIN chat_messages m ON m.id = (e.payload::jsonb #>> '{message,id}')::bigint \
                WHERE e.kind = 'message_created' \
               WINDOW w AS (PARTITION BY e.conversation_id ORDER BY e.seq)) AS ordered \
              WHERE id < id_before OR created_at < at_before"
        ),
        0
    );
}

fn check_batches(nodes: &[&TestApp; 2]) {
    // Hundreds of sends at once on one writer per node: some went out together, or
    // this test did not test the statement that writes them so.
    let largest = nodes
        .iter()
        .flat_map(|node| node.logs())
        .filter(|line| line.contains("sends written together"))
        .filter_map(|line| line.rsplit_once("sends=")?.1.trim().parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    eprintln!("the largest batch of sends: {largest}");
    assert!(largest > 1, "no two sends were written together");
    let fell_back: Vec<String> = nodes
        .iter()
        .flat_map(|node| node.logs())
        .filter(|line| line.contains("a batch of sends failed"))
        .collect();
    assert!(fell_back.is_empty(), "{fell_back:?}");
}
