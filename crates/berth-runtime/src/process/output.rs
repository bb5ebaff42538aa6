//! A container's output under the process runtime: captured by a shim process, read back as
//! lines.
//!
//! The agent ships every line with the time the container wrote it, and must neither lose nor
//! repeat lines when it is killed and restarted while the container keeps writing. So the
//! container's stdout and stderr are not the agent's to read: they are pipes to an *output
//! shim*, a process forked from the runtime's without exec (no second binary to find) and
//! detached from it — its own session, reparented to init, common signals ignored — so it lives
//! as long as any process of the container holds the pipes, whatever happens to the agent.
//! The shim timestamps each chunk it reads and appends it to a file in the container's
//! directory; [`follow`] turns those files back into lines, for this runtime or a later one.
//!
//! **Files.** `output.<n>` for generations n = 0, 1, …: a 16-byte header (the magic
//! `berth-o1` and the little-endian logical offset the file starts at), then records of a
//! 13-byte header (kind: 1 stdout, 2 stderr, 3 end of output; payload length u32; nanoseconds
//! since the epoch i64, both little-endian) and the payload, at most 64 KiB. The logical
//! offset counts record bytes across generations, so it means the same place in the output
//! however the files rotate. A file is full at a quarter of the output budget; the shim then
//! deletes the generation four back and starts the next, so what is kept stays within the
//! budget (the newest three quarters or more of it are always kept). The end record comes
//! when both pipes reached end of file: every process holding them is gone.
//!
//! **Lines and positions.** Each stream is split at its newlines on its own; a line longer
//! than [`MAX_LINE_BYTES`] is cut into pieces of that size (a newline right after a full piece
//! only ends it), as Docker's log drivers do. A line's position is the logical offset just
//! past the byte that completed it (its newline, or the last byte of a piece); lines still
//! without a newline when the output ends take the end's offset plus one (stdout) or two
//! (stderr). Positions therefore grow line by line and depend only on the files, so every
//! reader — again from the start, from any position, or in a restarted agent — sees the same
//! lines at the same positions. Reading after a position reads from the oldest kept record and
//! skips lines up to it, since a line ending after it may have begun before it. Reading from
//! before what is kept starts at the oldest record kept, whose first line may be the tail of
//! a longer one.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{proc_alive, proc_stat, read_record};
use crate::{OutputLine, OutputLines, OutputStream, RuntimeError};

/// The longest line [`follow`] yields; longer ones come in pieces. Docker's size.
const MAX_LINE_BYTES: usize = 16 << 10;
/// The smallest output budget: each generation must hold at least one full record.
pub(super) const MIN_OUTPUT_BUDGET: u64 =
    GENERATIONS * (FILE_HEADER + RECORD_HEADER as u64 + CHUNK as u64);

const MAGIC: [u8; 8] = *b"berth-o1";
const FILE_HEADER: u64 = 16;
const RECORD_HEADER: usize = 13;
/// The most the shim reads from a pipe at once: one record's payload at most.
const CHUNK: usize = 64 << 10;
/// How many files the budget is spread over.
const GENERATIONS: u64 = 4;
const KIND_STDOUT: u8 = 1;
const KIND_STDERR: u8 = 2;
const KIND_END: u8 = 3;

/// Where the shim keeps its descriptors: the current file at 0 and the pipes at 1 and 2, so a
/// stray write to "stdout" or "stderr" fails on a read end instead of corrupting the file.
const SHIM_FILE: RawFd = 0;
const SHIM_STDOUT: RawFd = 1;
const SHIM_STDERR: RawFd = 2;
/// The container's directory, where the shim makes and deletes generations.
const SHIM_DIR: RawFd = 3;

/// Where the agent says how far a held container's output is shipped: a little-endian u64.
const SHIPPED: &str = "shipped";
const SHIPPED_C: &std::ffi::CStr = c"shipped";
/// How often a held shim looks whether the output it waits on is shipped.
const HOLD_POLL_NANOS: libc::c_long = 50_000_000;

/// How often a reader at the end of what is written looks for more.
const FOLLOW_EVERY: Duration = Duration::from_millis(50);
/// How long a reader waits for more output from a shim that is gone without an end record
/// (it was SIGKILLed), once the container has exited too.
const ABANDONED_AFTER: Duration = Duration::from_secs(2);
/// How much of a file a reader reads at once.
const READ_BLOCK: usize = 256 << 10;
/// How many lines a reader hands over at once.
const BATCH: usize = 1024;

