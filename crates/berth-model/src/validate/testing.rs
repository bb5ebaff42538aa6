//! What the tests of every module here share: editing a JSON request in place, decoding a
//! task definition, and asserting how a rule refuses a request. Each module's tests sit in
//! a file beside it; this one imports none of them.

use crate::error::{ApiError, ErrorKind};
use crate::requests::{decode, RegisterTaskDefinition};
use serde_json::Value;

pub(super) fn task_definition(request: &Value) -> RegisterTaskDefinition {
    decode(request.to_string().as_bytes()).expect("test request decodes")
}

/// `request` with each JSON pointer set to its value; objects along the way must exist,
/// and an array index one past the end appends.
pub(super) fn with(mut request: Value, edits: &[(&str, Value)]) -> Value {
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
        let parent = request
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("no {parent}"));
        match parent {
            Value::Object(map) => {
                map.insert(key.to_string(), value.clone());
            }
            Value::Array(items) => {
                let index: usize = key.parse().expect("array index");
                if index == items.len() {
                    items.push(value.clone());
                } else {
                    items[index] = value.clone();
                }
            }
            _ => panic!("{pointer} is inside a scalar"),
        }
    }
    request
}

/// A message is a path without spaces, then a lowercase description without a final period.
pub(super) fn assert_well_formed(message: &str) {
    let (path, text) = message
        .split_once(": ")
        .unwrap_or_else(|| panic!("no path in {message:?}"));
    assert!(
        !path.is_empty() && !path.contains(char::is_whitespace),
        "path of {message:?}"
    );
    assert!(
        !text.is_empty() && !text.ends_with('.'),
        "text of {message:?}"
    );
    assert!(
        !text.starts_with(|c: char| c.is_ascii_uppercase()),
        "case of {message:?}"
    );
}

#[track_caller]
pub(super) fn assert_rejected(
    name: &str,
    result: Result<(), ApiError>,
    kind: ErrorKind,
    needle: &str,
) {
    let err = result.expect_err(name);
    assert_eq!(err.kind, kind, "{name}: {}", err.message);
    assert!(
        err.message.contains(needle),
        "{name}: {:?} lacks {needle:?}",
        err.message
    );
    assert_well_formed(&err.message);
}
