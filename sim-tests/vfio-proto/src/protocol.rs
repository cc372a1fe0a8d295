//! The vfio-user protocol's messages (QEMU's docs/interop/vfio-user.rst):
//! a 16-byte header and a command-specific body, little-endian, over a
//! UNIX socket that also carries file descriptors. Decoding and encoding
//! only, no I/O: every length and count is checked, and anything malformed
//! is an errno for the reply, never a panic.

/// Header bytes: message ID, command, size (header included), flags, error.
pub const HEADER: usize = 16;
/// The largest message accepted (a region access of 1 MiB and its header).
pub const MAX_MESSAGE: usize = HEADER + 24 + MAX_DATA_XFER;
/// The largest region read or write (`max_data_xfer_size`).
pub const MAX_DATA_XFER: usize = 1 << 20;
/// File descriptors one message may carry (`max_msg_fds`).
pub const MAX_MSG_FDS: usize = 8;

/// Header flags.
pub const TYPE_MASK: u32 = 0xf;
pub const TYPE_COMMAND: u32 = 0;
pub const TYPE_REPLY: u32 = 1;
pub const FLAG_NO_REPLY: u32 = 1 << 4;
pub const FLAG_ERROR: u32 = 1 << 5;

/// Commands.
pub mod cmd {
    pub const VERSION: u16 = 1;
    pub const DMA_MAP: u16 = 2;
    pub const DMA_UNMAP: u16 = 3;
    pub const DEVICE_GET_INFO: u16 = 4;
    pub const DEVICE_GET_REGION_INFO: u16 = 5;
    pub const DEVICE_GET_REGION_IO_FDS: u16 = 6;
    pub const DEVICE_GET_IRQ_INFO: u16 = 7;
    pub const DEVICE_SET_IRQS: u16 = 8;
    pub const REGION_READ: u16 = 9;
    pub const REGION_WRITE: u16 = 10;
    pub const DMA_READ: u16 = 11;
    pub const DMA_WRITE: u16 = 12;
    pub const DEVICE_RESET: u16 = 13;
    pub const DIRTY_PAGES: u16 = 14;
}

/// VFIO's numbering (linux/vfio.h), as the protocol uses it.
pub mod vfio {
    pub const DEVICE_FLAGS_RESET: u32 = 1 << 0;
    pub const DEVICE_FLAGS_PCI: u32 = 1 << 1;
    /// BAR0..5 = 0..5, ROM 6, config space 7, VGA 8.
    pub const PCI_CONFIG_REGION_INDEX: u32 = 7;
    pub const PCI_NUM_REGIONS: u32 = 9;
    pub const REGION_INFO_FLAG_READ: u32 = 1 << 0;
    pub const REGION_INFO_FLAG_WRITE: u32 = 1 << 1;
    /// INTx 0, MSI 1, MSI-X 2, error 3, request 4.
    pub const PCI_MSIX_IRQ_INDEX: u32 = 2;
    pub const PCI_ERR_IRQ_INDEX: u32 = 3;
    pub const PCI_REQ_IRQ_INDEX: u32 = 4;
    pub const PCI_NUM_IRQS: u32 = 5;
    pub const IRQ_INFO_EVENTFD: u32 = 1 << 0;
    pub const IRQ_INFO_NORESIZE: u32 = 1 << 3;
    pub const IRQ_SET_DATA_NONE: u32 = 1 << 0;
    pub const IRQ_SET_DATA_BOOL: u32 = 1 << 1;
    pub const IRQ_SET_DATA_EVENTFD: u32 = 1 << 2;
    pub const IRQ_SET_DATA_TYPE_MASK: u32 = 0x7;
    pub const IRQ_SET_ACTION_MASK: u32 = 1 << 3;
    pub const IRQ_SET_ACTION_UNMASK: u32 = 1 << 4;
    pub const IRQ_SET_ACTION_TRIGGER: u32 = 1 << 5;
    pub const IRQ_SET_ACTION_TYPE_MASK: u32 = 0x38;
    pub const DMA_MAP_FLAG_READ: u32 = 1 << 0;
    pub const DMA_MAP_FLAG_WRITE: u32 = 1 << 1;
    /// linux/vfio.h's VFIO_DMA_UNMAP_FLAG_ALL, which QEMU sends.
    pub const DMA_UNMAP_FLAG_ALL: u32 = 1 << 1;
    pub const DMA_UNMAP_FLAG_GET_DIRTY_BITMAP: u32 = 1 << 0;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub cmd: u16,
    pub size: u32,
    pub flags: u32,
    pub error: u32,
}

impl Header {
    pub fn parse(b: &[u8; HEADER]) -> Header {
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Header {
            id: u16::from_le_bytes([b[0], b[1]]),
            cmd: u16::from_le_bytes([b[2], b[3]]),
            size: u32_at(4),
            flags: u32_at(8),
            error: u32_at(12),
        }
    }

