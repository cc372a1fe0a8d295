//! What a fresh machine lacks: the Rust target, QEMU, ping, tshark and
//! mkimage.
//! Installed when we can (rustup; apt-get as root), otherwise one line
//! saying how.

use anyhow::{Context, Result, bail};
use std::process::Command;

pub const TARGET: &str = "aarch64-unknown-none";

/// The pinned toolchain: rustup exports it to cargo's children as
/// RUSTUP_TOOLCHAIN; otherwise read from rust-toolchain.toml itself.
fn toolchain() -> Result<String> {
    if let Ok(t) = std::env::var("RUSTUP_TOOLCHAIN") {
        return Ok(t);
    }
    let path = crate::workspace_root().join("rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    pinned_channel(&text).with_context(|| format!("{}: no [toolchain] channel", path.display()))
}

/// `[toolchain] channel` of a rust-toolchain.toml.
fn pinned_channel(text: &str) -> Option<String> {
    let v: toml::Table = toml::from_str(text).ok()?;
    Some(v.get("toolchain")?.get("channel")?.as_str()?.to_owned())
}

/// Runs `cmd` to the end: its stdout, or an error with its command line
/// and what it said on stderr.
pub(crate) fn stdout_of(cmd: &mut Command) -> Result<Vec<u8>> {
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd.output().with_context(|| format!("running {line}"))?;
    if !out.status.success() {
        bail!("{line}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(out.stdout)
}

/// Adds the bare-metal target to the pinned toolchain if it is missing.
pub fn ensure_target() -> Result<()> {
    let toolchain = toolchain()?;
    let out = Command::new("rustup")
        .args(["target", "list", "--installed", "--toolchain", &toolchain])
        .output()
        .context("running rustup (is it installed?)")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    eprintln!("adding the Rust target {TARGET} to toolchain {toolchain}");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET, "--toolchain", &toolchain])
        .status()
        .context("running rustup target add")?;
    if !status.success() {
        bail!("`rustup target add {TARGET} --toolchain {toolchain}` failed");
    }
    Ok(())
}

/// Whether `program` is an executable file on PATH.
pub(crate) fn have(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| have_in(program, &paths))
}

/// Whether `program` is an executable in one of `paths` (PATH's syntax).
pub(crate) fn have_in(program: &str, paths: &std::ffi::OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(paths).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Finds qemu-system-aarch64, installing it with apt-get when running as
/// root on Debian/Ubuntu.
///
/// A machine image may carry a newer `qemu-utils` from bookworm-backports
/// (10.0 here), which Debian 12's own QEMU (7.2) would remove. Then QEMU
/// comes from the same backports, so that both match and nothing goes.
pub fn ensure_qemu() -> Result<()> {
    if !have(sim_tests::qemu::QEMU) && utils_from_backports() {
        install_from_backports("qemu-system-arm")?;
    }
    ensure_program(sim_tests::qemu::QEMU, "qemu-system-arm")?;
    sim_tests::qemu::check_version()
}

/// Debian 12's backports suite, and the source list this tooling adds for
/// it when the machine has none.
const BACKPORTS: &str = "bookworm-backports";
const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/bookworm-backports.list";

/// Whether the installed qemu-utils is a bookworm-backports build
/// (`~bpo12` in its version).
fn utils_from_backports() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "qemu-utils"])
        .output()
        .is_ok_and(|o| o.status.success() && is_backport(&String::from_utf8_lossy(&o.stdout)))
}

/// A Debian 12 backport's version: `...~bpo12+N`.
fn is_backport(version: &str) -> bool {
    version.contains("~bpo12+")
}

/// Installs `package` from bookworm-backports, adding the suite to apt's
/// sources first if no source names it. Refuses, as every install here
/// does, what would remove a package.
fn install_from_backports(package: &str) -> Result<()> {
    if !is_root() || !have("apt-get") {
        bail!(
            "{} not found, and this machine's qemu-utils is from {BACKPORTS}: install {package} from there (`sudo apt-get install -t {BACKPORTS} {package}`)",
            sim_tests::qemu::QEMU
        );
    }
    if !sources_name(BACKPORTS) {
        eprintln!(
            "qemu-utils is from {BACKPORTS}: adding {BACKPORTS_LIST} for a QEMU that matches"
        );
        std::fs::write(
            BACKPORTS_LIST,
            format!("deb http://deb.debian.org/debian {BACKPORTS} main\n"),
        )
        .with_context(|| format!("writing {BACKPORTS_LIST}"))?;
    }
    eprintln!(
        "{} not found: installing {package} from {BACKPORTS}",
        sim_tests::qemu::QEMU
    );
    apt_get(&["update", "-qq"])?;
    refuse_removals(&["-t", BACKPORTS, package])?;
    apt_get(&[
        "install",
        "-y",
        "-qq",
        "--no-remove",
        "-t",
        BACKPORTS,
        package,
    ])
}