/// The shim of a container, as its record keeps it: a pid with its start time, so a reused
/// pid is never taken for it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(super) struct Shim {
    pub pid: i32,
    pub start_ticks: u64,
}

/// The write ends the container gets as stdout and stderr, and the shim reading them.
pub(super) struct Capture {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub shim: Shim,
}

/// Starts the output shim for the container whose directory is `dir`, keeping at most
/// `budget` bytes of output there; with `hold`, the shim stops reading (so the container's
/// writes wait) rather than drop output not yet shipped (see [`record_shipped`]). The shim
/// ends once every copy of the returned write ends is closed, so the caller must not keep its
/// own.
pub(super) fn capture(dir: &Path, budget: u64, hold: bool) -> io::Result<Capture> {
    if hold {
        record_shipped(dir, 0)?;
    }
    let (stdout_read, stdout) = pipe()?;
    let (stderr_read, stderr) = pipe()?;
    let (pid_read, pid_write) = pipe()?;
    let mut first = fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(generation_name(0)))?;
    first.write_all(&file_header(0))?;
    let directory = File::open(dir)?;
    let keep = [
        first.as_raw_fd(),
        stdout_read.as_raw_fd(),
        stderr_read.as_raw_fd(),
        directory.as_raw_fd(),
    ];
    let per_file = budget / GENERATIONS;
    let pid_write_fd = pid_write.as_raw_fd();
    // SAFETY: the child of this fork runs only `detach`, which makes async-signal-safe calls
    // alone (the process may have other threads whose locks stay held in the child) and never
    // returns into Rust code of the parent's.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        // SAFETY: in the freshly forked child, as `detach` requires.
        0 => unsafe { detach(keep, per_file, hold, pid_write_fd) },
        middle => {
            drop(pid_write);
            wait_for(middle)?;
        }
    }
    let mut pid = [0; 4];
    File::from(pid_read)
        .read_exact(&mut pid)
        .map_err(|e| io::Error::new(e.kind(), "the output shim could not be forked"))?;
    let pid = i32::from_ne_bytes(pid);
    // The shim cannot have exited yet: the write ends are still here.
    let start_ticks = proc_stat(pid).map_or(0, |(_, ticks)| ticks);
    Ok(Capture {
        stdout,
        stderr,
        shim: Shim { pid, start_ticks },
    })
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read, write] = fds;
    // SAFETY: both descriptors were just created and belong to nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(read), OwnedFd::from_raw_fd(write)) })
}

/// Reaps the middle process of the double fork, which exits at once.
fn wait_for(pid: libc::pid_t) -> io::Result<()> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into the integer it is given.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(io::Error::other("the output shim could not be forked"))
    }
}

/// The middle of the double fork: a new session, then the shim as its child, whose pid goes
/// to the parent through `pid_write`. Exiting at once hands the shim to init, so it has no
/// parent to die with and no controlling terminal to take a Ctrl-C from.
///
/// # Safety
/// Only in the child of a fork, where only async-signal-safe calls may run.
unsafe fn detach(keep: [RawFd; 4], per_file: u64, hold: bool, pid_write: RawFd) -> ! {
    // SAFETY: setsid, fork, write and _exit are async-signal-safe; `run_shim` is called in the
    // new child, as it requires.
    unsafe {
        libc::setsid();
        let shim = libc::fork();
        if shim == 0 {
            run_shim(keep, per_file, hold);
        }
        let pid = shim.to_ne_bytes();
        let told = shim > 0 && libc::write(pid_write, pid.as_ptr().cast(), pid.len()) == 4;
        libc::_exit(if told { 0 } else { 1 })
    }
}

