//! Scenario `presence`: what presence costs. Many event streams of people who share
//! conversations connect, half of the people leave, then those flap (connect and
//! leave again and again); for each phase it prints the `presence_changed` events the
//! streams received, per second, and the CPU natter and PostgreSQL used.
//!
//! Run natter with `--rate-limits off`: the scenario creates conversations and signs
//! people in faster than the default limits allow.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use tokio::task::JoinHandle;

use crate::net::{raise_fd_limit, source_clients};
use crate::people::{Person, STREAMS_PER_SESSION, register, run_tag, sign_in, start_conversation};

/// A phase is over when no presence event came for this long: longer than the 10 s
/// over which a person's changes are merged, so a change held back still counts...
const QUIET: Duration = Duration::from_secs(12);
/// ...or after this long.
const LONGEST: Duration = Duration::from_mins(1);

/// Streams per source address: under the ports of Linux's default range.
const STREAMS_PER_SOURCE: usize = 25_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Streams to open.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// People the streams belong to (each holds streams / people of them, at most 32).
    #[arg(long, default_value_t = 500)]
    people: usize,
    /// People per conversation: each person shares one conversation with this many.
    #[arg(long, default_value_t = 10)]
    group: usize,
    /// Streams being opened at any moment.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds the flapping phase lasts.
    #[arg(long, default_value_t = 20)]
    flap_seconds: u64,
}

/// One person: their sessions' tokens.
struct Member {
    tokens: Vec<String>,
}

/// Counts the `presence_changed` events every stream receives.
#[derive(Clone, Default)]
struct Tally(Arc<AtomicU64>);

impl Tally {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Waits until no event came for [`QUIET`] (at most [`LONGEST`]); answers the
    /// count.
    async fn settled(&self) -> u64 {
        let until = Instant::now() + LONGEST;
        let mut last = self.now();
        let mut still_since = Instant::now();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.now();
            if now != last {
                last = now;
                still_since = Instant::now();
            } else if still_since.elapsed() >= QUIET {
                break;
            }
        }
        last
    }
}

