//! A pcapng writer: one section, Ethernet interfaces with a name and
//! nanosecond timestamps, Enhanced Packet Blocks with a direction. Only what
//! the captures need (docs/design.md says why it is written here).
//!
//! Layout (draft-ietf-opsawg-pcapng): every block is `type, total length,
//! body, total length`, little-endian here (the Section Header's byte-order
//! magic says so), bodies and options padded to 4 bytes.

use std::io::{self, Write};

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const LINKTYPE_ETHERNET: u16 = 1;
/// tcpdump's largest snapshot: no frame here comes near it.
pub const SNAPLEN: u32 = 262_144;

const OPT_END: u16 = 0;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
/// if_tsresol 9: timestamps count 10^-9 s (the default, 6, is µs).
const TSRESOL_NS: u8 = 9;

/// Which way a frame went, from the port's point of view (epb_flags bits
/// 0-1: 1 inbound, 2 outbound).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    fn flags(self) -> u32 {
        match self {
            Direction::Inbound => 1,
            Direction::Outbound => 2,
        }
    }

    /// From epb_flags (None: not recorded).
    pub fn from_flags(flags: u32) -> Option<Direction> {
        match flags & 3 {
            1 => Some(Direction::Inbound),
            2 => Some(Direction::Outbound),
            _ => None,
        }
    }
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// A block being put together: its body and options, framed on `finish`.
struct Block {
    kind: u32,
    body: Vec<u8>,
    options: bool,
}

impl Block {
    fn new(kind: u32) -> Block {
        Block {
            kind,
            body: Vec::new(),
            options: false,
        }
    }

    fn u16(&mut self, v: u16) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Bytes, zero-padded to 4.
    fn padded(&mut self, data: &[u8]) -> &mut Self {
        self.body.extend_from_slice(data);
        self.body.resize(pad4(self.body.len()), 0);
        self
    }

    fn option(&mut self, code: u16, value: &[u8]) -> io::Result<&mut Self> {
        let len = u16::try_from(value.len())
            .map_err(|_| invalid(format!("pcapng option {code}: {} bytes", value.len())))?;
        self.options = true;
        Ok(self.u16(code).u16(len).padded(value))
    }

    /// Writes the block (with opt_endofopt after any options).
    fn write(&mut self, out: &mut impl Write) -> io::Result<()> {
        if self.options {
            self.u16(OPT_END).u16(0);
        }
        let total = u32::try_from(self.body.len() + 12)
            .map_err(|_| invalid(format!("pcapng block of {} bytes", self.body.len())))?;
        out.write_all(&self.kind.to_le_bytes())?;
        out.write_all(&total.to_le_bytes())?;
        out.write_all(&self.body)?;
        out.write_all(&total.to_le_bytes())
    }
}

/// Writes one pcapng section to `out`.
pub struct Writer<W: Write> {
    out: W,
    interfaces: u32,
}

impl<W: Write> Writer<W> {
    /// Starts the section (the Section Header Block, naming `application`).
    pub fn new(mut out: W, application: &str) -> io::Result<Self> {
        Block::new(SHB)
            .u32(BYTE_ORDER_MAGIC)
            .u16(1)
            .u16(0)
            // Section length -1: not given (the file is written as it goes).
            .u32(u32::MAX)
            .u32(u32::MAX)
            .option(SHB_USERAPPL, application.as_bytes())?
            .write(&mut out)?;
        Ok(Writer { out, interfaces: 0 })
    }

