//! Just enough HTTP/1.1 for tests: request heads parsed from any `BufRead` (so they are tested
//! without a socket), keep-alive, a pure router, and a one-shot client for `check`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The client asked to close the connection after this response (or spoke HTTP/1.0).
    pub close: bool,
    /// `Sec-WebSocket-Key` of a request that asks to upgrade to WebSocket.
    pub websocket_key: Option<String>,
}

/// Reads one request head and discards its body. `Ok(None)` when the peer closed the
/// connection between requests, which is how keep-alive connections normally end.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    let mut close = version == "HTTP/1.0";
    let mut content_length: u64 = 0;
    let mut websocket = false;
    let mut websocket_key = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a request head",
            ));
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("upgrade") {
            websocket = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            websocket_key = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value
                .parse()
                .map_err(|_| invalid("malformed content-length"))?;
        }
    }
    // No route reads a body, but it has to be consumed for the next request to parse.
    io::copy(&mut reader.take(content_length), &mut io::sink())?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        query,
        close,
        websocket_key: websocket_key.filter(|_| websocket),
    }))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// How long to wait before answering (`/slow`).
    pub delay: Duration,
}

impl Reply {
    fn now(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
}

/// What the app answers, decided without I/O.
pub fn route(request: &Request, version: &str, fail_health: bool) -> Reply {
    if request.method != "GET" && request.method != "HEAD" {
        return Reply::now(405, "only GET\n");
    }
    match request.path.as_str() {
        "/" => Reply::now(200, version),
        "/health" if fail_health => Reply::now(500, "unhealthy\n"),
        "/health" => Reply::now(200, "ok"),
        // The upgrade itself is answered before routing; a plain GET gets told how.
        "/ws" => Reply::now(400, "/ws wants a WebSocket upgrade\n"),
        "/slow" => {
            let ms = request
                .query
                .as_deref()
                .unwrap_or("")
                .split('&')
                .find_map(|pair| pair.strip_prefix("ms="))
                .map(str::parse::<u64>);
            match ms {
                Some(Ok(ms)) => Reply {
                    status: 200,
                    body: format!("slept {ms} ms\n"),
                    delay: Duration::from_millis(ms),
                },
                _ => Reply::now(400, "usage: /slow?ms=N\n"),
            }
        }
        _ => Reply::now(404, "not found\n"),
    }
}

pub fn write_reply(
    writer: &mut impl Write,
    reply: &Reply,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    write!(
        writer,
        "HTTP/1.1 {} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n",
        reply.status,
        reply.body.len(),
        if close { "connection: close\r\n" } else { "" },
    )?;
    if !head_only {
        writer.write_all(reply.body.as_bytes())?;
    }
    writer.flush()
}

/// Splits `http://host:port/path` into an address to connect to and the request target.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((address, path.to_string()))
}

/// Sends one GET and returns the response status.
pub fn get_status(url: &str, timeout: Duration) -> Result<u16, String> {
    let (address, path) = parse_url(url)?;
    let socket = address
        .to_socket_addrs()
        .map_err(|e| format!("resolve {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address} resolves to nothing"))?;
    let mut stream =
        TcpStream::connect_timeout(&socket, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut status_line = String::new();
    BufReader::new(stream)
        .read_line(&mut status_line)
        .map_err(|e| format!("read: {e}"))?;
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("malformed status line {status_line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> io::Result<Option<Request>> {
        read_request(&mut raw.as_bytes())
    }

    #[test]
    fn parses_request_with_query_and_keep_alive() {
        let request = parse("GET /slow?ms=5 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            request,
            Request {
                method: "GET".into(),
                path: "/slow".into(),
                query: Some("ms=5".into()),
                close: false,
                websocket_key: None,
            }
        );
    }

    #[test]
    fn connection_close_and_http_1_0_close() {
        let close = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(close.unwrap().close);
        let old = parse("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(old.unwrap().close);
        let kept = parse("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").unwrap();
        assert!(!kept.unwrap().close);
    }

    #[test]
    fn websocket_upgrades_carry_their_key() {
        let upgrade = parse(
            "GET /ws HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
        assert_eq!(
            upgrade.unwrap().unwrap().websocket_key.as_deref(),
            Some("dGhlIHNhbXBsZSBub25jZQ==")
        );
        let no_upgrade = parse("GET /ws HTTP/1.1\r\nSec-WebSocket-Key: abc\r\n\r\n");
        assert_eq!(no_upgrade.unwrap().unwrap().websocket_key, None);
    }

    #[test]
    fn body_is_skipped_so_the_next_request_parses() {
        let raw = "POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET /health HTTP/1.1\r\n\r\n";
        let mut reader = raw.as_bytes();
        assert_eq!(read_request(&mut reader).unwrap().unwrap().method, "POST");
        assert_eq!(read_request(&mut reader).unwrap().unwrap().path, "/health");
        assert!(read_request(&mut reader).unwrap().is_none());
    }

    #[test]
    fn malformed_heads_are_errors() {
        assert!(parse("GET\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nno-colon\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n").is_err());
    }

    fn get(target: &str) -> Request {
        parse(&format!("GET {target} HTTP/1.1\r\n\r\n"))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn routes() {
        assert_eq!(route(&get("/"), "v7", false), Reply::now(200, "v7"));
        assert_eq!(route(&get("/health"), "v7", false), Reply::now(200, "ok"));
        assert_eq!(route(&get("/health"), "v7", true).status, 500);
        assert_eq!(
            route(&get("/slow?ms=250"), "v7", false).delay,
            Duration::from_millis(250)
        );
        assert_eq!(route(&get("/slow?ms=x"), "v7", false).status, 400);
        assert_eq!(route(&get("/nope"), "v7", false).status, 404);
        assert_eq!(route(&get("/ws"), "v7", false).status, 400);
    }

    #[test]
    fn reply_head() {
        let mut out = Vec::new();
        write_reply(&mut out, &Reply::now(200, "ok"), false, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/health").unwrap(),
            ("127.0.0.1:8080".into(), "/health".into())
        );
        assert_eq!(
            parse_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http:///x").is_err());
    }
}
