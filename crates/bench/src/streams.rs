//! Scenario `streams`: idle event streams held open on one node. Prints how many opened,
//! how fast, the node's resident memory per stream and the kernel's TCP memory.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};

use crate::net::{raise_fd_limit, source_clients};
use crate::people::{Person, register, run_tag};

/// Streams per source address: under the 28,232 ports of Linux's default range.
const STREAMS_PER_SOURCE: usize = 25_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Streams to open and hold.
    #[arg(long, default_value_t = 1_000)]
    streams: usize,
    /// People the streams belong to; each holds several, as open tabs would.
    #[arg(long, default_value_t = 100)]
    people: usize,
    /// Streams being opened at any moment.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// The natter process whose memory is measured (default: the only one running).
    #[arg(long)]
    natter_pid: Option<u32>,
    /// Seconds every stream stays open before memory is measured.
    #[arg(long, default_value_t = 2)]
    hold: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.streams == 0 || args.people == 0 {
        bail!("--streams and --people must be at least 1");
    }
    let files = raise_fd_limit(args.streams as u64 + 1_024);
    let pid = match args.natter_pid {
        Some(pid) => pid,
        None => only_natter()?,
    };
    let node = args.node.trim_end_matches('/').to_owned();
    let clients = source_clients(args.streams, STREAMS_PER_SOURCE)?;
    let sources = clients.len();
    let run = run_tag();
    let mut people = Vec::new();
    for i in 0..args.people.min(args.streams) {
        people.push(register(&clients[0], &node, &format!("o{run}_{i}")).await?);
    }

    let rss_before = resident_kib(pid)?;
    let tcp_before = kernel_tcp_kib();
    let cpu = crate::cpu::Sample::now();
    let started = Instant::now();
    let opened: Vec<anyhow::Result<Open>> = stream::iter(0..args.streams)
        .map(|i| {
            let client = &clients[i % sources];
            let person = &people[i % people.len()];
            open(client, &node, person)
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let opening = started.elapsed();
    let (open, failed): (Vec<_>, Vec<_>) = opened.into_iter().partition(Result::is_ok);
    let open: Vec<Open> = open.into_iter().flatten().collect();
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let rss_after = resident_kib(pid)?;
    let tcp_after = kernel_tcp_kib();
    let cpu = cpu.report_since();

    #[allow(clippy::cast_precision_loss)] // counts and KiB, for printing
    let (count, per_second, per_stream) = (
        open.len() as f64,
        open.len() as f64 / opening.as_secs_f64().max(f64::EPSILON),
        rss_after.saturating_sub(rss_before) as f64 / open.len().max(1) as f64,
    );
    println!(
        "streams: {count:.0}/{} open over {sources} source address(es), {} people, in {:.2}s = {per_second:.0} opened/s (fd limit {files})",
        args.streams,
        people.len(),
        opening.as_secs_f64()
    );
    println!(
        "natter memory: {:.1} MiB before, {:.1} MiB with the streams = {per_stream:.2} KiB RSS per stream",
        mib(rss_before),
        mib(rss_after)
    );
    if let (Some(before), Some(after)) = (tcp_before, tcp_after) {
        #[allow(clippy::cast_precision_loss)] // KiB, for printing
        let per_stream = after.saturating_sub(before) as f64 / open.len().max(1) as f64;
        println!(
            "kernel TCP memory (both ends, loopback): {:.1} MiB before, {:.1} MiB with the streams = {per_stream:.2} KiB per stream",
            mib(before),
            mib(after)
        );
    }
    println!("{cpu}");
    let open_count = open.len();
    drop(open);
    if let Some(Err(error)) = failed.into_iter().next() {
        bail!(
            "{} of {} streams did not open; the first: {error:#}",
            args.streams - open_count,
            args.streams
        );
    }
    Ok(())
}

/// An open stream whose first event has arrived; dropping it closes the connection.
struct Open(#[allow(dead_code)] reqwest::Response);

async fn open(client: &reqwest::Client, node: &str, person: &Person) -> anyhow::Result<Open> {
    let mut response = client
        .get(format!("{node}/api/events"))
        .bearer_auth(&person.token)
        .send()
        .await?
        .error_for_status()?;
    // The stream's first event (`ready`) says the server holds it open.
    response
        .chunk()
        .await?
        .context("the stream ended before its first event")?;
    Ok(Open(response))
}

#[allow(clippy::cast_precision_loss)] // KiB to MiB, for printing
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The process id of the one process named `natter`.
pub(crate) fn only_natter() -> anyhow::Result<u32> {
    let found: Vec<u32> = crate::cpu::running()
        .filter(|(_, dir)| {
            std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == "natter")
        })
        .map(|(pid, _)| pid)
        .collect();
    match found.as_slice() {
        [pid] => Ok(*pid),
        [] => bail!("no natter process is running"),
        _ => bail!("several natter processes run ({found:?}): say which with --natter-pid"),
    }
}

/// A process's resident memory in KiB (VmRSS).
pub(crate) fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .context("VmRSS")
}

/// Memory the kernel holds for TCP sockets, in KiB (/proc/net/sockstat counts pages).
fn kernel_tcp_kib() -> Option<u64> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let tcp = sockstat.lines().find(|line| line.starts_with("TCP:"))?;
    let mut words = tcp.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            let pages: u64 = words.next()?.parse().ok()?;
            return Some(pages * 4);
        }
    }
    None
}
