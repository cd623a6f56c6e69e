//! Speaking to the API as a client would: people with tokens, JSON in and out.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

/// Someone registered through the API.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: i64,
    pub nickname: String,
    pub token: String,
}

/// The answer to a call: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The error code of an error body, e.g. `not_found`.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The field an error body names.
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// Calls `method path` under `/api` with an optional token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), self.url(&format!("/api{path}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let status = response.status();
        let text = response.text().await.expect("response body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| {
                panic!("{method} {path} answered {status} with non-JSON: {text}")
            })
        };
        Reply { status, body }
    }

    pub async fn get(&self, path: &str, who: &Person) -> Reply {
        self.call(Method::GET, path, Some(&who.token), None).await
    }

    pub async fn post(&self, path: &str, who: &Person, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(&who.token), Some(body))
            .await
    }

    /// Registers `nickname` with a fixed good password.
    pub async fn register(&self, nickname: &str) -> Person {
        let reply = self
            .call(
                Method::POST,
                "/users",
                None,
                Some(&json!({"nickname": nickname, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "register {nickname}: {:?}",
            reply.body
        );
        Person {
            id: reply.body["user"]["id"].as_i64().expect("user id"),
            nickname: reply.body["user"]["nickname"]
                .as_str()
                .expect("nickname")
                .to_owned(),
            token: reply.body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// Signs `nickname` (registered with [`PASSWORD`]) in again: another session;
    /// returns its token.
    pub async fn sign_in(&self, nickname: &str) -> String {
        let reply = self
            .call(
                Method::POST,
                "/sessions",
                None,
                Some(&json!({"nickname": nickname, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "sign in {nickname}: {:?}",
            reply.body
        );
        reply.body["token"].as_str().expect("token").to_owned()
    }

    /// `owner` starts a conversation with `others`; returns its id.
    pub async fn conversation(&self, owner: &Person, title: &str, others: &[&Person]) -> i64 {
        let ids: Vec<i64> = others.iter().map(|p| p.id).collect();
        let reply = self
            .post(
                "/conversations",
                owner,
                &json!({"title": title, "member_ids": ids}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["id"].as_i64().expect("conversation id")
    }

    /// `who` sends `content` to conversation `id`; returns the message id.
    pub async fn send(&self, id: i64, who: &Person, content: &str) -> i64 {
        let reply = self
            .post(
                &format!("/conversations/{id}/messages"),
                who,
                &json!({"content": content}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["id"].as_i64().expect("message id")
    }

    /// `who` uploads `bytes` as `filename`; the answer (201 with the file).
    pub async fn upload(&self, who: &Person, filename: &str, bytes: Vec<u8>) -> Reply {
        let response = self
            .client
            .post(self.url("/api/uploads"))
            .query(&[("filename", filename)])
            .bearer_auth(&who.token)
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|error| panic!("upload {filename}: {error}"));
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// `who` uploads `bytes` as `filename`, expecting it stored; answers its id.
    pub async fn uploaded(&self, who: &Person, filename: &str, bytes: Vec<u8>) -> i64 {
        let reply = self.upload(who, filename, bytes).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "upload {filename}: {:?}",
            reply.body
        );
        reply.body["id"].as_i64().expect("attachment id")
    }

    /// `GET /api{path}` as `who`, with extra `headers`: the raw response (files).
    pub async fn fetch(
        &self,
        path: &str,
        who: &Person,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .get(self.url(&format!("/api{path}")))
            .bearer_auth(&who.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    /// Writes `count` messages `filler 1`, `filler 2`… from `sender` straight into the
    /// database, in one statement: a long history, for tests of what reads it.
    pub fn seed_messages(&self, conversation: i64, sender: i64, count: i64) {
        use diesel::prelude::*;
        diesel::sql_query(format!(
            "WITH RECURSIVE numbers (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < {count}) \
             INSERT INTO chat_messages (conversation_id, sender_id, content) \
             SELECT {conversation}, {sender}, 'filler ' || n FROM numbers"
        ))
        .execute(&mut self.db.connect())
        .expect("seed messages");
    }

    /// Counts rows of a table directly in the database.
    pub fn count(&self, table: &str) -> i64 {
        self.number(&format!("SELECT count(*) AS n FROM {table}"))
    }

    /// The number a query answers in its column `n`.
    pub fn number(&self, sql: &str) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Number {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(sql)
            .get_result::<Number>(&mut self.db.connect())
            .expect("a number")
            .n
    }
}

/// The password every test person has.
pub const PASSWORD: &str = "correct horse battery staple";
