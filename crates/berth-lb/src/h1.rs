//! Plain HTTP/1.1 forwarding without hyper, for the requests most web traffic is made of:
//! `GET` and `HEAD` from HTTP/1.1 clients, with no body and no upgrade, on plain listeners.
//!
//! One request costs one read from the client, one write to a pooled target connection, one
//! read of the answer and one write back, as in nginx, and no header map, channel or task
//! switch: the request head is copied to the target with the hop-by-hop headers dropped and
//! the `X-Forwarded-*` ones set, and the answer's head and body pass back as they came
//! (a chunked body stays chunked). hyper's client and server cost the proxy about twice
//! nginx's user CPU per request (see bench/README.md).
//!
//! Anything else — a request with a body, an upgrade, HTTP/1.0, HTTP/2's preface, a head
//! that does not parse — hands the connection, with the bytes already read, to hyper for the
//! rest of its life, so behaviour at the edges stays hyper's.

use crate::group::Lease;
use crate::idle::{Activity, IdleIo};
use crate::pool::Pool;
use crate::proxy::{
    self, Routes, HOP_BY_HOP, X_FORWARDED_FOR, X_FORWARDED_PORT, X_FORWARDED_PROTO,
};
use bytes::{Buf, BytesMut};
use hyper::StatusCode;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The most headers a request or answer may have here; more go to hyper (requests) or are
/// answered 502 (answers).
const MAX_HEADERS: usize = 64;
/// The longest head read here; a longer request head goes to hyper, which refuses it.
const MAX_HEAD: usize = 64 * 1024;
/// What is read from a target at a time.
const READ_SIZE: usize = 8 * 1024;
/// What is read from a client at a time: most request heads are well under 1 KiB, and a
/// keep-alive connection holds this much while it waits for its next request (nginx: 1 KiB).
const CLIENT_READ_SIZE: usize = 2 * 1024;

/// An answer the load balancer writes itself (see [`proxy::NO_HEALTHY_TARGET`]).
fn local((status, text): (StatusCode, &str)) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{text}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        text.len()
    )
    .into_bytes()
}

/// What a connection's requests need from their listener and worker.
pub(crate) struct Forwarding<'a> {
    pub routes: &'a RwLock<Routes>,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub pool: &'a Pool<TcpStream>,
    pub activity: &'a Arc<Activity>,
    /// `X-Forwarded-For`'s address, `-Port` and `-Proto`, as they go on the wire.
    pub peer: &'a [u8],
    pub port: &'a [u8],
    pub proto: &'a [u8],
}

/// How a connection served here ended.
pub(crate) enum Served {
    /// Closed: by the client, after an error, or as a response asked.
    Closed,
    /// A request hyper must serve came: these bytes were read and not yet used.
    HandOver(BytesMut),
}

/// Serves `client`'s simple requests until it closes or sends one hyper must serve.
pub(crate) async fn serve(client: &mut IdleIo<TcpStream>, fw: &Forwarding<'_>) -> Served {
    let mut read = BytesMut::new();
    let mut out = Vec::new();
    loop {
        let mut head = loop {
            match parse_request(&read, fw, &mut out) {
                Parsed::Request(head) => break head,
                Parsed::Other => return Served::HandOver(read),
                Parsed::Partial if read.len() >= MAX_HEAD => return Served::HandOver(read),
                Parsed::Partial => {
                    read.reserve(CLIENT_READ_SIZE);
                    match client.read_buf(&mut read).await {
                        Ok(0) | Err(_) => return Served::Closed,
                        Ok(_) => {}
                    }
                }
            }
        };
        read.advance(head.length);
        let keep_open = match head.lease.take() {
            None => {
                client
                    .write_all(&local(proxy::NO_HEALTHY_TARGET))
                    .await
                    .is_ok()
                    && head.keep_alive
            }
            Some(lease) => forward(client, fw, lease, &head, &out)
                .await
                .unwrap_or(false),
        };
        if !keep_open {
            let _ = client.shutdown().await;
            return Served::Closed;
        }
    }
}

/// A request head parsed and rewritten for the target (into the caller's buffer).
struct Head {
    length: usize,
    /// The target it goes to; none is healthy without one.
    lease: Option<Lease>,
    is_head: bool,
    keep_alive: bool,
}

enum Parsed {
    Request(Head),
    Partial,
    Other,
}

