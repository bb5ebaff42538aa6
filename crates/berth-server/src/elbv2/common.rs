//! What every ELBv2 action shares: its error, paging by `Marker`, tags, ALB's name rules and
//! members limited to a few values. Requests read these; the handlers meet only the error and
//! a [`Page`] already checked.

use super::resources::Tag;
use crate::call::Fault;
use crate::registry::WireError;
use berth_aws::query::{ParamError, Params};
use berth_aws::{paging, AwsError};
use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// Which page of a Describe* answer to give: after the item `Marker` names, at most
/// `PageSize` (1–400, default 400) items. Markers are cursors (see `berth_aws::paging`),
/// opaque to clients and checked on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    marker: Option<String>,
    size: usize,
}

fn invalid_marker() -> Error {
    Error::validation("Marker: the marker is invalid")
}

impl Page {
    pub fn from_params(params: &Params) -> Result<Self, Error> {
        let size = params.int("PageSize", 1..=400)?.unwrap_or(400) as usize;
        let marker = match params.string("Marker")? {
            None | Some("") => None,
            Some(marker) => {
                paging::decode_cursor(marker).ok_or_else(invalid_marker)?;
                Some(marker.to_string())
            }
        };
        Ok(Self { marker, size })
    }

    /// This page of `items` in the order of `key` (distinct per item), and the marker of the
    /// next page if there is one.
    pub fn of<T, K: Ord + Serialize + DeserializeOwned>(
        &self,
        items: Vec<T>,
        key: impl Fn(&T) -> K,
    ) -> Result<(Vec<T>, Option<String>), Error> {
        let after = self
            .marker
            .as_deref()
            .map(|marker| paging::decode_key::<K>(marker).ok_or_else(invalid_marker))
            .transpose()?;
        let (page, next) = paging::keyed_page(items, after.as_ref(), self.size, key);
        Ok((page, next.map(|key| paging::encode_key(&key))))
    }
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

/// A string member that must be one of `allowed`, or `default` when absent; the answer is
/// the entry of `allowed` it matched.
pub fn one_of(
    params: &Params,
    member: &str,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<&'static str, Error> {
    let value = params.string(member)?.unwrap_or(default);
    allowed
        .iter()
        .copied()
        .find(|entry| *entry == value)
        .ok_or_else(|| {
            Error::validation(format!(
                "{member}: '{value}' is not supported; Berth accepts {}",
                allowed.join(", ")
            ))
        })
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
            let page = Page::from_params(&params(&format!("PageSize=3&Marker={marker}"))).unwrap();
            let (items, next) = page.of(items.clone(), |i| *i).unwrap();
            assert!(items.len() <= 3);
            seen.extend(items);
            match next {
                Some(m) => marker = m,
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn pages_refuse_bad_sizes_and_markers() {
        for (body, member) in [
            ("PageSize=0", "PageSize"),
            ("PageSize=401", "PageSize"),
            ("PageSize=x", "PageSize"),
            ("Marker=nope", "Marker"),
        ] {
            let error = Page::from_params(&params(body)).unwrap_err();
            assert_eq!(error.code, "ValidationError", "{body}");
            assert!(error.message.starts_with(member), "{}", error.message);
        }
    }

    #[test]
    fn tags_are_unique_and_at_most_fifty() {
        assert_eq!(
            tags(&params(
                "Tags.member.1.Key=team&Tags.member.1.Value=web&Tags.member.2.Key=x"
            )),
            Ok(vec![
                Tag {
                    key: "team".into(),
                    value: Some("web".into())
                },
                Tag {
                    key: "x".into(),
                    value: None
                }
            ])
        );
        let error = tags(&params("Tags.member.1.Key=a&Tags.member.2.Key=a")).unwrap_err();
        assert_eq!(error.code, "DuplicateTagKeys");
        let many: Vec<String> = (1..=51)
            .map(|n| format!("Tags.member.{n}.Key=k{n}"))
            .collect();
        assert_eq!(
            tags(&params(&many.join("&"))).unwrap_err().code,
            "TooManyTags"
        );
        let long = "k".repeat(129);
        for body in [
            "Tags.member.1.Value=v".to_string(),
            format!("Tags.member.1.Key={long}"),
        ] {
            let error = tags(&params(&body)).unwrap_err();
            assert_eq!(error.code, "ValidationError", "{body}");
            assert!(error.message.starts_with("Tags"), "{}", error.message);
        }
    }

    #[test]
    fn names_follow_albs_rule() {
        for name in ["web", "a", "web-2", &"x".repeat(32)] {
            assert_eq!(check_name("Name", name), Ok(()), "{name}");
        }
        for name in ["", "-web", "web-", "web_2", "wéb", &"x".repeat(33)] {
            let error = check_name("Name", name).unwrap_err();
            assert!(error.message.starts_with("Name: "), "{}", error.message);
        }
    }

    #[test]
    fn one_of_takes_the_default_and_names_what_it_accepts() {
        let allowed = ["HTTP", "HTTPS"];
        assert_eq!(
            one_of(&params(""), "Protocol", &allowed, "HTTP"),
            Ok("HTTP")
        );
        assert_eq!(
            one_of(&params("Protocol=HTTPS"), "Protocol", &allowed, "HTTP"),
            Ok("HTTPS")
        );
        let error = one_of(&params("Protocol=TCP"), "Protocol", &allowed, "HTTP").unwrap_err();
        assert_eq!(
            error.message,
            "Protocol: 'TCP' is not supported; Berth accepts HTTP, HTTPS"
        );
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
