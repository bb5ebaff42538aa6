//! The `smithy-rpc-v2-cbor` protocol's bodies: CBOR (RFC 8949) read into the JSON values
//! the APIs decode, and their answers written back as CBOR. Requests go to
//! `POST /service/<Service>/operation/<Action>` with `smithy-protocol: rpc-v2-cbor`.
//!
//! Only what the protocol uses is read: definite-length items, text map keys, and tag 1
//! (epoch seconds), which becomes a plain number. NaN and the infinities, which JSON cannot
//! hold, become the strings `NaN`, `Infinity` and `-Infinity`, as AWS's JSON protocols write
//! them. An answer marks a time as an object with the one member [`EPOCH_SECONDS`], written
//! as tag 1.

use serde_json::{Map, Number, Value};

/// The member that marks a number as a time (see the module's docs).
pub const EPOCH_SECONDS: &str = "$epoch-seconds";

/// Nesting deeper than this is refused rather than followed.
const MAX_DEPTH: usize = 64;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err("the CBOR body ends inside an item".into());
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn argument(&mut self, info: u8) -> Result<u64, String> {
        Ok(match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(
                self.take(2)?.try_into().unwrap_or_default(),
            )),
            26 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().unwrap_or_default(),
            )),
            27 => u64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default()),
            31 => return Err("indefinite-length CBOR items are not accepted".into()),
            _ => {
                return Err(format!(
                    "malformed CBOR item (additional information {info})"
                ))
            }
        })
    }

    fn length(&mut self, info: u8) -> Result<usize, String> {
        let n = self.argument(info)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len() - self.at)
            .ok_or_else(|| "a CBOR length is longer than the body".to_string())
    }

    fn item(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("CBOR nested deeper than {MAX_DEPTH} levels"));
        }
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        Ok(match major {
            0 => Value::from(self.argument(info)?),
            1 => {
                let n = self.argument(info)?;
                match i64::try_from(n) {
                    Ok(n) => Value::from(-1 - n),
                    Err(_) => special(-1.0 - n as f64),
                }
            }
            2 => return Err("CBOR byte strings are not accepted here".into()),
            3 => {
                let n = self.length(info)?;
                let text = std::str::from_utf8(self.take(n)?)
                    .map_err(|_| "a CBOR text string is not UTF-8".to_string())?;
                Value::from(text)
            }
            4 => {
                let n = self.length(info)?;
                (0..n)
                    .map(|_| self.item(depth + 1))
                    .collect::<Result<Vec<_>, _>>()?
                    .into()
            }
            5 => {
                let n = self.length(info)?;
                let mut map = Map::new();
                for _ in 0..n {
                    let Value::String(key) = self.item(depth + 1)? else {
                        return Err("CBOR map keys must be text".into());
                    };
                    let value = self.item(depth + 1)?;
                    map.insert(key, value);
                }
                Value::Object(map)
            }
            6 => match self.argument(info)? {
                1 => self.item(depth + 1)?,
                tag => return Err(format!("CBOR tag {tag} is not accepted (only 1, a time)")),
            },
            _ => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 | 23 => Value::Null,
                25 => special(half(u16::from_be_bytes(
                    self.take(2)?.try_into().unwrap_or_default(),
                ))),
                26 => special(f64::from(f32::from_be_bytes(
                    self.take(4)?.try_into().unwrap_or_default(),
                ))),
                27 => special(f64::from_be_bytes(
                    self.take(8)?.try_into().unwrap_or_default(),
                )),
                _ => return Err(format!("CBOR simple value {info} is not accepted")),
            },
        })
    }
}

/// A float as JSON holds it.
fn special(value: f64) -> Value {
    if value.is_nan() {
        Value::from("NaN")
    } else if value.is_infinite() {
        Value::from(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// An IEEE 754 half-precision float.
fn half(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// Reads a CBOR body into JSON; an empty body is an empty input.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.item(0)?;
    if reader.at != bytes.len() {
        return Err("the CBOR body has bytes after its item".into());
    }
    Ok(value)
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..=23 => out.push(major | n as u8),
        24..=0xff => out.extend([major | 24, n as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

fn number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        head(out, 0, u);
    } else if let Some(i) = n.as_i64() {
        head(out, 1, (-1 - i) as u64);
    } else {
        out.push(0xfb);
        out.extend(n.as_f64().unwrap_or(f64::NAN).to_be_bytes());
    }
}

/// Writes an answer as CBOR, leaving out members without a value.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => number(out, n),
        Value::String(s) => {
            head(out, 3, s.len() as u64);
            out.extend(s.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            items.iter().for_each(|item| write(out, item));
        }
        Value::Object(members) => match (members.len(), members.get(EPOCH_SECONDS)) {
            (1, Some(Value::Number(n))) => {
                head(out, 6, 1);
                number(out, n);
            }
            _ => {
                let present: Vec<_> = members.iter().filter(|(_, v)| !v.is_null()).collect();
                head(out, 5, present.len() as u64);
                for (key, value) in present {
                    write(out, &Value::from(key.as_str()));
                    write(out, value);
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_read_back_as_they_were_written() {
        let value = json!({"Namespace": "App", "Values": [1, -2, 2.5, 1_000_000_000_000u64],
                           "Nested": {"Ok": true, "No": false}, "Empty": [], "Text": "é"});
        assert_eq!(decode(&encode(&value)).unwrap(), value);
    }

    #[test]
    fn times_are_tag_one_and_nulls_are_left_out() {
        let bytes = encode(&json!({"T": {EPOCH_SECONDS: 1700000000}, "Gone": null}));
        assert_eq!(
            bytes,
            [
                &[0xa1, 0x61, b'T', 0xc1, 0x1a][..],
                &1_700_000_000u32.to_be_bytes()
            ]
            .concat()
        );
        assert_eq!(decode(&bytes).unwrap(), json!({"T": 1700000000}));
    }

    #[test]
    fn floats_of_every_width_and_specials() {
        assert_eq!(decode(&[0xf9, 0x3e, 0x00]).unwrap(), json!(1.5));
        assert_eq!(decode(&[0xf9, 0x7e, 0x00]).unwrap(), json!("NaN"));
        assert_eq!(decode(&[0xf9, 0xfc, 0x00]).unwrap(), json!("-Infinity"));
        assert_eq!(decode(&[0xfa, 0x40, 0x20, 0x00, 0x00]).unwrap(), json!(2.5));
        assert_eq!(decode(&[0x38, 0x63]).unwrap(), json!(-100));
        assert_eq!(decode(&[]).unwrap(), json!({}));
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        for (bytes, problem) in [
            (&[0x19, 0x01][..], "ends inside"),
            (&[0x62, b'a'][..], "longer than the body"),
            (&[0x9f, 0xff][..], "indefinite-length"),
            (&[0xa1, 0x01, 0x02][..], "keys must be text"),
            (&[0xc2, 0x40][..], "tag 2"),
            (&[0x01, 0x02][..], "bytes after"),
            (
                &[0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
                "longer than the body",
            ),
            (&[0x41, 0x00][..], "byte strings"),
        ] {
            let error = decode(bytes).unwrap_err();
            assert!(error.contains(problem), "{bytes:?}: {error}");
        }
        let deep: Vec<u8> = std::iter::repeat_n(0x81u8, 100).chain([0x00]).collect();
        assert!(decode(&deep).unwrap_err().contains("nested deeper"));
    }
}
