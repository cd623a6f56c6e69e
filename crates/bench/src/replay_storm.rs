//! Scenario `replay-storm`: with a long event log of other people's conversations,
//! a few accounts keep reopening event streams with `Last-Event-ID: 1`, so that the
//! node replays over and over; meanwhile another person's `GET /api/me` is timed.
//! Prints that person's latency before and during the storm.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use hdrhistogram::Histogram;

use crate::people::{
    Person, STREAMS_PER_SESSION, register, run_tag, send, sessions_for_streams, start_conversation,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Messages seeded first, in conversations the attackers are not in.
    #[arg(long, default_value_t = 150_000)]
    events: usize,
    /// Streams replaying at once.
    #[arg(long, default_value_t = 128)]
    replays: usize,
    /// How long the storm lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// How long each stream stays open before it is reopened, in milliseconds.
    #[arg(long, default_value_t = 250)]
    hold_ms: u64,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

fn record(histogram: &mut Histogram<u64>, since: Instant) -> anyhow::Result<()> {
    let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    histogram.record(micros.max(1))?;
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.replays == 0 {
        bail!("--replays must be at least 1");
    }
    let node = args.node.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let run = run_tag();

    let seeded = Instant::now();
    seed(&client, &node, &run, args.events).await?;
    println!(
        "replay-storm: seeded {} messages in {:.1}s",
        args.events,
        seeded.elapsed().as_secs_f64()
    );

    let sessions = sessions_for_streams(&client, &node, &format!("a{run}_"), args.replays).await?;
    let victim = register(&client, &node, &format!("v{run}")).await?;
    let baseline = time_me(&client, &node, &victim, Duration::from_secs(2), None).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let (opened, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut attackers = Vec::new();
    for n in 0..args.replays {
        let token = sessions[n / STREAMS_PER_SESSION % sessions.len()].clone();
        let (client, url) = (client.clone(), format!("{node}/api/events"));
        let (stop, opened, refused) = (stop.clone(), opened.clone(), refused.clone());
        let hold = Duration::from_millis(args.hold_ms);
        attackers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let answer = client
                    .get(&url)
                    .bearer_auth(&token)
                    .header("Last-Event-ID", "1")
                    .send()
                    .await;
                match answer {
                    Ok(response) if response.status().is_success() => {
                        opened.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(hold).await;
                    }
                    Ok(_) | Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(hold).await;
                    }
                }
            }
        }));
    }
    let during = time_me(
        &client,
        &node,
        &victim,
        Duration::from_secs(args.seconds),
        Some(&stop),
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await?;
    }
    println!(
        "replay-storm: {} streams with Last-Event-ID: 1 for {}s over {} sessions: {} opened, {} refused",
        args.replays,
        args.seconds,
        sessions.len(),
        opened.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    println!(
        "another person's GET /api/me ms, before: {} ({} requests)",
        crate::percentiles(&baseline),
        baseline.len()
    );
    println!(
        "another person's GET /api/me ms, during: {} ({} requests)",
        crate::percentiles(&during),
        during.len()
    );
    Ok(())
}

/// `events` messages in conversations of 8 pairs of people, 8 senders at once.
async fn seed(
    client: &reqwest::Client,
    node: &str,
    run: &str,
    events: usize,
) -> anyhow::Result<()> {
    const SEEDERS: usize = 8;
    let mut tasks = Vec::new();
    for s in 0..SEEDERS {
        let sender = register(client, node, &format!("e{run}_{s}")).await?;
        let other = register(client, node, &format!("e{run}_{s}b")).await?;
        let conversation = start_conversation(client, node, &sender, &[other.id], "log").await?;
        let count = events / SEEDERS + usize::from(s < events % SEEDERS);
        let (client, node) = (client.clone(), node.to_owned());
        tasks.push(tokio::spawn(async move {
            for n in 0..count {
                send(&client, &node, &sender, conversation, &format!("seed {n}")).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// `GET /api/me` as `who`, one after another, for `length` (or until `stop`).
async fn time_me(
    client: &reqwest::Client,
    node: &str,
    who: &Person,
    length: Duration,
    stop: Option<&AtomicBool>,
) -> anyhow::Result<Histogram<u64>> {
    let mut latencies = histogram()?;
    let until = Instant::now() + length;
    while Instant::now() < until && !stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
        let before = Instant::now();
        client
            .get(format!("{node}/api/me"))
            .bearer_auth(&who.token)
            .send()
            .await?
            .error_for_status()?;
        record(&mut latencies, before)?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(latencies)
}
