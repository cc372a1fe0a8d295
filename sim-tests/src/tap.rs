//! A Linux TAP device in this process: how a VF is presented to the kernel
//! (its driver moves frames between the VF's rings and the TAP).

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A TAP device opened non-blocking (no packet-information header).
pub struct Tap {
    file: File,
    pub name: String,
}

impl Tap {
    /// Creates (or attaches to) TAP `name`. Needs CAP_NET_ADMIN.
    pub fn open(name: &str) -> Result<Tap> {
        if name.is_empty() || name.len() > 15 {
            bail!("TAP name {name:?}: 1 to 15 bytes");
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .context("opening /dev/net/tun")?;
        let mut req = IfReq {
            name: [0; 16],
            flags: IFF_TAP | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq, which `req` is.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req) };
        if r < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("creating TAP {name} (TUNSETIFF)"));
        }
        // SAFETY: plain fcntl on our descriptor.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        Ok(Tap {
            file,
            name: name.to_owned(),
        })
    }

    /// The next frame the kernel sent, if any.
    pub fn recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.file.read(buf).ok().filter(|n| *n > 0)
    }

    /// Gives a frame to the kernel.
    pub fn send(&mut self, frame: &[u8]) -> bool {
        self.file.write(frame).is_ok()
    }
}
