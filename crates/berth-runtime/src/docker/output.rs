//! A Docker container's output as lines. Where this machine can see the engine's `json-file`
//! log (Berth runs every container with it, bounded), the file is read directly, following
//! its rotation: the engine then spends nothing on serving it, and the engine's own log
//! follow, which can stop for good at a rotation (moby/moby#37646), is not in the way. An
//! engine on another machine is followed through its log endpoint instead, opened again
//! whenever it falls silent while the log grows.
//!
//! Either way a line's position is the engine's timestamp of it in nanoseconds (see
//! [`DockerLines`]), so both readers give a line the same position, and reading on from a
//! position works across agents, rotations and readers.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{InspectContainerOptions, LogsOptions};
use bollard::Docker;
use futures_util::StreamExt;

use super::{backend, in_scope};
use crate::{OutputLine, OutputLines, OutputStream, RuntimeConfig, RuntimeError};

/// The container's output after `after`, from its json-file when this machine has it, else
/// through the engine.
pub(super) fn follow(
    docker: Docker,
    config: RuntimeConfig,
    id: String,
    after: Option<u64>,
) -> OutputLines {
    let chosen = async move {
        let response = match docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(response) => response,
            Err(e) => return futures_util::stream::once(async { Err(backend(e)) }).boxed(),
        };
        if !in_scope(&config, &response) {
            let missing = RuntimeError::NotFound(id);
            return futures_util::stream::once(async { Err(missing) }).boxed();
        }
        let log_file = response
            .log_path
            .filter(|p| Path::new(p).parent().is_some_and(Path::is_dir))
            .map(PathBuf::from);
        match log_file {
            Some(path) => from_file(docker, id, path, after),
            None => {
                let follow = DockerFollow {
                    docker,
                    id,
                    lines: DockerLines::after(after),
                    frames: None,
                    ready: VecDeque::new(),
                    ended: false,
                };
                futures_util::stream::unfold(follow, |mut follow| async move {
                    follow.next().await.map(|line| (line, follow))
                })
                .boxed()
            }
        }
    };
    futures_util::stream::once(chosen).flatten().boxed()
}

/// How often an idle reader of a json-file looks for more.
const FILE_POLL: Duration = Duration::from_millis(50);
/// How much of a json-file one read takes.
const FILE_CHUNK: usize = 256 << 10;

/// Follows the json-file at `path` (and `path.1`, the file before its last rotation) until
/// the container has ended and all is read. Each read runs on the blocking pool and gives its
/// thread back: a machine follows as many containers as it runs, and a thread held per
/// reader would exhaust the pool.
fn from_file(docker: Docker, id: String, path: PathBuf, after: Option<u64>) -> OutputLines {
    let ended = Arc::new(AtomicBool::new(false));
    let follow = FileFollow {
        file: Some(JsonFile::new(path, after)),
        waiter: Waiter(tokio::spawn(wait_for_end(docker, id, Arc::clone(&ended)))),
        ended,
        ended_seen: None,
        ready: VecDeque::new(),
    };
    futures_util::stream::unfold(follow, |mut follow| async move {
        follow.next().await.map(|line| (line, follow))
    })
    .boxed()
}

/// Ends the wait for the container's end when the reader is dropped.
struct Waiter(tokio::task::JoinHandle<()>);

impl Drop for Waiter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct FileFollow {
    /// `None` once everything is read, or reading failed.
    file: Option<JsonFile>,
    waiter: Waiter,
    ended: Arc<AtomicBool>,
    /// When the container was first seen ended.
    ended_seen: Option<Instant>,
    ready: VecDeque<OutputLine>,
}

impl FileFollow {
    async fn next(&mut self) -> Option<Result<OutputLine, RuntimeError>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(Ok(line));
            }
            let mut file = self.file.take()?;
            let (file, read) = match tokio::task::spawn_blocking(move || {
                let read = file.read();
                (file, read)
            })
            .await
            {
                Ok(done) => done,
                Err(e) => {
                    let failed = std::io::Error::other(format!("reading a json-file: {e}"));
                    return Some(Err(RuntimeError::Docker(DockerError::IOError {
                        err: failed,
                    })));
                }
            };
            let mut file = match read {
                Ok(lines) if !lines.is_empty() => {
                    self.ready.extend(lines);
                    self.file = Some(file);
                    continue;
                }
                Ok(_) => file,
                Err(e) => return Some(Err(e)),
            };
            // The engine has copied all of a container's output by the time it calls it
            // ended; one more look after that catches what was written meanwhile.
            if self.ended.load(Ordering::SeqCst) {
                match self.ended_seen {
                    Some(seen) if seen.elapsed() >= FILE_POLL * 2 => {
                        self.ready.extend(file.lines.finish());
                        self.waiter.0.abort();
                        continue;
                    }
                    Some(_) => {}
                    None => self.ended_seen = Some(Instant::now()),
                }
            }
            self.file = Some(file);
            tokio::time::sleep(FILE_POLL).await;
        }
    }
}

