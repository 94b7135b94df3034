//! Booting an instance: a process tree in the instance's network namespace and fresh
//! mount/pid/uts/ipc namespaces, on a copy-on-write root.
//!
//! `spawn` forks through `std::process::Command` with a `pre_exec` hook that, in the child:
//! joins the instance's cgroups and network namespace, unshares a pid namespace and forks once
//! more. The middle process (our `Child`) only waits for its child and exits with it, so the
//! substrate can reap it; the inner process is PID 1 of the new pid namespace. It unshares
//! mount/uts/ipc namespaces, mounts the overlay root, `/proc`, `/sys` (read-only), a minimal
//! `/dev`, tmpfs `/tmp` and `/run`, sets the hostname, `pivot_root`s into the overlay, drops
//! the capabilities that would let root leave the instance (`CAP_SYS_ADMIN`, `CAP_SYS_MODULE`,
//! `CAP_DAC_READ_SEARCH`, `CAP_MKNOD`, ...), and execs `/bin/sh -c <init script>`.
//!
//! Everything between fork and exec is async-signal-safe: system calls on paths and strings
//! prepared before the fork, no allocation, no locks.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, fork, mkdir, pivot_root, sethostname, symlinkat, ForkResult};

use crate::error::{IoContext, SubstrateError};

/// Capabilities removed from the instance's bounding set: with them, root inside could mount
/// the host's disk, load modules, open host files by handle or reach the host's namespaces.
/// `CAP_NET_ADMIN` stays: root may configure its own network namespace, which holds no
/// firewall rules of Fogbank's.
const DROPPED_CAPS: &[libc::c_int] = &[
    2,  // CAP_DAC_READ_SEARCH (open_by_handle_at)
    16, // CAP_SYS_MODULE
    17, // CAP_SYS_RAWIO
    21, // CAP_SYS_ADMIN
    22, // CAP_SYS_BOOT
    25, // CAP_SYS_TIME
    27, // CAP_MKNOD
    30, // CAP_AUDIT_CONTROL
    32, // CAP_MAC_OVERRIDE
    33, // CAP_MAC_ADMIN
    34, // CAP_SYSLOG
    35, // CAP_WAKE_ALARM
    36, // CAP_BLOCK_SUSPEND
    38, // CAP_PERFMON
    39, // CAP_BPF
    40, // CAP_CHECKPOINT_RESTORE
];

/// Character devices in the instance's `/dev`: name, major, minor.
const DEV_NODES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks in the instance's `/dev`: name, target.
const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Everything the forked child needs, prepared before the fork.
pub struct BootPlan {
    pub netns: File,
    pub cgroup_procs: Vec<File>,
    /// Where the overlay is mounted (inside the new mount namespace only).
    pub mountpoint: std::path::PathBuf,
    pub lower: std::path::PathBuf,
    pub upper: std::path::PathBuf,
    pub work: std::path::PathBuf,
    /// A host directory inside the lower layer to cover with an empty tmpfs (the data dir, so
    /// an instance cannot read other instances' disks).
    pub hide: Option<std::path::PathBuf>,
    pub hostname: String,
    pub console: File,
    pub script: String,
    pub env: Vec<(String, String)>,
}

/// Paths and strings as C strings, built before the fork.
struct Prepared {
    root: CString,
    overlay_opts: CString,
    hide: Option<CString>,
    proc_: CString,
    sys: CString,
    dev: CString,
    dev_pts: CString,
    dev_shm: CString,
    tmp: CString,
    run: CString,
    nodes: Vec<(CString, u64, u64)>,
    links: Vec<(CString, CString)>,
    hostname: CString,
}

fn cstring(bytes: &[u8]) -> Result<CString, SubstrateError> {
    CString::new(bytes).map_err(|_| {
        SubstrateError::InvalidSpec(format!("NUL byte in {:?}", String::from_utf8_lossy(bytes)))
    })
}

fn under(root: &Path, rel: &str) -> Result<CString, SubstrateError> {
    cstring(root.join(rel).as_os_str().as_bytes())
}

