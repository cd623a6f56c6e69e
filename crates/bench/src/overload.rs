//! Scenario `overload`: with idle event streams open, measure the node's send
//! capacity, then offer twice that for a while, open loop (requests go out on
//! schedule whether or not earlier ones were answered). Prints what the node answered,
//! the latency of the sends it admitted, its resident memory, and how soon after the
//! load it is back to normal.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};

use crate::people::{
    Person, STREAMS_PER_SESSION, register, run_tag, sessions_for_streams, start_conversation,
};
use crate::streams::{only_natter, resident_kib};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Idle event streams held open throughout.
    #[arg(long, default_value_t = 1_000)]
    streams: usize,
    /// Senders, each with a conversation of its own.
    #[arg(long, default_value_t = 32)]
    senders: usize,
    /// Seconds the capacity is measured for (all senders, closed loop).
    #[arg(long, default_value_t = 5)]
    measure: u64,
    /// Seconds of overload.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The offered load, as a multiple of the measured capacity.
    #[arg(long, default_value_t = 2.0)]
    factor: f64,
    /// The natter process whose memory is sampled (default: the only one running).
    #[arg(long)]
    natter_pid: Option<u32>,
    /// Requests the tool keeps in flight at most, each on a kept-alive connection of
    /// its own (beyond, an offered request is counted as not sent): as many clients
    /// as are sending at once.
    #[arg(long, default_value_t = 2_000)]
    in_flight: usize,
}

/// What the node answered during a phase.
#[derive(Default)]
struct Answers {
    admitted: AtomicUsize,
    rate_limited: AtomicUsize,
    unavailable: AtomicUsize,
    other: AtomicUsize,
    failed: AtomicUsize,
    not_sent: AtomicUsize,
}

