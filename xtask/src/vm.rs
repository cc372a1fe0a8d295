//! A real Linux VM (x86_64 guest under TCG) whose NICs are vfio-user devices
//! served by this process.
//!
//! QEMU's vfio-user client arrived in 10.1; Debian 12 has 7.2, and Debian
//! 13's packages need Debian 13's libc. So QEMU 11 (trixie-backports), the
//! guest kernel and a static busybox are installed into a Debian 13 root
//! under the target directory, built once with debootstrap, and QEMU runs
//! from there through the root's own loader, without a chroot, so that host
//! socket paths work as they are.

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SUITE: &str = "trixie";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Written last, so a root without it is half-done and is built again.
const STAMP: &str = ".prepared-v1";
/// ixgbevf has no module dependencies, so insmod of this one file suffices.
const MODULE: &str = "kernel/drivers/net/ethernet/intel/ixgbevf/ixgbevf.ko.xz";
const LOADER: &str = "lib64/ld-linux-x86-64.so.2";
const LIB_DIRS: [&str; 2] = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"];
const QEMU: &str = "usr/bin/qemu-system-x86_64";
const BUSYBOX: &str = "usr/bin/busybox";
/// Firmware search order: the root's usr/share/qemu has no SeaBIOS images
/// (bios-256k.bin, vgabios-*.bin); they are in usr/share/seabios.
const DATA_DIRS: [&str; 2] = ["usr/share/seabios", "usr/share/qemu"];
/// What q35 with its default VGA loads, found through DATA_DIRS.
const ROMS: [&str; 4] = [
    "bios-256k.bin",
    "vgabios-stdvga.bin",
    "linuxboot_dma.bin",
    "kvmvapic.bin",
];
/// chroot'ed dpkg needs ldconfig and friends, whatever PATH cargo was given.
const SYS_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// What apt and debootstrap print when the mirror cannot be reached.
const OFFLINE: &str = "Failed getting release file|Temporary failure resolving|\
    Could not resolve|Failed to fetch|Couldn't download|Connection refused|\
    Connection timed out|Network is unreachable|No route to host|Unable to connect";

/// What a VM boots from, all inside (or extracted from) the Debian 13 root.
#[derive(Debug, Clone)]
pub struct VmAssets {
    /// The Debian 13 root holding QEMU 11 and its libraries.
    pub root: PathBuf,
    /// The guest kernel (Debian's cloud kernel, 6.12).
    pub kernel: PathBuf,
    /// ixgbevf for that kernel, decompressed (busybox's insmod takes no .xz).
    pub ixgbevf_ko: PathBuf,
    /// A static busybox: the whole guest userland.
    pub busybox: PathBuf,
}

/// Why the VM cannot be prepared here (not root, no debootstrap and cannot
/// install it, registry unreachable...): tests report it as skipped with
/// this reason.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

/// Builds the Debian 13 root under `target/vm/root` unless a complete one
/// is there, then locates the kernel, ixgbevf and busybox. Idempotent.
/// `Ok(Err(_))` when this machine cannot do it (not root, offline); `Err`
/// when something unexpected failed.
pub fn prepare() -> Result<Result<VmAssets, Unavailable>> {
    let vm = crate::target_dir().join("vm");
    let root = vm.join("root");
    if !root.join(STAMP).is_file() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let why = format!(
                "the Linux VM needs root for debootstrap to build {} (run once as root)",
                root.display()
            );
            return Ok(Err(Unavailable(why)));
        }
        let started = Instant::now();
        if let Err(why) = build_root(&vm, &root)? {
            return Ok(Err(why));
        }
        eprintln!("vm: root ready in {} s", started.elapsed().as_secs());
    }
    assets(&vm, &root).map(Ok)
}

