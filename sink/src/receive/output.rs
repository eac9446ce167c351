//! Where new signals go: stdout (text or NDJSON) and an optional append-only NDJSON file.
//!
//! The file doubles as the receiver's memory: on start, the ids already in it are loaded into
//! the de-duplication set, so a restarted receiver still drops what it had before. A batch is
//! written to it whole or not at all: a failed write (disk full) is cut back off the file, so
//! no partial line runs into the next one, and reported, so the batch is neither remembered
//! nor acknowledged and the forwarder sends it again.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::fs::File;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter, Stdout};

/// The receiver's output streams; writes happen one batch of lines at a time.
#[derive(Debug)]
pub(crate) struct Outputs {
    stdout: Option<BufWriter<Stdout>>,
    file: Option<AppendFile>,
}

/// The append file, written from a blocking thread (a write and its fsync block).
#[derive(Debug)]
struct AppendFile {
    path: PathBuf,
    file: Arc<std::fs::File>,
    fsync: bool,
}

/// A file the receiver could not open, read or write.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct OutputError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl Outputs {
    /// Opens the append file (if any); `on_existing_id` sees every id already in it. With
    /// `fsync`, every batch written to it is synced to disk before [`Outputs::write`] returns.
    pub(crate) async fn open(
        to_stdout: bool,
        append_file: Option<&Path>,
        fsync: bool,
        mut on_existing_id: impl FnMut(&str),
    ) -> Result<Self, OutputError> {
        let file = match append_file {
            None => None,
            Some(path) => {
                let err = |source| OutputError {
                    path: path.to_path_buf(),
                    source,
                };
                // Only a regular file is read back: a device or a pipe (`/dev/stdout`, a FIFO)
                // is only written to, and reading `/dev/full` would never end.
                let existing = match tokio::fs::metadata(path).await {
                    Ok(m) if m.is_file() => File::open(path).await.ok(),
                    _ => None,
                };
                if let Some(existing) = existing {
                    let mut lines = BufReader::new(existing).lines();
                    while let Some(line) = lines.next_line().await.map_err(err)? {
                        if let Ok(IdOnly { id }) = serde_json::from_str(&line) {
                            on_existing_id(&id);
                        }
                    }
                }
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(err)?;
                Some(AppendFile {
                    path: path.to_path_buf(),
                    file: Arc::new(f),
                    fsync,
                })
            }
        };
        Ok(Self {
            stdout: to_stdout.then(|| BufWriter::new(tokio::io::stdout())),
            file,
        })
    }

    /// Writes one batch (and syncs it, with `fsync`), so an acknowledgement sent after this is
    /// backed by it. On an error nothing of the batch stays in the append file.
    pub(crate) async fn write(&mut self, screen: &[u8], ndjson: &[u8]) -> Result<(), OutputError> {
        if let Some(append) = &self.file {
            if !ndjson.is_empty() {
                append.write(ndjson.to_vec()).await?;
            }
        }
        if let Some(out) = &mut self.stdout {
            if !screen.is_empty() {
                // A closed stdout (`| head`) is not a reason to stop receiving.
                let _ = out.write_all(screen).await;
                let _ = out.flush().await;
            }
        }
        Ok(())
    }

    pub(crate) fn has_file(&self) -> bool {
        self.file.is_some()
    }
}

impl AppendFile {
    async fn write(&self, bytes: Vec<u8>) -> Result<(), OutputError> {
        let (file, fsync) = (self.file.clone(), self.fsync);
        let written = tokio::task::spawn_blocking(move || {
            // The end before the batch, read each time: never stale, whatever failed before.
            let end = file.metadata()?.len();
            let result =
                (&*file)
                    .write_all(&bytes)
                    .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
            if result.is_err() && file.metadata()?.is_file() {
                // Best effort: a partial line would run into the next batch's first line.
                let _ = file.set_len(end);
            }
            result
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        written.map_err(|source| OutputError {
            path: self.path.clone(),
            source,
        })
    }
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}
