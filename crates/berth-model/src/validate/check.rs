//! The helpers every rule is written with: the two exception kinds ECS answers with, and the
//! checks that build the `path: message` error described in the parent module. They live
//! apart so that every other module here can import them while this one imports none.

use crate::error::{ApiError, ErrorKind};
use std::fmt::Display;

/// What a rule returns: nothing, or the first problem it found.
pub(super) type Check = Result<(), ApiError>;

pub(super) const CLIENT: ErrorKind = ErrorKind::ClientException;
pub(super) const INVALID: ErrorKind = ErrorKind::InvalidParameterException;

/// ECS's rule for family, container, volume, cluster and service names.
pub(super) fn identifier(kind: ErrorKind, path: impl Display, value: &str) -> Check {
    let length = value.chars().count();
    ensure(length > 0, kind, &path, "must not be empty")?;
    ensure(
        length <= 255,
        kind,
        &path,
        format_args!("must be at most 255 characters, got {length}"),
    )?;
    ensure(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        kind,
        &path,
        format_args!("may contain only letters, numbers, hyphens and underscores, got {value:?}"),
    )
}

pub(super) fn required(
    kind: ErrorKind,
    path: impl Display,
    value: Option<&str>,
) -> Result<&str, ApiError> {
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(error(kind, path, "required")),
    }
}

pub(super) fn one_of(kind: ErrorKind, path: impl Display, value: &str, allowed: &[&str]) -> Check {
    ensure(
        allowed.contains(&value),
        kind,
        path,
        format_args!("must be one of {}, got {value:?}", allowed.join(", ")),
    )
}

pub(super) fn optional_one_of(
    kind: ErrorKind,
    path: impl Display,
    value: Option<&str>,
    allowed: &[&str],
) -> Check {
    value.map_or(Ok(()), |value| one_of(kind, path, value, allowed))
}

pub(super) fn between(
    kind: ErrorKind,
    path: impl Display,
    value: i32,
    low: i32,
    high: i32,
    unit: &str,
) -> Check {
    ensure(
        (low..=high).contains(&value),
        kind,
        path,
        format_args!("must be between {low} and {high}{unit}, got {value}"),
    )
}

pub(super) fn ensure(
    ok: bool,
    kind: ErrorKind,
    path: impl Display,
    message: impl Display,
) -> Check {
    if ok {
        Ok(())
    } else {
        Err(error(kind, path, message))
    }
}

pub(super) fn error(kind: ErrorKind, path: impl Display, message: impl Display) -> ApiError {
    ApiError::new(kind, format!("{path}: {message}"))
}

/// An unsigned decimal integer small enough that scaling it by 1024 cannot overflow. Task
/// sizes and port ranges both read their numbers with it.
pub(super) fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
