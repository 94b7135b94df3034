//! Finding and killing processes by the network namespace they live in.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// SIGKILL to one process; a process that is already gone is fine.
pub fn kill(pid: i32) {
    if pid > 1 {
        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// The inode that identifies a namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`).
fn ns_inode(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The live (not zombie) processes whose network namespace is one of those pinned at
/// `netns_files`; one pass over `/proc`.
pub fn in_netns(netns_files: &[&Path]) -> Vec<i32> {
    let targets: Vec<(u64, u64)> = netns_files.iter().filter_map(|f| ns_inode(f)).collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            ns_inode(&Path::new("/proc").join(pid.to_string()).join("ns/net"))
                .is_some_and(|i| targets.contains(&i))
        })
        .filter(|&pid| !is_zombie(pid))
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name, which may itself hold spaces.
    stat.rsplit_once(") ")
        .map(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
        .unwrap_or(true)
}

/// Kills every process in the namespaces and waits (up to 5 s) until none is left; returns
/// how many were killed.
pub fn kill_netns(netns_files: &[&Path]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut killed = 0;
    loop {
        let pids = in_netns(netns_files);
        if pids.is_empty() {
            return killed;
        }
        if Instant::now() > deadline {
            tracing::warn!(?pids, "processes survive SIGKILL");
            return killed;
        }
        killed = killed.max(pids.len());
        for pid in pids {
            kill(pid);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
