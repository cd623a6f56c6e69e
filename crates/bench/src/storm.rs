//! Scenario `storm`: many open streams drop at once and reconnect with `Last-Event-ID`,
//! spread over a window of seconds, while messages keep flowing. Prints how long each
//! reconnected stream took to catch up with what had been sent when it reconnected,
//! and checks that every stream got every message of its conversations exactly once.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use crate::net::{raise_fd_limit, source_clients};
use crate::people::{Person, register, run_tag, send, start_conversation};

/// Streams per source address: each reconnect takes a second port while the first
/// waits out TIME_WAIT, and `bind` picks from half the ephemeral range (about 14,000
/// ports here): with 9,500 streams on an address the search for a free port walked
/// most of it per connection and took the tool's core. Few per address keeps it short.
const STREAMS_PER_SOURCE: usize = 2_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Streams open before the storm; each drops and reconnects once.
    #[arg(long, default_value_t = 20_000)]
    streams: usize,
    /// People the streams belong to (each holds streams/people of them, as tabs).
    #[arg(long, default_value_t = 100)]
    people: usize,
    /// People per conversation; each person is in one.
    #[arg(long, default_value_t = 10)]
    conversation_size: usize,
    /// Messages per second, over all conversations, for the whole run.
    #[arg(long, default_value_t = 20)]
    rate: u64,
    /// Seconds over which the dropped streams reconnect.
    #[arg(long, default_value_t = 10)]
    window: u64,
    /// Streams being opened at any moment before the storm.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

/// What the whole run shares.
struct Shared {
    /// Per conversation: the highest message id its sender has had acknowledged.
    acknowledged: Vec<AtomicI64>,
    /// Per conversation: how many messages were acknowledged.
    sent: Vec<AtomicUsize>,
    catch_up: std::sync::Mutex<Histogram<u64>>,
    delivered: AtomicUsize,
    reconnected: AtomicUsize,
}

/// What one stream received over the run, and how often a message came twice.
#[derive(Default)]
struct Received {
    ids: HashSet<i64>,
    doubled: usize,
}

#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.streams == 0 || args.people < 2 || args.conversation_size < 2 {
        bail!("--streams must be at least 1, --people and --conversation-size at least 2");
    }
    let files = raise_fd_limit(2 * args.streams as u64 + 1_024);
    let node = args.node.trim_end_matches('/').to_owned();
    let clients = source_clients(args.streams, STREAMS_PER_SOURCE)?;
    let run = run_tag();
    let mut people = Vec::new();
    for i in 0..args.people {
        people.push(Arc::new(
            register(&clients[0], &node, &format!("r{run}_{i}")).await?,
        ));
    }
    // Conversations of consecutive people; the first of each sends.
    let mut conversations = Vec::new();
    for group in people.chunks(args.conversation_size) {
        if group.len() < 2 {
            break;
        }
        let others: Vec<i64> = group[1..].iter().map(|p| p.id).collect();
        let id = start_conversation(&clients[0], &node, &group[0], &others, "storm").await?;
        conversations.push((id, group[0].clone()));
    }
    let conversation_of =
        |person: usize| (person / args.conversation_size).min(conversations.len() - 1);
    let shared = Arc::new(Shared {
        acknowledged: conversations.iter().map(|_| AtomicI64::new(0)).collect(),
        sent: conversations.iter().map(|_| AtomicUsize::new(0)).collect(),
        catch_up: std::sync::Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        delivered: AtomicUsize::new(0),
        reconnected: AtomicUsize::new(0),
    });

    // Open every stream and wait for its `ready`.
    let (storm, storm_started) = watch::channel(());
    let ready = Arc::new(Semaphore::new(0));
    let opening = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let window = Duration::from_secs(args.window);
    let streams = u32::try_from(args.streams)?;
    let mut tasks = Vec::new();
    let mut records = Vec::new();
    for (i, n) in (0..args.streams).zip(0..streams) {
        let person_index = i % people.len();
        let record = Arc::new(std::sync::Mutex::new(Received::default()));
        records.push((conversation_of(person_index), record.clone()));
        let stream = Stream {
            client: clients[i % clients.len()].clone(),
            url: format!("{node}/api/events"),
            person: people[person_index].clone(),
            conversation: conversation_of(person_index),
            // Reconnects are spread evenly over the window.
            delay: window * n / streams,
            shared: shared.clone(),
            record,
        };
        tasks.push(tokio::spawn(stream.run(
            storm_started.clone(),
            ready.clone(),
            opening.clone(),
        )));
    }
    let started = Instant::now();
    tokio::select! {
        acquired = ready.acquire_many(streams) => acquired?.forget(),
        failed = futures_util::future::select_all(tasks.iter_mut()) => {
            let (result, _, _) = failed;
            bail!("a stream ended before the storm: {:?}", result?.err());
        }
    }
    println!(
        "storm: {} streams open in {:.2}s over {} source address(es), {} people in {} conversations (fd limit {files})",
        args.streams,
        started.elapsed().as_secs_f64(),
        clients.len(),
        people.len(),
        conversations.len()
    );

    // Messages flow for a window before the storm, during it and a window after.
    let sender = {
        let (client, node, shared) = (clients[0].clone(), node.clone(), shared.clone());
        let conversations = conversations.clone();
        let interval = Duration::from_micros(1_000_000 / args.rate.max(1));
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            for n in 0.. {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopped.changed() => break,
                }
                let c = n % conversations.len();
                let (id, person) = &conversations[c];
                let message = send(&client, &node, person, *id, &format!("storm {n}")).await?;
                shared.acknowledged[c].fetch_max(message, Ordering::AcqRel);
                shared.sent[c].fetch_add(1, Ordering::AcqRel);
            }
            anyhow::Ok(())
        });
        (stop, task)
    };
    let cpu = crate::cpu::Sample::now();
    tokio::time::sleep(window).await;
    let _ = storm.send(());
    tokio::time::sleep(2 * window).await;
    let (stop, sender) = sender;
    let _ = stop.send(true);
    sender.await??;
    let sending = cpu.report_since();

    // Every stream now gets what was sent; give stragglers a moment.
    let expected: usize = (0..args.streams)
        .map(|i| shared.sent[conversation_of(i % people.len())].load(Ordering::Acquire))
        .sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.delivered.load(Ordering::Acquire) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in tasks {
        task.abort();
    }
    let mut lost = 0;
    let mut doubled = 0;
    for (conversation, record) in &records {
        let sent = shared.sent[*conversation].load(Ordering::Acquire);
        let record = record.lock().map_err(|_| anyhow::anyhow!("record lock"))?;
        lost += sent.saturating_sub(record.ids.len());
        doubled += record.doubled;
    }
    let reconnected = shared.reconnected.load(Ordering::Acquire);
    let h = shared
        .catch_up
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock"))?;
    let total_sent: usize = shared.sent.iter().map(|s| s.load(Ordering::Acquire)).sum();
    println!(
        "storm: {reconnected}/{} streams reconnected within {}s with Last-Event-ID while {total_sent} messages were sent at {}/s",
        args.streams, args.window, args.rate
    );
    println!(
        "catch-up ms (reconnect to the last message sent before it): {}",
        crate::percentiles(&h)
    );
    println!(
        "deliveries: {}/{expected}, lost={lost}, doubled={doubled}",
        shared.delivered.load(Ordering::Acquire)
    );
    println!("{sending}");
    if lost > 0 || doubled > 0 || reconnected < args.streams {
        bail!(
            "{lost} lost, {doubled} doubled, {reconnected} of {} reconnected",
            args.streams
        );
    }
    Ok(())
}

