//! Parsing a frame for the switch: addresses, VLAN tags, and the L3/L4
//! fields RSS hashes. No allocation; offsets into the caller's bytes.

use crate::mac::Mac;

/// Largest frame the data path carries (jumbo 9728 + a QinQ tag pair).
pub const MAX_FRAME: usize = 9728 + 8;
/// Smallest: a full Ethernet header. (Frames below 60 bytes are legal on a
/// TAP and in captures; the MAC pads on the wire.)
pub const MIN_FRAME: usize = 14;

pub const TPID_8021Q: u16 = 0x8100;
pub const TPID_8021AD: u16 = 0x88a8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// A VLAN tag: protocol and TCI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag {
    pub tpid: u16,
    pub tci: u16,
}

impl Tag {
    pub const fn vid(&self) -> u16 {
        self.tci & 0xfff
    }
}

/// What RSS hashes, and how the descriptor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    None,
    Tcp { src: u16, dst: u16 },
    Udp { src: u16, dst: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    Other,
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        l4: L4,
    },
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        l4: L4,
    },
}

/// A parsed frame. Aligned to 16 so that moving it is a few paired loads
/// and stores: the target is built with strict alignment, and LLVM there
/// turns a move of a less aligned 32-byte value into a `memcpy` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(align(16))]
pub struct Parsed {
    pub dst: Mac,
    pub src: Mac,
    /// Up to two tags, outer first; the first `tag_count` are real. (Not
    /// `[Option<Tag>; 2]`: its niche carried `Result`'s error and the
    /// moves became `memcpy` calls at odd offsets.)
    tags: [Tag; 2],
    tag_count: u8,
    /// The EtherType after the tags.
    pub ethertype: u16,
    /// Where the L3 header starts. The L3/L4 fields are read only when
    /// RSS needs them ([`Parsed::l3`]): the switching decision does not,
    /// and walking them for every frame cost more than the decision.
    pub l3_at: u16,
}

impl Parsed {
    pub fn outer(&self) -> Option<Tag> {
        self.tag(0)
    }

    /// Tag `i` (0 = outer), if the frame has it.
    pub fn tag(&self, i: usize) -> Option<Tag> {
        (i < usize::from(self.tag_count)).then(|| self.tags[i])
    }

    /// VLAN tags in the frame (0, 1 or 2).
    pub fn tag_count(&self) -> usize {
        usize::from(self.tag_count)
    }

    /// The L3/L4 fields RSS hashes, read from `frame` (the bytes this was
    /// parsed from).
    pub fn l3(&self, frame: &[u8]) -> L3 {
        let b = frame.get(usize::from(self.l3_at)..).unwrap_or(&[]);
        match self.ethertype {
            ETHERTYPE_IPV4 => parse_v4(b),
            ETHERTYPE_IPV6 => parse_v6(b),
            _ => L3::Other,
        }
    }

    /// The VLAN the frame is in for filtering: the outer 802.1Q tag's VID,
    /// or 0 when untagged (priority-tagged frames are VLAN 0 too).
    pub fn vid(&self) -> u16 {
        match self.outer() {
            Some(t) if t.tpid == TPID_8021Q => t.vid(),
            Some(t) => t.vid(),
            None => 0,
        }
    }
}

/// Why a frame could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseError {
    /// Shorter than an Ethernet header.
    Runt,
    /// Longer than [`MAX_FRAME`].
    Oversize,
    /// A VLAN tag cut short.
    BrokenVlan,
    /// More than two VLAN tags.
    TooManyTags,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A header as the parsers read it: bytes, big-endian half-words and
/// four-byte fields at even offsets, and addresses.
trait Header: Copy {
    fn byte(self, at: usize) -> u8;
    fn be16(self, at: usize) -> u16;
    fn quad(self, at: usize) -> [u8; 4];
    fn mac(self, at: usize) -> Mac;
}

/// A header of any alignment, read byte by byte.
#[derive(Clone, Copy)]
struct Bytes<'a>(&'a [u8]);