/// The shim: copies both pipes into records until neither has a writer left, then writes the
/// end record and exits.
///
/// # Safety
/// Only in the child of a fork, where only async-signal-safe calls may run: this allocates
/// nothing, takes no locks and cannot panic.
unsafe fn run_shim(keep: [RawFd; 4], per_file: u64, hold: bool) -> ! {
    // SAFETY: raw syscalls on descriptors inherited from the parent, on stack buffers this
    // function owns; signal() and chdir() are async-signal-safe.
    unsafe {
        // Everything else goes: other containers' pipe ends inherited through a concurrent
        // fork would keep their shims from ever seeing end of file, and the agent's sockets
        // must not live on here. The keepers first move out of the way of 0..=3 (the pipes
        // may have been given low numbers), then onto them.
        let moved = keep.map(|fd| libc::fcntl(fd, libc::F_DUPFD, 4));
        for (target, fd) in (0..).zip(moved) {
            if fd < 0 || libc::dup2(fd, target) != target {
                libc::_exit(1);
            }
        }
        let (first, last, flags): (libc::c_uint, libc::c_uint, libc::c_uint) = (4, u32::MAX, 0);
        if libc::syscall(libc::SYS_close_range, first, last, flags) != 0 {
            // Kernels before 5.9 have no close_range.
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            let top = libc::c_int::try_from(limit.rlim_cur.min(1 << 20)).unwrap_or(1 << 20);
            for fd in 4..top {
                libc::close(fd);
            }
        }
        // Handlers inherited from the agent would run its code on descriptors that are gone.
        for signal in 1..=64 {
            libc::signal(signal, libc::SIG_DFL);
        }
        for signal in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(signal, libc::SIG_IGN);
        }
        // Not to keep the agent's working directory busy.
        libc::chdir(c"/".as_ptr());

        let mut writer = Writer {
            generation: 0,
            start: 0,
            starts: [0; GENERATIONS as usize],
            file_size: FILE_HEADER,
            per_file,
            last_nanos: 0,
            stalled: false,
            hold,
        };
        let mut buffer = [0u8; CHUNK];
        let mut pipes = [SHIM_STDOUT, SHIM_STDERR].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        while pipes.iter().any(|pipe| pipe.fd >= 0) {
            // Only EINTR can fail it here; the next round polls again.
            if libc::poll(pipes.as_mut_ptr(), 2, -1) < 0 {
                continue;
            }
            for (pipe, kind) in pipes.iter_mut().zip([KIND_STDOUT, KIND_STDERR]) {
                if pipe.fd < 0 || pipe.revents == 0 {
                    continue;
                }
                let read = libc::read(pipe.fd, buffer.as_mut_ptr().cast(), buffer.len());
                match usize::try_from(read).ok().and_then(|n| buffer.get(..n)) {
                    Some([]) => {
                        libc::close(pipe.fd);
                        pipe.fd = -1;
                    }
                    Some(bytes) => writer.append(kind, bytes),
                    None => {
                        let error = io::Error::last_os_error().raw_os_error();
                        if error != Some(libc::EINTR) && error != Some(libc::EAGAIN) {
                            libc::close(pipe.fd);
                            pipe.fd = -1;
                        }
                    }
                }
            }
        }
        writer.append(KIND_END, &[]);
        libc::_exit(0)
    }
}

/// The shim's side of the files. Every method is async-signal-safe.
struct Writer {
    generation: u64,
    /// The logical offset the current file starts at.
    start: u64,
    /// The logical offset each kept generation starts at, by generation modulo
    /// [`GENERATIONS`].
    starts: [u64; GENERATIONS as usize],
    file_size: u64,
    per_file: u64,
    /// The latest timestamp written: the clock may be set back, a stream's times must not.
    last_nanos: i64,
    /// The next generation could not be made; output is dropped until it can.
    stalled: bool,
    /// Wait, rather than delete a generation whose output is not all shipped.
    hold: bool,
}

impl Writer {
    /// Appends one record, starting a new generation first when the current one is full.
    /// What cannot be written whole (a full disk) is dropped, so a record is never torn.
    ///
    /// # Safety
    /// Only in the shim, with its descriptors in place.
    unsafe fn append(&mut self, kind: u8, bytes: &[u8]) {
        let size = (RECORD_HEADER + bytes.len()) as u64;
        // SAFETY: the shim's descriptors are in place, as this function requires.
        unsafe {
            // Read before a rotation that may wait: the chunk was written now.
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
            let nanos = now
                .tv_sec
                .saturating_mul(1_000_000_000)
                .saturating_add(now.tv_nsec)
                .max(self.last_nanos);
            self.last_nanos = nanos;
            if self.stalled
                || (self.file_size > FILE_HEADER
                    && self.file_size.saturating_add(size) > self.per_file)
            {
                self.rotate();
                if self.stalled {
                    return;
                }
            }
            let header = record_header(kind, bytes.len() as u32, nanos);
            let parts = [
                libc::iovec {
                    iov_base: header.as_ptr().cast_mut().cast(),
                    iov_len: header.len(),
                },
                libc::iovec {
                    iov_base: bytes.as_ptr().cast_mut().cast(),
                    iov_len: bytes.len(),
                },
            ];
            let written = libc::writev(SHIM_FILE, parts.as_ptr(), 2);
            if u64::try_from(written).ok() == Some(size) {
                self.file_size = self.file_size.saturating_add(size);
            } else {
                libc::ftruncate(SHIM_FILE, self.file_size as libc::off_t);
            }
        }
    }

