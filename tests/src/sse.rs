//! A small Server-Sent Events reader over reqwest, for the live-event tests.

use std::time::Duration;

use crate::TestApp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn position(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or(-1)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null)
    }
}

pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
    ended: bool,
    /// Whether `presence_changed` events are read; by default they are skipped, since
    /// they come whenever the leader announces them, whatever a test does.
    presence: bool,
}

impl SseStream {
    /// Opens `GET /api/events` as `token`, resuming after `last_event_id` if given.
    pub async fn open(app: &TestApp, token: &str, last_event_id: Option<i64>) -> Self {
        Self::try_open(&app.url(""), token, last_event_id)
            .await
            .expect("open the event stream")
    }

    /// Opens the stream as a browser does after its `EventSource` gave up: the
    /// cursor in the query string, since it cannot send headers.
    pub async fn open_by_query(app: &TestApp, token: &str, last_event_id: i64) -> Self {
        Self::try_open_url(
            &app.url(&format!("/api/events?last_event_id={last_event_id}")),
            token,
            None,
        )
        .await
        .expect("open the event stream")
    }

    /// Opens the stream of the node at `base` (`http://host:port`), or says why not.
    pub async fn try_open(
        base: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> anyhow::Result<Self> {
        Self::try_open_url(&format!("{base}/api/events"), token, last_event_id).await
    }

    async fn try_open_url(
        url: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::new();
        let mut request = client.get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await?;
        anyhow::ensure!(
            response.status() == reqwest::StatusCode::OK,
            "status {}",
            response.status()
        );
        anyhow::ensure!(
            response.headers()["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/event-stream")),
            "not an event stream"
        );
        Ok(Self {
            response,
            buffer: String::new(),
            ended: false,
            presence: false,
        })
    }

    /// Reads `presence_changed` events too.
    #[must_use]
    pub fn with_presence(mut self) -> Self {
        self.presence = true;
        self
    }

    /// The next event, or `None` if none arrives within `wait` or the stream ended.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block)
                    && (self.presence || event.event != "presence_changed")
                {
                    return Some(event);
                }
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None) | Err(_)) => self.ended = true,
                Err(_) => return None,
            }
        }
    }

    /// The first event that `wanted` picks, skipping others, waiting up to `wait` for
    /// each; `None` once nothing more comes.
    pub async fn first(
        &mut self,
        wait: Duration,
        wanted: impl Fn(&SseEvent) -> bool,
    ) -> Option<SseEvent> {
        while let Some(event) = self.next(wait).await {
            if wanted(&event) {
                return Some(event);
            }
        }
        None
    }

    /// The first event of `kind`, skipping others.
    pub async fn first_of(&mut self, kind: &str, wait: Duration) -> Option<SseEvent> {
        self.first(wait, |event| event.event == kind).await
    }

    /// Events until `count` non-comment events arrived or `wait` passed.
    pub async fn take(&mut self, count: usize, wait: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut events = Vec::new();
        while events.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(event) => events.push(event),
                None => break,
            }
        }
        events
    }

    /// Whether the server has closed the stream.
    pub fn ended(&self) -> bool {
        self.ended && !self.buffer.contains("\n\n")
    }

    /// Whether the server closed the stream within `wait`.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if self.next(left).await.is_none() {
                return self.ended;
            }
        }
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let mut id = None;
    let mut event = String::from("message");
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("event:") {
            value.trim().clone_into(&mut event);
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (!data.is_empty()).then(|| SseEvent {
        id,
        event,
        data: data.join("\n"),
    })
}