/// Whether any of apt's source files names `suite`.
fn sources_name(suite: &str) -> bool {
    let mut files = vec![std::path::PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        // apt reads only these two kinds (not, say, `.list.disabled`).
        files.extend(
            dir.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "list" || x == "sources")),
        );
    }
    files.iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|text| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.split_whitespace().any(|w| w == suite))
        })
    })
}

/// Finds `ping` (the real-Linux traffic test), installing iputils-ping the
/// same way.
pub fn ensure_ping() -> Result<()> {
    ensure_program("ping", "iputils-ping")
}

/// Finds `tshark` (the capture test checks pcapng with Wireshark's own
/// reader), installing it the same way (noninteractive: debconf's
/// setuid-dumpcap question keeps its default, no).
pub fn ensure_tshark() -> Result<()> {
    ensure_program("tshark", "tshark")
}

/// Finds `mkimage` (the uImage check lists the header with U-Boot's own
/// tool), installing u-boot-tools the same way.
pub fn ensure_mkimage() -> Result<()> {
    ensure_program("mkimage", "u-boot-tools")
}

fn ensure_program(qemu: &str, package: &str) -> Result<()> {
    if have(qemu) {
        return Ok(());
    }
    if !is_root() || !have("apt-get") {
        bail!("{qemu} not found: install it (Debian/Ubuntu: `sudo apt-get install -y {package}`)");
    }
    eprintln!("{qemu} not found: installing {package} with apt-get");
    refuse_removals(&[package])?;
    apt_get(&["update", "-qq"])?;
    // Never at the cost of a package the machine has (installing Debian
    // 12's QEMU once removed a newer qemu-utils from backports).
    apt_get(&["install", "-y", "-qq", "--no-remove", package])?;
    if !have(qemu) {
        bail!("{qemu} still not found after installing {package}");
    }
    Ok(())
}

/// Whether this runs as root (apt-get may then install).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs `apt-get ARGS` without questions, to the end.
fn apt_get(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("`apt-get {}` failed", args.join(" "));
    }
    Ok(())
}

/// What `apt-get install PACKAGES` would remove, asked of apt-get's
/// simulation (its `Remv` lines).
pub fn apt_removals(packages: &[&str]) -> Result<Vec<String>> {
    let out = Command::new("apt-get")
        .args(["install", "-s", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .context("running apt-get install -s")?;
    Ok(removed_by(&String::from_utf8_lossy(&out.stdout)))
}

/// The packages of an `apt-get -s` transcript's `Remv` lines.
fn removed_by(simulation: &str) -> Vec<String> {
    simulation
        .lines()
        .filter_map(|l| l.strip_prefix("Remv "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Stops, naming them, when installing `packages` would remove any of the
/// machine's packages (apt-get's `--no-remove` then only says that it
/// would). Never at the cost of a package the machine has.
pub fn refuse_removals(packages: &[&str]) -> Result<()> {
    let removed = apt_removals(packages)?;
    if !removed.is_empty() {
        bail!(
            "installing {} would remove {} from this machine: not done. Install it yourself if that is what you want, or free the conflict.",
            packages.join(" "),
            removed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_are_read_from_the_simulation() {
        let sim = "Reading package lists...\n\
                   Remv qemu-utils [1:10.0.2+ds-1~bpo12+1]\n\
                   Inst qemu-system-arm (1:7.2+dfsg-7+deb12u7 Debian:12.8/stable [amd64])\n\
                   Remv qemu-block-extra [1:10.0.2+ds-1~bpo12+1]\n\
                   Conf qemu-system-arm (1:7.2+dfsg-7+deb12u7 Debian:12.8/stable [amd64])\n";
        assert_eq!(removed_by(sim), ["qemu-utils", "qemu-block-extra"]);
        assert!(
            removed_by("Inst tshark (4.0.17-0+deb12u1 Debian:12.8/stable [amd64])\n").is_empty()
        );
    }

    #[test]
    fn only_bookworm_backports_versions_are_backports() {
        assert!(is_backport("1:10.0.2+ds-2+deb13u1~bpo12+1"));
        assert!(!is_backport("1:7.2+dfsg-7+deb12u18+b3"));
        assert!(!is_backport("1:8.2.1+ds-1~bpo11+1"));
    }

    #[test]
    fn the_channel_is_read_from_the_toolchain_file() {
        let text =
            std::fs::read_to_string(crate::workspace_root().join("rust-toolchain.toml")).unwrap();
        let channel = pinned_channel(&text).unwrap();
        assert!(channel.starts_with("1."), "{channel}");
        assert_eq!(
            pinned_channel("[toolchain]\nchannel = \"1.2.3\"\n").as_deref(),
            Some("1.2.3")
        );
        assert_eq!(pinned_channel("[other]\n"), None);
    }
}
