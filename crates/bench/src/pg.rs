//! The PostgreSQL command-line tools, for what a scenario does beside the API.

use anyhow::{Context, bail};

/// Runs `sql` with psql in `database`; answers what it printed (unaligned, tuples only).
pub async fn psql(database: &str, sql: &str) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("psql")
        .args([database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .await
        .context("cannot run psql (Debian's postgresql-client)")?;
    if !out.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