    /// Deletes the generation that would take the kept output over budget, then makes the
    /// next one the current file.
    ///
    /// # Safety
    /// Only in the shim, with its descriptors in place.
    unsafe fn rotate(&mut self) {
        let next = self.generation.saturating_add(1);
        let start = self
            .start
            .saturating_add(self.file_size.saturating_sub(FILE_HEADER));
        // SAFETY: the names are NUL-terminated stack arrays; the descriptors are the shim's.
        unsafe {
            if let Some(oldest) = next.checked_sub(GENERATIONS) {
                if self.hold {
                    // Everything before the generation after it must be shipped.
                    self.wait_until_shipped(self.starts[((oldest + 1) % GENERATIONS) as usize]);
                }
                libc::unlinkat(SHIM_DIR, generation_name_c(oldest).as_ptr().cast(), 0);
            }
            let name = generation_name_c(next);
            let mode: libc::c_uint = 0o600;
            let fd = libc::openat(
                SHIM_DIR,
                name.as_ptr().cast(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND | libc::O_CLOEXEC,
                mode,
            );
            if fd < 0 {
                self.stalled = true;
                return;
            }
            let header = file_header(start);
            let made = libc::write(fd, header.as_ptr().cast(), header.len())
                == header.len() as isize
                && libc::dup2(fd, SHIM_FILE) == SHIM_FILE;
            libc::close(fd);
            if !made {
                libc::unlinkat(SHIM_DIR, name.as_ptr().cast(), 0);
                self.stalled = true;
                return;
            }
        }
        self.generation = next;
        self.start = start;
        self.starts[(next % GENERATIONS) as usize] = start;
        self.file_size = FILE_HEADER;
        self.stalled = false;
    }

    /// Returns once the output is shipped through logical offset `needed`, or once nobody
    /// says so any more (the container's directory, and its shipped file, were removed).
    /// Meanwhile the pipes are not read, so the container's writes wait once they are full.
    ///
    /// # Safety
    /// Only in the shim, with its descriptors in place.
    unsafe fn wait_until_shipped(&self, needed: u64) {
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: HOLD_POLL_NANOS,
        };
        // SAFETY: openat, pread, close and nanosleep on the shim's directory descriptor and
        // stack buffers.
        unsafe {
            loop {
                let fd = libc::openat(
                    SHIM_DIR,
                    SHIPPED_C.as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC,
                );
                if fd < 0 {
                    return;
                }
                let mut bytes = [0u8; 8];
                let read = libc::pread(fd, bytes.as_mut_ptr().cast(), bytes.len(), 0);
                libc::close(fd);
                if read == 8 && u64::from_le_bytes(bytes) >= needed {
                    return;
                }
                libc::nanosleep(&pause, std::ptr::null_mut());
            }
        }
    }
}

/// Records that the output is shipped through logical offset `position`, for a shim that
/// holds writers back: atomically, so the shim never reads half a number.
pub(super) fn record_shipped(dir: &Path, position: u64) -> io::Result<()> {
    let temporary = dir.join(format!("{SHIPPED}.{position}.tmp"));
    fs::write(&temporary, position.to_le_bytes())?;
    fs::rename(&temporary, dir.join(SHIPPED))
}

/// Whether the container's shim holds its writers back for shipping.
pub(super) fn holds(dir: &Path) -> bool {
    dir.join(SHIPPED).exists()
}

fn file_header(start: u64) -> [u8; FILE_HEADER as usize] {
    let mut header = [0; FILE_HEADER as usize];
    for (slot, byte) in header
        .iter_mut()
        .zip(MAGIC.into_iter().chain(start.to_le_bytes()))
    {
        *slot = byte;
    }
    header
}

