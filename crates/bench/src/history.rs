//! Scenario `history`: one conversation holding a long history, seeded in bulk straight
//! into PostgreSQL (not through the API), then 50-message pages read over HTTP at the
//! newest, middle and oldest depth.

use std::time::Instant;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::people::{register, run_tag, start_conversation};
use crate::pg::psql;

/// Rows per INSERT while seeding: each is one transaction, so progress shows.
const SEED_BATCH: u64 = 1_000_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// The node's PostgreSQL database, where the history is seeded.
    #[arg(long)]
    database: String,
    /// Messages in the conversation.
    #[arg(long, default_value_t = 20_000_000)]
    messages: u64,
    /// Pages read at each depth.
    #[arg(long, default_value_t = 200)]
    pages: usize,
    /// Messages per page.
    #[arg(long, default_value_t = 50)]
    limit: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.messages < 2 * args.limit {
        bail!("--messages must be at least twice --limit");
    }
    let node = args.node.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let run = run_tag();
    let owner = register(&client, &node, &format!("h{run}_owner")).await?;
    let other = register(&client, &node, &format!("h{run}_other")).await?;
    let conversation = start_conversation(&client, &node, &owner, &[other.id], "history").await?;

    let started = Instant::now();
    let mut seeded = 0;
    while seeded < args.messages {
        let rows = SEED_BATCH.min(args.messages - seeded);
        // Both people speak in turn, a minute apart, ending now.
        psql(
            &args.database,
            &format!(
                "INSERT INTO chat_messages (conversation_id, sender_id, content, created_at) \
                 SELECT {conversation}, CASE WHEN n % 2 = 0 THEN {owner} ELSE {other} END, \
                        'history message ' || n, \
                        (now() AT TIME ZONE 'UTC') - make_interval(mins => ({total} - n)::int) \
                 FROM generate_series({first}, {last}) AS n",
                owner = owner.id,
                other = other.id,
                total = args.messages,
                first = seeded + 1,
                last = seeded + rows,
            ),
        )
        .await?;
        seeded += rows;
    }
    psql(&args.database, "ANALYZE chat_messages").await?;
    let ids = psql(
        &args.database,
        &format!(
            "SELECT min(id), max(id) FROM chat_messages WHERE conversation_id = {conversation}"
        ),
    )
    .await?;
    let (oldest, newest): (i64, i64) = ids
        .trim()
        .split_once('|')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .with_context(|| format!("message ids from psql: {ids}"))?;
    println!(
        "history: seeded {} messages in {:.1}s (ids {oldest}..={newest})",
        args.messages,
        started.elapsed().as_secs_f64()
    );

    let path = format!("{node}/api/conversations/{conversation}/messages");
    let limit = i64::try_from(args.limit)?;
    let depths = [
        ("newest", None),
        ("middle", Some(oldest + (newest - oldest) / 2)),
        ("oldest", Some(oldest + limit)),
    ];
    let cpu = crate::cpu::Sample::now();
    let mut p99s = Vec::new();
    for (depth, before) in depths {
        let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..args.pages {
            let mut request = client
                .get(&path)
                .bearer_auth(&owner.token)
                .query(&[("limit", args.limit)]);
            if let Some(before) = before {
                request = request.query(&[("before", before)]);
            }
            let at = Instant::now();
            let page: Value = request.send().await?.error_for_status()?.json().await?;
            let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
            latencies.record(micros.max(1))?;
            let got = page["messages"].as_array().map_or(0, Vec::len);
            if u64::try_from(got)? != args.limit {
                bail!("the {depth} page held {got} messages, not {}", args.limit);
            }
        }
        println!(
            "page of {} at the {depth} depth, {} reads, ms: {}",
            args.limit,
            args.pages,
            crate::percentiles(&latencies)
        );
        p99s.push(crate::millis(&latencies, 0.99));
    }
    if let [newest, _, oldest] = p99s[..] {
        println!(
            "oldest/newest p99 = {:.2}",
            oldest / newest.max(f64::EPSILON)
        );
    }
    println!("{}", cpu.report_since());
    Ok(())
}
