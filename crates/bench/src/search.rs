//! Scenario `search`: a long history across many conversations, seeded in bulk
//! straight into PostgreSQL as `history` seeds one, then `GET /api/search` over HTTP
//! as someone who is in a few of those conversations: two words from one message,
//! rare words, and three characters from inside a word.
//!
//! The text is eight words a message drawn from 64,000 made-up words, the first
//! ones far more often than the last (a word's chance falls as 1/rank, as in
//! natural language), spelled with English letter frequencies so that trigrams are
//! as uneven as in real text. The search indexes are dropped for the seeding and
//! built again from their own definitions afterwards, as a bulk load would.

use std::time::Instant;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::people::{Person, register, run_tag, sign_in, start_conversation};
use crate::pg::psql;

/// Rows per INSERT while seeding: each is one transaction, so progress shows.
const SEED_BATCH: u64 = 1_000_000;
/// The indexes search uses, from the `search` migration.
const SEARCH_INDEXES: &str = "'chat_messages_search_idx', 'chat_messages_trigram_idx'";
/// Letters in the proportions of English text, to spell the made-up words with.
const LETTERS: &str = "eeeeeeeeeeeetttttttttaaaaaaaaooooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrrddddllllcccuuummwwffggyyppbvkjxqz";
/// Words in the vocabulary; a message's words are drawn by rank, ln(rank) uniform.
const WORDS: u32 = 64_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// The node's PostgreSQL database, where the history is seeded.
    #[arg(long)]
    database: String,
    /// Messages in all.
    #[arg(long, default_value_t = 20_000_000)]
    messages: u64,
    /// Conversations the messages are spread over.
    #[arg(long, default_value_t = 1_000)]
    conversations: u64,
    /// Of which the searcher is a member of this many.
    #[arg(long, default_value_t = 50)]
    member_of: u64,
    /// Queries of each kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Search the history an earlier run seeded (and left in the database) as this
    /// searcher, instead of seeding one.
    #[arg(long)]
    reuse: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.member_of == 0 || args.member_of > args.conversations {
        bail!("--member-of must be between 1 and --conversations");
    }
    let node = args.node.trim_end_matches('/').to_owned();
    let db = args.database.as_str();
    let client = reqwest::Client::new();
    psql(
        db,
        &format!(
            "DROP TABLE IF EXISTS natter_bench_words; \
             CREATE TABLE natter_bench_words (rank int PRIMARY KEY, word text NOT NULL); \
             INSERT INTO natter_bench_words \
             SELECT i, (SELECT string_agg(substr('{LETTERS}', \
                               1 + get_byte(decode(md5(i::text), 'hex'), k) % {len}, 1), '' ORDER BY k) \
                        FROM generate_series(0, 1 + least(8, floor(ln(i + 2) / 1.3)::int + i % 2)) k) \
             FROM generate_series(0, {last}) i",
            len = LETTERS.len(),
            last = WORDS - 1,
        ),
    )
    .await?;
    let searcher = match &args.reuse {
        Some(nickname) => Person {
            id: psql(
                db,
                &format!(
                    "SELECT id FROM auth_users WHERE nickname = '{}'",
                    nickname.replace('\'', "''")
                ),
            )
            .await?
            .trim()
            .parse()
            .with_context(|| format!("{nickname} is not in the database"))?,
            token: sign_in(&client, &node, nickname).await?,
        },
        None => seeded(&args, &client, &node).await?,
    };

    let mine = format!(
        "SELECT conversation_id FROM chat_conversation_members WHERE user_id = {}",
        searcher.id
    );
    let kinds = [
        (
            "two words from one message",
            format!(
                "SELECT split_part(content, ' ', 2) || ' ' || split_part(content, ' ', 6) \
                 FROM chat_messages TABLESAMPLE SYSTEM (1) \
                 WHERE conversation_id IN ({mine}) LIMIT {}",
                args.queries
            ),
        ),
        (
            "one rare word (rank 20,000 or more)",
            format!(
                "SELECT word FROM natter_bench_words WHERE rank >= 20000 ORDER BY random() LIMIT {}",
                args.queries
            ),
        ),
        (
            "three characters from inside a word",
            format!(
                "SELECT substr(word, 2, 3) FROM natter_bench_words \
                 WHERE rank BETWEEN 10 AND 5000 AND length(word) >= 4 ORDER BY random() LIMIT {}",
                args.queries
            ),
        ),
    ];
    let cpu = crate::cpu::Sample::now();
    for (kind, sql) in kinds {
        let queries = psql(db, &sql).await?;
        let queries: Vec<&str> = queries.lines().filter(|q| !q.trim().is_empty()).collect();
        let (latencies, found, refused) = measure(&client, &node, &searcher, &queries).await?;
        println!(
            "{kind}: {} queries, {refused} refused as too slow, {found:.1} results a page \
             on average, ms: {}",
            queries.len(),
            crate::percentiles(&latencies)
        );
    }
    println!("{}", cpu.report_since());
    psql(db, "DROP TABLE natter_bench_words").await?;
    Ok(())
}

