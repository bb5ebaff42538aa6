//! A secret's versions and their staging labels, as Secrets Manager moves them: a new value
//! takes `AWSCURRENT` unless told otherwise, and the version that held it takes
//! `AWSPREVIOUS`; a label is on at most one version; a version with no label is deprecated,
//! and only the most recent [`MAX_VERSIONS`] are kept.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";
pub const MAX_VERSIONS: usize = 100;
/// How many labels one version may carry.
pub const MAX_STAGES: usize = 20;

/// One version of a secret, with whatever the store keeps of its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version<V> {
    pub id: String,
    pub stages: BTreeSet<String>,
    pub created: f64,
    pub value: V,
}

/// Oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Versions<V>(Vec<Version<V>>);

impl<V> Default for Versions<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("version {0} does not exist")]
    NoSuchVersion(String),
    #[error(
        "staging label {stage} is currently attached to version {holder}, so you must \
         explicitly reference that version in RemoveFromVersionId"
    )]
    HeldElsewhere { stage: String, holder: String },
    #[error("staging label {stage} is not attached to version {version}")]
    NotOnVersion { stage: String, version: String },
    #[error("you can't remove the staging label AWSCURRENT without moving it to another version")]
    CurrentNeedsAHome,
    #[error("a staging label must be 1 to 256 characters")]
    BadLabel,
    #[error("a version can carry at most 20 staging labels")]
    TooManyLabels,
}

impl<V> Versions<V> {
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Version<V>> {
        self.0.iter()
    }

    pub fn by_id(&self, id: &str) -> Option<&Version<V>> {
        self.0.iter().find(|v| v.id == id)
    }

    pub fn by_stage(&self, stage: &str) -> Option<&Version<V>> {
        self.0.iter().find(|v| v.stages.contains(stage))
    }

    pub fn current(&self) -> Option<&Version<V>> {
        self.by_stage(CURRENT)
    }

    /// Adds a version with `stages` (`AWSCURRENT` when none are named), taking each label
    /// from whichever version had it. Whichever version loses `AWSCURRENT` gets
    /// `AWSPREVIOUS`. Returns the versions dropped for being deprecated beyond the limit.
    pub fn add(
        &mut self,
        id: String,
        created: f64,
        value: V,
        stages: Option<&[String]>,
    ) -> Result<Vec<Version<V>>, StageError> {
        let stages: BTreeSet<String> = match stages {
            None => BTreeSet::from([CURRENT.to_string()]),
            Some(stages) => stages.iter().cloned().collect(),
        };
        check_labels(&stages)?;
        let previous_current = self.current().map(|v| v.id.clone());
        for stage in &stages {
            self.detach(stage);
        }
        self.0.push(Version {
            id: id.clone(),
            stages: BTreeSet::new(),
            created,
            value,
        });
        for stage in &stages {
            self.attach(stage, &id);
        }
        if stages.contains(CURRENT) {
            if let Some(old) = previous_current {
                self.detach(PREVIOUS);
                self.attach(PREVIOUS, &old);
            }
        }
        Ok(self.prune())
    }

    /// UpdateSecretVersionStage: moves `stage` from `remove_from` to `move_to` (either may be
    /// absent, with AWS's rules for when each must be given).
    pub fn move_stage(
        &mut self,
        stage: &str,
        remove_from: Option<&str>,
        move_to: Option<&str>,
    ) -> Result<Vec<Version<V>>, StageError> {
        check_labels(&BTreeSet::from([stage.to_string()]))?;
        for id in remove_from.iter().chain(move_to.iter()) {
            if self.by_id(id).is_none() {
                return Err(StageError::NoSuchVersion(id.to_string()));
            }
        }
        let holder = self.by_stage(stage).map(|v| v.id.clone());
        if let Some(from) = remove_from {
            if holder.as_deref() != Some(from) {
                return Err(StageError::NotOnVersion {
                    stage: stage.to_string(),
                    version: from.to_string(),
                });
            }
        }
        match (move_to, &holder) {
            (Some(to), Some(holder)) if holder != to && remove_from.is_none() => {
                return Err(StageError::HeldElsewhere {
                    stage: stage.to_string(),
                    holder: holder.clone(),
                })
            }
            (None, _) if stage == CURRENT => return Err(StageError::CurrentNeedsAHome),
            _ => {}
        }
        if let Some(to) = move_to {
            let labels = &self.by_id(to).expect("checked above").stages;
            if !labels.contains(stage) && labels.len() >= MAX_STAGES {
                return Err(StageError::TooManyLabels);
            }
        }
        self.detach(stage);
        if let Some(to) = move_to {
            self.attach(stage, to);
            if stage == CURRENT {
                if let Some(old) = holder.filter(|old| old != to) {
                    self.detach(PREVIOUS);
                    self.attach(PREVIOUS, &old);
                }
            }
        }
        Ok(self.prune())
    }