fn record_header(kind: u8, length: u32, nanos: i64) -> [u8; RECORD_HEADER] {
    let mut header = [kind; RECORD_HEADER];
    let fields = length.to_le_bytes().into_iter().chain(nanos.to_le_bytes());
    for (slot, byte) in header.iter_mut().skip(1).zip(fields) {
        *slot = byte;
    }
    header
}

fn generation_name(generation: u64) -> String {
    format!("output.{generation}")
}

/// [`generation_name`], NUL-terminated, without allocating: for the shim.
fn generation_name_c(generation: u64) -> [u8; 32] {
    let mut digits = [0u8; 20];
    let mut rest = generation;
    let mut count = 0;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
        count += 1;
        if rest == 0 {
            break;
        }
    }
    let mut name = [0u8; 32];
    let digits = digits.iter().skip(digits.len().saturating_sub(count));
    for (slot, byte) in name.iter_mut().zip(b"output.".iter().chain(digits)) {
        *slot = *byte;
    }
    name
}

/// Copies the start of `bytes` into an array (zero-padded if short).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut array = [0; N];
    for (slot, byte) in array.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    array
}

/// The container's output from just after `after`, following it until the end record (or,
/// when the shim was killed, until the container has exited and the shim is gone), as the
/// module docs describe. A line's time is that of the chunk that completed it: the one
/// holding its newline, or its last byte when it has none.
pub(super) fn follow(id: String, dir: PathBuf, after: Option<u64>) -> OutputLines {
    let state = (Some(Reader::new(id, dir, after)), VecDeque::new());
    futures_util::stream::unfold(state, |(mut reader, mut queue)| async move {
        loop {
            if let Some(line) = queue.pop_front() {
                return Some((Ok(line), (reader, queue)));
            }
            let current = reader.take()?;
            let dir = current.dir.clone();
            let stepped = tokio::task::spawn_blocking(move || {
                let mut current = current;
                let step = current.step();
                (current, step)
            })
            .await;
            match stepped {
                Ok((current, Ok(progress))) => {
                    let idle = progress.lines.is_empty();
                    queue.extend(progress.lines);
                    if !progress.ended {
                        reader = Some(current);
                        if idle {
                            tokio::time::sleep(FOLLOW_EVERY).await;
                        }
                    }
                }
                Ok((_, Err(error))) => return Some((Err(error), (None, queue))),
                Err(error) => {
                    let error = RuntimeError::StateDir {
                        path: dir,
                        source: io::Error::other(error),
                    };
                    return Some((Err(error), (None, queue)));
                }
            }
        }
    })
    .boxed()
}

/// Reads a container's output files into lines; blocking.
struct Reader {
    id: String,
    dir: PathBuf,
    after: Option<u64>,
    file: Option<Generation>,
    /// What was read from the current file and is not parsed yet.
    buffer: Vec<u8>,
    /// The logical offset of `buffer`'s first byte.
    offset: u64,
    /// The line each stream is in the middle of: stdout, stderr.
    streams: [Partial; 2],
    /// Since when nothing was read and the shim was not seen alive.
    quiet_since: Instant,
}

struct Generation {
    number: u64,
    file: File,
    /// Where in the file the next read starts.
    read_to: u64,
}

#[derive(Default)]
struct Partial {
    bytes: Vec<u8>,
    /// The time of the chunk that gave the last of `bytes`.
    nanos: i64,
    /// The last line was a full piece of a longer one; a newline right after it ends it.
    cut: bool,
}

struct Progress {
    lines: Vec<OutputLine>,
    ended: bool,
}

impl Reader {
    fn new(id: String, dir: PathBuf, after: Option<u64>) -> Reader {
        Reader {
            id,
            dir,
            after,
            file: None,
            buffer: Vec::new(),
            offset: 0,
            streams: Default::default(),
            quiet_since: Instant::now(),
        }
    }

    /// Reads on as far as there is output, up to a batch of lines.
    fn step(&mut self) -> Result<Progress, RuntimeError> {
        let mut lines = Vec::new();
        loop {
            if self.file.is_none() && !self.open_oldest()? {
                return self.idle(lines);
            }
            if self.parse(&mut lines)? {
                return Ok(Progress { lines, ended: true });
            }
            if lines.len() >= BATCH {
                return Ok(Progress {
                    lines,
                    ended: false,
                });
            }
            if self.fill()? > 0 || self.next_generation()? {
                continue;
            }
            return self.idle(lines);
        }
    }