fn prepare(plan: &BootPlan) -> Result<Prepared, SubstrateError> {
    for p in [&plan.lower, &plan.upper, &plan.work] {
        let s = p.as_os_str().as_bytes();
        if s.iter().any(|b| matches!(b, b',' | b':' | b'\\' | b'\n')) {
            return Err(SubstrateError::InvalidConfig(format!(
                "{} holds a character overlayfs options cannot carry",
                p.display()
            )));
        }
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        plan.lower.display(),
        plan.upper.display(),
        plan.work.display()
    );
    let root = &plan.mountpoint;
    Ok(Prepared {
        root: cstring(root.as_os_str().as_bytes())?,
        overlay_opts: cstring(opts.as_bytes())?,
        hide: match &plan.hide {
            Some(h) => Some(under(
                root,
                h.strip_prefix("/").unwrap_or(h).to_str().unwrap_or(""),
            )?),
            None => None,
        },
        proc_: under(root, "proc")?,
        sys: under(root, "sys")?,
        dev: under(root, "dev")?,
        dev_pts: under(root, "dev/pts")?,
        dev_shm: under(root, "dev/shm")?,
        tmp: under(root, "tmp")?,
        run: under(root, "run")?,
        nodes: DEV_NODES
            .iter()
            .map(|(n, ma, mi)| Ok((under(root, &format!("dev/{n}"))?, *ma, *mi)))
            .collect::<Result<_, SubstrateError>>()?,
        links: DEV_LINKS
            .iter()
            .map(|(n, t)| Ok((cstring(t.as_bytes())?, under(root, &format!("dev/{n}"))?)))
            .collect::<Result<_, SubstrateError>>()?,
        hostname: cstring(plan.hostname.as_bytes())?,
    })
}

/// Writes a fixed message to the console (fd 2) from the forked child and turns the failed
/// call's errno into the error `spawn` reports.
fn fail(step: &'static [u8], err: nix::Error) -> io::Error {
    for part in [&b"[fogbank] boot failed: "[..], step, b"\n"] {
        // SAFETY: write(2) on fd 2 from a valid buffer; async-signal-safe.
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    }
    io::Error::from_raw_os_error(err as i32)
}

const NONE: Option<&CStr> = None;

fn mount_fs(fstype: &CStr, target: &CStr, flags: MsFlags, data: Option<&CStr>) -> nix::Result<()> {
    mount(Some(fstype), target, Some(fstype), flags, data)
}

/// The part of the boot that runs in PID 1 of the new pid namespace, before exec.
fn inner_setup(p: &Prepared) -> io::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)
        .map_err(|e| fail(b"unshare mount/uts/ipc namespaces", e))?;
    mount(
        NONE,
        c"/",
        NONE,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        NONE,
    )
    .map_err(|e| fail(b"make mounts private", e))?;
    mount_fs(c"overlay", &p.root, MsFlags::empty(), Some(&p.overlay_opts))
        .map_err(|e| fail(b"mount the overlay root", e))?;
    if let Some(hide) = &p.hide {
        // The data dir may not exist in the lower layer; nothing to hide then.
        let _ = mount_fs(
            c"tmpfs",
            hide,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(c"mode=755,size=64k"),
        );
    }
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs(c"proc", &p.proc_, nosuid, None).map_err(|e| fail(b"mount /proc", e))?;
    let _ = mount_fs(c"sysfs", &p.sys, nosuid | MsFlags::MS_RDONLY, None);
    mount_fs(
        c"tmpfs",
        &p.dev,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(c"mode=755,size=64k"),
    )
    .map_err(|e| fail(b"mount /dev", e))?;
    // SAFETY: umask(2) only sets the calling process's file mode mask.
    let old_umask = unsafe { libc::umask(0) };
    for (path, major, minor) in &p.nodes {
        mknod(
            path.as_c_str(),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        )
        .map_err(|e| fail(b"create /dev nodes", e))?;
    }
    for (target, path) in &p.links {
        let _ = symlinkat(target.as_c_str(), nix::fcntl::AT_FDCWD, path.as_c_str());
    }
    let _ = mkdir(p.dev_pts.as_c_str(), Mode::from_bits_truncate(0o755));
    let _ = mkdir(p.dev_shm.as_c_str(), Mode::from_bits_truncate(0o1777));
    // SAFETY: as above.
    unsafe { libc::umask(old_umask) };
    let _ = mount_fs(
        c"devpts",
        &p.dev_pts,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(c"newinstance,ptmxmode=0666,mode=620"),
    );
    let _ = mount_fs(c"tmpfs", &p.dev_shm, nosuid, Some(c"mode=1777"));
    mount_fs(
        c"tmpfs",
        &p.tmp,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(c"mode=1777"),
    )
    .map_err(|e| fail(b"mount /tmp", e))?;
    mount_fs(
        c"tmpfs",
        &p.run,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(c"mode=755"),
    )
    .map_err(|e| fail(b"mount /run", e))?;
    sethostname(std::ffi::OsStr::from_bytes(p.hostname.as_bytes()))
        .map_err(|e| fail(b"set the hostname", e))?;
    // pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it,
    // so nothing of the host's mount tree stays reachable.
    chdir(p.root.as_c_str()).map_err(|e| fail(b"enter the overlay root", e))?;
    pivot_root(c".", c".").map_err(|e| fail(b"pivot_root", e))?;
    umount2(c".", MntFlags::MNT_DETACH).map_err(|e| fail(b"detach the host root", e))?;
    chdir(c"/").map_err(|e| fail(b"chdir /", e))?;
    for cap in DROPPED_CAPS {
        // SAFETY: prctl(PR_CAPBSET_DROP) changes only this process's bounding set; an
        // unknown capability number fails with EINVAL, which is fine to ignore.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, *cap as libc::c_ulong, 0, 0, 0) };
    }
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only marks descriptors close-on-exec,
    // so no descriptor of Fogbank's (listening sockets, the store) leaks into the instance.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Ok(())
}

