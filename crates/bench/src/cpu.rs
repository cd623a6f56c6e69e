//! CPU time used during a measurement, by this tool, by `natter` and by PostgreSQL
//! separately (from /proc, so that the figures can be judged against the machine).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The processes whose CPU time is reported, by their command name.
const GROUPS: [(&str, &str); 3] = [
    ("natter-bench", "natter-bench"),
    ("natter", "natter"),
    ("postgres", "postgres"),
];

/// CPU time used so far by each process of the groups (user + system, all threads).
/// A process that ends before the next sample is not counted.
pub struct Sample {
    at: Instant,
    /// pid → (group, ticks).
    processes: HashMap<u32, (usize, u64)>,
}

impl Sample {
    pub fn now() -> Self {
        let mut processes = HashMap::new();
        for (pid, dir) in running() {
            let Some((comm, used)) = process_ticks(&dir) else {
                continue;
            };
            if let Some(group) = GROUPS.iter().position(|(_, name)| *name == comm) {
                processes.insert(pid, (group, used));
            }
        }
        Self {
            at: Instant::now(),
            processes,
        }
    }

    /// Ticks per group used between `earlier` and `self`.
    fn used_since(&self, earlier: &Self) -> [u64; GROUPS.len()] {
        let mut used = [0; GROUPS.len()];
        for (pid, (group, ticks)) in &self.processes {
            let before = earlier.processes.get(pid).map_or(0, |(_, t)| *t);
            used[*group] += ticks.saturating_sub(before);
        }
        used
    }

    /// One line: each group's CPU seconds since `self` and as a share of one core.
    pub fn report_since(&self) -> String {
        let now = Self::now();
        let wall = now.at.duration_since(self.at).max(Duration::from_millis(1));
        let used = now.used_since(self);
        let parts: Vec<String> = GROUPS
            .iter()
            .enumerate()
            .map(|(i, (label, _))| {
                #[allow(clippy::cast_precision_loss)] // clock ticks, for printing
                let seconds = used[i] as f64 / TICKS_PER_SECOND;
                format!(
                    "{label} {seconds:.2}s ({:.0}% of a core)",
                    100.0 * seconds / wall.as_secs_f64()
                )
            })
            .collect();
        format!("cpu over {:.2}s: {}", wall.as_secs_f64(), parts.join(", "))
    }
}

/// Every running process: its id and its /proc directory.
pub fn running() -> impl Iterator<Item = (u32, std::path::PathBuf)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            Some((pid, entry.path()))
        })
}

/// Linux's USER_HZ, which /proc reports times in.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process's command name and its user + system ticks, from /proc/PID/stat.
fn process_ticks(dir: &std::path::Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // "PID (comm) state ppid ..." where comm may itself hold spaces or parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the comm.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}