fn build_root(vm: &Path, root: &Path) -> Result<Result<(), Unavailable>> {
    if let Err(why) = host_tools()? {
        return Ok(Err(why));
    }
    // Whatever was extracted from an older root must not outlive it.
    let _ = std::fs::remove_file(vm.join("ixgbevf.ko"));
    if root.exists() {
        eprintln!(
            "vm: {} is incomplete (no {STAMP}): removing it",
            root.display()
        );
        remove_root(root)?;
    }
    std::fs::create_dir_all(vm).with_context(|| format!("creating {}", vm.display()))?;

    let mut boot = Command::new("debootstrap");
    boot.args(["--variant=minbase", SUITE])
        .arg(root)
        .arg(MIRROR);
    let what = format!("debootstrap {SUITE} into {} (about 35 s)", root.display());
    let step = run_step(&what, &mut boot)?;
    if !step.ok {
        return failed("debootstrap", step);
    }
    let etc = root.join("etc");
    let sources = format!("deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-backports main\n");
    std::fs::write(etc.join("apt/sources.list"), sources).context("writing apt sources")?;
    // apt in the chroot resolves names with the root's resolv.conf.
    if !etc.join("resolv.conf").exists() {
        let _ = std::fs::copy("/etc/resolv.conf", etc.join("resolv.conf"));
    }

    let chroot = |args: &[&str]| {
        let mut c = Command::new("chroot");
        c.arg(root).args(args);
        c
    };
    let install = ["apt-get", "install", "-y", "--no-install-recommends"];
    let qemu = [&install[..], &["-t", "trixie-backports", "qemu-system-x86"]].concat();
    let guest = [&install[..], &["linux-image-cloud-amd64", "busybox-static"]].concat();
    let steps = [
        (
            "apt-get update in the root (about 5 s)",
            chroot(&["apt-get", "update"]),
        ),
        (
            "install QEMU 11 from trixie-backports (about 60 s)",
            chroot(&qemu),
        ),
        (
            "install the guest kernel and busybox (about 40 s)",
            chroot(&guest),
        ),
        // The downloaded .debs are ~100 MB of nothing.
        ("apt-get clean in the root", chroot(&["apt-get", "clean"])),
    ];
    for (what, mut cmd) in steps {
        let step = run_step(what, &mut cmd)?;
        if !step.ok {
            return failed(what, step);
        }
    }
    check_root(root)?;
    std::fs::write(root.join(STAMP), "").context("writing the stamp")?;
    Ok(Ok(()))
}

/// A failed step: unavailable if it could not reach the mirror, else an error.
fn failed(what: &str, step: Step) -> Result<Result<(), Unavailable>> {
    let tail = step.tail.join("\n");
    if OFFLINE.split('|').any(|n| tail.contains(n)) {
        let why = format!("{what}: cannot reach {MIRROR}:\n{tail}");
        return Ok(Err(Unavailable(why)));
    }
    bail!("{what} failed:\n{tail}")
}