struct Sender {
    person: Person,
    conversation: i64,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

// One scenario, read top to bottom; counts become rates for printing.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.senders == 0 || args.factor <= 0.0 {
        bail!("--senders must be at least 1 and --factor above 0");
    }
    crate::net::raise_fd_limit((args.streams + args.in_flight) as u64 + 1_024);
    let pid = match args.natter_pid {
        Some(pid) => pid,
        None => only_natter()?,
    };
    let node = args.node.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let run = run_tag();
    let listener = register(&client, &node, &format!("o{run}_listener")).await?;
    let mut senders = Vec::new();
    for i in 0..args.senders {
        let person = register(&client, &node, &format!("o{run}_{i}")).await?;
        let conversation =
            start_conversation(&client, &node, &person, &[listener.id], "overload").await?;
        senders.push(Arc::new(Sender {
            person,
            conversation,
        }));
    }
    let streams = hold_streams(&client, &node, &run, args.streams).await?;
    let rss_idle = resident_kib(pid)?;
    println!(
        "overload: {} idle streams open; natter {} MiB resident",
        streams.len(),
        rss_idle / 1024
    );

    // Normal: one send at a time.
    let mut normal = histogram()?;
    for n in 0..50 {
        let before = Instant::now();
        if post(&client, &node, &senders[n % senders.len()], n).await? == StatusCode::CREATED {
            normal.record(micros(before))?;
        }
    }
    let normal_p50 = Duration::from_micros(normal.value_at_quantile(0.5));

    // Capacity: every sender as fast as it is answered.
    let capacity = closed_loop(&client, &node, &senders, Duration::from_secs(args.measure)).await?;
    let capacity_rate = capacity as f64 / args.measure.max(1) as f64;
    println!(
        "capacity: {capacity_rate:.0} sends/s ({} senders, closed loop, {}s); one at a time p50 {:.2} ms",
        args.senders,
        args.measure,
        normal_p50.as_secs_f64() * 1000.0
    );

    // Overload, open loop.
    let offered_rate = (capacity_rate * args.factor).max(1.0);
    let interval = Duration::from_secs_f64(1.0 / offered_rate);
    let answers = Arc::new(Answers::default());
    let admitted = Arc::new(Mutex::new(histogram()?));
    let in_flight = Arc::new(Semaphore::new(args.in_flight.max(1)));
    let mut rss_peak = rss_idle;
    let started = Instant::now();
    let length = Duration::from_secs(args.seconds);
    let mut next_sample = started;
    let mut offered = 0_usize;
    let mut tasks = tokio::task::JoinSet::new();
    while started.elapsed() < length {
        let due = started + interval.mul_f64(offered as f64);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        if Instant::now() >= next_sample {
            rss_peak = rss_peak.max(resident_kib(pid)?);
            next_sample += Duration::from_millis(250);
        }
        offered += 1;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            answers.not_sent.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let sender = senders[offered % senders.len()].clone();
        let (client, node, answers, admitted) = (
            client.clone(),
            node.clone(),
            answers.clone(),
            admitted.clone(),
        );
        tasks.spawn(async move {
            let before = Instant::now();
            let counter = match post(&client, &node, &sender, offered).await {
                Ok(StatusCode::CREATED) => {
                    admitted.lock().await.record(micros(before)).ok();
                    &answers.admitted
                }
                Ok(StatusCode::TOO_MANY_REQUESTS) => &answers.rate_limited,
                Ok(StatusCode::SERVICE_UNAVAILABLE) => &answers.unavailable,
                Ok(_) => &answers.other,
                Err(_) => &answers.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let load_ended = Instant::now();
    // Back to normal: five sends in a row answered within 3× the normal p50 (at least
    // 10 ms), probed every 100 ms from the moment the offered load stops.
    let normal_bound = (normal_p50 * 3).max(Duration::from_millis(10));
    let mut good_in_a_row = 0;
    let mut recovered = None;
    let mut probe = 0;
    while load_ended.elapsed() < Duration::from_secs(30) {
        let before = Instant::now();
        let status = post(&client, &node, &senders[probe % senders.len()], probe).await?;
        probe += 1;
        if status == StatusCode::CREATED && before.elapsed() <= normal_bound {
            good_in_a_row += 1;
            if good_in_a_row == 5 {
                recovered = Some(before.duration_since(load_ended));
                break;
            }
        } else {
            good_in_a_row = 0;
        }
        rss_peak = rss_peak.max(resident_kib(pid)?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while tasks.join_next().await.is_some() {}
    let rss_after = resident_kib(pid)?;

    let count = |n: &AtomicUsize| n.load(Ordering::Relaxed);
    println!(
        "offered {offered} sends in {}s ({offered_rate:.0}/s = {}× capacity): {} admitted, {} answered 429, {} answered 503, {} other, {} failed, {} not sent (tool's in-flight bound)",
        args.seconds,
        args.factor,
        count(&answers.admitted),
        count(&answers.rate_limited),
        count(&answers.unavailable),
        count(&answers.other),
        count(&answers.failed),
        count(&answers.not_sent),
    );
    println!(
        "admitted sends' latency ms: {}",
        crate::percentiles(&*admitted.lock().await)
    );
    println!(
        "natter resident MiB: {} idle, {} at peak, {} after",
        rss_idle / 1024,
        rss_peak / 1024,
        rss_after / 1024
    );
    match recovered {
        Some(after) => println!(
            "back to normal (5 sends in a row within {:.1} ms) {:.2}s after the load stopped",
            normal_bound.as_secs_f64() * 1000.0,
            after.as_secs_f64()
        ),
        None => println!("not back to normal within 30s after the load stopped"),
    }
    for stream in streams {
        stream.abort();
    }
    Ok(())
}

/// One send as `sender`; answers the status.
async fn post(
    client: &reqwest::Client,
    node: &str,
    sender: &Sender,
    n: usize,
) -> anyhow::Result<StatusCode> {
    let response = client
        .post(format!(
            "{node}/api/conversations/{}/messages",
            sender.conversation
        ))
        .bearer_auth(&sender.person.token)
        .json(&json!({ "content": format!("overload {n}") }))
        .send()
        .await?;
    Ok(response.status())
}

/// Sends by every sender, each as fast as it is answered, for `length`; answers how
/// many were admitted.
async fn closed_loop(
    client: &reqwest::Client,
    node: &str,
    senders: &[Arc<Sender>],
    length: Duration,
) -> anyhow::Result<usize> {
    let until = Instant::now() + length;
    let mut tasks = Vec::new();
    for sender in senders {
        let (client, node, sender) = (client.clone(), node.to_owned(), sender.clone());
        tasks.push(tokio::spawn(async move {
            let mut admitted = 0;
            let mut n = 0;
            while Instant::now() < until {
                if post(&client, &node, &sender, n).await? == StatusCode::CREATED {
                    admitted += 1;
                }
                n += 1;
            }
            anyhow::Ok(admitted)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total)
}

/// Opens `count` event streams, over as many people and sessions as the default caps
/// need, and keeps reading them in the background.
async fn hold_streams(
    client: &reqwest::Client,
    node: &str,
    run: &str,
    count: usize,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let tokens = sessions_for_streams(client, node, &format!("o{run}_h"), count).await?;
    let mut held = Vec::new();
    for n in 0..count {
        let mut response = client
            .get(format!("{node}/api/events"))
            .bearer_auth(&tokens[n / STREAMS_PER_SESSION])
            .send()
            .await?
            .error_for_status()?;
        held.push(tokio::spawn(async move {
            while let Ok(Some(_)) = response.chunk().await {}
        }));
    }
    Ok(held)
}