struct Stream {
    client: reqwest::Client,
    url: String,
    person: Arc<Person>,
    conversation: usize,
    delay: Duration,
    shared: Arc<Shared>,
    record: Arc<std::sync::Mutex<Received>>,
}

impl Stream {
    /// Connects, reads until the storm, waits its turn, then reconnects from its cursor
    /// and reads until the run ends it.
    async fn run(
        self,
        mut storm: watch::Receiver<()>,
        ready: Arc<Semaphore>,
        opening: Arc<Semaphore>,
    ) -> anyhow::Result<()> {
        let permit = opening.acquire().await?;
        let response = self.connect(None).await?;
        drop(permit);
        let mut events = response.bytes_stream().eventsource();
        // The first event is `ready`, with the position to resume from.
        let mut cursor = match events.next().await {
            Some(Ok(event)) if event.event == "ready" => event.id,
            other => bail!("no ready event: {other:?}"),
        };
        ready.add_permits(1);
        loop {
            tokio::select! {
                _ = storm.changed() => break,
                event = events.next() => match event {
                    Some(Ok(event)) => { self.take(&event, &mut cursor); }
                    _ => bail!("a stream ended before the storm"),
                },
            }
        }
        drop(events); // the drop: the connection closes
        tokio::time::sleep(self.delay).await;

        let target = self.shared.acknowledged[self.conversation].load(Ordering::Acquire);
        let at = Instant::now();
        let response = self.connect(Some(&cursor)).await?;
        self.shared.reconnected.fetch_add(1, Ordering::AcqRel);
        let mut caught_up = self.has_seen(target);
        if caught_up {
            self.record_catch_up(at);
        }
        let mut events = response.bytes_stream().eventsource();
        while let Some(Ok(event)) = events.next().await {
            let id = self.take(&event, &mut cursor);
            if !caught_up && id.is_some_and(|id| id >= target) {
                caught_up = true;
                self.record_catch_up(at);
            }
        }
        bail!("a stream ended after reconnecting")
    }

    fn has_seen(&self, id: i64) -> bool {
        id == 0
            || self
                .record
                .lock()
                .is_ok_and(|r| r.ids.iter().any(|seen| *seen >= id))
    }

    async fn connect(&self, cursor: Option<&str>) -> anyhow::Result<reqwest::Response> {
        let mut request = self.client.get(&self.url).bearer_auth(&self.person.token);
        if let Some(cursor) = cursor {
            request = request.header("Last-Event-ID", cursor);
        }
        Ok(request.send().await?.error_for_status()?)
    }

    /// Records a message event; answers its message id.
    fn take(&self, event: &eventsource_stream::Event, cursor: &mut String) -> Option<i64> {
        if !event.id.is_empty() {
            cursor.clone_from(&event.id);
        }
        if event.event != "message_created" {
            return None;
        }
        let data: Value = serde_json::from_str(&event.data).ok()?;
        let id = data["message"]["id"].as_i64()?;
        let mut record = self.record.lock().ok()?;
        if record.ids.insert(id) {
            self.shared.delivered.fetch_add(1, Ordering::AcqRel);
        } else {
            record.doubled += 1;
        }
        Some(id)
    }

    fn record_catch_up(&self, since: Instant) {
        let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Ok(mut histogram) = self.shared.catch_up.lock() {
            let _ = histogram.record(micros.max(1));
        }
    }
}