/// Makes the people and conversations and seeds the history: answers the searcher.
async fn seeded(args: &Args, client: &reqwest::Client, node: &str) -> anyhow::Result<Person> {
    let run = run_tag();
    let nickname = format!("s{run}_searcher");
    let searcher = register(client, node, &nickname).await?;
    let speaker = register(client, node, &format!("s{run}_speaker")).await?;
    let stranger = register(client, node, &format!("s{run}_stranger")).await?;
    // The searcher is in every (conversations / member_of)-th conversation.
    let every = args.conversations / args.member_of;
    let mut ids = Vec::new();
    for n in 0..args.conversations {
        let with = if n % every == 0 && n / every < args.member_of {
            searcher.id
        } else {
            stranger.id
        };
        let title = format!("search {n}");
        ids.push(start_conversation(client, node, &speaker, &[with], &title).await?);
    }
    let conversations = ids
        .iter()
        .enumerate()
        .map(|(n, id)| format!("({n}, {id})"))
        .collect::<Vec<_>>()
        .join(", ");
    psql(
        &args.database,
        &format!(
            "DROP TABLE IF EXISTS natter_bench_conversations; \
             CREATE TABLE natter_bench_conversations (n bigint PRIMARY KEY, id bigint NOT NULL); \
             INSERT INTO natter_bench_conversations VALUES {conversations}"
        ),
    )
    .await?;
    seed(args, speaker.id).await?;
    psql(&args.database, "DROP TABLE natter_bench_conversations").await?;
    println!("search: the searcher is {nickname} (--reuse {nickname} searches this history again)");
    Ok(searcher)
}

/// Fills the conversations with `--messages` messages from `speaker`, without the
/// search indexes, then builds them again and prints their sizes.
async fn seed(args: &Args, speaker: i64) -> anyhow::Result<()> {
    let db = args.database.as_str();
    let indexes = psql(
        db,
        &format!(
            "SELECT indexdef FROM pg_indexes WHERE indexname IN ({SEARCH_INDEXES}) ORDER BY indexname"
        ),
    )
    .await?;
    let indexes: Vec<&str> = indexes.lines().filter(|l| !l.is_empty()).collect();
    if indexes.len() != 2 {
        bail!("the search indexes are not there: is the database migrated? ({indexes:?})");
    }
    psql(
        db,
        "DROP INDEX chat_messages_search_idx, chat_messages_trigram_idx",
    )
    .await?;
    let started = Instant::now();
    let mut seeded = 0;
    while seeded < args.messages {
        let rows = SEED_BATCH.min(args.messages - seeded);
        let pick = format!(
            "least({last}, floor(exp(random() * ln({WORDS})))::int - 1)",
            last = WORDS - 1
        );
        let picks = (1..=8)
            .map(|k| format!("{pick} AS w{k}"))
            .collect::<Vec<_>>()
            .join(", ");
        let joins = (1..=8)
            .map(|k| format!("JOIN natter_bench_words v{k} ON v{k}.rank = r.w{k}"))
            .collect::<Vec<_>>()
            .join(" ");
        let words = (1..=8)
            .map(|k| format!("v{k}.word"))
            .collect::<Vec<_>>()
            .join(", ");
        psql(
            db,
            &format!(
                "INSERT INTO chat_messages (conversation_id, sender_id, content, created_at) \
                 SELECT c.id, {speaker}, concat_ws(' ', {words}), \
                        (now() AT TIME ZONE 'UTC') - make_interval(secs => ({total} - r.n)::double precision) \
                 FROM (SELECT n, {picks} FROM generate_series({first}, {last}) AS n) r \
                 JOIN natter_bench_conversations c ON c.n = r.n % {count} {joins}",
                speaker = speaker,
                total = args.messages,
                first = seeded + 1,
                last = seeded + rows,
                count = args.conversations,
            ),
        )
        .await?;
        seeded += rows;
        println!(
            "search: seeded {seeded} messages ({:.0}s)",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "search: seeded {} messages in {} conversations in {:.1}s",
        args.messages,
        args.conversations,
        started.elapsed().as_secs_f64()
    );
    for index in &indexes {
        let at = Instant::now();
        psql(db, &format!("SET maintenance_work_mem = '1GB'; {index}")).await?;
        println!("built in {:.1}s: {index}", at.elapsed().as_secs_f64());
    }
    psql(db, "VACUUM ANALYZE chat_messages").await?;
    let sizes = psql(
        db,
        "SELECT pg_size_pretty(pg_relation_size('chat_messages')), \
                pg_size_pretty(pg_relation_size('chat_messages_search_idx')), \
                pg_size_pretty(pg_relation_size('chat_messages_trigram_idx')), \
                pg_size_pretty(pg_total_relation_size('chat_messages'))",
    )
    .await?;
    let sizes: Vec<&str> = sizes.trim().split('|').collect();
    if let [table, words, trigrams, total] = sizes[..] {
        println!(
            "sizes: table {table} (with its tsvector column), word index {words}, \
             trigram index {trigrams}; with every index and TOAST {total}"
        );
    }

    Ok(())
}

/// Runs each query once, one after another: latencies, results per page, and how
/// many were refused for running past natter's `--search-timeout` (503).
async fn measure(
    client: &reqwest::Client,
    node: &str,
    searcher: &Person,
    queries: &[&str],
) -> anyhow::Result<(Histogram<u64>, f64, usize)> {
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut found, mut refused) = (0usize, 0usize);
    for q in queries {
        let at = Instant::now();
        let reply = client
            .get(format!("{node}/api/search"))
            .bearer_auth(&searcher.token)
            .query(&[("q", q)])
            .send()
            .await?;
        if reply.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            refused += 1;
        } else {
            let page: Value = reply
                .error_for_status()
                .with_context(|| format!("searching {q:?}"))?
                .json()
                .await?;
            found += page["results"].as_array().map_or(0, Vec::len);
        }
        let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
        latencies.record(micros.max(1))?;
    }
    #[allow(clippy::cast_precision_loss)] // an average, for printing
    let average = found as f64 / queries.len().saturating_sub(refused).max(1) as f64;
    Ok((latencies, average, refused))
}
