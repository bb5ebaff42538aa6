//! cgroup v2 limits for host processes: one cgroup per container under a root of Berth's own,
//! with `memory.max` (hard limit), `memory.low` (reservation) and `cpu.weight` (shares).
//!
//! Only a unified (v2) hierarchy where this process may enable the `memory` and `cpu`
//! controllers is used. On cgroup v1 or hybrid hosts, or without the right to write there,
//! [`Cgroups::open`] says why and the process runtime runs without limits.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) struct Cgroups {
    root: PathBuf,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub memory_max_bytes: Option<u64>,
    pub memory_low_bytes: Option<u64>,
    pub cpu_weight: Option<u64>,
}

impl Cgroups {
    /// Prepares `root` (a directory directly below a cgroup v2 mount, created if missing) to
    /// hold one child cgroup per container.
    pub fn open(root: &Path) -> Result<Cgroups, String> {
        let parent = root
            .parent()
            .ok_or_else(|| format!("{} has no parent cgroup", root.display()))?;
        let controllers = fs::read_to_string(parent.join("cgroup.controllers")).map_err(|_| {
            format!(
                "{} is not a cgroup v2 hierarchy (cgroup v1 or hybrid host)",
                parent.display()
            )
        })?;
        for needed in ["memory", "cpu"] {
            if !controllers.split_whitespace().any(|c| c == needed) {
                return Err(format!(
                    "the {needed} controller is not available in {}",
                    parent.display()
                ));
            }
        }
        // Controllers have to be enabled on every level down to the containers' cgroups.
        let enable = |dir: &Path| {
            fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu")
                .map_err(|e| format!("cannot enable memory and cpu in {}: {e}", dir.display()))
        };
        enable(parent)?;
        fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        enable(root)?;
        Ok(Cgroups {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Creates the container's cgroup with its limits; the caller moves the process in.
    pub fn create(&self, id: &str, limits: &Limits) -> io::Result<PathBuf> {
        let dir = self.path(id);
        fs::create_dir(&dir)?;
        let settings = [
            ("memory.max", limits.memory_max_bytes),
            ("memory.low", limits.memory_low_bytes),
            ("cpu.weight", limits.cpu_weight),
        ];
        for (file, value) in settings {
            if let Some(value) = value {
                fs::write(dir.join(file), value.to_string())?;
            }
        }
        Ok(dir)
    }
}

/// Whether the kernel's OOM killer ended a process in this cgroup.
pub(crate) fn oom_killed(dir: &Path) -> bool {
    fs::read_to_string(dir.join("memory.events")).is_ok_and(|events| {
        events.lines().any(|line| {
            line.strip_prefix("oom_kill ")
                .and_then(|count| count.trim().parse::<u64>().ok())
                .is_some_and(|count| count > 0)
        })
    })
}

/// Docker's (and runc's) mapping of cgroup v1 cpu shares [2, 262144] onto cgroup v2's
/// cpu.weight [1, 10000], so a task gets the same share under either runtime.
pub(crate) fn cpu_weight(shares: u32) -> u64 {
    let shares = u64::from(shares.clamp(2, 262_144));
    1 + ((shares - 2) * 9999) / 262_142
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_like_docker() {
        assert_eq!(cpu_weight(0), 1);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262_144), 10_000);
    }

    #[test]
    fn refuses_hierarchies_that_are_not_v2() {
        let mount = tempfile::tempdir().unwrap();
        let error = Cgroups::open(&mount.path().join("berth")).err().unwrap();
        assert!(error.contains("not a cgroup v2 hierarchy"), "{error}");
        fs::write(mount.path().join("cgroup.controllers"), "io pids").unwrap();
        let error = Cgroups::open(&mount.path().join("berth")).err().unwrap();
        assert!(error.contains("memory controller"), "{error}");
    }

    // A directory that looks like a cgroup2 mount: the kernel's files are plain files here, so
    // this checks what is written where, not that the kernel enforces it.
    #[test]
    fn writes_limits_into_a_cgroup_per_container() {
        let mount = tempfile::tempdir().unwrap();
        fs::write(
            mount.path().join("cgroup.controllers"),
            "cpu io memory pids",
        )
        .unwrap();
        let cgroups = Cgroups::open(&mount.path().join("berth")).unwrap();
        let read = |path: PathBuf| fs::read_to_string(path).unwrap();
        assert_eq!(
            read(mount.path().join("cgroup.subtree_control")),
            "+memory +cpu"
        );
        assert_eq!(
            read(mount.path().join("berth/cgroup.subtree_control")),
            "+memory +cpu"
        );
        let limits = Limits {
            memory_max_bytes: Some(64 << 20),
            memory_low_bytes: None,
            cpu_weight: Some(39),
        };
        let dir = cgroups.create("c1", &limits).unwrap();
        assert_eq!(dir, mount.path().join("berth/c1"));
        assert_eq!(read(dir.join("memory.max")), "67108864");
        assert_eq!(read(dir.join("cpu.weight")), "39");
        assert!(!dir.join("memory.low").exists());

        assert!(!oom_killed(&dir));
        fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(oom_killed(&dir));
    }
}