fn parse_request(read: &[u8], fw: &Forwarding<'_>, out: &mut Vec<u8>) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(read) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let (Some(method), Some(path), Some(1)) = (request.method, request.path, request.version)
    else {
        return Parsed::Other;
    };
    let is_head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Parsed::Other,
    };
    if !path.starts_with('/') {
        return Parsed::Other;
    }
    let mut host = None;
    let mut connection = None;
    let mut forwarded_for: Option<&[u8]> = None;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Parsed::Other;
            }
            host = std::str::from_utf8(header.value).ok();
        } else if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return Parsed::Other;
        } else if name.eq_ignore_ascii_case("connection") {
            connection = Some(header.value);
        } else if name.eq_ignore_ascii_case(X_FORWARDED_FOR.as_str()) && forwarded_for.is_none() {
            forwarded_for = Some(header.value);
        }
    }
    let Some(host) = host else {
        return Parsed::Other;
    };
    let route_path = path.split_once('?').map_or(path, |(p, _)| p);
    let lease = Routes::lease(fw.routes, host, route_path);
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let forwarded = [X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_PORT];
    for header in request.headers.iter() {
        if is_hop_by_hop(header.name, connection)
            || forwarded
                .iter()
                .any(|name| header.name.eq_ignore_ascii_case(name.as_str()))
        {
            continue;
        }
        put_header(out, header.name.as_bytes(), header.value);
    }
    out.extend_from_slice(X_FORWARDED_FOR.as_str().as_bytes());
    out.extend_from_slice(b": ");
    if let Some(earlier) = forwarded_for {
        out.extend_from_slice(earlier);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(fw.peer);
    out.extend_from_slice(b"\r\n");
    put_header(out, X_FORWARDED_PROTO.as_str().as_bytes(), fw.proto);
    put_header(out, X_FORWARDED_PORT.as_str().as_bytes(), fw.port);
    out.extend_from_slice(b"\r\n");
    Parsed::Request(Head {
        length,
        lease,
        is_head,
        keep_alive: !connection.is_some_and(|listed| lists(listed, "close")),
    })
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Connection-level headers (RFC 9110 §7.6.1), and those the `Connection` header names, are
/// for one hop only.
fn is_hop_by_hop(name: &str, connection: Option<&[u8]>) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|hop| name.eq_ignore_ascii_case(hop.as_str()))
        || connection.is_some_and(|listed| lists(listed, name))
}

/// Whether a comma-separated header value lists `token`, in any case.
fn lists(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Sends one request to the leased target and its answer back to the client. `Ok(true)` when
/// the client connection can take another request; `Err` when it must close, part of an
/// answer having been sent.
async fn forward(
    client: &mut IdleIo<TcpStream>,
    fw: &Forwarding<'_>,
    lease: Lease,
    head: &Head,
    request: &[u8],
) -> Result<bool, ()> {
    let target_addr = lease.addr();
    let waiting = fw.activity.busy();
    let sent = std::time::Instant::now();
    let asked = tokio::time::timeout(fw.request_timeout, async {
        let (mut target, mut answer) = ask(fw.pool, target_addr, request).await?;
        loop {
            match rewrite_answer(&answer, head) {
                // 1xx answers other than 101 come before the final one, and pass through.
                Answer::Informational(length) => {
                    client.write_all(&answer[..length]).await?;
                    answer.advance(length);
                    continue;
                }
                Answer::Partial if answer.len() < MAX_HEAD => {}
                Answer::Partial | Answer::Bad => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the target's answer is not HTTP/1.1",
                    ))
                }
                Answer::Final(final_answer) => {
                    answer.advance(final_answer.length);
                    return Ok((target, answer, final_answer));
                }
            }
            answer.reserve(READ_SIZE);
            if target.read_buf(&mut answer).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    })
    .await;
    drop(waiting);
    let (mut target, answer, final_answer) = match asked {
        Err(_) => {
            lease.elb(proxy::TARGET_TIMED_OUT.0.as_u16());
            client
                .write_all(&local(proxy::TARGET_TIMED_OUT))
                .await
                .map_err(|_| ())?;
            return Ok(head.keep_alive);
        }
        Ok(Err(e)) => {
            tracing::debug!(target = %target_addr, error = %e, "target failed");
            lease.elb(proxy::TARGET_FAILED.0.as_u16());
            client
                .write_all(&local(proxy::TARGET_FAILED))
                .await
                .map_err(|_| ())?;
            return Ok(head.keep_alive);
        }
        Ok(Ok(answered)) => answered,
    };
    let took = sent.elapsed();
    let Final {
        framing,
        keeps_open,
        head: mut out,
        status,
        ..
    } = final_answer;
    lease.answered(status, took);
    let client_keeps_open = head.keep_alive && framing != Framing::UntilClose;
    if !client_keeps_open {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let complete = pass_body(client, &mut target, answer, out, framing, fw.idle_timeout).await?;
    if complete && keeps_open {
        fw.pool.put(target_addr, target);
    }
    // The lease ends with the answer's last byte, so a drain waits for it.
    drop(lease);
    Ok(client_keeps_open)
}

