//! What containers use, read from the kernel: a cgroup's files (v2: `cpu.stat` and
//! `memory.current`; v1: `cpuacct.usage` and `memory.usage_in_bytes`) or, for processes in no
//! cgroup of their own, `/proc/<pid>/stat` of every process in a process group. Parsing is
//! apart from reading, so it is tested on text.
//!
//! Memory leaves out the inactive file cache (`inactive_file`, or v1's
//! `total_inactive_file`), as `docker stats` and ECS do: the kernel takes it back before it
//! would kill anything.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::Usage;

/// A cgroup v2 directory's usage, if its files are there.
pub(crate) fn cgroup_v2(dir: &Path) -> Option<Usage> {
    let cpu = fs::read_to_string(dir.join("cpu.stat")).ok()?;
    let current = fs::read_to_string(dir.join("memory.current")).ok()?;
    let stat = fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
    Some(Usage {
        cpu_time: Duration::from_micros(keyed(&cpu, "usage_usec")?),
        memory_bytes: working_set(current.trim().parse().ok()?, keyed(&stat, "inactive_file")),
    })
}

/// A cgroup v1 container's usage from its `cpuacct` and `memory` directories.
pub(crate) fn cgroup_v1(cpuacct: &Path, memory: &Path) -> Option<Usage> {
    let nanos = fs::read_to_string(cpuacct.join("cpuacct.usage")).ok()?;
    let usage = fs::read_to_string(memory.join("memory.usage_in_bytes")).ok()?;
    let stat = fs::read_to_string(memory.join("memory.stat")).unwrap_or_default();
    Some(Usage {
        cpu_time: Duration::from_nanos(nanos.trim().parse().ok()?),
        memory_bytes: working_set(
            usage.trim().parse().ok()?,
            keyed(&stat, "total_inactive_file"),
        ),
    })
}

/// The value of `key` in a flat-keyed cgroup file (`usage_usec 1234` lines).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

/// Memory in use without the inactive file cache.
pub(crate) fn working_set(usage: u64, inactive_file: Option<u64>) -> u64 {
    usage.saturating_sub(inactive_file.unwrap_or(0))
}

/// What `/proc/<pid>/stat` says of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub process_group: i32,
    /// utime + stime of the process and cutime + cstime of the children it has waited for,
    /// so time spent by a child that ended is not lost.
    pub cpu_ticks: u64,
    pub rss_pages: u64,
}

pub(crate) fn parse_proc_stat(stat: &str) -> Option<ProcStat> {
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // Indices count from field 3 (state): pgrp is field 5, utime..cstime 14..17, rss 24.
    let number = |index: usize| fields.get(index)?.parse::<i64>().ok();
    let ticks: i64 = (11..=14).map(number).sum::<Option<i64>>()?;
    Some(ProcStat {
        process_group: i32::try_from(number(2)?).ok()?,
        cpu_ticks: u64::try_from(ticks).unwrap_or(0),
        rss_pages: u64::try_from(number(21)?).unwrap_or(0),
    })
}

/// Usage of every process group on the machine, from one pass over `/proc`.
#[derive(Debug, Default)]
pub(crate) struct ProcessGroups {
    by_group: HashMap<i32, (u64, u64)>,
}

impl ProcessGroups {
    pub fn scan() -> ProcessGroups {
        let mut groups = ProcessGroups::default();
        let Ok(entries) = fs::read_dir("/proc") else {
            return groups;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            // A process may end between the listing and the read: it is simply not counted.
            if let Some(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .as_deref()
                .and_then(parse_proc_stat)
            {
                groups.add(stat);
            }
        }
        groups
    }

    pub fn add(&mut self, stat: ProcStat) {
        let entry = self.by_group.entry(stat.process_group).or_default();
        entry.0 += stat.cpu_ticks;
        entry.1 += stat.rss_pages;
    }

    /// The group's usage; a group with no process left uses nothing.
    pub fn usage(&self, group: i32) -> Usage {
        let (ticks, pages) = self.by_group.get(&group).copied().unwrap_or_default();
        Usage {
            cpu_time: Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second()),
            memory_bytes: pages * page_size(),
        }
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files() {
        let cpu = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
        assert_eq!(keyed(cpu, "usage_usec"), Some(2_500_000));
        assert_eq!(keyed(cpu, "system_usec"), Some(500_000));
        assert_eq!(keyed(cpu, "usage"), None);
        assert_eq!(keyed("inactive_file x\n", "inactive_file"), None);
        let stat = "anon 1000\nfile 9000\nactive_file 1000\ninactive_file 8000\n";
        assert_eq!(keyed(stat, "inactive_file"), Some(8000));
    }

    #[test]
    fn working_set_leaves_out_inactive_cache() {
        for (usage, inactive, expected) in [
            (10_000, Some(8_000), 2_000),
            (10_000, None, 10_000),
            (1_000, Some(2_000), 0),
        ] {
            assert_eq!(working_set(usage, inactive), expected);
        }
    }

    #[test]
    fn cgroup_directories_of_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| fs::write(dir.path().join(name), text).unwrap();
        assert_eq!(cgroup_v2(dir.path()), None);
        write("cpu.stat", "usage_usec 1500000\nuser_usec 1000000\n");
        write("memory.current", "10485760\n");
        write("memory.stat", "anon 4194304\ninactive_file 2097152\n");
        assert_eq!(
            cgroup_v2(dir.path()),
            Some(Usage {
                cpu_time: Duration::from_millis(1500),
                memory_bytes: 8 << 20,
            })
        );
        write("cpuacct.usage", "2000000000\n");
        write("memory.usage_in_bytes", "4194304\n");
        write(
            "memory.stat",
            "cache 1048576\ntotal_inactive_file 1048576\n",
        );
        assert_eq!(
            cgroup_v1(dir.path(), dir.path()),
            Some(Usage {
                cpu_time: Duration::from_secs(2),
                memory_bytes: 3 << 20,
            })
        );
    }

    #[test]
    fn proc_stat_fields() {
        // A name with spaces and a parenthesis, as a process may choose.
        let stat = "4242 (my (app) x) S 1 4240 4240 0 -1 4194560 120 0 0 0 \
                    150 50 7 3 20 0 1 0 9876 10485760 640 18446744073709551615 0";
        assert_eq!(
            parse_proc_stat(stat),
            Some(ProcStat {
                process_group: 4240,
                cpu_ticks: 210,
                rss_pages: 640,
            })
        );
        assert_eq!(parse_proc_stat("4242 (app) S 1"), None);
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn groups_add_up_their_processes() {
        let mut groups = ProcessGroups::default();
        for (group, ticks, pages) in [(10, 100, 10), (10, 50, 5), (11, 7, 1)] {
            groups.add(ProcStat {
                process_group: group,
                cpu_ticks: ticks,
                rss_pages: pages,
            });
        }
        let ten = groups.usage(10);
        assert_eq!(
            ten.cpu_time,
            Duration::from_secs_f64(150.0 / clock_ticks_per_second())
        );
        assert_eq!(ten.memory_bytes, 15 * page_size());
        assert_eq!(groups.usage(12), Usage::default());
    }

    #[test]
    fn this_process_is_in_the_scan() {
        let own_group = i32::try_from(std::process::id()).map_or(0, |pid| {
            // SAFETY: getpgid has no memory effects.
            unsafe { libc::getpgid(pid) }
        });
        let usage = ProcessGroups::scan().usage(own_group);
        assert!(usage.memory_bytes > 0, "{usage:?}");
    }
}