    pub fn encode(&self) -> [u8; HEADER] {
        let mut b = [0u8; HEADER];
        b[0..2].copy_from_slice(&self.id.to_le_bytes());
        b[2..4].copy_from_slice(&self.cmd.to_le_bytes());
        b[4..8].copy_from_slice(&self.size.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..16].copy_from_slice(&self.error.to_le_bytes());
        b
    }

    /// The body length it announces, if the size is sane for a request.
    pub fn body_len(&self) -> Result<usize, i32> {
        let size = self.size as usize;
        if !(HEADER..=MAX_MESSAGE).contains(&size) {
            return Err(libc::EINVAL);
        }
        Ok(size - HEADER)
    }

    pub fn wants_reply(&self) -> bool {
        self.flags & FLAG_NO_REPLY == 0
    }
}

/// A client's request, decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Version {
        major: u16,
        minor: u16,
        /// The capabilities JSON (without its NUL), if any.
        json: &'a str,
    },
    DmaMap {
        flags: u32,
        offset: u64,
        iova: u64,
        size: u64,
    },
    DmaUnmap {
        argsz: u32,
        flags: u32,
        iova: u64,
        size: u64,
    },
    DeviceGetInfo {
        argsz: u32,
    },
    RegionInfo {
        argsz: u32,
        index: u32,
    },
    IrqInfo {
        argsz: u32,
        index: u32,
    },
    SetIrqs {
        flags: u32,
        index: u32,
        start: u32,
        count: u32,
        /// DATA_BOOL: one byte per vector.
        data: &'a [u8],
    },
    RegionRead {
        offset: u64,
        region: u32,
        count: u32,
    },
    RegionWrite {
        offset: u64,
        region: u32,
        data: &'a [u8],
    },
    DeviceReset,
}

struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn u32(&self, at: usize) -> Result<u32, i32> {
        let b = self.0.get(at..at + 4).ok_or(libc::EINVAL)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, at: usize) -> Result<u64, i32> {
        Ok(u64::from(self.u32(at)?) | u64::from(self.u32(at + 4)?) << 32)
    }
    fn u16(&self, at: usize) -> Result<u16, i32> {
        let b = self.0.get(at..at + 2).ok_or(libc::EINVAL)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn from(&self, at: usize) -> Result<&'a [u8], i32> {
        self.0.get(at..).ok_or(libc::EINVAL)
    }
}

/// Decodes a request; the errno to reply with when it is malformed or not
/// supported.
pub fn parse<'a>(h: &Header, body: &'a [u8]) -> Result<Request<'a>, i32> {
    if h.flags & TYPE_MASK != TYPE_COMMAND {
        return Err(libc::EINVAL);
    }
    let b = Body(body);
    Ok(match h.cmd {
        cmd::VERSION => {
            let rest = b.from(4)?;
            let text = rest.split(|c| *c == 0).next().unwrap_or(&[]);
            Request::Version {
                major: b.u16(0)?,
                minor: b.u16(2)?,
                json: core::str::from_utf8(text).map_err(|_| libc::EINVAL)?,
            }
        }
        cmd::DMA_MAP => Request::DmaMap {
            flags: b.u32(4)?,
            offset: b.u64(8)?,
            iova: b.u64(16)?,
            size: b.u64(24)?,
        },
        cmd::DMA_UNMAP => Request::DmaUnmap {
            argsz: b.u32(0)?,
            flags: b.u32(4)?,
            iova: b.u64(8)?,
            size: b.u64(16)?,
        },
        cmd::DEVICE_GET_INFO => Request::DeviceGetInfo { argsz: b.u32(0)? },
        cmd::DEVICE_GET_REGION_INFO => Request::RegionInfo {
            argsz: b.u32(0)?,
            index: b.u32(8)?,
        },
        cmd::DEVICE_GET_IRQ_INFO => Request::IrqInfo {
            argsz: b.u32(0)?,
            index: b.u32(8)?,
        },
        cmd::DEVICE_SET_IRQS => Request::SetIrqs {
            flags: b.u32(4)?,
            index: b.u32(8)?,
            start: b.u32(12)?,
            count: b.u32(16)?,
            data: b.from(20)?,
        },
        cmd::REGION_READ => {
            let count = b.u32(12)?;
            if count as usize > MAX_DATA_XFER {
                return Err(libc::EINVAL);
            }
            Request::RegionRead {
                offset: b.u64(0)?,
                region: b.u32(8)?,
                count,
            }
        }
        cmd::REGION_WRITE => {
            let count = b.u32(12)? as usize;
            let data = b.from(16)?;
            if data.len() != count {
                return Err(libc::EINVAL);
            }
            Request::RegionWrite {
                offset: b.u64(0)?,
                region: b.u32(8)?,
                data,
            }
        }
        cmd::DEVICE_RESET => Request::DeviceReset,
        // Known, but not offered (no sparse mmap, no migration, no DMA by
        // message: the VM's memory comes as file descriptors).
        cmd::DEVICE_GET_REGION_IO_FDS | cmd::DMA_READ | cmd::DMA_WRITE | cmd::DIRTY_PAGES => {
            return Err(libc::ENOTSUP);
        }
        _ => return Err(libc::ENOSYS),
    })
}