/// Writes `request` on a pooled connection to `target`, or a new one, and reads until the
/// first bytes of the answer arrive. A pooled connection the target closed meanwhile is
/// dropped and the request, which has no body and is safe to repeat, sent on a new one.
async fn ask(
    pool: &Pool<TcpStream>,
    target: SocketAddr,
    request: &[u8],
) -> io::Result<(TcpStream, BytesMut)> {
    while let Some(mut stream) = pool.take(target) {
        if let Ok(answered) = exchange(&mut stream, request).await {
            return Ok((stream, answered));
        }
    }
    let mut stream = TcpStream::connect(target).await?;
    // Requests are small writes on a long-lived connection; Nagle's algorithm would hold
    // them back waiting for ACKs.
    let _ = stream.set_nodelay(true);
    let answered = exchange(&mut stream, request).await?;
    Ok((stream, answered))
}

async fn exchange(stream: &mut TcpStream, request: &[u8]) -> io::Result<BytesMut> {
    stream.write_all(request).await?;
    let mut answer = BytesMut::with_capacity(READ_SIZE);
    if stream.read_buf(&mut answer).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the target closed the connection without answering",
        ));
    }
    Ok(answer)
}

/// How the end of an answer's body is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

enum Answer {
    Partial,
    Bad,
    /// A 1xx head of this length, to pass on as it is.
    Informational(usize),
    Final(Final),
}

struct Final {
    /// Of the head as the target sent it.
    length: usize,
    framing: Framing,
    /// Whether the target connection can carry another request after this answer.
    keeps_open: bool,
    /// The head for the client, without its final empty line.
    head: Vec<u8>,
    status: u16,
}

fn rewrite_answer(answer: &[u8], request: &Head) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(answer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Answer::Partial,
        Err(_) => return Answer::Bad,
    };
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Answer::Bad;
    };
    if status == 101 {
        return Answer::Bad;
    }
    if (100..200).contains(&status) {
        return Answer::Informational(length);
    }
    let connection = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| h.value);
    let mut keeps_open = version == 1 && !connection.is_some_and(|c| lists(c, "close"));
    let mut content_length: Option<u64> = None;
    let mut chunked = None;
    let mut out = Vec::with_capacity(length + 64);
    out.extend_from_slice(b"HTTP/1.1 ");
    // httparse takes exactly three digits.
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(response.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let Some(n) = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            else {
                return Answer::Bad;
            };
            if content_length.is_some_and(|earlier| earlier != n) {
                return Answer::Bad;
            }
            content_length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = Some(
                header
                    .value
                    .split(|&b| b == b',')
                    .next_back()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked")),
            );
        }
        if is_hop_by_hop(header.name, connection) {
            continue;
        }
        put_header(&mut out, header.name.as_bytes(), header.value);
    }
    let framing = if request.is_head || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, content_length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::UntilClose,
        }
    };
    if framing == Framing::UntilClose {
        keeps_open = false;
    }
    Answer::Final(Final {
        status,
        length,
        framing,
        keeps_open,
        head: out,
    })
}

