//! Just enough WebSocket (RFC 6455) for `GET /ws`: the opening handshake's accept key (with a
//! small SHA-1, so the static binary stays dependency-free), and an echo loop that answers
//! each text message with the app's version in front, so a test sees which version answered.

use std::io::{self, Read, Write};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Messages larger than this end the connection: a test app has no use for them, and it
/// must not allocate whatever length a frame header claims.
const MAX_MESSAGE: usize = 1 << 20;

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    base64(&sha1(format!("{}{GUID}", key.trim()).as_bytes()))
}

/// The 101 answer that completes the opening handshake.
pub fn handshake_reply(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\n\r\n",
        accept_key(key)
    )
}

#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Reads one client frame and unmasks it. Client frames must be masked (RFC 6455 §5.1).
pub fn read_frame(reader: &mut impl Read) -> io::Result<Frame> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head)?;
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0F;
    if head[1] & 0x80 == 0 {
        return Err(invalid("client frames must be masked"));
    }
    let length = match head[1] & 0x7F {
        126 => {
            let mut bytes = [0u8; 2];
            reader.read_exact(&mut bytes)?;
            u64::from(u16::from_be_bytes(bytes))
        }
        127 => {
            let mut bytes = [0u8; 8];
            reader.read_exact(&mut bytes)?;
            u64::from_be_bytes(bytes)
        }
        short => u64::from(short),
    };
    let length = usize::try_from(length)
        .ok()
        .filter(|n| *n <= MAX_MESSAGE)
        .ok_or_else(|| invalid("frame too large"))?;
    let mut mask = [0u8; 4];
    reader.read_exact(&mut mask)?;
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    for (byte, key) in payload.iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
    Ok(Frame {
        fin,
        opcode,
        payload,
    })
}

/// Writes one unmasked, final server frame.
pub fn write_frame(writer: &mut impl Write, opcode: u8, payload: &[u8]) -> io::Result<()> {
    let mut head = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => head.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            head.push(126);
            head.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            head.push(127);
            head.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    writer.write_all(&head)?;
    writer.write_all(payload)?;
    writer.flush()
}

/// Echoes messages until the client closes: text comes back as `"{version}: {text}"`,
/// binary unchanged, pings get pongs, and a close is answered with the same status code.
pub fn echo(reader: &mut impl Read, writer: &mut impl Write, version: &str) -> io::Result<()> {
    let mut message: Option<(u8, Vec<u8>)> = None;
    loop {
        let frame = read_frame(reader)?;
        match frame.opcode {
            CLOSE => {
                // Echoing the status code (the first two bytes) is the usual close reply.
                let code = frame.payload.get(..2).unwrap_or(&[]);
                return write_frame(writer, CLOSE, code);
            }
            PING => write_frame(writer, PONG, &frame.payload)?,
            PONG => {}
            TEXT | BINARY if message.is_none() => message = Some((frame.opcode, frame.payload)),
            CONTINUATION if message.is_some() => {
                if let Some((_, data)) = message.as_mut() {
                    data.extend_from_slice(&frame.payload);
                    if data.len() > MAX_MESSAGE {
                        return Err(invalid("message too large"));
                    }
                }
            }
            _ => {
                // Protocol error (RFC 6455 §7.4.1: 1002), then the connection ends.
                write_frame(writer, CLOSE, &1002u16.to_be_bytes())?;
                return Err(invalid("unexpected frame"));
            }
        }
        if frame.fin && frame.opcode & 0x8 == 0 {
            if let Some((opcode, data)) = message.take() {
                if opcode == TEXT {
                    let text = String::from_utf8(data).map_err(|_| invalid("text is not UTF-8"))?;
                    write_frame(writer, TEXT, format!("{version}: {text}").as_bytes())?;
                } else {
                    write_frame(writer, BINARY, &data)?;
                }
            }
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// SHA-1 (FIPS 180-4). Only for the handshake's accept key, which RFC 6455 defines with it.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut padded = data.to_vec();
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    padded.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in padded.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3F) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A frame as a client sends it: masked.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        frame
    }

    /// Decodes the server frames in `bytes` as (opcode, payload).
    fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0] & 0x80, 0x80, "server frames are final");
            assert_eq!(bytes[1] & 0x80, 0, "server frames are unmasked");
            let (length, start) = match bytes[1] {
                126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
                n => (usize::from(n), 2),
            };
            frames.push((bytes[0] & 0x0F, bytes[start..start + length].to_vec()));
            bytes = &bytes[start + length..];
        }
        frames
    }

    #[test]
    fn sha1_and_base64_match_their_test_vectors() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(&sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn accept_key_is_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(handshake_reply("dGhlIHNhbXBsZSBub25jZQ==")
            .contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[test]
    fn echoes_text_with_the_version_and_answers_pings_and_close() {
        let long = "x".repeat(300);
        let mut input = client_frame(true, TEXT, b"hello");
        input.extend(client_frame(true, PING, b"are you there"));
        input.extend(client_frame(false, TEXT, b"frag"));
        input.extend(client_frame(true, CONTINUATION, b"mented"));
        input.extend(client_frame(true, TEXT, long.as_bytes()));
        input.extend(client_frame(true, BINARY, &[0, 1, 2]));
        input.extend(client_frame(true, CLOSE, &1000u16.to_be_bytes()));
        let mut output = Vec::new();
        echo(&mut input.as_slice(), &mut output, "v2").unwrap();
        assert_eq!(
            server_frames(&output),
            [
                (TEXT, b"v2: hello".to_vec()),
                (PONG, b"are you there".to_vec()),
                (TEXT, b"v2: fragmented".to_vec()),
                (TEXT, format!("v2: {long}").into_bytes()),
                (BINARY, vec![0, 1, 2]),
                (CLOSE, 1000u16.to_be_bytes().to_vec()),
            ]
        );
    }

    #[test]
    fn unmasked_or_oversized_frames_are_refused() {
        let unmasked = [0x81, 0x02, b'h', b'i'];
        assert!(read_frame(&mut unmasked.as_slice()).is_err());
        let mut huge = vec![0x81, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert!(read_frame(&mut huge.as_slice()).is_err());
        let mut output = Vec::new();
        let stray = client_frame(true, CONTINUATION, b"?");
        assert!(echo(&mut stray.as_slice(), &mut output, "v1").is_err());
        assert_eq!(
            server_frames(&output),
            [(CLOSE, 1002u16.to_be_bytes().to_vec())]
        );
    }
}
