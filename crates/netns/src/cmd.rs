//! Running `ip` and `nft`, and running code inside a network namespace.
//!
//! Netlink work is batched: one `ip -batch -` per namespace per operation, one `nft -f -` per
//! firewall change. `nft` is started already inside the target namespace (`setns` between
//! fork and exec), so no `ip netns exec` process sits in between.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

use nix::sched::{setns, CloneFlags};

use crate::error::{IoContext, SubstrateError};

/// Where `ip netns add` keeps its namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The file that pins the named network namespace.
pub fn netns_path(name: &str) -> std::path::PathBuf {
    Path::new(NETNS_DIR).join(name)
}

pub fn netns_exists(name: &str) -> bool {
    netns_path(name).exists()
}

/// Opens the named network namespace (for `setns`).
pub fn open_netns(name: &str) -> Result<File, SubstrateError> {
    File::open(netns_path(name)).context(|| format!("open network namespace {name}"))
}

/// Runs `f` on a new thread that has entered the named network namespace; sockets created
/// there stay in that namespace for their whole life.
pub fn in_netns<T, F>(name: &str, f: F) -> Result<T, SubstrateError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let ns = open_netns(name)?;
    let name = name.to_string();
    thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || -> Result<T, SubstrateError> {
            // setns(CLONE_NEWNET) on one thread moves only that thread; it ends right after.
            setns(&ns, CloneFlags::CLONE_NEWNET)
                .context(|| format!("enter network namespace {name}"))?;
            Ok(f())
        })
        .map_err(|e| SubstrateError::io("spawn a thread", e))?
        .join()
        .map_err(|_| {
            SubstrateError::io(
                "thread inside a network namespace",
                std::io::Error::other("panicked"),
            )
        })?
}

/// Writes sysctls (`net/ipv4/ip_forward` = `1`) inside the named network namespace.
pub fn sysctls_in(name: &str, settings: &[(&str, &str)]) -> Result<(), SubstrateError> {
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    in_netns(name, move || -> Result<(), SubstrateError> {
        for (key, value) in &settings {
            write_sysctl(key, value)?;
        }
        Ok(())
    })?
}

/// Writes `/proc/sys/<key>` in the calling thread's namespaces.
pub fn write_sysctl(key: &str, value: &str) -> Result<(), SubstrateError> {
    let path = Path::new("/proc/sys").join(key);
    std::fs::write(&path, value).context(|| format!("write {value} to {}", path.display()))
}

/// Finds a program in `PATH` or the sbin directories (`ip` and `nft` live in `/usr/sbin`,
/// which a non-login root shell may lack in its `PATH`).
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(Into::into),
        )
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn program(name: &str) -> std::path::PathBuf {
    find_program(name).unwrap_or_else(|| name.into())
}

/// Runs a command with `input` on stdin; fails with its stderr when it exits non-zero.
pub fn run(mut cmd: Command, input: &str) -> Result<String, SubstrateError> {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context(|| format!("start {shown}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that exits early closes its stdin; its exit status tells what happened.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .context(|| format!("wait for {shown}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(SubstrateError::Command {
            command: if input.is_empty() {
                shown
            } else {
                format!("{shown} <<< {}", input.trim_end().replace('\n', "; "))
            },
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `ip [-force] -batch -` (inside `netns`, if given) with one command per line. With `force`, every line is
/// tried and failures are only logged (for teardown).
pub fn ip_batch(netns: Option<&str>, lines: &[String], force: bool) -> Result<(), SubstrateError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new(program("ip"));
    if let Some(ns) = netns {
        // Entered between fork and exec rather than with `ip -n`, which would also unshare
        // a mount namespace and remount /sys for every call.
        enter_before_exec(&mut cmd, open_netns(ns)?);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"]);
    let result = run(cmd, &(lines.join("\n") + "\n"));
    match result {
        Err(e) if force => {
            tracing::debug!(error = %e, "ip batch (forced) had failures");
            Ok(())
        }
        other => other.map(drop),
    }
}

/// `ip ARGS...` (inside `netns`, if given), returning stdout.
pub fn ip(netns: Option<&str>, args: &[&str]) -> Result<String, SubstrateError> {
    let mut cmd = Command::new(program("ip"));
    if let Some(ns) = netns {
        enter_before_exec(&mut cmd, open_netns(ns)?);
    }
    cmd.args(args);
    run(cmd, "")
}

/// `nft -f -` inside the named network namespace: one transaction, all or nothing.
pub fn nft_in(netns: &str, script: &str) -> Result<(), SubstrateError> {
    let mut cmd = Command::new(program("nft"));
    cmd.args(["-f", "-"]);
    enter_before_exec(&mut cmd, open_netns(netns)?);
    run(cmd, script).map(drop)
}

/// Makes the command start inside the network namespace `ns`.
fn enter_before_exec(cmd: &mut Command, ns: File) {
    // SAFETY: between fork and exec the closure only calls setns(2), which is
    // async-signal-safe, on a descriptor opened before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || setns(&ns, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from));
    }
}

/// The names of all links in a namespace (`None`: the host's).
pub fn link_names(netns: Option<&str>) -> Result<Vec<String>, SubstrateError> {
    let out = ip(netns, &["-o", "link", "show"])?;
    Ok(out
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect())
}
