//! Removing everything made under one prefix, found by name rather than by memory, so it
//! works after a crash: processes first (they pin namespaces), then namespaces, the host's
//! end of the edge link, the host's routes and cgroups.

use std::fs;

use crate::cgroup;
use crate::cmd::{ip_batch, link_names, netns_path, NETNS_DIR};
use crate::error::SubstrateError;
use crate::names::{Kind, Names};
use crate::process;

/// Removes every object under the prefix; returns how many it removed.
pub fn sweep(names: &Names) -> Result<usize, SubstrateError> {
    let mut removed = 0;
    let mut namespaces: Vec<(String, Kind)> = fs::read_dir(NETNS_DIR)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter_map(|n| names.parse(&n).map(|k| (n, k)))
                .filter(|(_, k)| {
                    matches!(
                        k,
                        Kind::VpcNamespace(_) | Kind::InstanceNamespace(_) | Kind::Edge
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // Instances first, then VPC routers, then the edge.
    namespaces.sort_by_key(|(_, k)| match k {
        Kind::InstanceNamespace(_) => 0,
        Kind::VpcNamespace(_) => 1,
        _ => 2,
    });

    // Processes pin namespaces, so kill them first.
    let files: Vec<std::path::PathBuf> = namespaces.iter().map(|(ns, _)| netns_path(ns)).collect();
    let killed = process::kill_netns(&files.iter().map(|f| f.as_path()).collect::<Vec<_>>());
    if killed > 0 {
        tracing::info!(prefix = names.prefix(), killed, "killed leftover processes");
    }
    for cg in cgroup::find(|n| matches!(names.parse(n), Some(Kind::InstanceNamespace(_)))) {
        for pid in cgroup::pids(&cg) {
            process::kill(pid);
        }
    }
    // Deleting the namespaces destroys their veths in one batch in the kernel, much faster
    // than deleting links one by one. A namespace that something still pins (a socket opened
    // inside it) lives on unnamed, unreachable from the host once the host's end of the
    // edge link is gone, which the next step makes sure of, synchronously, so that the
    // names are free for a new start at once.
    let _ = ip_batch(
        None,
        &namespaces
            .iter()
            .map(|(ns, _)| format!("netns del {ns}"))
            .collect::<Vec<_>>(),
        true,
    );
    removed += namespaces.len();
    let host_links: Vec<String> = link_names(None)
        .unwrap_or_default()
        .into_iter()
        .filter(|l| names.parse(l).is_some())
        .collect();
    removed += host_links.len();
    let _ = ip_batch(
        None,
        &host_links
            .iter()
            .map(|l| format!("link del {l}"))
            .collect::<Vec<_>>(),
        true,
    );

    // Host routes that outlive links (the blackhole), as recorded when they were made.
    let routes_file = names.run_dir().join("host-routes");
    if let Ok(routes) = fs::read_to_string(&routes_file) {
        for route in routes.lines().filter(|l| l.starts_with("blackhole ")) {
            let words: Vec<&str> = route.split_whitespace().collect();
            let shown = crate::cmd::ip(None, &["-o", "route", "show", "type", "blackhole"])
                .unwrap_or_default();
            let exists = shown.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.get(1) == words.get(1)
                    && l.contains(&format!("metric {}", words.last().unwrap_or(&"")))
            });
            if exists {
                let _ = ip_batch(None, &[format!("route del {route}")], true);
                removed += 1;
            }
        }
        let _ = fs::remove_file(&routes_file);
    }

    let cgroups = cgroup::find(|n| matches!(names.parse(n), Some(Kind::InstanceNamespace(_))));
    removed += cgroup::remove(&cgroups);

    let left: Vec<String> = fs::read_dir(NETNS_DIR)
        .map(|e| {
            e.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|n| names.parse(n).is_some())
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        return Err(SubstrateError::Command {
            command: "ip netns del".into(),
            status: "left namespaces".into(),
            stderr: left.join(", "),
        });
    }
    Ok(removed)
}
