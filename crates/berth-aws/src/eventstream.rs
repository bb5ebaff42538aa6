//! The `application/vnd.amazon.eventstream` framing, as an answer that streams events
//! (CloudWatch Logs' StartLiveTail) writes them: each message a 12-byte prelude (total
//! length, headers length, the prelude's CRC-32), string headers, the payload, and the whole
//! message's CRC-32, all big-endian (botocore's `eventstream.py` reads it).

/// The header type tag of a string value.
const STRING: u8 = 7;

/// One message with string headers and a payload.
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        // Header names are at most 255 bytes and values 65,535: every name and value Berth
        // sends is a short constant.
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name.as_bytes());
        encoded_headers.push(STRING);
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + encoded_headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(encoded_headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded_headers);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// An event of type `event_type` with a JSON payload.
pub fn event(event_type: &str, json: &[u8]) -> Vec<u8> {
    message(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        json,
    )
}

/// An exception ending the stream, of the model's `exception_type`.
pub fn exception(exception_type: &str, json: &[u8]) -> Vec<u8> {
    message(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(bytes: &[u8]) -> u32 {
        u32::from_be_bytes(bytes.try_into().unwrap())
    }

    /// Reads a message back the way a client checks it, returning its headers and payload.
    fn decode(message: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
        let total = be32(&message[0..4]) as usize;
        let headers_length = be32(&message[4..8]) as usize;
        assert_eq!(total, message.len());
        assert_eq!(be32(&message[8..12]), crc32fast::hash(&message[..8]));
        assert_eq!(
            be32(&message[total - 4..]),
            crc32fast::hash(&message[..total - 4])
        );
        let mut headers = Vec::new();
        let mut at = 12;
        while at < 12 + headers_length {
            let name_length = message[at] as usize;
            let name = String::from_utf8(message[at + 1..at + 1 + name_length].to_vec()).unwrap();
            at += 1 + name_length;
            assert_eq!(message[at], STRING);
            let value_length = u16::from_be_bytes([message[at + 1], message[at + 2]]) as usize;
            let value = String::from_utf8(message[at + 3..at + 3 + value_length].to_vec()).unwrap();
            at += 3 + value_length;
            headers.push((name, value));
        }
        (headers, message[12 + headers_length..total - 4].to_vec())
    }

    #[test]
    fn a_message_carries_its_lengths_checksums_headers_and_payload() {
        let encoded = event("sessionUpdate", br#"{"sessionResults":[]}"#);
        let (headers, payload) = decode(&encoded);
        assert_eq!(
            headers,
            [
                (":event-type".to_string(), "sessionUpdate".to_string()),
                (":content-type".to_string(), "application/json".to_string()),
                (":message-type".to_string(), "event".to_string()),
            ]
        );
        assert_eq!(payload, br#"{"sessionResults":[]}"#);
        let (headers, payload) = decode(&message(&[], b""));
        assert!(headers.is_empty() && payload.is_empty());
        let (headers, _) = decode(&exception("SessionTimeoutException", b"{}"));
        assert_eq!(headers[2].1, "exception");
    }

    #[test]
    fn the_known_empty_message_matches_the_specification() {
        // A message with no headers and no payload: 16 bytes, prelude CRC of its first 8.
        let empty = message(&[], b"");
        assert_eq!(&empty[..8], &[0, 0, 0, 16, 0, 0, 0, 0]);
        assert_eq!(be32(&empty[8..12]), 0x05c2_48eb);
    }
}