/// Little-endian body builder.
#[derive(Default)]
pub struct Out(pub Vec<u8>);

impl Out {
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// A whole reply message to `h`: success with `body`, or the errno.
pub fn reply(h: &Header, result: Result<Vec<u8>, i32>) -> Vec<u8> {
    let (body, flags, error) = match result {
        Ok(b) => (b, TYPE_REPLY, 0),
        Err(e) => (Vec::new(), TYPE_REPLY | FLAG_ERROR, e as u32),
    };
    let header = Header {
        id: h.id,
        cmd: h.cmd,
        size: (HEADER + body.len()) as u32,
        flags,
        error,
    };
    let mut m = header.encode().to_vec();
    m.extend_from_slice(&body);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cmd: u16, body: usize) -> Header {
        Header {
            id: 7,
            cmd,
            size: (HEADER + body) as u32,
            flags: TYPE_COMMAND,
            error: 0,
        }
    }

    #[test]
    fn decodes_what_qemu_sends() {
        let body = Out::default()
            .u16(0)
            .u16(0)
            .bytes(b"{\"capabilities\":{\"max_msg_fds\":16}}\0")
            .0;
        assert_eq!(
            parse(&header(cmd::VERSION, body.len()), &body),
            Ok(Request::Version {
                major: 0,
                minor: 0,
                json: "{\"capabilities\":{\"max_msg_fds\":16}}"
            })
        );
        let body = Out::default()
            .u32(32)
            .u32(3)
            .u64(0x1000)
            .u64(0x10_0000)
            .u64(0x2000)
            .0;
        assert_eq!(
            parse(&header(cmd::DMA_MAP, 32), &body),
            Ok(Request::DmaMap {
                flags: 3,
                offset: 0x1000,
                iova: 0x10_0000,
                size: 0x2000
            })
        );
        let body = Out::default().u64(0x100).u32(0).u32(4).u32(0xdead_beef).0;
        assert_eq!(
            parse(&header(cmd::REGION_WRITE, body.len()), &body),
            Ok(Request::RegionWrite {
                offset: 0x100,
                region: 0,
                data: &0xdead_beefu32.to_le_bytes()
            })
        );
    }

    #[test]
    fn malformed_and_unknown_requests_are_errnos() {
        // Too short for its command, at every length.
        for cmd in 1..=16u16 {
            for len in 0..20 {
                let body = vec![0xffu8; len];
                let _ = parse(&header(cmd, len), &body);
            }
        }
        assert_eq!(parse(&header(cmd::DMA_MAP, 8), &[0; 8]), Err(libc::EINVAL));
        assert_eq!(parse(&header(99, 0), &[]), Err(libc::ENOSYS));
        assert_eq!(parse(&header(cmd::DMA_READ, 0), &[]), Err(libc::ENOTSUP));
        let body = Out::default().u64(0).u32(0).u32(8).u32(1).0;
        assert_eq!(
            parse(&header(cmd::REGION_WRITE, body.len()), &body),
            Err(libc::EINVAL),
            "count says 8, 4 bytes follow"
        );
        let big = Out::default().u64(0).u32(0).u32(u32::MAX).0;
        assert_eq!(
            parse(&header(cmd::REGION_READ, 16), &big),
            Err(libc::EINVAL)
        );
        let mut reply_hdr = header(cmd::VERSION, 0);
        reply_hdr.flags = TYPE_REPLY;
        assert_eq!(
            parse(&reply_hdr, &[]),
            Err(libc::EINVAL),
            "a reply is no request"
        );
        let bad_utf8 = [0, 0, 0, 0, 0xff, 0xfe, 0];
        assert_eq!(
            parse(&header(cmd::VERSION, 7), &bad_utf8),
            Err(libc::EINVAL)
        );
        let mut h = header(cmd::VERSION, 0);
        h.size = 3;
        assert_eq!(h.body_len(), Err(libc::EINVAL));
        h.size = u32::MAX;
        assert_eq!(h.body_len(), Err(libc::EINVAL));
    }

    #[test]
    fn replies_carry_the_id_and_the_errno() {
        let h = header(cmd::DEVICE_RESET, 0);
        let ok = reply(&h, Ok(vec![1, 2]));
        let r = Header::parse(ok[..HEADER].try_into().unwrap());
        assert_eq!(
            (r.id, r.cmd, r.size, r.flags),
            (7, cmd::DEVICE_RESET, 18, TYPE_REPLY)
        );
        let err = reply(&h, Err(libc::EINVAL));
        let r = Header::parse(err[..HEADER].try_into().unwrap());
        assert_eq!(
            (r.flags, r.error),
            (TYPE_REPLY | FLAG_ERROR, libc::EINVAL as u32)
        );
    }
}