/// Sets `ended` once the container is no longer running.
async fn wait_for_end(docker: Docker, id: String, ended: Arc<AtomicBool>) {
    loop {
        // Answers when the container stops (or at once if it has), or fails when the
        // request outlives the client's time limit; either way the state says which.
        let _ = docker.wait_container(&id, None).next().await;
        let running = docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|r| r.state?.running)
            .unwrap_or(false);
        if !running {
            ended.store(true, Ordering::SeqCst);
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One entry of the engine's json-file log.
#[derive(serde::Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// A json-file log being read: the file open now, which one it is, and what is read of it
/// past its last newline.
struct JsonFile {
    path: PathBuf,
    open: Option<(File, bool)>,
    /// Where each read lands: made once, since an idle container is looked at every
    /// [`FILE_POLL`].
    chunk: Box<[u8]>,
    pending: Vec<u8>,
    lines: DockerLines,
}

impl JsonFile {
    fn new(path: PathBuf, after: Option<u64>) -> JsonFile {
        JsonFile {
            path,
            open: None,
            chunk: vec![0; FILE_CHUNK].into_boxed_slice(),
            pending: Vec::new(),
            lines: DockerLines::after(after),
        }
    }

    fn rotated_path(&self) -> PathBuf {
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(".1");
        PathBuf::from(rotated)
    }

    /// The lines that the files hold beyond what was read; empty when nothing is new.
    fn read(&mut self) -> Result<Vec<OutputLine>, RuntimeError> {
        let state_dir = |source| RuntimeError::StateDir {
            path: self.path.clone(),
            source,
        };
        if self.open.is_none() {
            // The file before the last rotation first, once, when there is one.
            self.open = match File::open(self.rotated_path()) {
                Ok(file) => Some((file, false)),
                Err(_) => match File::open(&self.path) {
                    Ok(file) => Some((file, true)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(state_dir(e)),
                },
            };
        }
        let Some((file, current)) = &mut self.open else {
            return Ok(Vec::new());
        };
        let read = file.read(&mut self.chunk).map_err(state_dir)?;
        if read > 0 {
            self.pending.extend_from_slice(&self.chunk[..read]);
            return Ok(self.parse());
        }
        // At the end of the file read: the next one, if the engine has moved on.
        let moved_on = if *current {
            let open = file.metadata().map_err(state_dir)?;
            std::fs::metadata(&self.path)
                .is_ok_and(|now| now.ino() != open.ino() || now.dev() != open.dev())
        } else {
            true
        };
        if moved_on {
            self.open = File::open(&self.path).ok().map(|file| (file, true));
            self.pending.clear();
        }
        Ok(Vec::new())
    }

    /// The lines of the whole entries pending; what follows the last newline stays.
    fn parse(&mut self) -> Vec<OutputLine> {
        let data = std::mem::take(&mut self.pending);
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(end) = data[start..].iter().position(|b| *b == b'\n') {
            let entry = &data[start..start + end];
            start += end + 1;
            let Ok(entry) = serde_json::from_slice::<Entry<'_>>(entry) else {
                continue;
            };
            let stream = match entry.stream.as_ref() {
                "stdout" => OutputStream::Stdout,
                "stderr" => OutputStream::Stderr,
                _ => continue,
            };
            if let Some(nanos) = berth_time::parse_rfc3339_nanos(&entry.time) {
                lines.extend(self.lines.entry(stream, nanos, entry.log.as_bytes()));
            }
        }
        self.pending = data;
        self.pending.drain(..start);
        lines
    }
}

/// The engine's stamp of the first entry of the json-file at `path`, in nanoseconds; `None`
/// when it is empty, unreadable or its first entry is longer than a read of it.
pub(super) fn first_entry_nanos(path: &Path) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let mut data = vec![0; FILE_CHUNK];
    let mut filled = 0;
    while filled < data.len() {
        let read = file.read(&mut data[filled..]).ok()?;
        if read == 0 {
            break;
        }
        filled += read;
        if let Some(end) = data[..filled].iter().position(|b| *b == b'\n') {
            let entry: Entry<'_> = serde_json::from_slice(&data[..end]).ok()?;
            let nanos = berth_time::parse_rfc3339_nanos(&entry.time)?;
            return u64::try_from(nanos).ok();
        }
    }
    None
}

/// How long a follow of the engine's log endpoint may deliver nothing before it is opened
/// again: the engine's follow can stop for good when the log file rotates (moby/moby#37646),
/// and then waits on neither the container's end nor an error.
const SILENT_FOLLOW: Duration = Duration::from_secs(5);

/// One container's output followed through the engine's log endpoint, for an engine on
/// another machine, opened again from the last line read whenever it falls silent.
struct DockerFollow {
    docker: Docker,
    id: String,
    lines: DockerLines,
    frames: Option<futures_util::stream::BoxStream<'static, Result<LogOutput, DockerError>>>,
    ready: VecDeque<OutputLine>,
    ended: bool,
}

impl DockerFollow {
    async fn next(&mut self) -> Option<Result<OutputLine, RuntimeError>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(Ok(line));
            }
            if self.ended {
                return None;
            }
            let frames = match &mut self.frames {
                Some(frames) => frames,
                None => self.frames.insert(self.open()),
            };
            match tokio::time::timeout(SILENT_FOLLOW, frames.next()).await {
                Ok(Some(Ok(frame))) => self.ready.extend(self.lines.frame(frame)),
                Ok(Some(Err(e))) => {
                    self.ended = true;
                    return Some(Err(backend(e)));
                }
                Ok(None) => {
                    self.ready.extend(self.lines.finish());
                    self.ended = true;
                }
                Err(_silent) => {
                    self.frames = None;
                    self.lines.reopen();
                }
            }
        }
    }

    fn open(&self) -> futures_util::stream::BoxStream<'static, Result<LogOutput, DockerError>> {
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            // Docker reads from a whole second; the lines of that second up to the last one
            // read are skipped by `DockerLines`.
            since: self
                .lines
                .resume_after()
                .map_or(0, |nanos| (nanos / 1_000_000_000) as i32),
            ..Default::default()
        };
        self.docker.logs(&self.id, Some(options)).boxed()
    }
}