/// debootstrap and xz on the host, installed with apt-get when missing.
fn host_tools() -> Result<Result<(), Unavailable>> {
    let missing: Vec<&str> = [("debootstrap", "debootstrap"), ("xz", "xz-utils")]
        .into_iter()
        .filter(|(program, _)| !have(program))
        .map(|(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(Ok(()));
    }
    let list = missing.join(" ");
    if !have("apt-get") {
        let why = format!("{list} missing and no apt-get to install it");
        return Ok(Err(Unavailable(why)));
    }
    if let Err(e) = crate::setup::refuse_removals(&missing) {
        return Ok(Err(Unavailable(format!("{e:#}"))));
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-q"]);
    // A partly failing update can still leave the needed lists: go on.
    run_step(&format!("apt-get update on the host ({list})"), &mut update)?;
    let mut install = Command::new("apt-get");
    // Never at the cost of a package the machine has.
    install.args(["install", "-y", "-q", "--no-remove"]);
    let what = format!("apt-get install {list} on the host");
    let step = run_step(&what, install.args(&missing))?;
    if !step.ok {
        let why = format!("cannot install {list}:\n{}", step.tail.join("\n"));
        return Ok(Err(Unavailable(why)));
    }
    Ok(Ok(()))
}

/// Whether `program` is in PATH or the system directories (debootstrap
/// lives in /usr/sbin, which a non-login PATH may lack).
fn have(program: &str) -> bool {
    crate::setup::have(program) || crate::setup::have_in(program, SYS_PATH.as_ref())
}

/// The outcome of one tool run: success and its last lines of output.
struct Step {
    ok: bool,
    tail: Vec<String>,
}

/// Runs an installation step, never silent for long.
fn run_step(what: &str, cmd: &mut Command) -> Result<Step> {
    eprintln!("vm: {what}");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .env("LC_ALL", "C")
        .env("PATH", SYS_PATH);
    let started = Instant::now();
    let step = run(cmd, 20, None, true)?;
    let verdict = if step.ok { "done" } else { "FAILED" };
    eprintln!("vm:   {verdict} in {} s", started.elapsed().as_secs());
    Ok(step)
}

/// Runs `cmd` keeping the last `keep` lines of its output, killing it after
/// `limit`; with `heartbeat`, prints the elapsed time and its latest line
/// every 5 s.
fn run(cmd: &mut Command, keep: usize, limit: Option<Duration>, heartbeat: bool) -> Result<Step> {
    let started = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().with_context(|| format!("starting {program}"))?;
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tail = Arc::clone(&tail);
        readers.push(std::thread::spawn(move || collect(out, &tail, keep)));
    }
    if let Some(err) = child.stderr.take() {
        let tail = Arc::clone(&tail);
        readers.push(std::thread::spawn(move || collect(err, &tail, keep)));
    }
    let lines = || tail.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut report = Duration::from_secs(5);
    let mut killed = None;
    let ok = loop {
        if let Some(status) = child.try_wait()? {
            break status.success();
        }
        if let Some(limit) = limit.filter(|&l| started.elapsed() > l) {
            let _ = child.kill();
            let _ = child.wait();
            killed = Some(format!("{program}: killed after {} s", limit.as_secs()));
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
        if heartbeat && started.elapsed() >= report {
            report += Duration::from_secs(5);
            let last = lines().pop_back().unwrap_or_default();
            let last: String = last.chars().take(100).collect();
            eprintln!("vm:   {:>3} s  {last}", started.elapsed().as_secs());
        }
    };
    for r in readers {
        let _ = r.join();
    }
    let tail = lines().into_iter().chain(killed).collect();
    Ok(Step { ok, tail })
}

/// Keeps the last `keep` non-empty lines of `r` in `tail`.
fn collect(r: impl Read, tail: &Mutex<VecDeque<String>>, keep: usize) {
    let mut r = BufReader::new(r);
    let mut line = Vec::new();
    while r.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        line.clear();
        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
        if !text.is_empty() {
            if t.len() == keep {
                t.pop_front();
            }
            t.push_back(text);
        }
    }
}

/// Removes a half-done root. debootstrap mounts /proc and /sys in it (and
/// may bind the host's /dev); a run killed midway leaves them mounted, and
/// removing through a live mount would delete host files.
fn remove_root(root: &Path) -> Result<()> {
    let (canon, shown) = (root.canonicalize()?, root.display());
    // mountinfo escapes these; refusing them keeps the comparison plain.
    let plain = canon
        .to_str()
        .is_some_and(|s| !s.contains(['\\', ' ', '\t', '\n']));
    if !plain {
        bail!("{shown} is incomplete: remove it by hand");
    }
    for _ in 0..2 {
        let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
        let mut mounts: Vec<&Path> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(Path::new))
            .filter(|m| m.starts_with(&canon))
            .collect();
        if mounts.is_empty() {
            let removed = std::fs::remove_dir_all(root);
            return removed.with_context(|| format!("removing {shown}"));
        }
        // Deepest first.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            eprintln!("vm: unmounting {}", m.display());
            let c = std::ffi::CString::new(m.as_os_str().as_bytes())?;
            // SAFETY: a valid NUL-terminated path; MNT_DETACH never blocks.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    bail!("refusing to remove {shown}: mounts remain inside it")
}

/// Everything qemu_command needs, checked once after installing. A link
/// that leaves the root (an absolute one) would name a host file instead.
fn check_root(root: &Path) -> Result<()> {
    let inside = |rel: &str| -> Result<PathBuf> {
        let path = root.join(rel).canonicalize();
        let path = path.with_context(|| format!("{rel} in the root"))?;
        if !path.starts_with(root.canonicalize()?) {
            bail!("{rel} in the root leads out of it, to {}", path.display());
        }
        Ok(path)
    };
    for rel in [LOADER, QEMU, BUSYBOX, LIB_DIRS[0], LIB_DIRS[1]] {
        eprintln!("vm: found {rel} -> {}", inside(rel)?.display());
    }
    for rom in ROMS {
        let found = DATA_DIRS.iter().map(|d| inside(&format!("{d}/{rom}")));
        match found.flatten().next() {
            Some(p) => eprintln!("vm: found {rom} -> {}", p.display()),
            None => bail!("{rom} is in none of the root's {DATA_DIRS:?}"),
        }
    }
    Ok(())
}

fn assets(vm: &Path, root: &Path) -> Result<VmAssets> {
    let boot = root.join("boot");
    let mut kernels: Vec<String> = std::fs::read_dir(&boot)
        .with_context(|| format!("listing {}", boot.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("vmlinuz-"))
        .collect();
    kernels.sort();
    let Some(name) = kernels.pop() else {
        bail!("no vmlinuz-* in {}", boot.display());
    };
    let kernel = boot.join(&name);
    // Debian installs it 0600; a user may boot what root prepared.
    let _ = std::fs::set_permissions(&kernel, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let ixgbevf_ko = vm.join("ixgbevf.ko");
    if !ixgbevf_ko.is_file() {
        // The module of the same kernel version.
        let version = &name["vmlinuz-".len()..];
        let xz = root.join(format!("lib/modules/{version}/{MODULE}"));
        let out = Command::new("xz").arg("-dc").arg(&xz).output();
        let out = out.context("running xz")?;
        if !out.status.success() || out.stdout.is_empty() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!("xz -dc {}: {}", xz.display(), err.trim());
        }
        // Written whole, then renamed: a half-written module is never reused.
        let tmp = vm.join("ixgbevf.ko.tmp");
        std::fs::write(&tmp, &out.stdout).context("writing ixgbevf.ko")?;
        std::fs::rename(&tmp, &ixgbevf_ko).context("renaming ixgbevf.ko")?;
    }
    let (root, busybox) = (root.to_owned(), root.join(BUSYBOX));
    Ok(VmAssets {
        root,
        kernel,
        ixgbevf_ko,
        busybox,
    })
}

/// Writes an uncompressed newc cpio initramfs to `out`: busybox in /bin
/// with a link per applet, `init_script` as /init, /ixgbevf.ko, /dev with
/// console and null, /proc /sys /tmp, and `extra_files` at their absolute
/// paths (0755 under /bin, else 0644; their directories are created).
/// Written here rather than by cpio(1), which an absent package makes an
/// empty archive without complaint.
pub fn build_initramfs(
    a: &VmAssets,
    init_script: &str,
    extra_files: &[(&str, &[u8])],
    out: &Path,
) -> Result<()> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let (busybox, ko) = (read(&a.busybox)?, read(&a.ixgbevf_ko)?);
    // Every applet this busybox has, as it lists them itself.
    let listed = Command::new(&a.busybox).arg("--list").output();
    let applets = match &listed {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => String::from_utf8_lossy(&o.stdout),
        _ => bail!("{} --list failed: {listed:?}", a.busybox.display()),
    };

    let mut cpio = Newc::default();
    for dir in ["bin", "dev", "proc", "sys", "tmp"] {
        cpio.dir(dir)?;
    }
    cpio.entry("dev/console", 0o020600, (5, 1), &[])?;
    cpio.entry("dev/null", 0o020666, (1, 3), &[])?;
    cpio.entry("bin/busybox", 0o100755, (0, 0), &busybox)?;
    let links = applets
        .lines()
        .filter(|n| !n.is_empty() && !n.contains('/'));
    for applet in links.filter(|n| *n != "busybox") {
        cpio.entry(&format!("bin/{applet}"), 0o120777, (0, 0), b"busybox")?;
    }
    cpio.entry("init", 0o100755, (0, 0), init_script.as_bytes())?;
    cpio.entry("ixgbevf.ko", 0o100644, (0, 0), &ko)?;
    for (path, data) in extra_files {
        let rel = relative(path)?;
        let parts: Vec<&str> = rel.split('/').collect();
        for n in 1..parts.len() {
            cpio.dir(&parts[..n].join("/"))?;
        }
        let mode = if rel.starts_with("bin/") {
            0o100755
        } else {
            0o100644
        };
        cpio.entry(&rel, mode, (0, 0), data)?;
    }
    let bytes = cpio.finish()?;
    let tmp = out.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))
}