    /// Describes one more Ethernet interface; returns its id (0, 1, ...).
    pub fn add_interface(&mut self, name: &str) -> io::Result<u32> {
        Block::new(IDB)
            .u16(LINKTYPE_ETHERNET)
            .u16(0)
            .u32(SNAPLEN)
            .option(IF_NAME, name.as_bytes())?
            .option(IF_TSRESOL, &[TSRESOL_NS])?
            .write(&mut self.out)?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// One frame on `interface` at `unix_ns` (ns since 1970, UTC); frames
    /// longer than [`SNAPLEN`] are cut (their length is kept).
    pub fn packet(
        &mut self,
        interface: u32,
        unix_ns: u64,
        direction: Direction,
        frame: &[u8],
    ) -> io::Result<()> {
        if interface >= self.interfaces {
            return Err(invalid(format!(
                "pcapng: packet on interface {interface}, {} described",
                self.interfaces
            )));
        }
        let original = u32::try_from(frame.len())
            .map_err(|_| invalid(format!("pcapng: a frame of {} bytes", frame.len())))?;
        let captured = &frame[..frame.len().min(SNAPLEN as usize)];
        Block::new(EPB)
            .u32(interface)
            .u32((unix_ns >> 32) as u32)
            .u32(unix_ns as u32)
            .u32(captured.len() as u32)
            .u32(original)
            .padded(captured)
            .option(EPB_FLAGS, &direction.flags().to_le_bytes())?
            .write(&mut self.out)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_section_header_says_little_endian_version_1_0_and_who_wrote_it() {
        let w = Writer::new(Vec::new(), "abc").unwrap();
        let b = w.get_ref();
        // type, length, magic, 1.0, length -1, option 4 "abc" (padded),
        // end, length
        assert_eq!(b.len(), 40);
        assert_eq!(&b[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
        assert_eq!(le32(b, 4), 40);
        assert_eq!(&b[8..12], &[0x4d, 0x3c, 0x2b, 0x1a]);
        assert_eq!(&b[12..16], &[1, 0, 0, 0]);
        assert_eq!(&b[16..24], &[0xff; 8]);
        assert_eq!(&b[24..32], &[4, 0, 3, 0, b'a', b'b', b'c', 0]);
        assert_eq!(&b[32..36], &[0; 4]);
        assert_eq!(le32(b, 36), 40);
    }

    #[test]
    fn an_interface_has_ethernet_its_name_and_nanosecond_resolution() {
        let mut w = Writer::new(Vec::new(), "t").unwrap();
        let shb = w.get_ref().len();
        assert_eq!(w.add_interface("vf10").unwrap(), 0);
        assert_eq!(w.add_interface("pf").unwrap(), 1);
        let b = &w.get_ref()[shb..];
        // 8 header + 8 (linktype, reserved, snaplen) + 8 if_name + 8
        // if_tsresol + 4 end + 4 trailer
        assert_eq!(le32(b, 0), 1);
        assert_eq!(le32(b, 4), 40);
        assert_eq!(&b[8..12], &[1, 0, 0, 0]);
        assert_eq!(le32(b, 12), SNAPLEN);
        assert_eq!(&b[16..24], &[2, 0, 4, 0, b'v', b'f', b'1', b'0']);
        assert_eq!(&b[24..32], &[9, 0, 1, 0, 9, 0, 0, 0]);
        assert_eq!(&b[32..36], &[0; 4]);
        assert_eq!(le32(b, 36), 40);
        assert_eq!(&b[40 + 16..40 + 24], &[2, 0, 2, 0, b'p', b'f', 0, 0]);
    }

    #[test]
    fn a_packet_has_its_interface_time_lengths_padded_data_and_direction() {
        let mut w = Writer::new(Vec::new(), "t").unwrap();
        w.add_interface("wire").unwrap();
        w.add_interface("pf").unwrap();
        let before = w.get_ref().len();
        let ns = 0x1234_5678_9abc_def0;
        w.packet(1, ns, Direction::Outbound, &[1, 2, 3, 4, 5])
            .unwrap();
        let b = &w.get_ref()[before..];
        // 28 fixed + 8 data (5 padded) + 8 epb_flags + 4 end + 4 trailer
        assert_eq!(b.len(), 52);
        assert_eq!(le32(b, 0), 6);
        assert_eq!(le32(b, 4), 52);
        assert_eq!(le32(b, 8), 1, "interface");
        assert_eq!(le32(b, 12), 0x1234_5678, "timestamp, high word first");
        assert_eq!(le32(b, 16), 0x9abc_def0);
        assert_eq!((le32(b, 20), le32(b, 24)), (5, 5), "captured, original");
        assert_eq!(&b[28..36], &[1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(&b[36..44], &[2, 0, 4, 0, 2, 0, 0, 0], "outbound");
        assert_eq!(&b[44..48], &[0; 4]);
        assert_eq!(le32(b, 48), 52);
        w.packet(0, 0, Direction::Inbound, &[9; 8]).unwrap();
        let b = &w.get_ref()[before + 52..];
        assert_eq!(le32(b, 4), 52, "a multiple of 4 needs no padding");
        assert_eq!(&b[36..44], &[2, 0, 4, 0, 1, 0, 0, 0], "inbound");
    }

    #[test]
    fn a_packet_on_an_undescribed_interface_is_refused() {
        let mut w = Writer::new(Vec::new(), "t").unwrap();
        let e = w.packet(0, 0, Direction::Inbound, &[0; 14]).unwrap_err();
        assert!(e.to_string().contains("interface 0, 0 described"), "{e}");
    }

    #[test]
    fn a_frame_past_the_snapshot_length_is_cut_and_keeps_its_length() {
        let mut w = Writer::new(Vec::new(), "t").unwrap();
        w.add_interface("wire").unwrap();
        let before = w.get_ref().len();
        let big = vec![7u8; SNAPLEN as usize + 3];
        w.packet(0, 0, Direction::Inbound, &big).unwrap();
        let b = &w.get_ref()[before..];
        assert_eq!(le32(b, 20), SNAPLEN);
        assert_eq!(le32(b, 24), SNAPLEN + 3);
    }
}