    /// At the end of what is written: nothing to do yet, unless the shim is gone for good.
    fn idle(&mut self, lines: Vec<OutputLine>) -> Result<Progress, RuntimeError> {
        if !lines.is_empty() || self.quiet_since.elapsed() < ABANDONED_AFTER {
            return Ok(Progress {
                lines,
                ended: false,
            });
        }
        let record =
            read_record(&self.dir).ok_or_else(|| RuntimeError::NotFound(self.id.clone()))?;
        let exited = record.exit.is_some() || !proc_alive(record.pid, record.start_ticks);
        let shim_alive = record
            .output_shim
            .is_some_and(|shim| proc_alive(shim.pid, shim.start_ticks));
        let mut lines = lines;
        let ended = exited && !shim_alive;
        if ended {
            self.finish(self.offset, &mut lines);
        } else {
            // Not to read the record every round while a container is quiet.
            self.quiet_since = Instant::now();
        }
        Ok(Progress { lines, ended })
    }

    /// The generations on disk, oldest first.
    fn generations(&self) -> Result<Vec<u64>, RuntimeError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| self.error(e))?;
        let mut numbers: Vec<u64> = entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name();
                name.to_str()?.strip_prefix("output.")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn open_oldest(&mut self) -> Result<bool, RuntimeError> {
        for number in self.generations()? {
            if self.open(number)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Moves on to the next generation once the current one is read to its end.
    fn next_generation(&mut self) -> Result<bool, RuntimeError> {
        let current = self.file.as_ref().map_or(0, |file| file.number);
        let newer: Vec<u64> = self
            .generations()?
            .into_iter()
            .filter(|number| *number > current)
            .collect();
        if newer.is_empty() {
            return Ok(false);
        }
        // The shim finished writing this file before it made the next one, so read it once
        // more now that the next one is known to exist.
        if self.fill()? > 0 {
            return Ok(true);
        }
        for number in newer {
            if self.open(number)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Makes generation `number` the current file; false when it is gone already or its
    /// header is not written yet.
    fn open(&mut self, number: u64) -> Result<bool, RuntimeError> {
        let file = match File::open(self.dir.join(generation_name(number))) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.error(e)),
        };
        let mut header = [0; FILE_HEADER as usize];
        match file.read_exact_at(&mut header, 0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(self.error(e)),
        }
        let (magic, start) = header.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(self.invalid("an output file without its header"));
        }
        let start = u64::from_le_bytes(array(start));
        if start != self.offset {
            // The lines in progress went on in a generation deleted before it was read.
            self.streams = Default::default();
            self.offset = start;
        }
        self.buffer.clear();
        self.file = Some(Generation {
            number,
            file,
            read_to: FILE_HEADER,
        });
        Ok(true)
    }

    /// Reads more of the current file into the buffer; how many bytes are new.
    fn fill(&mut self) -> Result<usize, RuntimeError> {
        let Some(generation) = self.file.as_mut() else {
            return Ok(0);
        };
        // What the buffer holds is a record not complete yet: read it again, since one the
        // shim could not finish is truncated away and written anew.
        let pending = self.buffer.len();
        generation.read_to -= pending as u64;
        self.buffer.clear();
        self.buffer.resize(READ_BLOCK.max(pending), 0);
        let read = loop {
            match generation
                .file
                .read_at(&mut self.buffer, generation.read_to)
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                self.buffer.clear();
                return Err(self.error(e));
            }
        };
        self.buffer.truncate(read);
        generation.read_to += read as u64;
        let new = read.saturating_sub(pending);
        if new > 0 {
            self.quiet_since = Instant::now();
        }
        Ok(new)
    }

    /// Turns the complete records in the buffer into lines; true once the end record is read.
    fn parse(&mut self, lines: &mut Vec<OutputLine>) -> Result<bool, RuntimeError> {
        let mut at = 0;
        let ended = loop {
            if lines.len() >= BATCH {
                break false;
            }
            let Some(header) = self.buffer.get(at..at + RECORD_HEADER) else {
                break false;
            };
            let [kind, l0, l1, l2, l3, nanos @ ..] = array::<RECORD_HEADER>(header);
            let length = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
            let nanos = i64::from_le_bytes(nanos);
            if length > CHUNK {
                return Err(self.invalid("an output record longer than any the shim writes"));
            }
            let payload_at = at + RECORD_HEADER;
            let Some(payload) = self.buffer.get(payload_at..payload_at + length) else {
                break false;
            };
            let (stream, partial) = match kind {
                KIND_STDOUT => (OutputStream::Stdout, &mut self.streams[0]),
                KIND_STDERR => (OutputStream::Stderr, &mut self.streams[1]),
                KIND_END => break true,
                _ => return Err(self.invalid("an output record of unknown kind")),
            };
            let payload_offset = self.offset + RECORD_HEADER as u64;
            split(
                partial,
                stream,
                payload,
                payload_offset,
                nanos,
                self.after,
                lines,
            );
            at = payload_at + length;
            self.offset += (RECORD_HEADER + length) as u64;
        };
        self.buffer.drain(..at);
        if ended {
            self.finish(self.offset, lines);
        }
        Ok(ended)
    }

    /// Yields the lines left without a newline when the output ended at `offset`.
    fn finish(&mut self, offset: u64, lines: &mut Vec<OutputLine>) {
        let streams = self.streams.iter_mut();
        for ((partial, stream), past) in streams
            .zip([OutputStream::Stdout, OutputStream::Stderr])
            .zip(1..)
        {
            if !partial.bytes.is_empty() {
                let nanos = partial.nanos;
                emit(partial, stream, offset + past, nanos, self.after, lines);
            }
        }
    }

    fn error(&self, error: io::Error) -> RuntimeError {
        if error.kind() == io::ErrorKind::NotFound {
            // The directory went: the container was removed.
            return RuntimeError::NotFound(self.id.clone());
        }
        RuntimeError::StateDir {
            path: self.dir.clone(),
            source: error,
        }
    }

    fn invalid(&self, what: &str) -> RuntimeError {
        self.error(io::Error::new(io::ErrorKind::InvalidData, what.to_string()))
    }
}

