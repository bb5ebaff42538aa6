//! berth-testapp: the workload Berth's tests run, in a `FROM scratch` image or straight on the
//! host. Everything it does is switched by environment variables so a test describes the
//! behaviour it needs in the task definition itself:
//!
//! | variable | effect |
//! |---|---|
//! | `PORT` | listen on `0.0.0.0:PORT` (default 8080) |
//! | `VERSION` | what `GET /` answers instead of the built-in version |
//! | `FAIL_HEALTH=1` | `GET /health` answers 500 |
//! | `CRASH_AFTER_SECS=N` | exit 1 after N seconds |
//! | `EXIT_CODE=N`, `EXIT_AFTER_SECS=S` | exit with N after S seconds (default 0: at once) |
//! | `ALLOCATE_MB_PER_SEC=N` | allocate and touch N MiB a second until killed |
//! | `BURN_CPU=1` | keep one core busy |
//! | `BURN_SECONDS=N` | with `BURN_CPU`: stop burning N seconds after the start |
//! | `LOG_EVERY_MS=N` | print a line to stdout and one to stderr every N ms |
//! | `LOG_FLOOD=N` | write N numbered 95-byte lines to stdout as fast as it can (0: without end), then `flood done N lines FIRST LAST` (µs since the epoch before the first write and after the last), and go on serving |
//! | `LOG_RATE=N` | with `LOG_FLOOD`: write its lines at N a second, spread evenly (each millisecond the lines due by then) instead of as fast as it can |
//! | `IGNORE_SIGTERM=1` | ignore SIGTERM (otherwise SIGTERM and SIGINT exit 0 at once) |
//! | `PRINT_ENV=A,B` | print `A=<value>` for each named variable first (`A` unset: `A is unset`) |
//!
//! Routes: `GET /` (the version), `GET /health` (200 `ok`), `GET /slow?ms=N`, and `GET /ws`, a
//! WebSocket echo that answers each text message with `"{version}: {text}"`.
//! `berth-testapp check URL` exits 0 when a GET of URL answers 2xx, so images without a shell
//! can run a `CMD` health check. The built-in version comes from `BERTH_TESTAPP_VERSION` at
//! build time.

mod http;
mod ws;

use std::io::{BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::process::exit;
use std::str::FromStr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("check") {
        let Some(url) = args.get(2) else {
            eprintln!("usage: berth-testapp check URL");
            exit(2);
        };
        exit(match http::get_status(url, Duration::from_secs(5)) {
            Ok(status) if (200..300).contains(&status) => 0,
            Ok(status) => {
                eprintln!("{url} answered {status}");
                1
            }
            Err(error) => {
                eprintln!("{url}: {error}");
                1
            }
        });
    }

    // Before anything else, so a stop that races the start still meets the chosen behaviour.
    install_signal_handlers(flag("IGNORE_SIGTERM"));

    if let Ok(names) = std::env::var("PRINT_ENV") {
        for name in names.split(',').filter(|n| !n.is_empty()) {
            match std::env::var(name) {
                Ok(value) => println!("{name}={value}"),
                Err(_) => println!("{name} is unset"),
            }
        }
    }

    if let Some(code) = number::<i32>("EXIT_CODE") {
        let after = seconds("EXIT_AFTER_SECS").unwrap_or(Duration::ZERO);
        if after.is_zero() {
            println!("exiting with {code} as asked");
            exit(code);
        }
        after_delay(after, move || {
            println!("exiting with {code} as asked");
            exit(code)
        });
    }
    if let Some(after) = seconds("CRASH_AFTER_SECS") {
        after_delay(after, || {
            eprintln!("crashing as asked");
            exit(1)
        });
    }
    if let Some(mb_per_sec) = number::<u32>("ALLOCATE_MB_PER_SEC").filter(|n| *n > 0) {
        thread::spawn(move || allocate(mb_per_sec));
    }
    if flag("BURN_CPU") {
        let until = seconds("BURN_SECONDS").map(|burn| Instant::now() + burn);
        thread::spawn(move || {
            while until.is_none_or(|until| Instant::now() < until) {
                for n in 0..1_000_000u64 {
                    std::hint::black_box(n.wrapping_add(1));
                }
            }
        });
    }
    if let Some(ms) = number::<u64>("LOG_EVERY_MS").filter(|n| *n > 0) {
        thread::spawn(move || log_forever(Duration::from_millis(ms)));
    }
    if let Some(lines) = number::<u64>("LOG_FLOOD") {
        let rate = number::<f64>("LOG_RATE").filter(|r| *r > 0.0);
        thread::spawn(move || match rate {
            Some(rate) => paced(lines, rate),
            None => flood(lines),
        });
    }

    let version: Arc<str> = std::env::var("VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            option_env!("BERTH_TESTAPP_VERSION")
                .unwrap_or("dev")
                .to_string()
        })
        .into();
    let fail_health = flag("FAIL_HEALTH");
    let port = number::<u16>("PORT").unwrap_or(8080);
    let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|error| {
        eprintln!("cannot listen on port {port}: {error}");
        exit(1)
    });
    println!("berth-testapp {version} listening on 0.0.0.0:{port}");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let version = Arc::clone(&version);
        thread::spawn(move || serve(stream, &version, fail_health));
    }
}