/// Boots: returns the middle process, whose only child is the instance's PID 1.
pub fn spawn(plan: BootPlan) -> Result<Child, SubstrateError> {
    let prepared = prepare(&plan)?;
    let BootPlan {
        netns,
        cgroup_procs,
        console,
        script,
        env,
        ..
    } = plan;
    let console2 = console
        .try_clone()
        .context(|| "duplicate the console log".into())?;
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &script, "fogbank-init"])
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console2);
    let hook = move || -> io::Result<()> {
        for f in &cgroup_procs {
            let _ = nix::unistd::write(f, b"0");
        }
        setns(&netns, CloneFlags::CLONE_NEWNET)
            .map_err(|e| fail(b"enter the network namespace", e))?;
        unshare(CloneFlags::CLONE_NEWPID).map_err(|e| fail(b"unshare a pid namespace", e))?;
        // SAFETY: we are already the single-threaded child of a fork; the new child runs
        // only async-signal-safe code (inner_setup) until exec.
        match unsafe { fork() }.map_err(|e| fail(b"fork PID 1", e))? {
            ForkResult::Parent { child } => {
                // The middle process keeps none of Fogbank's descriptors (listening sockets,
                // std's exec-status pipe), so a restarted Fogbank can bind again and `spawn`
                // returns as soon as PID 1 has exec'd.
                // SAFETY: close_range(2) closes only descriptors; nothing here uses them.
                unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
                loop {
                    match waitpid(child, None) {
                        Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) => break,
                        Err(nix::Error::EINTR) | Ok(_) => continue,
                        Err(_) => break,
                    }
                }
                // SAFETY: _exit(2) ends the middle process without running Fogbank's
                // atexit handlers or destructors, which belong to the parent.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Child => inner_setup(&prepared),
        }
    };
    // SAFETY: the hook runs between fork and exec. It uses only async-signal-safe system
    // calls (write, setns, unshare, fork, waitpid, _exit, mount, mknod, symlinkat, mkdir,
    // umask, sethostname, chdir, pivot_root, umount2, prctl, close_range) on descriptors and
    // C strings prepared before the fork; it allocates nothing and takes no locks.
    unsafe { cmd.pre_exec(hook) };
    cmd.spawn()
        .context(|| "boot the instance (see its console output)".into())
}

/// The PID (in the host's pid namespace) of the middle process's child: the instance's PID 1.
pub fn init_pid(middle: u32) -> Option<i32> {
    let children = std::fs::read_to_string(format!("/proc/{middle}/task/{middle}/children")).ok();
    if let Some(pid) = children
        .as_deref()
        .and_then(|c| c.split_whitespace().next())
        .and_then(|p| p.parse().ok())
    {
        return Some(pid);
    }
    // Without CONFIG_PROC_CHILDREN: the process whose parent is the middle process.
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid: u32 = stat
            .rsplit_once(") ")?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == middle).then_some(pid)
    })
}