/// Writes `out` (the answer's head) and the body after it, read from `target` as framed.
/// `Ok(true)` when the body ended as framed, so the target connection can be used again.
async fn pass_body(
    client: &mut IdleIo<TcpStream>,
    target: &mut TcpStream,
    mut read: BytesMut,
    mut out: Vec<u8>,
    framing: Framing,
    idle_timeout: Duration,
) -> Result<bool, ()> {
    let mut left = match framing {
        Framing::Empty => {
            client.write_all(&out).await.map_err(|_| ())?;
            return Ok(read.is_empty());
        }
        Framing::Length(n) => Left::Bytes(n),
        Framing::Chunked => Left::Chunks(Chunks::default()),
        Framing::UntilClose => Left::UntilClose,
    };
    loop {
        let (take, ended) = left.take(&read);
        out.extend_from_slice(&read[..take]);
        read.advance(take);
        if !out.is_empty() {
            client.write_all(&out).await.map_err(|_| ())?;
            out.clear();
        }
        if ended {
            return Ok(read.is_empty());
        }
        read.reserve(READ_SIZE);
        match tokio::time::timeout(idle_timeout, target.read_buf(&mut read)).await {
            Ok(Ok(0)) => {
                return if matches!(left, Left::UntilClose) {
                    Ok(false)
                } else {
                    Err(())
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return Err(()),
        }
    }
}

/// What is left of a body.
enum Left {
    Bytes(u64),
    Chunks(Chunks),
    UntilClose,
}

impl Left {
    /// How many of `bytes` belong to the body, and whether the body ends with them.
    fn take(&mut self, bytes: &[u8]) -> (usize, bool) {
        match self {
            Left::Bytes(n) => {
                let take = (*n).min(bytes.len() as u64);
                *n -= take;
                (take as usize, *n == 0)
            }
            Left::Chunks(chunks) => chunks.take(bytes),
            Left::UntilClose => (bytes.len(), false),
        }
    }
}

/// Where a chunked body's reader stands (RFC 9112 §7.1).
#[derive(Default)]
struct Chunks {
    state: ChunkState,
    size: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum ChunkState {
    #[default]
    Size,
    /// After the size: extensions, up to the line's end.
    SizeLine,
    Data,
    DataEnd,
    /// After the last chunk: trailer lines, each up to its end.
    Trailer,
    /// At the start of a trailer line: an empty one ends the body.
    TrailerStart,
    Done,
}

impl Chunks {
    fn take(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < bytes.len() && self.state != ChunkState::Done {
            let b = bytes[i];
            match self.state {
                ChunkState::Size => match (b as char).to_digit(16) {
                    Some(digit) => {
                        self.size = self.size.saturating_mul(16).saturating_add(digit.into());
                        i += 1;
                    }
                    None => self.state = ChunkState::SizeLine,
                },
                ChunkState::SizeLine => {
                    i += 1;
                    if b == b'\n' {
                        self.state = if self.size == 0 {
                            ChunkState::TrailerStart
                        } else {
                            ChunkState::Data
                        };
                    }
                }
                ChunkState::Data => {
                    let take = self.size.min((bytes.len() - i) as u64);
                    self.size -= take;
                    i += take as usize;
                    if self.size == 0 {
                        self.state = ChunkState::DataEnd;
                    }
                }
                ChunkState::DataEnd => {
                    i += 1;
                    if b == b'\n' {
                        self.state = ChunkState::Size;
                    }
                }
                ChunkState::TrailerStart => {
                    i += 1;
                    self.state = match b {
                        b'\n' => ChunkState::Done,
                        b'\r' => ChunkState::TrailerStart,
                        _ => ChunkState::Trailer,
                    };
                }
                ChunkState::Trailer => {
                    i += 1;
                    if b == b'\n' {
                        self.state = ChunkState::TrailerStart;
                    }
                }
                ChunkState::Done => {}
            }
        }
        (i, self.state == ChunkState::Done)
    }
}

/// A stream that first gives back bytes already read from it, so hyper can serve a
/// connection from the request this module read but does not serve.
pub(crate) struct Prefixed<T> {
    prefix: BytesMut,
    inner: T,
}

impl<T> Prefixed<T> {
    pub(crate) fn new(prefix: BytesMut, inner: T) -> Self {
        Self { prefix, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarding<'a>(
        routes: &'a RwLock<Routes>,
        pool: &'a Pool<TcpStream>,
        activity: &'a Arc<Activity>,
    ) -> Forwarding<'a> {
        Forwarding {
            routes,
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            pool,
            activity,
            peer: b"10.1.2.3",
            port: b"80",
            proto: b"http",
        }
    }

    fn rewritten(request: &str) -> Option<(String, bool, bool)> {
        let routes = RwLock::new(Routes::default());
        let pool = Pool::new();
        let activity = Arc::default();
        let mut out = Vec::new();
        match parse_request(
            request.as_bytes(),
            &forwarding(&routes, &pool, &activity),
            &mut out,
        ) {
            Parsed::Request(head) => {
                assert_eq!(head.length, request.len());
                Some((
                    String::from_utf8(out).unwrap(),
                    head.is_head,
                    head.keep_alive,
                ))
            }
            Parsed::Partial => panic!("partial: {request:?}"),
            Parsed::Other => None,
        }
    }

    #[test]
    fn a_simple_request_goes_on_without_hop_by_hop_headers_and_with_forwarded_ones() {
        let (out, is_head, keep_alive) = rewritten(
            "GET /a?b=c HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, X-Trace\r\nX-Trace: 1\r\n\
             Keep-Alive: timeout=5\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\n\
             Accept: */*\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            out,
            "GET /a?b=c HTTP/1.1\r\nHost: web\r\nAccept: */*\r\nx-forwarded-for: 192.0.2.1, 10.1.2.3\r\n\
             x-forwarded-proto: http\r\nx-forwarded-port: 80\r\n\r\n"
        );
        assert!(!is_head && keep_alive);
        let (_, is_head, keep_alive) =
            rewritten("HEAD / HTTP/1.1\r\nhost: web\r\nconnection: Close\r\n\r\n").unwrap();
        assert!(is_head && !keep_alive);
    }

    #[test]
    fn requests_hyper_must_serve_are_handed_over() {
        for request in [
            "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: web\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /chat HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: web\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET http://web/ HTTP/1.1\r\nHost: web\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(rewritten(request).is_none(), "{request:?}");
        }
    }

    #[test]
    fn a_head_in_pieces_is_partial() {
        let routes = RwLock::new(Routes::default());
        let pool = Pool::new();
        let activity = Arc::default();
        let fw = forwarding(&routes, &pool, &activity);
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nHost: w", &fw, &mut Vec::new()),
            Parsed::Partial
        ));
    }

    fn head(is_head: bool) -> Head {
        Head {
            length: 0,
            lease: None,
            is_head,
            keep_alive: true,
        }
    }

    fn final_answer(answer: &str, is_head: bool) -> (String, Framing, bool) {
        match rewrite_answer(answer.as_bytes(), &head(is_head)) {
            Answer::Final(f) => {
                assert_eq!(f.length, answer.len());
                (String::from_utf8(f.head).unwrap(), f.framing, f.keeps_open)
            }
            _ => panic!("not a final answer: {answer:?}"),
        }
    }

    #[test]
    fn answers_are_framed_as_http_1_1_says() {
        let (out, framing, open) = final_answer(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
            false,
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n");
        assert_eq!((framing, open), (Framing::Length(5), true));
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false,
                Framing::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                false,
                Framing::UntilClose,
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", false, Framing::UntilClose, false),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                true,
                Framing::Empty,
                true,
            ),
            (
                "HTTP/1.1 204 No Content\r\n\r\n",
                false,
                Framing::Empty,
                true,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
                Framing::Empty,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
                false,
                Framing::Length(5),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Framing::Length(5),
                false,
            ),
        ];
        for (answer, is_head, framing, open) in cases {
            let (_, got, got_open) = final_answer(answer, is_head);
            assert_eq!((got, got_open), (framing, open), "{answer:?}");
        }
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(
                matches!(rewrite_answer(bad.as_bytes(), &head(false)), Answer::Bad),
                "{bad:?}"
            );
        }
        assert!(matches!(
            rewrite_answer(
                b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200",
                &head(false)
            ),
            Answer::Informational(40)
        ));
        assert!(matches!(
            rewrite_answer(b"HTTP/1.1 200 OK\r\nContent-", &head(false)),
            Answer::Partial
        ));
    }

    #[test]
    fn a_chunked_body_ends_where_its_last_chunk_and_trailers_do_in_any_pieces() {
        let body = b"5;ext=1\r\nhello\r\n0A\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n";
        for split in 0..=body.len() {
            for second in split..=body.len() {
                let mut chunks = Chunks::default();
                let mut taken = 0;
                let mut ended = false;
                for piece in [&body[..split], &body[split..second], &body[second..]] {
                    if ended {
                        assert!(piece.is_empty(), "ended early at {split}/{second}");
                        continue;
                    }
                    let (take, done) = chunks.take(piece);
                    assert!(done || take == piece.len());
                    taken += take;
                    ended = done;
                }
                assert!(ended, "not ended at {split}/{second}");
                assert_eq!(taken, body.len());
            }
        }
        let mut chunks = Chunks::default();
        assert_eq!(
            chunks.take(b"0\r\n\r\nGET / HTTP/1.1"),
            (5, true),
            "stops at the body's end"
        );
    }

    #[test]
    fn header_lists_match_tokens_in_any_case() {
        assert!(lists(b"keep-alive, Close", "close"));
        assert!(!lists(b"closed", "close"));
        assert!(is_hop_by_hop("X-Trace", Some(b"x-trace")));
        assert!(is_hop_by_hop("TE", None));
        assert!(!is_hop_by_hop("Transfer-Encoding", None));
    }
}