impl Header for Bytes<'_> {
    #[inline(always)]
    fn byte(self, at: usize) -> u8 {
        self.0[at]
    }

    #[inline(always)]
    fn be16(self, at: usize) -> u16 {
        be16(self.0, at)
    }

    #[inline(always)]
    fn quad(self, at: usize) -> [u8; 4] {
        let f = self.0;
        [f[at], f[at + 1], f[at + 2], f[at + 3]]
    }

    #[inline(always)]
    fn mac(self, at: usize) -> Mac {
        let f = self.0;
        Mac([f[at], f[at + 1], f[at + 2], f[at + 3], f[at + 4], f[at + 5]])
    }
}

/// A 2-aligned header as half-words. Every buffer of the data path starts
/// aligned, and under strict alignment LLVM reads a `&[u8]` of unknown
/// alignment byte by byte (an address is six loads and the shifts that
/// join them): as half-words it is three loads, an EtherType one. Fixed
/// size, so that no read needs a bounds check.
#[derive(Clone, Copy)]
struct Halves<'a, const N: usize>(&'a [u16; N]);

impl<const N: usize> Halves<'_, N> {
    /// The first `2 N` bytes of `b` as half-words, if `b` starts 2-aligned
    /// and holds them.
    #[inline(always)]
    fn of(b: &[u8]) -> Option<Halves<'_, N>> {
        let n = 2 * N;
        b.get(..n)
            .and_then(|h| bytemuck::try_cast_slice::<u8, u16>(h).ok())
            .and_then(|h| h.first_chunk::<N>())
            .map(Halves)
    }
}

impl<const N: usize> Header for Halves<'_, N> {
    #[inline(always)]
    fn byte(self, at: usize) -> u8 {
        self.0[at / 2].to_ne_bytes()[at % 2]
    }

    #[inline(always)]
    fn be16(self, at: usize) -> u16 {
        u16::from_be_bytes(self.0[at / 2].to_ne_bytes())
    }

    #[inline(always)]
    fn quad(self, at: usize) -> [u8; 4] {
        let i = at / 2;
        bytemuck::cast([self.0[i], self.0[i + 1]])
    }

    #[inline(always)]
    fn mac(self, at: usize) -> Mac {
        let h = self.0;
        let i = at / 2;
        Mac(bytemuck::cast([h[i], h[i + 1], h[i + 2]]))
    }
}

/// What the parser reads: the addresses, two tags and the EtherType after
/// them (22 bytes).
const HEADER: usize = 22;

/// Inlined: out of line, the parsed frame went back through memory (32
/// bytes stored, then loaded by the caller).
#[inline(always)]
pub fn parse(f: &[u8]) -> Result<Parsed, ParseError> {
    if f.len() < MIN_FRAME {
        return Err(ParseError::Runt);
    }
    if f.len() > MAX_FRAME {
        return Err(ParseError::Oversize);
    }
    // A checked cast (bytemuck): half-words only where the start is
    // 2-aligned and the frame holds the whole header (every frame but a
    // runt's); any other is read byte by byte, with the same result.
    match Halves::<{ HEADER / 2 }>::of(f) {
        Some(h) => parse_header(h, f.len()),
        None => parse_header(Bytes(f), f.len()),
    }
}

#[inline(always)]
fn parse_header(h: impl Header, len: usize) -> Result<Parsed, ParseError> {
    let mut tags = [Tag::default(); 2];
    let mut at = 12;
    let mut ethertype = h.be16(at);
    let mut n = 0;
    while ethertype == TPID_8021Q || ethertype == TPID_8021AD {
        if n == 2 {
            return Err(ParseError::TooManyTags);
        }
        if len < at + 6 {
            return Err(ParseError::BrokenVlan);
        }
        tags[n] = Tag {
            tpid: ethertype,
            tci: h.be16(at + 2),
        };
        n += 1;
        at += 4;
        ethertype = h.be16(at);
    }
    Ok(Parsed {
        dst: h.mac(0),
        src: h.mac(6),
        tags,
        tag_count: n as u8,
        ethertype,
        // At most 12 + 2 tags of 4 + 2 = 22.
        l3_at: (at + 2) as u16,
    })
}

