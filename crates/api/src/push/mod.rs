//! Web Push: browsers' subscriptions, and pushes of messages to people with no open
//! stream anywhere, through an outbox that survives restarts and that the leading
//! node drains ([`Outbox`]). A send never waits on any of it: the outbox is filled
//! from the event log, after the send has committed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use natter_domain::api::PushSubscriptionRequest;
use natter_domain::values::{FieldError, ValidationError};
use p256::PublicKey;
use reqwest::{StatusCode, Url};

use crate::db::{self, Db, clock, push};
use crate::live::Hub;
use crate::live::presence::alive_since;

pub mod crypto;

use crypto::{Receiver, Vapid};

/// The longest endpoint taken.
pub const MAX_ENDPOINT: usize = 2048;
/// How long a push service keeps a push for a browser that is away (RFC 8030 TTL).
pub const TTL: Duration = Duration::from_hours(24);
/// How often the leading node looks for messages to push and pushes to send.
const EVERY: Duration = Duration::from_secs(1);
/// Pushes sent at once.
const AT_ONCE: usize = 8;
/// Pushes claimed per pass.
const PER_PASS: i64 = 64;
/// A claimed push not settled in this long is sent again.
const LEASE: Duration = Duration::from_mins(2);
/// Tries before a push is given up: the waits double from 2 s to an hour.
const ATTEMPTS: i32 = 12;
const FIRST_WAIT: Duration = Duration::from_secs(2);
const LONGEST_WAIT: Duration = Duration::from_hours(1);

/// A subscription as it is stored, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// Checks a subscription: an https endpoint (http only to a loopback address), a
/// P-256 public key of 65 bytes and an authentication secret of 16.
pub fn check(request: &PushSubscriptionRequest) -> Result<Subscription, FieldError> {
    let endpoint = check_endpoint(&request.endpoint)?;
    let p256dh = request.keys.p256dh.as_str();
    let point = decode(p256dh, 65).map_err(|error| FieldError::new("keys.p256dh", error))?;
    if point[0] != 4 || PublicKey::from_sec1_bytes(&point).is_err() {
        return Err(FieldError::new(
            "keys.p256dh",
            ValidationError::NotAPublicKey,
        ));
    }
    let auth = request.keys.auth.as_str();
    decode(auth, 16).map_err(|error| FieldError::new("keys.auth", error))?;
    Ok(Subscription {
        endpoint,
        p256dh: p256dh.to_owned(),
        auth: auth.to_owned(),
    })
}

/// An endpoint a push may go to: https, or http to a loopback address.
pub fn check_endpoint(raw: &str) -> Result<String, FieldError> {
    let refused = || {
        FieldError::new(
            "endpoint",
            ValidationError::NotAPushEndpoint { max: MAX_ENDPOINT },
        )
    };
    if raw.len() > MAX_ENDPOINT {
        return Err(refused());
    }
    let url = Url::parse(raw).map_err(|_| refused())?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => return Err(refused()),
    };
    let allowed = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !allowed || !url.username().is_empty() || url.password().is_some() {
        return Err(refused());
    }
    Ok(url.into())
}

/// Unpadded base64url of exactly `bytes` bytes.
fn decode(raw: &str, bytes: usize) -> Result<Vec<u8>, ValidationError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .filter(|decoded| decoded.len() == bytes)
        .ok_or(ValidationError::WrongKeyLength { bytes })
}

/// The wait before try number `attempts + 1`.
fn backoff(attempts: i32) -> Duration {
    let doubled = FIRST_WAIT.saturating_mul(1 << attempts.clamp(0, 20));
    doubled.min(LONGEST_WAIT)
}

/// This node's part in Web Push: while it leads, it fills the outbox from new
/// messages and sends what is due.
#[derive(Clone)]
pub struct Outbox {
    db: Db,
    hub: Arc<Hub>,
    vapid: Arc<Vapid>,
    client: reqwest::Client,
}

/// How one push went.
enum Outcome {
    Delivered,
    /// The subscription is gone (404, 410): forget it.
    Gone,
    /// Worth another try later (a 429, a 5xx, no answer).
    Retry,
    /// Refused for good (another 4xx): give it up.
    Refused,
}