/// An initramfs path as the archive names it: no leading `/`, no `.`/`..`.
fn relative(path: &str) -> Result<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| [".", ".."].contains(p) || p.contains('\0'))
    {
        bail!("bad initramfs path {path:?}: want an absolute path like /bin/tool");
    }
    Ok(parts.join("/"))
}

/// A newc ("070701") cpio archive, the format the kernel unpacks.
#[derive(Default)]
struct Newc {
    bytes: Vec<u8>,
    /// Each name written, and whether it is a directory.
    names: BTreeMap<String, bool>,
}

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

impl Newc {
    fn dir(&mut self, name: &str) -> Result<()> {
        match self.names.get(name) {
            Some(true) => Ok(()),
            Some(false) => bail!("initramfs: /{name} is a file and also a directory"),
            None => self.entry(name, S_IFDIR | 0o755, (0, 0), &[]),
        }
    }

    /// One entry: `mode` includes the file type; `rdev` for device nodes.
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> Result<()> {
        let is_dir = mode & S_IFMT == S_IFDIR;
        if self.names.insert(name.to_owned(), is_dir).is_some() {
            bail!("initramfs: /{name} given twice");
        }
        self.raw(name, mode, rdev, data)
    }

    fn raw(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> Result<()> {
        let size = u32::try_from(data.len()).context("initramfs: a file over 4 GiB")?;
        let (ino, nlink) = (
            self.names.len() as u32,
            1 + (mode & S_IFMT == S_IFDIR) as u32,
        );
        let name_size = name.len() as u32 + 1;
        // ino mode uid gid nlink mtime size devmajor devminor rdevmajor
        // rdevminor namesize check
        let head = [ino, mode, 0, 0, nlink, 0, size];
        let tail = [0, 0, rdev.0, rdev.1, name_size, 0];
        self.bytes.extend_from_slice(b"070701");
        for f in head.iter().chain(&tail) {
            self.bytes.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        // Header plus name, and data, each end on a 4-byte boundary.
        self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        self.raw("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.bytes)
    }
}

/// QEMU 11 from the root booting `a.kernel` with `initramfs`, the serial
/// console on stdio (`console=ttyS0` is prepended to `append`), and one
/// vfio-user-pci device per socket at 00:03.0, 00:04.0, ... Guest RAM is a
/// shared memfd so that the vfio-user server can map it.
pub fn qemu_command(
    a: &VmAssets,
    initramfs: &Path,
    append: &str,
    mem_mib: u32,
    vf_sockets: &[PathBuf],
) -> Command {
    let root = &a.root;
    let mut libs = OsString::new();
    for (i, dir) in LIB_DIRS.iter().enumerate() {
        libs.push(if i > 0 { ":" } else { "" });
        libs.push(root.join(dir));
    }
    let mut c = Command::new(root.join(LOADER));
    c.arg("--library-path").arg(libs).arg(root.join(QEMU));
    for dir in DATA_DIRS {
        c.arg("-L").arg(root.join(dir));
    }
    // Else QEMU looks for its modules where the host's own QEMU keeps them.
    let modules = root.join("usr/lib/x86_64-linux-gnu/qemu");
    c.env("QEMU_MODULE_DIR", modules);
    let memory = format!("memory-backend-memfd,id=mem,size={mem_mib}M,share=on");
    c.args(["-accel", "tcg", "-machine", "q35,memory-backend=mem"]);
    c.args(["-object", &memory, "-m", &mem_mib.to_string()]);
    c.args(["-nographic", "-no-reboot", "-nic", "none"]);
    c.arg("-kernel")
        .arg(&a.kernel)
        .arg("-initrd")
        .arg(initramfs);
    c.arg("-append").arg(format!("console=ttyS0 {append}"));
    for (i, socket) in vf_sockets.iter().enumerate() {
        // Only the JSON form takes a socket address (socket=PATH is refused).
        let device = serde_json::json!({
            "driver": "vfio-user-pci",
            "socket": { "type": "unix", "path": socket.to_string_lossy() },
            "addr": format!("0x{:x}.0", 3 + i),
        });
        c.arg("-device").arg(device.to_string());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &str = "#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
echo hello from init
insmod /ixgbevf.ko && echo insmod ixgbevf ok
/bin/hello
cat /etc/greeting
poweroff -f
";

    #[test]
    #[ignore = "builds a Debian 13 root once (root, network, ~1 min), boots Linux under TCG"]
    fn vm_boots_to_init() {
        let started = Instant::now();
        let a = match prepare().expect("prepare") {
            Ok(a) => a,
            Err(Unavailable(why)) => return eprintln!("skipped: {why}"),
        };
        eprintln!(
            "prepared in {:.1} s: {a:#?}",
            started.elapsed().as_secs_f64()
        );
        assert!(relative("/../x").is_err() && relative("").is_err());
        let initrd = std::env::temp_dir().join(format!("vm-test-{}.cpio", std::process::id()));
        let extra: &[(&str, &[u8])] = &[
            ("/bin/hello", b"#!/bin/sh\necho hello from /bin/hello\n"),
            ("/etc/greeting", b"greeting from /etc\n"),
        ];
        build_initramfs(&a, INIT, extra, &initrd).expect("initramfs");
        let size = std::fs::metadata(&initrd).map(|m| m.len()).unwrap_or(0);
        eprintln!("initramfs {} ({size} bytes)", initrd.display());

        let mut qemu = qemu_command(&a, &initrd, "quiet panic=-1", 512, &[]);
        eprintln!("{qemu:?}");
        let booted = Instant::now();
        let step = run(&mut qemu, 2000, Some(Duration::from_secs(60)), false).expect("QEMU");
        let (log, secs) = (step.tail.join("\n"), booted.elapsed().as_secs_f64());
        let _ = std::fs::remove_file(&initrd);
        eprintln!("--- serial, {secs:.1} s, exit ok: {}\n{log}\n---", step.ok);
        assert!(step.ok, "QEMU failed or ran over 60 s");
        let wanted = [
            "hello from init",
            "insmod ixgbevf ok",
            "hello from /bin/hello",
            "greeting",
        ];
        for want in wanted {
            assert!(log.contains(want), "no {want:?} on the serial console");
        }
    }
}
