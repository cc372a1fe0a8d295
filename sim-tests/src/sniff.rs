//! The wire under `--tap`: QEMU's virtio-net writes to the TAP directly, so
//! no frame passes through this process. An AF_PACKET socket bound to the
//! TAP sees both ways: what the kernel sends into the TAP (to the
//! firmware: `PACKET_OUTGOING`, inbound on the wire port) and what QEMU
//! writes into it (from the firmware: outbound).

use crate::capture::{Direction, PortCapture};
use anyhow::{Context, Result, bail};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the thread looks at its stop flag (and, before the TAP
/// exists, for the TAP).
const POLL: Duration = Duration::from_millis(20);

/// Records a TAP's frames on a thread until stopped.
pub struct TapSniffer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl TapSniffer {
    /// Opens the socket (needs CAP_NET_RAW) and starts recording `ifname`
    /// into `port`, stamped with `clock`'s elapsed time. The TAP may not
    /// exist yet: QEMU creates it as it starts; the thread waits for it.
    pub fn start(ifname: &str, mut port: PortCapture, clock: Instant) -> Result<TapSniffer> {
        let name = std::ffi::CString::new(ifname)
            .with_context(|| format!("TAP name {ifname:?}: contains a NUL"))?;
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // Protocol 0: nothing arrives until `bind` names the TAP and every
        // protocol (with ETH_P_ALL here, every interface's frames would).
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| {
                format!("capturing TAP {ifname}: an AF_PACKET socket (needs root or CAP_NET_RAW)")
            });
        }
        // SAFETY: fd is a new descriptor nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let ifname = ifname.to_owned();
        // A TAP that exists is bound now (from its first frame, errors
        // here); one QEMU is about to create is waited for on the thread.
        // SAFETY: a NUL-terminated name.
        let bound = match unsafe { libc::if_nametoindex(name.as_ptr()) } {
            0 => false,
            index => {
                bind(&sock, index, protocol).with_context(|| format!("binding to TAP {ifname}"))?;
                true
            }
        };
        let thread = std::thread::Builder::new()
            .name(format!("sniff {ifname}"))
            .spawn(move || {
                if !bound {
                    let Some(index) = wait_for(&name, &flag) else {
                        return Ok(());
                    };
                    bind(&sock, index, protocol)
                        .with_context(|| format!("binding to TAP {ifname}"))?;
                }
                record(&sock, &mut port, clock, &flag)
                    .with_context(|| format!("capturing TAP {ifname}"))
            })
            .context("starting the TAP capture thread")?;
        Ok(TapSniffer {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread after what it has read; its error, if it had one.
    pub fn stop(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => bail!("the TAP capture thread panicked"),
        }
    }
}

impl Drop for TapSniffer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The TAP's interface index once it exists (None: stopped first).
fn wait_for(name: &std::ffi::CStr, stop: &AtomicBool) -> Option<u32> {
    loop {
        // SAFETY: a NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index != 0 {
            return Some(index);
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

fn bind(sock: &OwnedFd, index: u32, protocol: u16) -> Result<()> {
    // SAFETY: sockaddr_ll is plain data; zero is a valid start.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol;
    addr.sll_ifindex = index as i32;
    // SAFETY: addr is a sockaddr_ll of the size given.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

fn record(sock: &OwnedFd, port: &mut PortCapture, clock: Instant, stop: &AtomicBool) -> Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, POLL.as_millis() as i32) };
        if ready <= 0 {
            // Nothing waiting: read everything before honouring a stop.
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            continue;
        }
        // SAFETY: as above; zero is a valid sockaddr_ll.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf and from are ours, of the sizes given. MSG_TRUNC:
        // the frame's real length even when longer than buf.
        let n = unsafe {
            libc::recvfrom(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                (&raw mut from).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR | libc::EAGAIN) => continue,
                // The TAP went away (QEMU's own TAP ends with it).
                Some(libc::ENETDOWN | libc::ENXIO | libc::ENODEV) => return Ok(()),
                _ => return Err(e.into()),
            }
        }
        let direction = if from.sll_pkttype == libc::PACKET_OUTGOING {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        let got = (n as usize).min(buf.len());
        port.record(clock.elapsed().as_nanos() as u64, direction, &buf[..got]);
    }
}