impl Outbox {
    /// Starts the outbox's loop on this node; it works only while the node leads.
    pub fn start(db: Db, hub: Arc<Hub>, vapid: Arc<Vapid>) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let outbox = Self {
            db,
            hub,
            vapid,
            client,
        };
        actix_web::rt::spawn(async move {
            let mut ticks = actix_web::rt::time::interval(EVERY);
            loop {
                ticks.tick().await;
                if outbox.hub.is_leading()
                    && let Err(error) = outbox.pass().await
                {
                    tracing::warn!(%error, "push outbox pass failed");
                }
            }
        });
        Ok(())
    }

    async fn pass(&self) -> anyhow::Result<()> {
        let queued = db::write(&self.db, |conn| {
            Ok(push::queue_new_messages(conn, alive_since())?)
        })
        .await?;
        if queued > 0 {
            tracing::debug!(queued, "queued pushes");
        }
        loop {
            let due = db::write(&self.db, |conn| {
                let now = clock::now();
                let lease = now + clock::span(LEASE);
                Ok(push::claim_due(conn, now, lease, PER_PASS)?)
            })
            .await?;
            let claimed = due.len();
            futures_util::stream::iter(due)
                .for_each_concurrent(AT_ONCE, |push| self.settle(push))
                .await;
            if i64::try_from(claimed).unwrap_or(i64::MAX) < PER_PASS {
                return Ok(());
            }
        }
    }

    /// Sends one push and records how it went.
    async fn settle(&self, due: push::Due) {
        let outcome = self.send(&due).await;
        let (id, attempts, subscription) = (due.id, due.attempts + 1, due.subscription_id);
        let recorded = db::write(&self.db, move |conn| {
            match outcome {
                Outcome::Delivered | Outcome::Refused => push::done(conn, id)?,
                Outcome::Gone => push::forget_subscription(conn, subscription)?,
                Outcome::Retry if attempts >= ATTEMPTS => {
                    tracing::warn!(attempts, "giving up a push after its last try");
                    push::done(conn, id)?;
                }
                Outcome::Retry => {
                    let due_at = clock::now() + clock::span(backoff(attempts - 1));
                    push::retry(conn, id, attempts, due_at)?;
                }
            }
            Ok(())
        })
        .await;
        if let Err(error) = recorded {
            tracing::warn!(%error, "could not record a push's outcome");
        }
    }

    async fn send(&self, due: &push::Due) -> Outcome {
        let Some(receiver) = receiver(due) else {
            return Outcome::Gone;
        };
        let Ok(url) = Url::parse(&due.endpoint) else {
            return Outcome::Gone;
        };
        let origin = url.origin().ascii_serialization();
        let prepared = crypto::encrypt(due.payload.as_bytes(), &receiver)
            .and_then(|body| Ok((body, self.vapid.authorization(&origin)?)));
        let (body, authorization) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::warn!(%error, "could not prepare a push");
                return Outcome::Refused;
            }
        };
        let sent = self
            .client
            .post(url)
            .header("TTL", TTL.as_secs().to_string())
            .header("Urgency", &due.urgency)
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => Outcome::Delivered,
            Ok(answer) if matches!(answer.status(), StatusCode::NOT_FOUND | StatusCode::GONE) => {
                Outcome::Gone
            }
            Ok(answer)
                if answer.status() == StatusCode::TOO_MANY_REQUESTS
                    || answer.status().is_server_error() =>
            {
                Outcome::Retry
            }
            Ok(answer) => {
                tracing::warn!(status = %answer.status(), "a push service refused a push");
                Outcome::Refused
            }
            Err(error) => {
                tracing::info!(%error, "a push service did not answer; trying again later");
                Outcome::Retry
            }
        }
    }
}

fn receiver(due: &push::Due) -> Option<Receiver> {
    let point = URL_SAFE_NO_PAD
        .decode(due.p256dh.trim_end_matches('='))
        .ok()?;
    let auth = URL_SAFE_NO_PAD
        .decode(due.auth.trim_end_matches('='))
        .ok()?;
    Some(Receiver {
        public: PublicKey::from_sec1_bytes(&point).ok()?,
        auth: auth.try_into().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use natter_domain::api::PushKeys;

    use super::*;

    fn request(endpoint: &str, p256dh: &str, auth: &str) -> PushSubscriptionRequest {
        PushSubscriptionRequest {
            endpoint: endpoint.into(),
            keys: PushKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        }
    }

    const POINT: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    #[test]
    fn endpoints_are_https_or_loopback() {
        for good in [
            "https://push.example.net/send/abc",
            "http://127.0.0.1:9000/push/1",
            "http://[::1]:9000/push/1",
            "http://localhost/push",
        ] {
            assert!(check(&request(good, POINT, AUTH)).is_ok(), "{good}");
        }
        for bad in [
            "http://push.example.net/send",
            "http://10.0.0.1/push",
            "ftp://127.0.0.1/push",
            "https://user:pw@push.example.net/",
            "not a url",
            "",
        ] {
            let error = check(&request(bad, POINT, AUTH)).expect_err(bad);
            assert_eq!(error.field, "endpoint", "{bad}");
        }
        let long = format!("https://push.example.net/{}", "a".repeat(MAX_ENDPOINT));
        assert!(check(&request(&long, POINT, AUTH)).is_err());
    }

    #[test]
    fn keys_must_have_their_lengths() {
        let endpoint = "https://push.example.net/send/abc";
        let short_point = &POINT[..POINT.len() - 4];
        assert_eq!(
            check(&request(endpoint, short_point, AUTH))
                .expect_err("short")
                .field,
            "keys.p256dh"
        );
        let not_on_the_curve = format!("BA{}", &POINT[2..]);
        assert_eq!(
            check(&request(endpoint, &not_on_the_curve, AUTH))
                .expect_err("off the curve")
                .field,
            "keys.p256dh"
        );
        assert_eq!(
            check(&request(endpoint, POINT, "BTBZMqHH6r4Tts7J"))
                .expect_err("12 bytes")
                .field,
            "keys.auth"
        );
        assert_eq!(
            check(&request(endpoint, POINT, "BTBZMqHH6r4Tts7J_aSIgg=="))
                .expect_err("padded")
                .field,
            "keys.auth"
        );
    }

    #[test]
    fn waits_double_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(2));
        assert_eq!(backoff(1), Duration::from_secs(4));
        assert_eq!(backoff(30), LONGEST_WAIT);
    }
}