/// Lines from the entries of the engine's log: frames of its log endpoint with timestamps
/// (`<RFC 3339 nanos> <text>`), or entries of its json-file.
/// A line's position is its timestamp in nanoseconds, bumped past the line before when the
/// engine stamped two alike, so that reading again from the same second gives each line the
/// same position. Docker splits lines longer than 16 KiB into frames without a newline, all
/// stamped alike; they are joined again here.
///
/// The engine stamps each line of a stream as it copies it, so a stream's stamps only grow; a
/// frame stamped before the one read last of its stream is one the engine sends again (its
/// follow repeats lines around a rotation of the log file) and is dropped.
struct DockerLines {
    after: Option<u64>,
    last: u64,
    /// Each stream's line so far, with the time of its latest frame.
    partial: [(Vec<u8>, i64); 2],
}

impl DockerLines {
    fn after(after: Option<u64>) -> DockerLines {
        DockerLines {
            after,
            last: 0,
            partial: [(Vec::new(), 0), (Vec::new(), 0)],
        }
    }

    fn frame(&mut self, frame: LogOutput) -> Vec<OutputLine> {
        let (stream, message) = match frame {
            LogOutput::StdOut { message } => (OutputStream::Stdout, message),
            LogOutput::StdErr { message } => (OutputStream::Stderr, message),
            LogOutput::StdIn { .. } | LogOutput::Console { .. } => return Vec::new(),
        };
        let Some(space) = message.iter().position(|b| *b == b' ') else {
            return Vec::new();
        };
        match std::str::from_utf8(&message[..space])
            .ok()
            .and_then(berth_time::parse_rfc3339_nanos)
        {
            Some(nanos) => self.entry(stream, nanos, &message[space + 1..]),
            None => Vec::new(),
        }
    }

