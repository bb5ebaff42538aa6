//! Every ELBv2 action's request as a typed value, read from the query protocol's members with
//! every check that needs no stored state: required members, ranges, the values Berth accepts,
//! list shapes, tags, names, paging, the shapes of actions and conditions, attribute values.
//!
//! Reading a request here, before its handler runs, is what lets the front refuse a malformed
//! write before it queues for the writer, and what keeps a handler down to the questions only
//! the store or the data plane can answer (does this group exist, is this port free). It also
//! puts ALB's input rules in one place per resource, testable without a store.
//!
//! Members are checked in the order they are read, and all of them before any lookup: a
//! request with one mistake is told about that mistake by name (`Conditions.member.1.Field:
//! …`), and one that is both malformed and about a missing resource hears of the malformation.
//! A request holds what it was given, in the stored shapes where a member is stored as it
//! came (tags, targets, actions, conditions) and a member limited to a few values as the
//! accepted `&'static str`; never a whole resource, since what a resource becomes may depend
//! on what is stored (ModifyTargetGroup changes only the members given).

pub mod listeners;
pub mod load_balancers;
pub mod target_groups;

use super::common::Error;
use berth_aws::query::Params;

/// A request of one ELBv2 action, read and checked from its members.
pub trait FromParams: Sized {
    fn from_params(params: &Params) -> Result<Self, Error>;
}

/// Reads a form body (without `Action`) as `T` would be read from a request.
#[cfg(test)]
pub fn parse<T: FromParams>(body: &str) -> Result<T, Error> {
    let request = berth_aws::query::parse(format!("Action=X&{body}").as_bytes())
        .map_err(|e| Error::validation(e.to_string()))?;
    T::from_params(&request.params)
}