fn ports(b: &[u8], proto: u8) -> L4 {
    if b.len() < 4 {
        return L4::None;
    }
    let (src, dst) = match Halves::<2>::of(b) {
        Some(h) => (h.be16(0), h.be16(2)),
        None => (be16(b, 0), be16(b, 2)),
    };
    match proto {
        6 => L4::Tcp { src, dst },
        17 => L4::Udp { src, dst },
        _ => L4::None,
    }
}

/// The IPv4 header's fixed part.
const IPV4_HEADER: usize = 20;

/// The L3 header starts 2-aligned in a 2-aligned frame (at 14, 18 or 22):
/// its fields as half-words, as the Ethernet header's are.
fn parse_v4(b: &[u8]) -> L3 {
    match Halves::<{ IPV4_HEADER / 2 }>::of(b) {
        Some(h) => parse_v4_with(h, b),
        None if b.len() < IPV4_HEADER => L3::Other,
        None => parse_v4_with(Bytes(b), b),
    }
}

/// `h` reads at least the fixed part of `b`.
#[inline(always)]
fn parse_v4_with(h: impl Header, b: &[u8]) -> L3 {
    let version_ihl = h.byte(0);
    if version_ihl >> 4 != 4 {
        return L3::Other;
    }
    let ihl = usize::from(version_ihl & 0xf) * 4;
    if ihl < IPV4_HEADER || b.len() < ihl {
        return L3::Other;
    }
    let fragment = h.be16(6) & 0x3fff != 0;
    let l4 = if fragment {
        L4::None
    } else {
        ports(&b[ihl..], h.byte(9))
    };
    L3::V4 {
        src: h.quad(12),
        dst: h.quad(16),
        l4,
    }
}

fn parse_v6(b: &[u8]) -> L3 {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return L3::Other;
    }
    let mut src = [0; 16];
    let mut dst = [0; 16];
    src.copy_from_slice(&b[8..24]);
    dst.copy_from_slice(&b[24..40]);
    L3::V6 {
        src,
        dst,
        l4: ports(&b[40..], b[6]),
    }
}

/// Writes `frame` with a tag inserted after the source MAC into `out`;
/// returns the new length, or `None` if it does not fit.
pub fn insert_tag(frame: &[u8], tag: Tag, out: &mut [u8]) -> Option<usize> {
    let len = frame.len() + 4;
    if frame.len() < 12 || out.len() < len {
        return None;
    }
    out[..12].copy_from_slice(&frame[..12]);
    out[12..14].copy_from_slice(&tag.tpid.to_be_bytes());
    out[14..16].copy_from_slice(&tag.tci.to_be_bytes());
    // 4 bytes apart: word copies where `memcpy` would go byte by byte.
    hal::mem::copy(&mut out[16..len], &frame[12..]);
    Some(len)
}

/// Inserts `tag` after the addresses of the frame at `buf[at..at + len]`,
/// in place: the 12 address bytes move 4 back, into the headroom before
/// the frame, and nothing else moves. The frame then starts at the
/// returned offset (`at - 4`) and is 4 longer. `None` (nothing changed)
/// without 4 bytes of headroom, room after, or a whole address pair.
/// (The way in strips by copying instead, [`strip_outer_tag`]: in place,
/// the frame would be left 4 bytes off for the copy into the VF's ring.)
pub fn push_tag(buf: &mut [u8], at: usize, len: usize, tag: Tag) -> Option<usize> {
    if at < 4 || len < 12 || at.checked_add(len)? > buf.len() {
        return None;
    }
    // Three words where `copy_within` goes byte by byte.
    hal::mem::move_down(buf, at, at - 4, 12);
    buf[at + 8..at + 10].copy_from_slice(&tag.tpid.to_be_bytes());
    buf[at + 10..at + 12].copy_from_slice(&tag.tci.to_be_bytes());
    Some(at - 4)
}