/// Adds a chunk of one stream, whose first byte is at logical `offset`, to its line in
/// progress, yielding the lines it completes.
fn split(
    partial: &mut Partial,
    stream: OutputStream,
    chunk: &[u8],
    mut offset: u64,
    nanos: i64,
    after: Option<u64>,
    lines: &mut Vec<OutputLine>,
) {
    let mut rest = chunk;
    while let Some((first, tail)) = rest.split_first() {
        if std::mem::take(&mut partial.cut) && *first == b'\n' {
            rest = tail;
            offset += 1;
            continue;
        }
        partial.nanos = nanos;
        let room = MAX_LINE_BYTES - partial.bytes.len();
        let window = &rest[..rest.len().min(room)];
        let taken = match window.iter().position(|byte| *byte == b'\n') {
            Some(newline) => {
                partial.bytes.extend_from_slice(&window[..newline]);
                emit(
                    partial,
                    stream,
                    offset + newline as u64 + 1,
                    nanos,
                    after,
                    lines,
                );
                newline + 1
            }
            None => {
                partial.bytes.extend_from_slice(window);
                if window.len() == room {
                    emit(partial, stream, offset + room as u64, nanos, after, lines);
                    partial.cut = true;
                }
                window.len()
            }
        };
        rest = &rest[taken..];
        offset += taken as u64;
    }
}

