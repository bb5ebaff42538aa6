//! Holding a container's writes while its output is unshipped (`awslogs` in blocking mode).
//!
//! The json-file driver cannot make a write wait: once its two files are full, a rotation
//! deletes the older one, shipped or not. So the runtime watches each held container's files
//! and pauses the container (the engine's freezer) before a rotation could delete a line the
//! server does not keep yet, and lets it go on once it does: its writes then wait, as a
//! blocking log driver's would, and nothing is lost. While paused the container runs no
//! code at all (a pipe-blocked writer would still serve, say, other threads); the engine also
//! calls a paused container unhealthy, which `status_from` reads as unknown.
//!
//! Whether to hold is [`must_wait`], pure; [`Holds`] keeps what each held container's server
//! keeps and runs one watcher per container on the runtime's tokio runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bollard::Docker;

use super::output::first_entry_nanos;
use super::status_code;

/// The label that marks a container whose writes wait for its output to be shipped, so that
/// an agent started again holds it too.
pub(super) const LABEL_HELD: &str = "berth.output-held";

/// How often a held container's files are looked at: a writer at the engine's full speed
/// writes about 2 MiB in between.
const WATCH: Duration = Duration::from_millis(20);

/// What a held container's json-file looks like now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Files {
    /// The size of the file written now.
    pub current_bytes: u64,
    /// Whether the file before the last rotation is still there: the next rotation deletes it.
    pub rotated: bool,
    /// The engine's stamp of the first line of the file written now, in nanoseconds.
    pub current_starts_at: Option<u64>,
}

/// Whether the container must wait: the next rotation would delete lines past `shipped` (the
/// position of the last line the server keeps; `None`: none yet), and the file written now
/// is a quarter full. The rest is room for what lands after the pause: the engine copies a
/// container's output into the file behind its writes, several MiB behind a writer at full
/// speed (measured: 6 MiB at 115 MB/s), and a writer goes on until the next look.
pub(super) fn must_wait(files: Files, shipped: Option<u64>, max_file_bytes: u64) -> bool {
    files.rotated
        && files.current_bytes >= max_file_bytes / 4
        && files
            .current_starts_at
            .is_some_and(|starts| shipped.is_none_or(|shipped| shipped < starts))
}

/// Looks at the json-file at `path` and the one before its last rotation; the first entry is
/// read only when it matters, once the older file is there and the newer one filled enough.
fn look(path: &Path, max_file_bytes: u64) -> Files {
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    let current_bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    let rotated = Path::new(&rotated).exists();
    let filled = rotated && current_bytes >= max_file_bytes / 4;
    Files {
        current_bytes,
        rotated,
        current_starts_at: filled.then(|| first_entry_nanos(path)).flatten(),
    }
}

struct Held {
    shipped: Option<u64>,
    /// Whether this runtime paused it.
    paused: bool,
}

/// The held containers of one runtime, by id.
#[derive(Clone, Default)]
pub(super) struct Holds(Arc<Mutex<HashMap<String, Held>>>);

impl Holds {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts holding the container `id`, whose json-file is at `log_path`, unless it is
    /// held already.
    pub(super) fn watch(&self, docker: Docker, id: &str, log_path: PathBuf, max_file_bytes: u64) {
        {
            let mut held = self.held();
            if held.contains_key(id) {
                return;
            }
            held.insert(
                id.to_string(),
                Held {
                    shipped: None,
                    paused: false,
                },
            );
        }
        tokio::spawn(watch(
            self.clone(),
            docker,
            id.to_string(),
            log_path,
            max_file_bytes,
        ));
    }

    pub(super) fn is_watched(&self, id: &str) -> bool {
        self.held().contains_key(id)
    }

    /// The server keeps `id`'s output through `position` now.
    pub(super) fn shipped(&self, id: &str, position: u64) {
        if let Some(held) = self.held().get_mut(id) {
            held.shipped = held.shipped.max(Some(position));
        }
    }

    /// Stops holding `id` (it is being stopped or removed), and lets it run if this runtime
    /// paused it.
    pub(super) async fn release(&self, docker: &Docker, id: &str) {
        let paused = self.held().remove(id).is_some_and(|held| held.paused);
        if paused {
            if let Err(e) = docker.unpause_container(id).await {
                tracing::warn!(container = %id, error = %e, "cannot let a held container go on");
            }
        }
    }
}

/// Pauses and resumes `id` as [`holds`] says, until it is released or gone.
async fn watch(holds: Holds, docker: Docker, id: String, log_path: PathBuf, max_file_bytes: u64) {
    loop {
        tokio::time::sleep(WATCH).await;
        let Some((shipped, paused)) = holds.held().get(&id).map(|h| (h.shipped, h.paused)) else {
            return;
        };
        let path = log_path.clone();
        let files = tokio::task::spawn_blocking(move || look(&path, max_file_bytes))
            .await
            .unwrap_or_default();
        let hold = must_wait(files, shipped, max_file_bytes);
        if hold == paused {
            continue;
        }
        let done = if hold {
            docker.pause_container(&id).await
        } else {
            docker.unpause_container(&id).await
        };
        match done {
            Ok(()) => {
                if hold {
                    tracing::info!(container = %id, "output unshipped fills what the engine keeps: the container waits until the server has it");
                } else {
                    tracing::info!(container = %id, "output shipped: the container goes on");
                }
                if let Some(held) = holds.held().get_mut(&id) {
                    held.paused = hold;
                }
            }
            // Gone, or no longer running: nothing left to hold.
            Err(e) if matches!(status_code(&e), Some(404 | 409)) => {
                holds.held().remove(&id);
                return;
            }
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "cannot pause or resume a held container; trying again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 16 << 20;

    fn files(current_bytes: u64, rotated: bool, starts: Option<u64>) -> Files {
        Files {
            current_bytes,
            rotated,
            current_starts_at: starts,
        }
    }

    #[test]
    fn a_container_waits_only_when_the_next_rotation_would_delete_unshipped_lines() {
        let quarter_full = MAX / 4;
        // The older file holds unshipped lines and the current one is a quarter full: wait.
        assert!(must_wait(
            files(quarter_full, true, Some(1_000)),
            Some(999),
            MAX
        ));
        assert!(must_wait(files(MAX, true, Some(1_000)), None, MAX));
        // Everything before the current file is shipped: the rotation deletes nothing kept.
        assert!(!must_wait(files(MAX, true, Some(1_000)), Some(1_000), MAX));
        assert!(!must_wait(files(MAX, true, Some(1_000)), Some(5_000), MAX));
        // No older file: the next rotation only renames the current one.
        assert!(!must_wait(files(MAX, false, Some(1_000)), None, MAX));
        // Room left before a rotation.
        assert!(!must_wait(
            files(quarter_full - 1, true, Some(1_000)),
            None,
            MAX
        ));
        // An unreadable first line is no reason to stop a container.
        assert!(!must_wait(files(MAX, true, None), None, MAX));
    }
}