fn serve(stream: TcpStream, version: &str, fail_health: bool) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(stream);
    // Errors end the connection; the client sees it closed, which is all a test app owes it.
    while let Ok(Some(request)) = http::read_request(&mut reader) {
        if let (Some(key), "/ws") = (&request.websocket_key, request.path.as_str()) {
            // The connection is the WebSocket's from here on; any error or a close ends it.
            if writer
                .write_all(ws::handshake_reply(key).as_bytes())
                .and_then(|()| writer.flush())
                .is_ok()
            {
                let _ = ws::echo(&mut reader, &mut writer, version);
            }
            return;
        }
        let reply = http::route(&request, version, fail_health);
        thread::sleep(reply.delay);
        let head_only = request.method == "HEAD";
        if http::write_reply(&mut writer, &reply, head_only, request.close).is_err()
            || request.close
        {
            return;
        }
    }
}

fn allocate(mb_per_sec: u32) {
    const MIB: usize = 1 << 20;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; MIB];
        // Writing one byte per page makes the kernel back the chunk with real memory.
        for page in (0..MIB).step_by(4096) {
            chunk[page] = 1;
        }
        hoard.push(std::hint::black_box(chunk));
        thread::sleep(Duration::from_secs(1) / mb_per_sec);
    }
}

fn log_forever(every: Duration) {
    for line in 0u64.. {
        println!("stdout line {line}");
        eprintln!("stderr line {line}");
        thread::sleep(every);
    }
}

/// What a busy service's request log looks like; with `flood <10-digit number> ` a line is 95
/// bytes, numbered so a reader can tell how many arrived and in what order.
const FLOOD_PAYLOAD: &str =
    "level=info msg=\"request served\" method=GET path=/api/v1/items status=200 ms=12";
/// Lines are written in chunks of about this size, as a buffered logger writes them.
const FLOOD_CHUNK: usize = 64 << 10;

/// Writes `lines` lines (0: without end) as fast as stdout takes them. Each write is of whole
/// lines, not a `BufWriter`'s fixed-size slices: stdout is line-buffered, so a slice ending
/// mid-line would leave its tail waiting there, and a line another thread prints would land
/// inside it.
fn flood(lines: u64) {
    let mut chunk = Vec::with_capacity(FLOOD_CHUNK + 256);
    let first = micros_since_epoch();
    for seq in (0u64..).take_while(|seq| lines == 0 || *seq < lines) {
        // Writing to a Vec cannot fail.
        let _ = writeln!(chunk, "flood {seq:010} {FLOOD_PAYLOAD}");
        if chunk.len() >= FLOOD_CHUNK {
            write_stdout(&chunk);
            chunk.clear();
        }
    }
    write_stdout(&chunk);
    let last = micros_since_epoch();
    println!("flood done {lines} lines {first} {last}");
}

/// Writes `lines` flood lines (0: without end) at `rate` a second: line `seq` is due `seq /
/// rate` seconds after the first, and each write holds the lines due by then, at most one
/// write a millisecond, so a high rate is written in small batches rather than late.
fn paced(lines: u64, rate: f64) {
    const TICK: Duration = Duration::from_millis(1);
    let mut chunk = Vec::with_capacity(FLOOD_CHUNK + 256);
    let first = micros_since_epoch();
    let start = std::time::Instant::now();
    let mut seq = 0u64;
    while lines == 0 || seq < lines {
        let wrote_at = std::time::Instant::now();
        let due = (wrote_at.duration_since(start).as_secs_f64() * rate) as u64 + 1;
        let due = if lines == 0 { due } else { due.min(lines) };
        while seq < due {
            // Writing to a Vec cannot fail.
            let _ = writeln!(chunk, "flood {seq:010} {FLOOD_PAYLOAD}");
            seq += 1;
        }
        write_stdout(&chunk);
        chunk.clear();
        if lines != 0 && seq >= lines {
            break;
        }
        // The next line's due time, but not sooner than a tick after this write.
        let next = start + Duration::from_secs_f64(seq as f64 / rate);
        let next = next.max(wrote_at + TICK);
        thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
    }
    let last = micros_since_epoch();
    println!("flood done {lines} lines {first} {last}");
}

fn write_stdout(bytes: &[u8]) {
    if let Err(error) = std::io::stdout().lock().write_all(bytes) {
        eprintln!("writing to stdout failed: {error}");
        exit(1);
    }
}

fn micros_since_epoch() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros())
}

fn after_delay(delay: Duration, then: impl FnOnce() + Send + 'static) {
    thread::spawn(move || {
        thread::sleep(delay);
        then()
    });
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// A switch that is set but unparsable is a broken test, so it stops the app loudly.
fn number<T: FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    Some(value.parse().unwrap_or_else(|_| {
        eprintln!("{name}={value:?} is not a valid number");
        exit(2)
    }))
}

fn seconds(name: &str) -> Option<Duration> {
    number::<f64>(name).map(|s| {
        Duration::try_from_secs_f64(s).unwrap_or_else(|_| {
            eprintln!("{name}={s} is not a valid number of seconds");
            exit(2)
        })
    })
}

extern "C" fn exit_at_once(_signal: libc::c_int) {
    // SAFETY: _exit is async-signal-safe; nothing else runs in the handler.
    unsafe { libc::_exit(0) }
}

/// As PID 1 in a container the kernel drops signals whose action is the default, so exiting on
/// SIGTERM needs an explicit handler, not just the default action.
fn install_signal_handlers(ignore_sigterm: bool) {
    let on_exit = exit_at_once as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let on_term = if ignore_sigterm {
        libc::SIG_IGN
    } else {
        on_exit
    };
    // SAFETY: both actions are valid for these signals and installed before other threads start.
    unsafe {
        libc::signal(libc::SIGTERM, on_term);
        libc::signal(libc::SIGINT, on_exit);
    }
}