    /// One entry of the engine's log: a line, several, or a piece of a long one.
    fn entry(&mut self, stream: OutputStream, nanos: i64, text: &[u8]) -> Vec<OutputLine> {
        let mut lines = Vec::new();
        let (buffer, stamped) = &mut self.partial[stream as usize];
        // Only the pieces of one long line share a stamp.
        let repeated = nanos < *stamped || (nanos == *stamped && buffer.is_empty());
        if repeated {
            return lines;
        }
        *stamped = nanos;
        for piece in text.split_inclusive(|b| *b == b'\n') {
            buffer.extend_from_slice(piece);
            if buffer.ends_with(b"\n") {
                buffer.pop();
                let text = String::from_utf8_lossy(buffer).into_owned();
                buffer.clear();
                lines.extend(positioned_line(
                    &mut self.last,
                    self.after,
                    nanos,
                    stream,
                    text,
                ));
            }
        }
        lines
    }

    /// Where a follow opened again resumes: after the last line read (or the first `after`).
    fn resume_after(&self) -> Option<u64> {
        self.after.max((self.last > 0).then_some(self.last))
    }

    /// Forgets how the lines read so far were positioned, to read them again from the start
    /// of the second they ended in: they get the same positions, and are skipped as read.
    fn reopen(&mut self) {
        self.after = self.resume_after();
        self.last = 0;
        self.partial = [(Vec::new(), 0), (Vec::new(), 0)];
    }

    /// What is left without a newline once the container's log has ended.
    fn finish(&mut self) -> Vec<OutputLine> {
        let mut lines = Vec::new();
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let (buffer, nanos) = std::mem::take(&mut self.partial[stream as usize]);
            if !buffer.is_empty() {
                let text = String::from_utf8_lossy(&buffer).into_owned();
                lines.extend(positioned_line(
                    &mut self.last,
                    self.after,
                    nanos,
                    stream,
                    text,
                ));
            }
        }
        lines
    }
}

/// The line at `nanos`, positioned past `last`, unless it is at or before `after`.
fn positioned_line(
    last: &mut u64,
    after: Option<u64>,
    nanos: i64,
    stream: OutputStream,
    text: String,
) -> Option<OutputLine> {
    let position = (nanos.max(0) as u64).max(*last + 1);
    *last = position;
    (after.is_none_or(|after| position > after)).then_some(OutputLine {
        position,
        written_at_nanos: nanos,
        stream,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stamp: &str, text: &str) -> LogOutput {
        LogOutput::StdOut {
            message: format!("2026-12-04T06:00:00.{stamp}Z {text}").into(),
        }
    }

    fn err(stamp: &str, text: &str) -> LogOutput {
        LogOutput::StdErr {
            message: format!("2026-12-04T06:00:00.{stamp}Z {text}").into(),
        }
    }

    fn read(lines: &mut DockerLines, frames: Vec<LogOutput>) -> Vec<(u64, String)> {
        let mut read: Vec<OutputLine> = frames.into_iter().flat_map(|f| lines.frame(f)).collect();
        read.extend(lines.finish());
        read.into_iter()
            .map(|l| (l.position % 1_000_000_000, l.text))
            .collect()
    }

    #[test]
    fn docker_frames_become_positioned_lines() {
        let frames = || {
            vec![
                out("000000100", "one\n"),
                err("000000100", "two\n"),
                out("000000200", "a long "),
                out("000000200", "line\n"),
                out(
                    "000000150",
                    "one again, as the engine repeats around a rotation\n",
                ),
                out("000000300", "three\n"),
                out("000000300", "three again\n"),
                err("000000400", "no newline"),
            ]
        };
        let all = read(&mut DockerLines::after(None), frames());
        let expected = [
            (100, "one"),
            (101, "two"),
            (200, "a long line"),
            (300, "three"),
            (400, "no newline"),
        ];
        let expected: Vec<(u64, String)> =
            expected.iter().map(|(p, t)| (*p, t.to_string())).collect();
        assert_eq!(all, expected);
        let second = 1_796_364_000_000_000_000;
        let resumed = read(&mut DockerLines::after(Some(second + 101)), frames());
        assert_eq!(resumed, expected[2..]);
        let mut reopened = DockerLines::after(None);
        let first: Vec<OutputLine> = frames()[..2]
            .iter()
            .cloned()
            .flat_map(|f| reopened.frame(f))
            .collect();
        assert_eq!(first.len(), 2);
        reopened.reopen();
        assert_eq!(read(&mut reopened, frames()), expected[2..]);
    }
}
