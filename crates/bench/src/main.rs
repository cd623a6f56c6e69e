//! natter-bench: drives running natter nodes over real HTTP on loopback and prints
//! numbers. Scenario `latency`: members hold event streams (spread over the given
//! nodes) while one member sends messages at a fixed rate through the first node;
//! prints send-to-delivery latency over every delivery.

#![allow(clippy::print_stdout)] // printing numbers is what this tool is for

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Load tool for natter: prints send-to-delivery latency")]
struct Args {
    /// Base URLs of the natter nodes (streams are spread over them; sends go to the first).
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// Members of the conversation, each with an open stream.
    #[arg(long, default_value_t = 10)]
    members: usize,
    /// Messages to send.
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Messages per second.
    #[arg(long, default_value_t = 100)]
    rate: u64,
}

struct Person {
    id: i64,
    token: String,
}

async fn register(client: &reqwest::Client, node: &str, nickname: &str) -> anyhow::Result<Person> {
    let reply: Value = client
        .post(format!("{node}/api/users"))
        .json(&json!({"nickname": nickname, "password": "benchmark password"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(Person {
        id: reply["user"]["id"].as_i64().context("user id")?,
        token: reply["token"].as_str().context("token")?.to_owned(),
    })
}

/// Registers `members` people and a conversation of all of them.
async fn setup(
    client: &reqwest::Client,
    first: &str,
    members: usize,
) -> anyhow::Result<(Vec<Person>, i64)> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut people = Vec::new();
    for i in 0..members {
        people.push(register(client, first, &format!("b{}_{i}", &run[..8])).await?);
    }
    let others: Vec<i64> = people[1..].iter().map(|p| p.id).collect();
    let conversation: Value = client
        .post(format!("{first}/api/conversations"))
        .bearer_auth(&people[0].token)
        .json(&json!({"title": "bench", "member_ids": others}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok((
        people,
        conversation["id"].as_i64().context("conversation id")?,
    ))
}

type Sent = Arc<Mutex<HashMap<i64, Instant>>>;

#[tokio::main]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom; the next issue splits scenarios out
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.members < 2 {
        bail!("--members must be at least 2");
    }
    let client = reqwest::Client::new();
    let first = &args.nodes[0];
    let (people, conversation) = setup(&client, first, args.members).await?;

    let sent: Sent = Arc::default();
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let expected = args.messages * args.members;
    let delivered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut streams = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let node = args.nodes[i % args.nodes.len()].clone();
        let response = client
            .get(format!("{node}/api/events"))
            .bearer_auth(&person.token)
            .send()
            .await?
            .error_for_status()?;
        let (sent, histogram, delivered) = (sent.clone(), histogram.clone(), delivered.clone());
        streams.push(tokio::spawn(async move {
            let mut events = response.bytes_stream().eventsource();
            while let Some(Ok(event)) = events.next().await {
                if event.event != "message_created" {
                    continue;
                }
                let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
                    continue;
                };
                let Some(id) = data["message"]["id"].as_i64() else {
                    continue;
                };
                let at = sent.lock().ok().and_then(|s| s.get(&id).copied());
                if let (Some(at), Ok(mut h)) = (at, histogram.lock()) {
                    let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
                    let _ = h.record(micros.max(1));
                }
                delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    // Let every stream register before sending.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let interval = Duration::from_micros(1_000_000 / args.rate.max(1));
    let mut ticker = tokio::time::interval(interval);
    let started = Instant::now();
    for i in 0..args.messages {
        ticker.tick().await;
        // The clock starts before the request: latency includes the send itself.
        let before = Instant::now();
        let reply: Value = client
            .post(format!("{first}/api/conversations/{conversation}/messages"))
            .bearer_auth(&people[0].token)
            .json(&json!({"content": format!("bench {i}")}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = reply["id"].as_i64().context("message id")?;
        if let Ok(mut s) = sent.lock() {
            s.insert(id, before);
        }
    }
    let sending = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered.load(std::sync::atomic::Ordering::Relaxed) < expected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for stream in streams {
        stream.abort();
    }
    let got = delivered.load(std::sync::atomic::Ordering::Relaxed);
    let h = histogram
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock"))?;
    println!(
        "latency: nodes={} members={} messages={} rate={}/s sent_in={:.2}s deliveries={got}/{expected} lost={}",
        args.nodes.len(),
        args.members,
        args.messages,
        args.rate,
        sending.as_secs_f64(),
        expected.saturating_sub(got)
    );
    #[allow(clippy::cast_precision_loss)] // microseconds to milliseconds for printing
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "send-to-delivery ms: p50={:.2} p90={:.2} p99={:.2} max={:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0)
    );
    if got < expected {
        bail!("{} deliveries lost", expected - got);
    }
    Ok(())
}
