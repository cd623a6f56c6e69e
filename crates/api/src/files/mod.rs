//! Where uploaded files' bytes live (`--storage`): a directory, or S3-compatible
//! storage that several nodes share, both through `object_store`. A file is kept
//! under a random key of its own, never under a name its uploader chose; its
//! thumbnail beside it.

pub mod images;
pub mod purge;

use std::ops::Range;
use std::sync::Arc;

use actix_web::web::Bytes;
use anyhow::Context;
use futures_util::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::config::StorageUrl;

/// Bytes gathered before each write to a directory: small, so that an upload holds
/// little memory however large it is.
const DIRECTORY_PART: usize = 256 * 1024;
/// Bytes gathered before each part sent to S3, which takes parts of at least 5 MiB.
const S3_PART: usize = 5 * 1024 * 1024;
/// Parts of one upload being written at once.
const PARTS_IN_FLIGHT: usize = 2;

/// The file store.
#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    part_size: usize,
    description: String,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// What is kept of one file: its bytes, and perhaps a thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    File,
    Thumbnail,
}

impl FileStore {
    /// Opens the store `url` names (a directory is created if missing). S3 takes its
    /// credentials, region and endpoint from the `AWS_*` variables; an `http://`
    /// endpoint (a server on this network) is allowed as given.
    pub fn open(url: &StorageUrl) -> anyhow::Result<Self> {
        let description = url.to_string();
        match url {
            StorageUrl::Directory(dir) => {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create the file directory {}", dir.display())
                })?;
                let store = LocalFileSystem::new_with_prefix(dir)
                    .with_context(|| format!("cannot open the file directory {}", dir.display()))?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    store: Arc::new(store),
                    prefix: Path::default(),
                    part_size: DIRECTORY_PART,
                    description,
                })
            }
            StorageUrl::S3 { bucket, prefix } => {
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                    .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                    .or_else(|_| std::env::var("AWS_ENDPOINT"))
                    .ok();
                if let Some(endpoint) = endpoint {
                    if endpoint.starts_with("http://") {
                        builder = builder.with_allow_http(true);
                    }
                    builder = builder.with_endpoint(endpoint);
                }
                let store = builder
                    .build()
                    .with_context(|| format!("cannot use the S3 storage {description}"))?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: Path::from(prefix.as_str()),
                    part_size: S3_PART,
                    description,
                })
            }
        }
    }

    fn path(&self, key: &str, part: Part) -> Path {
        let folder = match part {
            Part::File => "files",
            Part::Thumbnail => "thumbnails",
        };
        self.prefix.clone().join(folder).join(key)
    }

    /// Starts writing the file `key`, part by part as its bytes come.
    pub async fn writer(&self, key: &str) -> object_store::Result<FileWriter> {
        let upload = self
            .store
            .put_multipart(&self.path(key, Part::File))
            .await?;
        Ok(FileWriter {
            write: WriteMultipart::new_with_chunk_size(upload, self.part_size),
        })
    }

    /// Writes `part` of `key` whole (a thumbnail, or an image without its metadata).
    pub async fn put(&self, key: &str, part: Part, bytes: Bytes) -> object_store::Result<()> {
        self.store
            .put(&self.path(key, part), bytes.into())
            .await
            .map(drop)
    }

    /// All of `part` of `key`.
    pub async fn read(&self, key: &str, part: Part) -> object_store::Result<Bytes> {
        self.store.get(&self.path(key, part)).await?.bytes().await
    }

    /// `range` of `part` of `key` (all of it without one), as it is read.
    pub async fn stream(
        &self,
        key: &str,
        part: Part,
        range: Option<Range<u64>>,
    ) -> object_store::Result<impl Stream<Item = object_store::Result<Bytes>> + use<>> {
        let options = GetOptions {
            range: range.map(Into::into),
            ..GetOptions::default()
        };
        let found = self.store.get_opts(&self.path(key, part), options).await?;
        Ok(found.into_stream())
    }

    /// Removes `key` and its thumbnail; what is already gone is no error.
    pub async fn remove(&self, key: &str) -> object_store::Result<()> {
        for part in [Part::File, Part::Thumbnail] {
            match self.store.delete(&self.path(key, part)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Whether the store answers (for start-up: a wrong bucket fails there, not on
    /// the first upload).
    pub async fn check(&self) -> anyhow::Result<()> {
        let mut listing = self.store.list(Some(&self.prefix));
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(error)) => {
                Err(error).with_context(|| format!("cannot reach the file store {self:?}"))
            }
        }
    }
}

/// A file being written: its bytes go to the store in parts of the store's size, at
/// most [`PARTS_IN_FLIGHT`] at once.
pub struct FileWriter {
    write: WriteMultipart,
}

impl FileWriter {
    pub async fn write(&mut self, bytes: &[u8]) -> object_store::Result<()> {
        self.write.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.write.write(bytes);
        Ok(())
    }

    /// Stores what was written as the file.
    pub async fn finish(self) -> object_store::Result<()> {
        self.write.finish().await.map(drop)
    }

    /// Drops what was written.
    pub async fn abort(self) {
        if let Err(error) = self.write.abort().await {
            tracing::warn!(%error, "an abandoned upload's parts could not be removed");
        }
    }
}

/// What a file is, from its first bytes: the uploader's word is never taken. Text
/// that is valid UTF-8 is `text/plain`; what is not recognised is
/// `application/octet-stream`.
pub fn sniff(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut in the middle of a character at the end of what was looked at.
        Err(error) => error.error_len().is_none() && error.valid_up_to() + 4 > head.len(),
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(
            sniff("log line é\n".as_bytes()),
            "text/plain; charset=utf-8"
        );
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\0\x01\x02\xff"), "application/octet-stream");
        // An SVG file is never an image of this origin (and is served as a download).
        assert_eq!(sniff(b"<svg onload=alert(1)>"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"<!DOCTYPE html><script>"), "text/html");
    }
}
