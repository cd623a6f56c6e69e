//! natter-bench: drives running natter nodes over real HTTP on loopback and prints
//! numbers. Benchmarks print; tests never assert on timings.

#![allow(clippy::print_stdout)] // printing numbers is what this tool is for

mod cpu;
mod history;
mod latency;
mod net;
mod overload;
mod people;
mod pg;
mod presence;
mod replay_storm;
mod search;
mod send;
mod storm;
mod streams;
mod upload;
mod web;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Load tool for natter: drives running nodes and prints numbers")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Send-to-delivery latency: members with open streams, one sender at a fixed rate.
    Latency(latency::Args),
    /// Durable sends: concurrent senders as fast as the server answers.
    Send(send::Args),
    /// Idle event streams held open: how many, and memory per stream.
    Streams(streams::Args),
    /// A long history seeded in PostgreSQL: page reads at the newest, middle and oldest.
    History(history::Args),
    /// Open streams drop and reconnect with Last-Event-ID while messages flow.
    Storm(storm::Args),
    /// The web client's first load: bytes on the wire and time to the conversation list.
    Web(web::Args),
    /// Twice the node's send capacity, open loop, with 1,000 streams open: what it
    /// admits, how fast, its memory, and how soon it is back to normal.
    Overload(overload::Args),
    /// A long history across many conversations seeded in PostgreSQL: search
    /// latency for words, rare words and parts of words.
    Search(search::Args),
    /// Streams reopened with Last-Event-ID: 1 over a long log: another person's
    /// latency meanwhile.
    ReplayStorm(replay_storm::Args),
    /// Presence's cost: streams of people sharing conversations connect, leave and
    /// flap; presence events delivered per second and the CPU used.
    Presence(presence::Args),
    /// Concurrent large uploads (MB/s, and the node's memory while they stream), then
    /// thumbnail requests (latency).
    Upload(upload::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    print_machine();
    match cli.scenario {
        Scenario::Latency(args) => latency::run(args).await,
        Scenario::Send(args) => send::run(args).await,
        Scenario::Streams(args) => streams::run(args).await,
        Scenario::History(args) => history::run(args).await,
        Scenario::Storm(args) => storm::run(args).await,
        Scenario::Web(args) => web::run(args).await,
        Scenario::Overload(args) => overload::run(args).await,
        Scenario::ReplayStorm(args) => replay_storm::run(args).await,
        Scenario::Search(args) => search::run(args).await,
        Scenario::Upload(args) => upload::run(args).await,
        Scenario::Presence(args) => presence::run(args).await,
    }
}

/// A latency histogram kept in microseconds, at quantile `q`, in milliseconds.
#[allow(clippy::cast_precision_loss)] // microseconds to milliseconds, for printing
fn millis(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// `p50=… p90=… p99=… max=…` in milliseconds.
fn percentiles(h: &hdrhistogram::Histogram<u64>) -> String {
    let [p50, p90, p99, max] = [0.5, 0.9, 0.99, 1.0].map(|q| millis(h, q));
    format!("p50={p50:.2} p90={p90:.2} p99={p99:.2} max={max:.2}")
}

/// What the figures were measured on: cores, memory and the load average right now.
fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u32>().ok()
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", f64::from(kib) / 1_048_576.0),
        );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "machine: {cores} cores, {memory} memory, load average {}",
        load.join(" ")
    );
}
