//! Per-instance cgroups, best effort: cgroup v1 (`memory`, `cpu`, `pids` hierarchies, as on
//! this kind of machine) or the v2 unified hierarchy. A missing controller is a warning, not
//! an error: the instance runs without that limit.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::spec::Limits;

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup directories of one instance, and its `cgroup.procs` files opened before the
/// init process forks (it writes `0` to them to join).
#[derive(Debug, Default)]
pub struct InstanceCgroups {
    pub dirs: Vec<PathBuf>,
    pub procs: Vec<File>,
}

/// Every directory an instance's cgroup named `name` may live in.
pub fn candidate_dirs(name: &str) -> Vec<PathBuf> {
    if is_unified() {
        vec![Path::new(ROOT).join(name)]
    } else {
        ["memory", "cpu", "pids"]
            .iter()
            .map(|c| Path::new(ROOT).join(c).join(name))
            .collect()
    }
}

fn is_unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// Creates the instance's cgroups and writes its limits; skips (with a warning) whatever is
/// not available.
pub fn create(name: &str, limits: &Limits, pids_max: u64) -> InstanceCgroups {
    let mut out = InstanceCgroups::default();
    for dir in candidate_dirs(name) {
        if !dir.parent().is_some_and(Path::exists) {
            continue;
        }
        if let Err(e) = fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cgroup unavailable; instance runs without its limits");
            continue;
        }
        let controller = dir
            .parent()
            .and_then(Path::file_name)
            .and_then(|s| s.to_str())
            .unwrap_or("");
        let mut settings: Vec<(&str, String)> = Vec::new();
        let unified = is_unified();
        if unified {
            if let Some(mib) = limits.memory_mib {
                settings.push(("memory.max", (mib * 1024 * 1024).to_string()));
            }
            if let Some(cpus) = limits.vcpus {
                settings.push(("cpu.max", format!("{} 100000", u64::from(cpus) * 100_000)));
            }
            settings.push(("pids.max", pids_max.to_string()));
        } else {
            match controller {
                "memory" => {
                    if let Some(mib) = limits.memory_mib {
                        settings.push(("memory.limit_in_bytes", (mib * 1024 * 1024).to_string()));
                    }
                }
                "cpu" => {
                    if let Some(cpus) = limits.vcpus {
                        settings.push(("cpu.cfs_period_us", "100000".into()));
                        settings
                            .push(("cpu.cfs_quota_us", (u64::from(cpus) * 100_000).to_string()));
                    }
                }
                "pids" => settings.push(("pids.max", pids_max.to_string())),
                _ => {}
            }
        }
        for (file, value) in settings {
            if let Err(e) = fs::write(dir.join(file), &value) {
                tracing::warn!(dir = %dir.display(), file, value, error = %e, "cgroup limit not applied");
            }
        }
        match OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
        {
            Ok(f) => out.procs.push(f),
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot join cgroup"),
        }
        out.dirs.push(dir);
    }
    out
}

/// The processes in a cgroup directory.
pub fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills what is left in the cgroups and removes them; returns how many were removed.
pub fn remove(dirs: &[PathBuf]) -> usize {
    let mut removed = 0;
    for dir in dirs {
        if !dir.exists() {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            for pid in pids(dir) {
                crate::process::kill(pid);
            }
            match fs::remove_dir(dir) {
                Ok(()) => {
                    removed += 1;
                    break;
                }
                Err(e) if Instant::now() > deadline => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove cgroup");
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    removed
}

/// Every cgroup directory whose name `matches`, in any hierarchy.
pub fn find(matches: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut parents = vec![PathBuf::from(ROOT)];
    if let Ok(entries) = fs::read_dir(ROOT) {
        parents.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let mut out = Vec::new();
    for parent in parents {
        if let Ok(entries) = fs::read_dir(&parent) {
            for e in entries.flatten() {
                if e.file_name().to_str().is_some_and(&matches) && e.path().is_dir() {
                    out.push(e.path());
                }
            }
        }
    }
    out
}
