//! The purge: files of deleted messages, and uploads never attached within
//! `--keep-unattached`, leave the store and then the database. Every node runs it
//! (each file is claimed in the database first, so two nodes never fight over one);
//! it runs every few minutes, and at once when a message with files is deleted.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::FileStore;
use crate::db::{self, Db, attachments, clock};

/// Files looked at per round.
const BATCH: i64 = 100;
/// The longest wait between rounds.
const MAX_INTERVAL: Duration = Duration::from_mins(10);

/// Wakes the purge.
#[derive(Debug, Clone, Default)]
pub struct Purge {
    wake: Arc<Notify>,
}

impl Purge {
    /// Starts this node's purge of `store`, keeping unattached uploads for `keep`.
    pub fn start(db: Db, store: FileStore, keep: Duration) -> Self {
        let purge = Self::default();
        let wake = purge.wake.clone();
        let interval = (keep / 2).clamp(Duration::from_secs(1), MAX_INTERVAL);
        actix_web::rt::spawn(async move {
            loop {
                match purge_all(&db, &store, keep).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(files = purged, "files purged"),
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "the file purge failed; it will try again");
                    }
                }
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(interval) => {}
                }
            }
        });
        purge
    }

    /// Asks for a round now (a message with files was deleted).
    pub fn soon(&self) {
        self.wake.notify_one();
    }
}

/// Purges every file due; answers how many went.
async fn purge_all(db: &Db, store: &FileStore, keep: Duration) -> anyhow::Result<usize> {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let mut purged = 0;
    loop {
        let before = clock::now()
            .checked_sub_signed(keep)
            .unwrap_or(chrono::NaiveDateTime::MIN);
        let due = db::read(db, move |conn| {
            Ok(attachments::purgeable(conn, before, BATCH)?)
        })
        .await?;
        let full = i64::try_from(due.len()).unwrap_or(i64::MAX) == BATCH;
        for (id, key) in due {
            let claimed =
                db::write(db, move |conn| Ok(attachments::claim(conn, id, before)?)).await?;
            if !claimed {
                continue;
            }
            store.remove(&key).await?;
            db::write(db, move |conn| Ok(attachments::purged(conn, id)?)).await?;
            purged += 1;
        }
        if !full {
            return Ok(purged);
        }
    }
}