#[allow(clippy::too_many_lines)] // set-up and three phases, each measured alike, in order
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.people < 2 || args.streams < args.people || args.group < 2 {
        bail!("--people and --group must be at least 2, and --streams at least --people");
    }
    let per_person = args.streams.div_ceil(args.people);
    if per_person > 32 {
        bail!("more than 32 streams per person: raise --people");
    }
    let files = raise_fd_limit(args.streams as u64 * 2 + 1_024);
    let node = args.node.trim_end_matches('/').to_owned();
    let clients = source_clients(args.streams * 2, STREAMS_PER_SOURCE)?;
    let run = run_tag();

    // People, each with enough sessions for their streams, in conversations of `group`.
    let started = Instant::now();
    let made: Vec<anyhow::Result<(Person, Member)>> = stream::iter(0..args.people)
        .map(|i| {
            let (client, node, run) = (&clients[0], node.as_str(), &run);
            async move {
                let nickname = format!("p{run}_{i}");
                let person = register(client, node, &nickname).await?;
                let mut tokens = vec![person.token.clone()];
                while tokens.len() < per_person.div_ceil(STREAMS_PER_SESSION) {
                    tokens.push(sign_in(client, node, &nickname).await?);
                }
                Ok((person, Member { tokens }))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let (people, members): (Vec<Person>, Vec<Member>) = made
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    for (n, group) in people.chunks(args.group).enumerate() {
        if let [owner, others @ ..] = group
            && !others.is_empty()
        {
            let ids: Vec<i64> = others.iter().map(|p| p.id).collect();
            start_conversation(&clients[0], &node, owner, &ids, &format!("Group {n}"))
                .await
                .context("creating a conversation (run natter with --rate-limits off)")?;
        }
    }
    println!(
        "presence: {} people in conversations of {}, {} streams ({per_person} each), set up in {:.1}s (fd limit {files})",
        people.len(),
        args.group,
        args.streams,
        started.elapsed().as_secs_f64()
    );

    let tally = Tally::default();
    // Connecting: every stream opens; everyone comes online to everyone they share a
    // conversation with.
    let cpu = crate::cpu::Sample::now();
    let started = Instant::now();
    let opened: Vec<anyhow::Result<(usize, JoinHandle<()>)>> = stream::iter(0..args.streams)
        .map(|i| {
            let person = i % people.len();
            let token = members[person].tokens[(i / people.len()) / STREAMS_PER_SESSION].clone();
            let (client, node, tally) = (
                clients[i % clients.len()].clone(),
                node.clone(),
                tally.clone(),
            );
            async move { Ok((person, open(client, node, token, tally).await?)) }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let opening = started.elapsed();
    let mut streams: Vec<(usize, JoinHandle<()>)> =
        opened.into_iter().collect::<anyhow::Result<_>>()?;
    let events = tally.settled().await;
    report(
        &format!(
            "connect: {} streams in {:.2}s = {:.0} opened/s;",
            streams.len(),
            opening.as_secs_f64(),
            count(streams.len()) / opening.as_secs_f64().max(f64::EPSILON)
        ),
        events,
        started,
        &cpu,
    );

    // Leaving: the odd people close every stream; the others hear they went offline
    // (after the 10 s in which a change is merged).
    let before = tally.now();
    let cpu = crate::cpu::Sample::now();
    let started = Instant::now();
    streams.retain(|(person, handle)| {
        let leaving = person % 2 == 1;
        if leaving {
            handle.abort();
        }
        !leaving
    });
    let events = tally.settled().await - before;
    report(
        &format!("leave: {} people left;", people.len() / 2),
        events,
        started,
        &cpu,
    );

    // Flapping: the odd people connect and leave again and again.
    let before = tally.now();
    let cpu = crate::cpu::Sample::now();
    let started = Instant::now();
    let flap_for = Duration::from_secs(args.flap_seconds);
    let flaps = AtomicU64::new(0);
    stream::iter((1..people.len()).step_by(2))
        .for_each_concurrent(args.concurrency.max(1), |person| {
            let (token, flaps) = (&members[person].tokens[0], &flaps);
            let (client, node, tally) = (
                clients[person % clients.len()].clone(),
                node.clone(),
                tally.clone(),
            );
            async move {
                while started.elapsed() < flap_for {
                    if let Ok(handle) =
                        open(client.clone(), node.clone(), token.clone(), tally.clone()).await
                    {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        handle.abort();
                        flaps.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        })
        .await;
    let events = tally.settled().await - before;
    report(
        &format!(
            "flap: {} connections opened and closed by {} people in {}s;",
            flaps.load(Ordering::Relaxed),
            people.len() / 2,
            args.flap_seconds
        ),
        events,
        started,
        &cpu,
    );
    for (_, handle) in streams {
        handle.abort();
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)] // counts, for printing
fn count(n: usize) -> f64 {
    n as f64
}

fn report(what: &str, events: u64, started: Instant, cpu: &crate::cpu::Sample) {
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // counts, for printing
    let per_second = events as f64 / seconds.max(f64::EPSILON);
    println!(
        "{what} {events} presence_changed delivered in {seconds:.1}s = {per_second:.0} events/s"
    );
    println!("  {}", cpu.report_since());
}

/// Opens a stream as `token`; a task reads it, counting presence events, until
/// aborted (which closes the connection).
async fn open(
    client: reqwest::Client,
    node: String,
    token: String,
    tally: Tally,
) -> anyhow::Result<JoinHandle<()>> {
    let mut response = client
        .get(format!("{node}/api/events"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;
    response
        .chunk()
        .await?
        .context("the stream ended before its first event")?;
    Ok(tokio::spawn(async move {
        while let Ok(Some(chunk)) = response.chunk().await {
            let seen = chunk
                .windows(b"event: presence_changed".len())
                .filter(|w| *w == b"event: presence_changed")
                .count();
            tally.0.fetch_add(seen as u64, Ordering::Relaxed);
        }
    }))
}
