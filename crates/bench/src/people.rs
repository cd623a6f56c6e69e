//! Making the people a scenario needs, through the public API.

use anyhow::Context;
use serde_json::{Value, json};

pub struct Person {
    pub id: i64,
    pub token: String,
}

/// POSTs `body` to `node` + `path`, as `token` if given; answers the JSON reply.
async fn post(
    client: &reqwest::Client,
    node: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = client.post(format!("{node}{path}")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.error_for_status()?.json().await?)
}

pub async fn register(
    client: &reqwest::Client,
    node: &str,
    nickname: &str,
) -> anyhow::Result<Person> {
    let body = json!({"nickname": nickname, "password": "benchmark password"});
    let reply = post(client, node, "/api/users", None, &body).await?;
    Ok(Person {
        id: reply["user"]["id"].as_i64().context("user id")?,
        token: reply["token"].as_str().context("token")?.to_owned(),
    })
}

/// Signs `nickname` in once more (another session); answers its token.
pub async fn sign_in(
    client: &reqwest::Client,
    node: &str,
    nickname: &str,
) -> anyhow::Result<String> {
    let body = json!({"nickname": nickname, "password": "benchmark password"});
    let reply = post(client, node, "/api/sessions", None, &body).await?;
    Ok(reply["token"].as_str().context("token")?.to_owned())
}

/// Streams a session may hold under natter's default `--max-streams-per-session`.
pub const STREAMS_PER_SESSION: usize = 8;
/// Sessions a person needs for their 32 streams (`--max-streams-per-user`).
const SESSIONS_PER_PERSON: usize = 4;

/// Tokens of enough sessions, over enough new people named `{prefix}{n}`, to hold
/// `streams` event streams under natter's default caps: stream `i` uses token
/// `i / STREAMS_PER_SESSION`.
pub async fn sessions_for_streams(
    client: &reqwest::Client,
    node: &str,
    prefix: &str,
    streams: usize,
) -> anyhow::Result<Vec<String>> {
    let sessions = streams.div_ceil(STREAMS_PER_SESSION);
    let mut tokens = Vec::new();
    for person in 0..sessions.div_ceil(SESSIONS_PER_PERSON) {
        let nickname = format!("{prefix}{person}");
        tokens.push(register(client, node, &nickname).await?.token);
        while tokens.len() < sessions && tokens.len() % SESSIONS_PER_PERSON != 0 {
            tokens.push(sign_in(client, node, &nickname).await?);
        }
    }
    Ok(tokens)
}

/// Starts a conversation owned by `owner`; returns its id.
pub async fn start_conversation(
    client: &reqwest::Client,
    node: &str,
    owner: &Person,
    others: &[i64],
    title: &str,
) -> anyhow::Result<i64> {
    let body = json!({"title": title, "member_ids": others});
    let reply = post(
        client,
        node,
        "/api/conversations",
        Some(&owner.token),
        &body,
    )
    .await?;
    reply["id"].as_i64().context("conversation id")
}

/// Sends one message; returns its id.
pub async fn send(
    client: &reqwest::Client,
    node: &str,
    sender: &Person,
    conversation: i64,
    content: &str,
) -> anyhow::Result<i64> {
    let path = format!("/api/conversations/{conversation}/messages");
    let body = json!({ "content": content });
    let reply = post(client, node, &path, Some(&sender.token), &body).await?;
    reply["id"].as_i64().context("message id")
}

/// A short tag unique to this run, so that nicknames never collide with an earlier run's.
pub fn run_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}
