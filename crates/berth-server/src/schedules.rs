//! The index of next firings that every resource firing on a schedule shares: Application
//! Auto Scaling's scheduled actions and EventBridge's scheduled rules. Each entry names its
//! owner and when it fires next, and is scoped by the minute it falls in, so the controller
//! reads the minutes due rather than every schedule (`control::schedules`). An owner keeps
//! its entry where its own record says it fires next; a firing whose owner no longer says
//! so is stale and dropped.

use crate::call::{Call, Fault};
use berth_store::Collection;
use serde::{Deserialize, Serialize};

/// What kind of resource an entry fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    /// An Application Auto Scaling scheduled action, by its key.
    ScheduledAction,
    /// An EventBridge rule with a schedule, by its key.
    Rule,
}

/// One entry of the index: `owner`'s record under `key` fires at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Firing {
    pub owner: Owner,
    pub key: String,
    pub at: f64,
}

/// The key of an owner's entry: a scheduled action's own key, a rule's prefixed so the two
/// never meet.
fn entry_key(owner: Owner, key: &str) -> String {
    match owner {
        Owner::ScheduledAction => key.to_string(),
        Owner::Rule => format!("rule:{key}"),
    }
}

/// The scope a firing at `at` is indexed under: its minute, zero-padded so scopes sort.
pub fn scope(at: f64) -> String {
    format!("{:012}", minute(at))
}

/// The minute since the epoch that `at` falls in.
pub fn minute(at: f64) -> i64 {
    (at / 60.0).floor() as i64
}

/// After `firing` ran: moves its record in `collection` (whose next firing `next_firing`
/// reaches) and its index entry on to `next`, unless the record changed its next firing
/// meanwhile (a new schedule, indexed by that change), when only the stale entry goes.
/// Only that one field is written, so changes made to the record meanwhile are kept.
pub fn move_on<T: crate::call::Resource>(
    call: &Call<'_>,
    collection: Collection,
    firing: &Firing,
    next: Option<f64>,
    next_firing: impl Fn(&mut T) -> &mut Option<f64>,
) -> Result<(), Fault> {
    let moved = call.modify(collection, &firing.key, |stored: &mut T| {
        let field = next_firing(stored);
        let due = *field == Some(firing.at);
        if due {
            *field = next;
        }
        Ok::<_, Fault>(due)
    })?;
    if moved == Some(true) {
        index(call, firing.owner, &firing.key, Some(firing.at), next)
    } else {
        drop_stale(call, firing)
    }
}

/// Moves `owner`'s entry for `key` from `previous` to `next` (or out of the index).
pub fn index(
    call: &Call<'_>,
    owner: Owner,
    key: &str,
    previous: Option<f64>,
    next: Option<f64>,
) -> Result<(), Fault> {
    let entry = entry_key(owner, key);
    if previous.is_some() && previous.map(scope) != next.map(scope) {
        call.remove(Collection::ScheduledFirings, &entry)?;
    }
    if let Some(at) = next {
        let firing = Firing {
            owner,
            key: key.to_string(),
            at,
        };
        call.put(Collection::ScheduledFirings, &entry, &scope(at), &firing)?;
    }
    Ok(())
}

/// Takes `owner`'s entry for `key` out of the index, whenever it was due.
pub fn unindex(call: &Call<'_>, owner: Owner, key: &str) -> Result<(), Fault> {
    call.remove(Collection::ScheduledFirings, &entry_key(owner, key))?;
    Ok(())
}

/// Drops `firing` from the index if it is still the entry there: its owner is gone, or no
/// longer fires at its time.
pub fn drop_stale(call: &Call<'_>, firing: &Firing) -> Result<(), Fault> {
    call.remove_if(
        Collection::ScheduledFirings,
        &entry_key(firing.owner, &firing.key),
        |stored: &Firing| stored == firing,
    )?;
    Ok(())
}

/// The entries that may be due at `now`: the whole index when nothing was swept before (a
/// controller's first round, which is how a firing missed while it was down runs once), or
/// else the minutes from the one before `swept` to now's (again the minute before, for a
/// firing whose write committed after a round read its minute).
pub fn candidates(call: &Call<'_>, swept: Option<i64>, now: f64) -> Result<Vec<Firing>, Fault> {
    let found: Vec<Firing> = match swept {
        None => call.list(Collection::ScheduledFirings, None)?,
        Some(swept) => {
            let mut found = Vec::new();
            for bucket in (swept - 1)..=minute(now) {
                found.extend(call.list::<Firing>(
                    Collection::ScheduledFirings,
                    Some(&scope(bucket as f64 * 60.0)),
                )?);
            }
            found
        }
    };
    Ok(found.into_iter().filter(|f| f.at <= now).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_as_written() {
        let rule = Firing {
            owner: Owner::Rule,
            key: "default|nightly".into(),
            at: 120.0,
        };
        let text = serde_json::to_string(&rule).unwrap();
        assert_eq!(serde_json::from_str::<Firing>(&text).unwrap(), rule);
    }

    #[test]
    fn owners_keep_apart_and_minutes_sort() {
        let table = [
            (Owner::ScheduledAction, "a|b", "a|b"),
            (Owner::Rule, "default|b", "rule:default|b"),
        ];
        for (owner, key, entry) in table {
            assert_eq!(entry_key(owner, key), entry);
        }
        assert_eq!(scope(59.9), "000000000000");
        assert_eq!(scope(1_740_000_030.0), "000029000000");
        assert!(scope(600.0) < scope(6000.0));
    }
}
