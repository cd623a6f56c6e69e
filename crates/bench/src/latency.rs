//! Scenario `latency`: members hold event streams (spread over the given nodes) while
//! one member sends messages at a fixed rate through the first node; prints
//! send-to-delivery latency over every delivery.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::bail;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::sync::watch;

use crate::people::{Person, register, run_tag, send, start_conversation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URLs of the natter nodes (streams are spread over them; sends go to the first).
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// Members of the conversation, each with an open stream.
    #[arg(long, default_value_t = 10)]
    members: usize,
    /// Messages to send.
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Messages per second, over all senders.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Concurrent senders sharing the rate; sender k posts through node k mod nodes.
    #[arg(long, default_value_t = 1)]
    senders: usize,
}

/// Registers `members` people and a conversation of all of them.
async fn setup(
    client: &reqwest::Client,
    first: &str,
    members: usize,
) -> anyhow::Result<(Vec<Person>, i64)> {
    let run = run_tag();
    let mut people = Vec::new();
    for i in 0..members {
        people.push(register(client, first, &format!("b{run}_{i}")).await?);
    }
    let others: Vec<i64> = people[1..].iter().map(|p| p.id).collect();
    let conversation = start_conversation(client, first, &people[0], &others, "bench").await?;
    Ok((people, conversation))
}

/// Each message by its number (its text is `bench N`): when its send began, and
/// through which node. Noted before the send, since a delivery may beat the reply;
/// written once and read by every stream without a lock.
type Sent = Arc<Vec<OnceLock<(Instant, usize)>>>;

/// Send-to-delivery latency, by whether the stream is on the sending node. Each
/// stream keeps its own, merged at the end: a shared one behind a lock was where
/// 1,000 streams on the tool's threads queued.
struct Latencies {
    same_node: Histogram<u64>,
    cross_node: Histogram<u64>,
}

impl Latencies {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            same_node: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            cross_node: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        })
    }
}

/// The part of a `message_created` event the tool reads, borrowed from the event's
/// text rather than built into a JSON tree.
#[derive(Deserialize)]
struct Created<'a> {
    #[serde(borrow)]
    message: Content<'a>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
}

#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.members < 2 || args.senders == 0 || args.senders > args.members {
        bail!("--members must be at least 2, --senders between 1 and --members");
    }
    let client = reqwest::Client::new();
    let first = &args.nodes[0];
    let (people, conversation) = setup(&client, first, args.members).await?;

    let sent: Sent = Arc::new((0..args.messages).map(|_| OnceLock::new()).collect());
    let expected = args.messages * args.members;
    let delivered = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut streams = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let node_index = i % args.nodes.len();
        let node = args.nodes[node_index].clone();
        let response = client
            .get(format!("{node}/api/events"))
            .bearer_auth(&person.token)
            .send()
            .await?
            .error_for_status()?;
        let (sent, delivered, mut stopped) = (sent.clone(), delivered.clone(), stopped.clone());
        let mut latencies = Latencies::new()?;
        streams.push(tokio::spawn(async move {
            let mut events = response.bytes_stream().eventsource();
            loop {
                let event = tokio::select! {
                    next = events.next() => match next {
                        Some(Ok(event)) => event,
                        _ => break,
                    },
                    _ = stopped.changed() => break,
                };
                if event.event != "message_created" {
                    continue;
                }
                let Some(number) =
                    serde_json::from_str::<Created>(&event.data)
                        .ok()
                        .and_then(|created| {
                            created
                                .message
                                .content
                                .strip_prefix("bench ")?
                                .parse::<usize>()
                                .ok()
                        })
                else {
                    continue;
                };
                if let Some((at, sent_through)) = sent.get(number).and_then(OnceLock::get) {
                    let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
                    let h = if *sent_through == node_index {
                        &mut latencies.same_node
                    } else {
                        &mut latencies.cross_node
                    };
                    let _ = h.record(micros.max(1));
                }
                delivered.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    // Let every stream register before sending.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let people = Arc::new(people);
    let cpu = crate::cpu::Sample::now();
    let started = Instant::now();
    let mut senders = Vec::new();
    for k in 0..args.senders {
        let (client, people, sent) = (client.clone(), people.clone(), sent.clone());
        let node_index = k % args.nodes.len();
        let node = args.nodes[node_index].clone();
        // Sender k sends messages k, k + senders, …, each at its share of the rate.
        let share = (k..args.messages).step_by(args.senders);
        let interval =
            Duration::from_micros(1_000_000 * u64::try_from(args.senders)? / args.rate.max(1));
        senders.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            for i in share {
                ticker.tick().await;
                // The clock starts before the request: latency includes the send itself.
                let _ = sent[i].set((Instant::now(), node_index));
                send(
                    &client,
                    &node,
                    &people[k],
                    conversation,
                    &format!("bench {i}"),
                )
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for sender in senders {
        sender.await??;
    }
    let sending = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivering = started.elapsed();
    let cpu = cpu.report_since();
    let got = delivered.load(Ordering::Relaxed);
    stop.send_replace(true);
    let mut h = Latencies::new()?;
    for stream in streams {
        let latencies = stream.await?;
        h.same_node.add(&latencies.same_node)?;
        h.cross_node.add(&latencies.cross_node)?;
    }
    println!(
        "latency: nodes={} members={} senders={} messages={} rate={}/s sent_in={:.2}s deliveries={got}/{expected} lost={}",
        args.nodes.len(),
        args.members,
        args.senders,
        args.messages,
        args.rate,
        sending.as_secs_f64(),
        expected.saturating_sub(got)
    );
    let mut all = h.same_node.clone();
    all.add(&h.cross_node)?;
    print_latencies("send-to-delivery ms:", &all);
    if args.nodes.len() > 1 {
        print_latencies("  on the sending node:", &h.same_node);
        print_latencies("  on another node:", &h.cross_node);
    }
    #[allow(clippy::cast_precision_loss)] // a count over seconds, for printing
    let per_second = got as f64 / delivering.as_secs_f64().max(f64::EPSILON);
    println!(
        "deliveries: {got} in {:.2}s = {per_second:.0}/s (first send to last delivery)",
        delivering.as_secs_f64()
    );
    println!("{cpu}");
    if got < expected {
        bail!("{} deliveries lost", expected - got);
    }
    Ok(())
}

fn print_latencies(label: &str, h: &Histogram<u64>) {
    println!("{label} {} ({} deliveries)", crate::percentiles(h), h.len());
}
