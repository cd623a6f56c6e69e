//! Many connections from one process: open-file limits and loopback source addresses.
//!
//! One source address offers about 28,000 ephemeral ports towards one server port
//! (and a closed connection holds its port for a minute), so many streams are spread
//! over 127.0.0.1, 127.0.0.2, … which are all loopback on Linux.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context;

/// HTTP clients, each on its own loopback source address, enough for `connections`
/// connections at `per_source` each.
///
/// The first is not bound: towards a loopback server the kernel picks 127.0.0.1 and a
/// port at `connect`, a hash lookup. Binding a source address takes its port at
/// `bind`, whose search for a free one walks every socket bound on the address: in a
/// reconnect storm of 9,000 streams that search (`inet_bind2_bucket_find` and its
/// kin in `perf`) took the tool's whole core. Only past one address's worth of
/// connections do the others bind 127.0.0.2, 127.0.0.3, …
pub fn source_clients(
    connections: usize,
    per_source: usize,
) -> anyhow::Result<Vec<reqwest::Client>> {
    (1..=connections.div_ceil(per_source.max(1)).max(1))
        .map(|n| {
            let octet = u8::try_from(n).context("too many source addresses")?;
            let builder = reqwest::Client::builder();
            let builder = if octet == 1 {
                builder
            } else {
                builder.local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, octet)))
            };
            Ok(builder.build()?)
        })
        .collect()
}

/// Raises this process's open-file limit to `wanted` (root may raise the hard limit
/// up to the kernel's nr_open); answers the limit now in force.
pub fn raise_fd_limit(wanted: u64) -> u64 {
    use rlimit::Resource;
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(wanted);
    let target = wanted.min(ceiling);
    let (soft, hard) = Resource::NOFILE.get().unwrap_or((0, 0));
    if soft < target && Resource::NOFILE.set(target, target.max(hard)).is_err() {
        // Without the privilege, go as far as the hard limit allows.
        let _ = rlimit::increase_nofile_limit(target);
    }
    Resource::NOFILE.get().map_or(0, |(soft, _)| soft)
}