fn emit(
    partial: &mut Partial,
    stream: OutputStream,
    position: u64,
    nanos: i64,
    after: Option<u64>,
    lines: &mut Vec<OutputLine>,
) {
    let bytes = std::mem::take(&mut partial.bytes);
    if after.is_none_or(|after| position > after) {
        lines.push(OutputLine {
            position,
            written_at_nanos: nanos,
            stream,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Record<'a> = (u8, &'a [u8], i64);

    /// Writes generation `number` starting at logical `start`; returns where it ends.
    fn write_generation(dir: &Path, number: u64, start: u64, records: &[Record]) -> u64 {
        let mut bytes = file_header(start).to_vec();
        for (kind, payload, nanos) in records {
            bytes.extend(record_header(*kind, payload.len() as u32, *nanos));
            bytes.extend_from_slice(payload);
        }
        fs::write(dir.join(generation_name(number)), &bytes).unwrap();
        start + bytes.len() as u64 - FILE_HEADER
    }

    fn read_all(dir: &Path, after: Option<u64>) -> Vec<OutputLine> {
        let mut reader = Reader::new("c".into(), dir.to_path_buf(), after);
        let mut lines = Vec::new();
        loop {
            let progress = reader.step().expect("a step");
            lines.extend(progress.lines);
            if progress.ended {
                return lines;
            }
        }
    }

    fn texts(lines: &[OutputLine]) -> Vec<&str> {
        lines.iter().map(|line| line.text.as_str()).collect()
    }

    #[test]
    fn the_shim_names_generations_as_the_reader_does() {
        for number in [0, 7, 10, 123_456, u64::MAX] {
            let name = generation_name_c(number);
            let end = name.iter().position(|byte| *byte == 0).unwrap();
            assert_eq!(&name[..end], generation_name(number).as_bytes());
        }
    }

    #[test]
    fn positions_are_offsets_past_each_lines_last_byte() {
        let dir = tempfile::tempdir().unwrap();
        write_generation(
            dir.path(),
            0,
            0,
            &[
                (KIND_STDOUT, b"one\ntw", 10),
                (KIND_STDERR, b"err\n", 20),
                (KIND_STDOUT, b"o\nthree", 30),
                (KIND_STDERR, b"no end", 40),
                (KIND_END, b"", 50),
            ],
        );
        let lines = read_all(dir.path(), None);
        let seen: Vec<(OutputStream, &str, u64, i64)> = lines
            .iter()
            .map(|l| (l.stream, l.text.as_str(), l.position, l.written_at_nanos))
            .collect();
        // Records start at 0, 19, 36, 56 and the end at 75; payloads 13 bytes later.
        assert_eq!(
            seen,
            [
                (OutputStream::Stdout, "one", 17, 10),
                (OutputStream::Stderr, "err", 36, 20),
                (OutputStream::Stdout, "two", 51, 30),
                (OutputStream::Stdout, "three", 76, 30),
                (OutputStream::Stderr, "no end", 77, 40),
            ]
        );
        assert_eq!(read_all(dir.path(), Some(36)), lines[2..]);
        assert_eq!(read_all(dir.path(), Some(50)), lines[2..]);
        assert!(read_all(dir.path(), Some(77)).is_empty());
    }

    #[test]
    fn long_lines_come_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let mut stdout = vec![b'a'; MAX_LINE_BYTES + 5];
        stdout.push(b'\n');
        stdout.extend(vec![b'b'; MAX_LINE_BYTES]);
        stdout.extend(b"\nc\n");
        let (first, second) = stdout.split_at(1000);
        write_generation(
            dir.path(),
            0,
            0,
            &[
                (KIND_STDOUT, first, 1),
                (KIND_STDOUT, second, 2),
                (KIND_END, b"", 3),
            ],
        );
        let lines = read_all(dir.path(), None);
        let lengths: Vec<usize> = lines.iter().map(|l| l.text.len()).collect();
        assert_eq!(lengths, [MAX_LINE_BYTES, 5, MAX_LINE_BYTES, 1]);
        assert_eq!(lines[3].text, "c");
        // The first piece ends inside the second record, after its header.
        assert_eq!(
            lines[0].position,
            (2 * RECORD_HEADER + MAX_LINE_BYTES) as u64
        );
    }

    #[test]
    fn reading_follows_generations_and_resets_at_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let end = write_generation(
            dir.path(),
            5,
            1_000,
            &[(KIND_STDOUT, b"tail of an old line\nhalf", 1)],
        );
        let end = write_generation(
            dir.path(),
            6,
            end,
            &[
                (KIND_STDOUT, b"-line\n", 2),
                (KIND_STDERR, b"lost in the gap", 3),
            ],
        );
        write_generation(
            dir.path(),
            8,
            end + 500,
            &[(KIND_STDERR, b" after the gap\n", 4), (KIND_END, b"", 5)],
        );
        let lines = read_all(dir.path(), None);
        assert_eq!(
            texts(&lines),
            ["tail of an old line", "half-line", " after the gap"]
        );
        assert_eq!(lines[0].position, 1_000 + 13 + 20);
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("output.0"), b"not-berth-output").unwrap();
        let mut reader = Reader::new("c".into(), dir.path().to_path_buf(), None);
        assert!(matches!(reader.step(), Err(RuntimeError::StateDir { .. })));
    }
}
