//! Where new signals go: stdout (text or NDJSON) and an optional append-only NDJSON file.
//!
//! The file doubles as the receiver's memory: on start, the ids already in it are loaded into
//! the de-duplication set, so a restarted receiver still drops what it had before.

use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter, Stdout};

/// The receiver's output streams; writes happen one batch of lines at a time.
#[derive(Debug)]
pub(crate) struct Outputs {
    stdout: Option<BufWriter<Stdout>>,
    file: Option<(PathBuf, BufWriter<File>)>,
}

/// A file the receiver could not open, read or write.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct OutputError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl Outputs {
    /// Opens the append file (if any); `on_existing_id` sees every id already in it.
    pub(crate) async fn open(
        to_stdout: bool,
        append_file: Option<&Path>,
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
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(err)?;
                Some((path.to_path_buf(), BufWriter::new(f)))
            }
        };
        Ok(Self {
            stdout: to_stdout.then(|| BufWriter::new(tokio::io::stdout())),
            file,
        })
    }

    /// Writes one batch and flushes, so an acknowledgement sent after this is backed by it.
    pub(crate) async fn write(&mut self, screen: &[u8], ndjson: &[u8]) -> Result<(), OutputError> {
        if let Some((path, file)) = &mut self.file {
            if !ndjson.is_empty() {
                let res = async {
                    file.write_all(ndjson).await?;
                    file.flush().await
                };
                res.await.map_err(|source| OutputError {
                    path: path.clone(),
                    source,
                })?;
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

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}