    /// Changes every version's value in place, stopping at the first error.
    pub fn try_for_each_mut<E>(
        &mut self,
        change: impl FnMut(&mut Version<V>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.0.iter_mut().try_for_each(change)
    }

    /// Every version that carries a label, for DescribeSecret's `VersionIdsToStages`.
    pub fn labelled(&self) -> impl Iterator<Item = &Version<V>> {
        self.0.iter().filter(|v| !v.stages.is_empty())
    }

    fn detach(&mut self, stage: &str) {
        for version in &mut self.0 {
            version.stages.remove(stage);
        }
    }

    fn attach(&mut self, stage: &str, id: &str) {
        if let Some(version) = self.0.iter_mut().find(|v| v.id == id) {
            version.stages.insert(stage.to_string());
        }
    }

    /// Drops the oldest deprecated versions beyond [`MAX_VERSIONS`].
    fn prune(&mut self) -> Vec<Version<V>> {
        let mut dropped = Vec::new();
        while self.0.len() > MAX_VERSIONS {
            let Some(oldest) = self.0.iter().position(|v| v.stages.is_empty()) else {
                break;
            };
            dropped.push(self.0.remove(oldest));
        }
        dropped
    }
}

fn check_labels(stages: &BTreeSet<String>) -> Result<(), StageError> {
    if stages
        .iter()
        .any(|s| s.is_empty() || s.chars().count() > 256)
    {
        return Err(StageError::BadLabel);
    }
    if stages.len() > MAX_STAGES {
        return Err(StageError::TooManyLabels);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stages_of(versions: &Versions<()>, id: &str) -> Vec<String> {
        versions.by_id(id).unwrap().stages.iter().cloned().collect()
    }

    fn with(ids: &[&str]) -> Versions<()> {
        let mut versions = Versions::default();
        for (n, id) in ids.iter().enumerate() {
            versions.add(id.to_string(), n as f64, (), None).unwrap();
        }
        versions
    }

    #[test]
    fn a_new_value_becomes_current_and_the_old_one_previous() {
        let versions = with(&["v1", "v2", "v3"]);
        assert_eq!(stages_of(&versions, "v3"), [CURRENT]);
        assert_eq!(stages_of(&versions, "v2"), [PREVIOUS]);
        assert!(stages_of(&versions, "v1").is_empty());
    }

    #[test]
    fn a_value_staged_elsewhere_leaves_current_alone() {
        let mut versions = with(&["v1"]);
        versions
            .add("v2".into(), 1.0, (), Some(&["AWSPENDING".to_string()]))
            .unwrap();
        assert_eq!(stages_of(&versions, "v1"), [CURRENT]);
        assert_eq!(stages_of(&versions, "v2"), ["AWSPENDING"]);
    }

    #[test]
    fn moving_current_moves_previous_to_where_it_was() {
        let mut versions = with(&["v1", "v2", "v3"]);
        versions
            .move_stage(CURRENT, Some("v3"), Some("v1"))
            .unwrap();
        assert_eq!(stages_of(&versions, "v1"), [CURRENT]);
        assert_eq!(stages_of(&versions, "v3"), [PREVIOUS]);
        assert!(stages_of(&versions, "v2").is_empty());
    }

    #[test]
    fn moving_a_held_label_names_its_holder() {
        let mut versions = with(&["v1", "v2"]);
        let error = versions.move_stage(CURRENT, None, Some("v1")).unwrap_err();
        assert_eq!(
            error,
            StageError::HeldElsewhere {
                stage: CURRENT.into(),
                holder: "v2".into()
            }
        );
        assert!(error.to_string().contains("RemoveFromVersionId"));
        assert_eq!(
            versions.move_stage(CURRENT, Some("v1"), Some("v1")),
            Err(StageError::NotOnVersion {
                stage: CURRENT.into(),
                version: "v1".into()
            })
        );
        assert_eq!(
            versions.move_stage(CURRENT, Some("v2"), None),
            Err(StageError::CurrentNeedsAHome)
        );
        assert_eq!(
            versions.move_stage("X", None, Some("v9")),
            Err(StageError::NoSuchVersion("v9".into()))
        );
    }

    #[test]
    fn custom_labels_attach_and_detach() {
        let mut versions = with(&["v1", "v2"]);
        versions.move_stage("blue", None, Some("v1")).unwrap();
        assert_eq!(stages_of(&versions, "v1"), [PREVIOUS, "blue"]);
        versions.move_stage("blue", Some("v1"), None).unwrap();
        assert_eq!(stages_of(&versions, "v1"), [PREVIOUS]);
    }

    #[test]
    fn only_the_latest_deprecated_versions_are_kept() {
        let ids: Vec<String> = (0..150).map(|n| format!("v{n:03}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let versions = with(&refs);
        assert_eq!(versions.iter().count(), MAX_VERSIONS);
        assert_eq!(versions.iter().next().unwrap().id, "v050");
        assert_eq!(stages_of(&versions, "v149"), [CURRENT]);
    }

    proptest! {
        /// Whatever is added and moved, a label is on at most one version, AWSCURRENT
        /// never disappears once given, and no more than MAX_VERSIONS are kept.
        #[test]
        fn labels_stay_unique(ops in proptest::collection::vec((0u8..4, 0usize..6, 0usize..6, 0usize..3), 1..60)) {
            let labels = [CURRENT, PREVIOUS, "blue"];
            let mut versions: Versions<()> = Versions::default();
            let mut next = 0;
            let mut had_current = false;
            for (op, a, b, label) in ops {
                let ids: Vec<String> = versions.iter().map(|v| v.id.clone()).collect();
                let pick = |n: usize| ids.get(n % ids.len().max(1)).map(String::as_str);
                match op {
                    0 | 1 => {
                        next += 1;
                        versions.add(format!("v{next}"), next as f64, (), None).unwrap();
                    }
                    2 => {
                        next += 1;
                        let stage = [labels[label].to_string()];
                        let _ = versions.add(format!("v{next}"), next as f64, (), Some(&stage));
                    }
                    _ => {
                        let _ = versions.move_stage(labels[label], pick(a), pick(b));
                    }
                }
                for label in labels {
                    prop_assert!(versions.iter().filter(|v| v.stages.contains(label)).count() <= 1);
                }
                had_current |= versions.current().is_some();
                prop_assert_eq!(versions.current().is_some(), had_current);
                prop_assert!(versions.iter().count() <= MAX_VERSIONS);
            }
        }
    }
}