/// Writes `frame` without its outer tag into `out`; returns the length.
pub fn strip_outer_tag(frame: &[u8], out: &mut [u8]) -> Option<usize> {
    if frame.len() < 18 || out.len() < frame.len() - 4 {
        return None;
    }
    let len = frame.len() - 4;
    out[..12].copy_from_slice(&frame[..12]);
    hal::mem::copy(&mut out[12..len], &frame[16..]);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any bytes (with TPIDs where tags go, often enough to reach two
        /// and three tags), at any start: the half-word reading answers
        /// what the byte-by-byte one does.
        #[test]
        fn every_start_parses_alike(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
            tpids in proptest::array::uniform3(0u8..3),
            off in 0usize..8,
        ) {
            for (i, t) in tpids.iter().enumerate() {
                let at = 12 + 4 * i;
                if let (Some(tpid), Some(b)) =
                    ([TPID_8021Q, TPID_8021AD].get(usize::from(*t)), bytes.get_mut(at..at + 2))
                {
                    b.copy_from_slice(&tpid.to_be_bytes());
                }
            }
            #[repr(C, align(16))]
            struct Aligned([u8; 64]);
            let mut buf = Aligned([0; 64]);
            buf.0[off..off + bytes.len()].copy_from_slice(&bytes);
            let f = &buf.0[off..off + bytes.len()];
            let by_bytes = if f.len() < MIN_FRAME {
                Err(ParseError::Runt)
            } else {
                parse_header(Bytes(f), f.len())
            };
            proptest::prop_assert_eq!(parse(f), by_bytes);
        }
    }

    /// IPv4 as the parser read it before it read half-words: byte by byte.
    fn v4_by_bytes(b: &[u8]) -> L3 {
        if b.len() < 20 || b[0] >> 4 != 4 {
            return L3::Other;
        }
        let ihl = usize::from(b[0] & 0xf) * 4;
        if ihl < 20 || b.len() < ihl {
            return L3::Other;
        }
        let l4 = match (be16(b, 6) & 0x3fff != 0, b.get(ihl..ihl + 4), b[9]) {
            (false, Some(p), 6) => L4::Tcp {
                src: be16(p, 0),
                dst: be16(p, 2),
            },
            (false, Some(p), 17) => L4::Udp {
                src: be16(p, 0),
                dst: be16(p, 2),
            },
            _ => L4::None,
        };
        L3::V4 {
            src: [b[12], b[13], b[14], b[15]],
            dst: [b[16], b[17], b[18], b[19]],
            l4,
        }
    }

    proptest::proptest! {
        /// Any IPv4-ish header (version 4 and a small IHL often, TCP or
        /// UDP often, fragments sometimes), at any start: what the byte
        /// by byte reading gives.
        #[test]
        fn ipv4_parses_alike_at_every_start(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..72),
            ihl in 3u8..8,
            proto in proptest::sample::select(vec![6u8, 17, 1]),
            off in 0usize..8,
        ) {
            if let Some(b) = bytes.get_mut(0) {
                *b = 0x40 | ihl;
            }
            if let Some(b) = bytes.get_mut(9) {
                *b = proto;
            }
            #[repr(C, align(16))]
            struct Aligned([u8; 96]);
            let mut buf = Aligned([0; 96]);
            buf.0[off..off + bytes.len()].copy_from_slice(&bytes);
            let b = &buf.0[off..off + bytes.len()];
            proptest::prop_assert_eq!(parse_v4(b), v4_by_bytes(b));
        }
    }

    #[test]
    fn headers_read_the_same_from_every_alignment() {
        // A tagged frame: the tag walk after the addresses shows too.
        let frame = [
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // dst
            0x06, 0x66, 0x77, 0x88, 0x99, 0xaa, // src
            0x81, 0x00, 0x20, 0x64, // 802.1Q, VID 100, PCP 1
            0x08, 0x00, 0x45, 0x00, 0x00, 0x54, 0x12, 0x34,
        ];
        // Long enough for the half-word reading (22 bytes and more).
        assert!(frame.len() >= HEADER);
        #[repr(C, align(16))]
        struct Aligned([u8; 64]);
        for off in 0..8 {
            let mut buf = Aligned([0; 64]);
            buf.0[off..off + frame.len()].copy_from_slice(&frame);
            let f = &buf.0[off..off + frame.len()];
            let p = parse(f).unwrap();
            assert_eq!(
                p.dst,
                Mac([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]),
                "offset {off}"
            );
            assert_eq!(
                p.src,
                Mac([0x06, 0x66, 0x77, 0x88, 0x99, 0xaa]),
                "offset {off}"
            );
            assert_eq!(
                (p.vid(), p.ethertype, p.l3_at),
                (100, 0x0800, 18),
                "offset {off}"
            );
            // Cut short in its tag: the same error at every start.
            assert_eq!(parse(&f[..17]), Err(ParseError::BrokenVlan), "offset {off}");
        }
    }

    #[test]
    fn a_tag_goes_in_in_place() {
        let frame = eth([2, 9, 9, 9, 9, 9], &[0x08, 0x00, 0x45, 0, 0, 20, 7, 7]);
        let tag = Tag {
            tpid: TPID_8021Q,
            tci: 0x2064,
        };
        let mut buf = [0xeeu8; 64];
        buf[8..8 + frame.len()].copy_from_slice(&frame);
        let at = push_tag(&mut buf, 8, frame.len(), tag).unwrap();
        let tagged = &buf[at..at + frame.len() + 4];
        let mut want = [0u8; 64];
        let n = insert_tag(&frame, tag, &mut want).unwrap();
        assert_eq!(tagged, &want[..n], "the same bytes as the copying insert");
        let mut back = [0u8; 64];
        let m = strip_outer_tag(tagged, &mut back).unwrap();
        assert_eq!(&back[..m], &frame[..]);
        assert_eq!(push_tag(&mut buf, 3, frame.len(), tag), None, "no headroom");
        assert_eq!(push_tag(&mut buf, 60, 12, tag), None, "past the buffer");
        assert_eq!(push_tag(&mut buf, 8, 11, tag), None, "no address pair");
    }

    fn eth(dst: [u8; 6], ethertype_and_rest: &[u8]) -> std::vec::Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(ethertype_and_rest);
        f
    }

    #[test]
    fn untagged_ipv4_udp() {
        let mut rest = std::vec![0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        rest.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        let f = eth([0xff; 6], &rest);
        let p = parse(&f).unwrap();
        assert_eq!(p.dst, Mac::BROADCAST);
        assert_eq!((p.tag_count(), p.outer()), (0, None));
        assert_eq!(p.l3_at, 14);
        assert_eq!(
            p.l3(&f),
            L3::V4 {
                src: [10, 0, 0, 1],
                dst: [10, 0, 0, 2],
                l4: L4::Udp {
                    src: 12345,
                    dst: 53
                }
            }
        );
    }

    #[test]
    fn qinq_and_bad_tags() {
        let f = eth(
            [2; 6],
            &[0x88, 0xa8, 0x20, 0x64, 0x81, 0x00, 0x00, 0x05, 0x08, 0x06],
        );
        let p = parse(&f).unwrap();
        assert_eq!(
            p.tag(0),
            Some(Tag {
                tpid: TPID_8021AD,
                tci: 0x2064
            })
        );
        assert_eq!(p.tag(1).unwrap().vid(), 5);
        assert_eq!((p.tag_count(), p.tag(2)), (2, None));
        assert_eq!(p.ethertype, 0x0806);
        assert_eq!(
            parse(&eth([2; 6], &[0x81, 0x00, 0x00])),
            Err(ParseError::BrokenVlan)
        );
        let three = eth([2; 6], &[0x81, 0, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 8, 0]);
        assert_eq!(parse(&three), Err(ParseError::TooManyTags));
        assert_eq!(parse(&[0; 13]), Err(ParseError::Runt));
        assert_eq!(parse(&[0; MAX_FRAME + 1]), Err(ParseError::Oversize));
    }

    #[test]
    fn tag_insert_and_strip_invert() {
        let f = eth([2; 6], &[0x08, 0x06, 1, 2, 3]);
        let mut tagged = [0u8; 64];
        let n = insert_tag(
            &f,
            Tag {
                tpid: TPID_8021Q,
                tci: 0x6064,
            },
            &mut tagged,
        )
        .unwrap();
        assert_eq!(parse(&tagged[..n]).unwrap().vid(), 100);
        let mut back = [0u8; 64];
        let m = strip_outer_tag(&tagged[..n], &mut back).unwrap();
        assert_eq!(&back[..m], &f[..]);
    }
}
