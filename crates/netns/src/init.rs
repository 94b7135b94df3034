//! The instance's first process and the files it reads: a small `/bin/sh` init that starts
//! the role, runs per-boot scripts and, once, the user data, then reaps orphans forever.
//!
//! Layout inside the instance, after cloud-init's (loosely):
//! - `/var/lib/cloud/data/instance-id`
//! - `/var/lib/cloud/instance/user-data.txt`: written by the substrate at every boot
//! - `/var/lib/cloud/instance/sem/user-data`: the marker; user data runs only while it is absent
//! - `/var/lib/cloud/instance/scripts/part-001`: the user-data script as run
//! - `/var/lib/cloud/scripts/per-boot/*`: executables run at every boot
//! - `/var/lib/cloud/instance/boot-finished`: written when the boot scripts are done
//! - `/var/lib/fogbank/www/index.html`: what the `web` role serves (instance id and AZ)
//!
//! Everything the init prints (and the user data's output) goes to the console log.

use std::path::Path;

use crate::error::{IoContext, SubstrateError};
use crate::spec::InstanceSpec;

/// Where the `web` role serves from, inside the instance.
pub const WEB_ROOT: &str = "/var/lib/fogbank/www";

/// The default command of the `web` role.
pub fn default_web_command() -> String {
    format!("python3 -m http.server 80 --bind 0.0.0.0 --directory {WEB_ROOT}")
}

/// Quotes a string for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The init script: `sh -c` runs it as PID 1.
pub fn script(spec: &InstanceSpec, role_command: Option<&str>) -> String {
    let mut s = String::from(
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8\ncd /\n",
    );
    match (&spec.role, role_command) {
        (Some(role), Some(cmd)) => {
            s += &format!(
                "( eval {} ) </dev/null >>/var/log/fogbank-role.log 2>&1 &\necho \"[fogbank] role {} started (pid $!)\"\n",
                shell_quote(&format!("exec {cmd}")),
                role
            );
        }
        (Some(role), None) => {
            s += &format!(
                "echo {}\n",
                shell_quote(&format!("[fogbank] unknown role {role}; nothing started"))
            )
        }
        (None, _) => {}
    }
    s += r#"(
  for f in /var/lib/cloud/scripts/per-boot/*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    echo "[fogbank] per-boot script $f"
    "$f" </dev/null
    echo "[fogbank] $f exited with $?"
  done
  ud=/var/lib/cloud/instance/user-data.txt
  sem=/var/lib/cloud/instance/sem/user-data
  if [ -s "$ud" ] && [ ! -e "$sem" ]; then
    mkdir -p /var/lib/cloud/instance/sem /var/lib/cloud/instance/scripts
    : > "$sem"
    first=
    IFS= read -r first < "$ud" || true
    case "$first" in
      '#!'*)
        part=/var/lib/cloud/instance/scripts/part-001
        cp "$ud" "$part" && chmod 700 "$part"
        echo "[fogbank] running user data"
        "$part" </dev/null
        echo "[fogbank] user data exited with $?"
        ;;
      *) echo "[fogbank] user data does not start with #!; not run" ;;
    esac
  fi
  : > /var/lib/cloud/instance/boot-finished
  echo "[fogbank] boot finished"
) </dev/null &
while :; do sleep 2147483647 & wait $!; done
"#;
    s
}

/// Writes the files the init reads into the instance's upper dir (before the overlay is
/// mounted, which is when overlayfs allows changes to its layers).
pub fn write_instance_files(
    upper: &Path,
    spec: &InstanceSpec,
    dns_ip: std::net::Ipv4Addr,
) -> Result<(), SubstrateError> {
    let write = |rel: &str, content: &[u8]| -> Result<(), SubstrateError> {
        let path = upper.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(&path, content).context(|| format!("write {}", path.display()))
    };
    for dir in ["proc", "sys", "dev", "tmp", "run", "var/log"] {
        std::fs::create_dir_all(upper.join(dir))
            .context(|| format!("create {dir} in {}", upper.display()))?;
    }
    write(
        "var/lib/cloud/data/instance-id",
        format!("{}\n", spec.instance_id).as_bytes(),
    )?;
    write("etc/hostname", format!("{}\n", spec.hostname).as_bytes())?;
    write(
        "etc/hosts",
        format!(
            "127.0.0.1 localhost\n{} {}\n",
            spec.private_ip, spec.hostname
        )
        .as_bytes(),
    )?;
    write(
        "etc/resolv.conf",
        format!("nameserver {dns_ip}\n").as_bytes(),
    )?;
    let ud = upper.join("var/lib/cloud/instance/user-data.txt");
    match &spec.user_data {
        Some(data) => write("var/lib/cloud/instance/user-data.txt", data)?,
        None => {
            let _ = std::fs::remove_file(ud);
        }
    }
    if spec.role.as_deref() == Some("web") {
        write(
            &format!("{}/index.html", WEB_ROOT.trim_start_matches('/')),
            format!("{} {}\n", spec.instance_id, spec.availability_zone).as_bytes(),
        )?;
    }
    Ok(())
}

/// `2026-05-09T07:35:25Z` for console lines, without a date crate.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn date_shape() {
        let d = utc_now();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.starts_with("20") && d.ends_with('Z'));
    }
}
