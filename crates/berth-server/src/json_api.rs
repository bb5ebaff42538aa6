//! What every API on the JSON protocols shares beyond the wire itself: an error type in the
//! API's own words, the trait a request is checked by, strict decoding that never quotes a
//! secret, and the registry entries built from them. An API names itself once ([`JsonApi`])
//! and gets the rest; see ARCHITECTURE.md, "Adding an AWS API".

use crate::call::{Call, Fault};
use crate::registry::{Access, Action, Input, Output, WireError};
use berth_aws::AwsError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::marker::PhantomData;

/// An API on the JSON protocols, as its errors and decoding need it.
pub trait JsonApi: Send + Sync + 'static {
    /// Its name in messages, e.g. `Secrets Manager`.
    const NAME: &'static str;
    /// The code its model gives a fault of the service's own (answered with 500).
    const FAULT: &'static str;
    /// Members whose values are secrets: a decoding error names them but never quotes them.
    const SENSITIVE: &'static [&'static str] = &[];
    /// The code and message of a paging token it did not issue.
    const INVALID_TOKEN: (&'static str, &'static str);
}

/// An error of the API `A`: its exception name and message.
pub struct Error<A> {
    error: AwsError,
    api: PhantomData<A>,
}

impl<A> std::fmt::Debug for Error<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<A: JsonApi> Error<A> {
    /// A client error (HTTP 400) with the model's exception name.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            error: AwsError::new(code, message),
            api: PhantomData,
        }
    }

    /// The API's answer to a paging token it did not issue.
    pub fn invalid_token() -> Self {
        Self::new(A::INVALID_TOKEN.0, A::INVALID_TOKEN.1)
    }

    /// A fault of the service's own (HTTP 500), with the model's code for one.
    pub fn fault(message: impl Into<String>) -> Self {
        Self {
            error: AwsError::with_status(A::FAULT, message, 500),
            api: PhantomData,
        }
    }

    pub fn code(&self) -> &str {
        &self.error.code
    }

    pub fn message(&self) -> &str {
        &self.error.message
    }
}

impl<A> WireError for Error<A> {
    fn into_wire(self) -> AwsError {
        self.error
    }
}

impl<A: JsonApi> From<Fault> for Error<A> {
    fn from(fault: Fault) -> Self {
        tracing::error!(api = A::NAME, error = %fault, "store failure");
        Self::fault(fault.to_string())
    }
}

/// An action's input for the API `A`: decoded strictly, then checked by `check` before any
/// handler sees it.
pub trait Request<A: JsonApi>: DeserializeOwned + Send + 'static {
    fn check(&self) -> Result<(), Error<A>> {
        Ok(())
    }
}

fn decode<A: JsonApi, T: Request<A>>(input: Input<'_>) -> Result<T, AwsError> {
    let Input::Json(body) = input else {
        return Err(AwsError::new(
            "SerializationException",
            format!("{} takes JSON bodies (application/x-amz-json-1.1)", A::NAME),
        ));
    };
    let request: T = berth_aws::json::decode_input(body, A::SENSITIVE)?;
    request.check().map_err(WireError::into_wire)?;
    Ok(request)
}

/// What AWS's tagging rules say is wrong with a resource's tags (at most 50; keys of 1 to
/// 128 characters outside the reserved `aws:` prefix; values of at most 256), if anything.
pub fn tag_problem<'t>(
    resource: &str,
    tags: impl ExactSizeIterator<Item = (&'t str, &'t str)>,
) -> Option<String> {
    if tags.len() > 50 {
        return Some(format!(
            "a {resource} can have at most 50 tags, got {}",
            tags.len()
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Some(format!("tag key {key:?} must be 1 to 128 characters"));
        }
        if value.chars().count() > 256 {
            return Some(format!(
                "the value of tag {key:?} must be at most 256 characters"
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Some(format!("tag key {key:?}: the aws: prefix is reserved"));
        }
    }
    None
}

/// The registry's entry for an action of `A` handled by `handle`.
pub fn action<A: JsonApi, T: Request<A>>(
    name: &'static str,
    access: Access,
    handle: fn(&Call<'_>, &T) -> Result<Value, Error<A>>,
) -> Action {
    Action::new(name, access, decode::<A, T>, handle)
}

/// The same for an action that may answer with an event stream.
pub fn streaming_action<A: JsonApi, T: Request<A>>(
    name: &'static str,
    access: Access,
    handle: fn(&Call<'_>, &T) -> Result<Output, Error<A>>,
) -> Action {
    Action::new(name, access, decode::<A, T>, handle)
}

/// An action of `A` that Berth declines, answered with `error` (why, and what instead).
pub fn declined<A: JsonApi>(name: &'static str, error: Error<A>) -> Action {
    Action::declined(name, error.into_wire())
}

/// The page of `items` a request asks for (`token` from an earlier answer, up to
/// `max_results`, else `default`), in the order of `key` (distinct per item), and the token
/// of the page after it: the next page starts after this one's last item wherever it now
/// is, so a change between pages neither skips nor repeats an item.
pub fn page<A: JsonApi, T, K: Ord + Serialize + DeserializeOwned>(
    items: Vec<T>,
    token: Option<&str>,
    max_results: Option<i64>,
    default: usize,
    key: impl Fn(&T) -> K,
) -> Result<(Vec<T>, Option<String>), Error<A>> {
    let after = token
        .map(|token| berth_aws::paging::decode_key::<K>(token).ok_or_else(Error::invalid_token))
        .transpose()?;
    let size = max_results.map_or(default, |n| usize::try_from(n).unwrap_or(default));
    let (page, next) = berth_aws::paging::keyed_page(items, after.as_ref(), size, key);
    Ok((page, next.map(|key| berth_aws::paging::encode_key(&key))))
}
