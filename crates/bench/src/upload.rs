//! Scenario `upload`: concurrent large uploads (throughput, and the node's resident
//! memory while they run: uploads stream to the store, so memory should grow by at
//! most a part or two per upload, never by a whole file), then thumbnails of an
//! attached photo requested over and over (their latency).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::stream;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::cpu;
use crate::people::{Person, register, run_tag, start_conversation};
use crate::streams::{only_natter, resident_kib};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the natter node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// The node's process id, for its memory (found by name when only one runs).
    #[arg(long)]
    natter_pid: Option<u32>,
    /// Uploads running at once.
    #[arg(long, default_value_t = 10)]
    uploads: usize,
    /// The size of each, in MiB (natter's default --max-upload is 25 MiB).
    #[arg(long, default_value_t = 25)]
    mib: usize,
    /// Thumbnail requests, after the uploads.
    #[arg(long, default_value_t = 500)]
    thumbnails: usize,
    /// Thumbnail requests at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// Each upload's body goes out in pieces of this size.
const PIECE: usize = 64 * 1024;

#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.uploads == 0 || args.mib == 0 || args.concurrency == 0 {
        bail!("--uploads, --mib and --concurrency must be at least 1");
    }
    let pid = match args.natter_pid {
        Some(pid) => pid,
        None => only_natter()?,
    };
    let node = args.node.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let run = run_tag();
    let uploader = register(&client, &node, &format!("u{run}_uploader")).await?;
    let viewer = register(&client, &node, &format!("u{run}_viewer")).await?;
    let conversation =
        start_conversation(&client, &node, &uploader, &[viewer.id], "uploads").await?;

    let idle = resident_kib(pid)?;
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Ok(now) = resident_kib(pid) {
                    peak.fetch_max(now, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let size = args.mib * 1024 * 1024;
    let cpu_before = cpu::Sample::now();
    let started = Instant::now();
    let uploads: Vec<_> = (0..args.uploads)
        .map(|i| {
            let (client, node, token) = (client.clone(), node.clone(), uploader.token.clone());
            tokio::spawn(async move { upload(&client, &node, &token, i, size).await })
        })
        .collect();
    let mut ids = Vec::new();
    for upload in uploads {
        ids.push(upload.await??);
    }
    let elapsed = started.elapsed();
    let cpu_line = cpu_before.report_since();
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let peak = peak.load(Ordering::Relaxed);
    let after = resident_kib(pid)?;

    #[allow(clippy::cast_precision_loss)] // byte counts, for printing
    let total_mb = (args.uploads * size) as f64 / 1_000_000.0;
    #[allow(clippy::cast_precision_loss)]
    let growth_mib = peak.saturating_sub(idle) as f64 / 1024.0;
    #[allow(clippy::cast_precision_loss)]
    let per_upload = growth_mib / args.uploads as f64;
    println!(
        "upload: {} × {} MiB at once in {:.2}s: {:.1} MB/s",
        args.uploads,
        args.mib,
        elapsed.as_secs_f64(),
        total_mb / elapsed.as_secs_f64()
    );
    println!(
        "upload: natter resident {:.1} MiB idle, {:.1} MiB at peak, {:.1} MiB after: {per_upload:.2} MiB growth per concurrent upload (goal ≤ 2)",
        kib_to_mib(idle),
        kib_to_mib(peak),
        kib_to_mib(after)
    );
    println!("upload: {cpu_line}");

    // A photo, attached, and its thumbnail asked for again and again.
    let photo = photo()?;
    let started = Instant::now();
    let reply = client
        .post(format!("{node}/api/uploads"))
        .query(&[("filename", "photo.png")])
        .bearer_auth(&uploader.token)
        .body(photo.clone())
        .send()
        .await?
        .error_for_status()?
        .json::<Value>()
        .await?;
    println!(
        "upload: a {}×{} photo of {:.1} MB stored with its thumbnail in {:.0} ms",
        reply["width"],
        reply["height"],
        bytes_to_mb(photo.len()),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let image = reply["id"].as_i64().context("attachment id")?;
    // A message carries at most 10 files.
    ids.truncate(9);
    ids.push(image);
    client
        .post(format!("{node}/api/conversations/{conversation}/messages"))
        .bearer_auth(&uploader.token)
        .json(&json!({"content": "the uploads", "attachment_ids": ids}))
        .send()
        .await?
        .error_for_status()?;
    let latencies = thumbnails(&client, &node, &viewer, image, &args).await?;
    println!(
        "upload: {} thumbnail requests, {} at once: {}",
        args.thumbnails,
        args.concurrency,
        crate::percentiles(&latencies)
    );
    Ok(())
}

/// Uploads `size` bytes (not an image: nothing to decode) in pieces; answers its id.
async fn upload(
    client: &reqwest::Client,
    node: &str,
    token: &str,
    nth: usize,
    size: usize,
) -> anyhow::Result<i64> {
    let pieces = size.div_ceil(PIECE);
    let body = stream::iter((0..pieces).map(move |i| {
        let length = PIECE.min(size - i * PIECE);
        #[allow(clippy::cast_possible_truncation)] // a byte pattern
        let piece: Vec<u8> = (0..length).map(|j| (j ^ i ^ nth) as u8).collect();
        Ok::<_, std::io::Error>(piece)
    }));
    let reply = client
        .post(format!("{node}/api/uploads"))
        .query(&[("filename", format!("upload-{nth}.bin"))])
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await?
        .error_for_status()?
        .json::<Value>()
        .await?;
    if reply["size"].as_u64() != u64::try_from(size).ok() {
        bail!(
            "upload {nth} was stored as {} bytes, not {size}",
            reply["size"]
        );
    }
    reply["id"].as_i64().context("attachment id")
}

/// A 2400 × 1600 photo-like PNG (a gradient with noise, so that it compresses as a
/// photo would, poorly).
fn photo() -> anyhow::Result<Vec<u8>> {
    let (width, height) = (2400_u32, 1600_u32);
    let mut seed = 0x2545_f491_u32;
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed & 0x1f) as u8;
        #[allow(clippy::cast_possible_truncation)] // within 0..=255
        image::Rgb([
            (x * 255 / width) as u8 ^ noise,
            (y * 255 / height) as u8 ^ noise,
            128 ^ noise,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

async fn thumbnails(
    client: &reqwest::Client,
    node: &str,
    viewer: &Person,
    image: i64,
    args: &Args,
) -> anyhow::Result<Histogram<u64>> {
    let url = format!("{node}/api/attachments/{image}/thumbnail");
    let per_worker = args.thumbnails.div_ceil(args.concurrency);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), viewer.token.clone());
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                for _ in 0..per_worker {
                    let started = Instant::now();
                    let bytes = client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?;
                    if bytes.is_empty() {
                        bail!("an empty thumbnail");
                    }
                    latencies
                        .record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))?;
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for worker in workers {
        all.add(worker.await??)?;
    }
    Ok(all)
}

#[allow(clippy::cast_precision_loss)] // memory sizes, for printing
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[allow(clippy::cast_precision_loss)]
fn bytes_to_mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}
