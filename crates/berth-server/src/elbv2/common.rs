//! What every ELBv2 action shares: its error, paging by `Marker`, tags, and ALB's name rules.

use super::resources::Tag;
use crate::call::Fault;
use crate::registry::WireError;
use berth_aws::query::{ParamError, Params};
use berth_aws::{paging, AwsError};

/// An ELBv2 error: the code botocore maps to an exception (the model's error shapes), a
/// message, and the HTTP status (400 for the caller's mistakes, 500 only for store faults,
/// which botocore retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
}

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: 400,
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", message)
    }
    pub fn invalid_configuration(message: impl Into<String>) -> Self {
        Self::new("InvalidConfigurationRequest", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "InternalFailure",
            message: message.into(),
            status: 500,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        tracing::error!(error = %fault, "store failure");
        Self::internal(fault.to_string())
    }
}

impl From<ParamError> for Error {
    /// A member that is missing or malformed, named in the message.
    fn from(error: ParamError) -> Self {
        Self::validation(error.to_string())
    }
}

impl WireError for Error {
    fn into_wire(self) -> AwsError {
        AwsError::with_status(self.code, self.message, self.status)
    }
}

/// A page of `items` from `Marker`, at most `PageSize` (1–400, default 400) long, and the
/// marker of the next page. Markers are offsets, opaque to clients and checked on the way in.
pub fn page<T>(items: Vec<T>, params: &Params) -> Result<(Vec<T>, Option<String>), Error> {
    let size = params.int("PageSize", 1..=400)?.unwrap_or(400) as usize;
    let start = match params.string("Marker")? {
        None | Some("") => 0,
        Some(marker) => paging::decode_token(marker)
            .ok_or_else(|| Error::validation("Marker: the marker is invalid"))?,
    };
    Ok(paging::offset_page(items, start, size))
}

/// `Tags.member.N.Key/Value`: at most 50, keys unique and 1–128 characters.
pub fn tags(params: &Params) -> Result<Vec<Tag>, Error> {
    let mut tags: Vec<Tag> = Vec::new();
    for tag in params.structures("Tags")?.unwrap_or_default() {
        let key = tag.required("Key")?;
        if key.is_empty() || key.chars().count() > 128 {
            return Err(Error::validation("Tags: a tag key is 1 to 128 characters"));
        }
        if tags.iter().any(|t| t.key == key) {
            return Err(Error::new(
                "DuplicateTagKeys",
                format!("Tag key '{key}' was specified more than once"),
            ));
        }
        tags.push(Tag {
            key: key.to_string(),
            value: tag.string("Value")?.map(str::to_string),
        });
    }
    if tags.len() > 50 {
        return Err(Error::new(
            "TooManyTags",
            "Tags: at most 50 tags per resource",
        ));
    }
    Ok(tags)
}

/// ALB's rule for load balancer and target group names: 1–32 letters, digits and hyphens,
/// not starting or ending with a hyphen.
pub fn check_name(member: &str, name: &str) -> Result<(), Error> {
    let valid = (1..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "{member}: '{name}' must be 1 to 32 letters, digits and hyphens, and must not begin or end with a hyphen"
        )))
    }
}

/// A string member that must be one of `allowed`, or `default` when absent.
pub fn one_of<'a>(
    params: &'a Params,
    member: &str,
    allowed: &[&str],
    default: &'a str,
) -> Result<&'a str, Error> {
    let value = params.string(member)?.unwrap_or(default);
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(Error::validation(format!(
            "{member}: '{value}' is not supported; Berth accepts {}",
            allowed.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        berth_aws::query::parse(format!("Action=X&{body}").as_bytes())
            .unwrap()
            .params
    }

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut marker = String::new();
        loop {
            let (page, next) = page(
                items.clone(),
                &params(&format!("PageSize=3&Marker={marker}")),
            )
            .unwrap();
            assert!(page.len() <= 3);
            seen.extend(page);
            match next {
                Some(m) => marker = m,
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn pages_refuse_bad_sizes_and_markers() {
        for body in ["PageSize=0", "PageSize=401", "PageSize=x", "Marker=nope"] {
            assert_eq!(
                page(vec![1], &params(body)).unwrap_err().code,
                "ValidationError"
            );
        }
    }

    #[test]
    fn faults_and_malformed_members_keep_their_meaning() {
        let store = Error::from(Fault::Corrupt {
            key: "web".into(),
            source: serde_json::from_str::<u8>("x").unwrap_err(),
        });
        assert_eq!((store.code, store.status), ("InternalFailure", 500));
        let member = params("Port=x").int("Port", 1..=2).unwrap_err();
        let wire = Error::from(member).into_wire();
        assert_eq!((wire.code.as_ref(), wire.status), ("ValidationError", 400));
        assert!(wire.message.starts_with("Port: "), "{}", wire.message);
    }
}
