//! Packet captures: every port of a run in one pcapng file (an interface
//! per port: `wire`, `pf`, `vf0`, ...), and reading pcap or pcapng back.
//!
//! Timestamps are on the wall clock: the time the capture was created plus
//! the run's time since then (simulated in-process, real under QEMU; see
//! `Transport::now_ns`), in nanoseconds. Direction is the port's own view:
//! on `wire`, frames from the wire into the firmware are inbound and frames
//! the firmware sends to the wire outbound; on `pf` and `vfN`, frames the
//! function's driver transmits are outbound and frames delivered to it
//! inbound.

use crate::pcapng::Writer;
use anyhow::{Context, Result, bail};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::pcapng::Direction;

struct Inner {
    writer: Writer<BufWriter<File>>,
    path: PathBuf,
    ports: Vec<String>,
    frames: u64,
    /// The first write that failed: recording stops there and `flush`
    /// reports it (a port's `record` has no one to return it to).
    error: Option<String>,
    /// The wall clock (ns since 1970) and the run's clock at creation.
    wall_origin: u64,
    run_origin: u64,
}

/// One capture file shared by every port (clones share it; `Send`, so a
/// thread or a signal handler may hold one). Dropping the last clone
/// flushes it; [`Capture::flush`] does so and reports errors.
#[derive(Clone)]
pub struct Capture(Arc<Mutex<Inner>>);

impl Capture {
    /// Creates `path` (truncating it); `now_ns` is the run's clock now.
    pub fn create(path: &Path, now_ns: u64) -> Result<Capture> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let writer = Writer::new(
            BufWriter::new(file),
            concat!("sriov-fw sim-tests ", env!("CARGO_PKG_VERSION")),
        )
        .with_context(|| format!("writing {}", path.display()))?;
        let wall_origin = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(Capture(Arc::new(Mutex::new(Inner {
            writer,
            path: path.to_owned(),
            ports: Vec::new(),
            frames: 0,
            error: None,
            wall_origin,
            run_origin: now_ns,
        }))))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while recording leaves whole blocks or a write error:
        // the file is still worth keeping.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new interface for port `name` (written now: pcapng allows one
    /// anywhere before its first frame).
    pub fn port(&self, name: &str) -> Result<PortCapture> {
        let mut c = self.lock();
        if name.is_empty() || c.ports.iter().any(|p| p == name) {
            bail!(
                "{}: port name {name:?} is empty or already taken ({})",
                c.path.display(),
                c.ports.join(", ")
            );
        }
        let id = c
            .writer
            .add_interface(name)
            .with_context(|| format!("writing {}", c.path.display()))?;
        c.ports.push(name.to_owned());
        Ok(PortCapture {
            capture: self.clone(),
            id,
            frames: 0,
        })
    }

    /// Writes out what is buffered; the first error recording hit, if any.
    pub fn flush(&self) -> Result<()> {
        let mut c = self.lock();
        if let Some(e) = &c.error {
            bail!("writing {}: {e}", c.path.display());
        }
        let r = c.writer.flush();
        r.with_context(|| format!("writing {}", c.path.display()))
    }

    /// Frames recorded so far, on every port.
    pub fn frames(&self) -> u64 {
        self.lock().frames
    }

    /// The ports, in interface order.
    pub fn ports(&self) -> Vec<String> {
        self.lock().ports.clone()
    }

    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }
}

/// One port's interface in a [`Capture`].
pub struct PortCapture {
    capture: Capture,
    id: u32,
    /// Frames recorded on this port.
    pub frames: u64,
}

impl PortCapture {
    /// Records one frame at the run's time `now_ns`.
    pub fn record(&mut self, now_ns: u64, direction: Direction, frame: &[u8]) {
        self.frames += 1;
        let mut c = self.capture.lock();
        if c.error.is_some() {
            return;
        }
        let since = i128::from(now_ns) - i128::from(c.run_origin);
        let unix_ns = (i128::from(c.wall_origin) + since).clamp(0, i128::from(u64::MAX)) as u64;
        let id = self.id;
        match c.writer.packet(id, unix_ns, direction, frame) {
            Ok(()) => c.frames += 1,
            Err(e) => c.error = Some(e.to_string()),
        }
    }
}

/// A frame read back from a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedFrame {
    /// The interface's name (pcapng's if_name; `if0` ... without one,
    /// `wire` in a classic pcap).
    pub port: String,
    /// ns since 1970 (0 where the format has no time: a Simple Packet).
    pub unix_ns: u64,
    /// From epb_flags, where recorded.
    pub direction: Option<Direction>,
    pub data: Vec<u8>,
}

struct Interface {
    name: String,
    /// Timestamp units per second, and seconds to add.
    per_second: u64,
    offset_s: i64,
}

/// Reads Ethernet frames from a classic pcap or a pcapng file (the
/// `pcap-parser` crate: independent of the writer above).
pub struct CaptureReader {
    reader: Box<dyn PcapReaderIterator + Send>,
    path: PathBuf,
    interfaces: Vec<Interface>,
    /// Classic pcap: nanosecond (not µs) fractions.
    legacy_ns: bool,
}

/// The reader's buffer: the largest block it can take (a frame of
/// [`crate::pcapng::SNAPLEN`] with room to spare).
const READ_BUFFER: usize = 1 << 20;

impl CaptureReader {
    pub fn open(path: &Path) -> Result<CaptureReader> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let reader = pcap_parser::create_reader(READ_BUFFER, file).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a pcap or pcapng file ({})",
                path.display(),
                describe(&e)
            )
        })?;
        Ok(CaptureReader {
            reader,
            path: path.to_owned(),
            interfaces: Vec::new(),
            legacy_ns: false,
        })
    }

    /// The next frame; `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<CapturedFrame>> {
        loop {
            let (offset, taken) = match self.reader.next() {
                Ok((offset, block)) => (
                    offset,
                    take(block, &mut self.interfaces, &mut self.legacy_ns),
                ),
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) => {
                    if self.reader.reader_exhausted() {
                        bail!("{}: truncated (the last block is cut)", self.path.display());
                    }
                    self.reader.refill().map_err(|e| {
                        anyhow::anyhow!("reading {}: {}", self.path.display(), describe(&e))
                    })?;
                    continue;
                }
                Err(e) => bail!("{}: {}", self.path.display(), describe(&e)),
            };
            self.reader.consume(offset);
            if let Some(frame) = taken.with_context(|| self.path.display().to_string())? {
                return Ok(Some(frame));
            }
        }
    }
}

fn describe<I>(e: &PcapError<I>) -> String {
    match e {
        PcapError::Eof => "empty".into(),
        PcapError::BufferTooSmall => format!("a block larger than {READ_BUFFER} bytes"),
        PcapError::UnexpectedEof | PcapError::Incomplete(_) => "truncated".into(),
        PcapError::ReadError => "read error".into(),
        PcapError::HeaderNotRecognized => "unknown header".into(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("malformed ({kind:?})")
        }
    }
}

fn ethernet_only(linktype: Linktype, what: &str) -> Result<()> {
    if linktype != Linktype::ETHERNET {
        bail!("{what}: link type {}, not Ethernet (1)", linktype.0);
    }
    Ok(())
}

/// What one block gives: a frame, or nothing (headers, other blocks).
fn take(
    block: PcapBlockOwned<'_>,
    interfaces: &mut Vec<Interface>,
    legacy_ns: &mut bool,
) -> Result<Option<CapturedFrame>> {
    Ok(match block {
        PcapBlockOwned::LegacyHeader(h) => {
            ethernet_only(h.network, "the pcap header")?;
            *legacy_ns = h.is_nanosecond_precision();
            None
        }
        PcapBlockOwned::Legacy(p) => {
            let fraction = if *legacy_ns { 1 } else { 1_000 };
            let data = &p.data[..(p.caplen as usize).min(p.data.len())];
            Some(CapturedFrame {
                port: "wire".into(),
                unix_ns: u64::from(p.ts_sec) * 1_000_000_000 + u64::from(p.ts_usec) * fraction,
                direction: None,
                data: data.to_vec(),
            })
        }
        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
            // A new section numbers its interfaces from 0 again.
            interfaces.clear();
            None
        }
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
            let n = interfaces.len();
            ethernet_only(idb.linktype, &format!("interface {n}"))?;
            let per_second = idb
                .ts_resolution()
                .with_context(|| format!("interface {n}: if_tsresol {}", idb.if_tsresol))?;
            let name = match idb.if_name() {
                Some(Ok(name)) => name.to_owned(),
                _ => format!("if{n}"),
            };
            interfaces.push(Interface {
                name,
                per_second,
                offset_s: idb.ts_offset(),
            });
            None
        }
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            let Some(i) = interfaces.get(epb.if_id as usize) else {
                bail!("a packet on interface {}, never described", epb.if_id);
            };
            let raw = u64::from(epb.ts_high) << 32 | u64::from(epb.ts_low);
            // if_tsoffset may be negative; before 1970 reads as 1970.
            let ns = (i128::from(raw) * 1_000_000_000 / i128::from(i.per_second)
                + i128::from(i.offset_s) * 1_000_000_000)
                .clamp(0, i128::from(u64::MAX));
            // epb_flags is option 2 of an Enhanced Packet Block.
            let direction = epb
                .options
                .iter()
                .find(|o| o.code.0 == 2)
                .and_then(|o| o.as_u32_le().ok())
                .and_then(Direction::from_flags);
            let data = &epb.data[..(epb.caplen as usize).min(epb.data.len())];
            Some(CapturedFrame {
                port: i.name.clone(),
                unix_ns: ns as u64,
                direction,
                data: data.to_vec(),
            })
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            let Some(i) = interfaces.first() else {
                bail!("a simple packet before any interface");
            };
            let len = (spb.origlen as usize).min(spb.data.len());
            Some(CapturedFrame {
                port: i.name.clone(),
                unix_ns: 0,
                direction: None,
                data: spb.data[..len].to_vec(),
            })
        }
        PcapBlockOwned::NG(_) => None,
    })
}

/// Every frame in a pcap or pcapng file.
pub fn read_all(path: &Path) -> Result<Vec<CapturedFrame>> {
    let mut r = CaptureReader::open(path)?;
    let mut out = Vec::new();
    while let Some(f) = r.next_frame()? {
        out.push(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sim-tests-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn ports_share_one_file_on_the_wall_clock_and_read_back() {
        let path = tmp("shared.pcapng");
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let c = Capture::create(&path, 5_000).unwrap();
        let mut wire = c.port("wire").unwrap();
        wire.record(5_000, Direction::Inbound, &[1; 60]);
        let mut vf0 = c.port("vf0").unwrap();
        vf0.record(7_500, Direction::Outbound, &[2; 61]);
        assert!(c.port("wire").is_err(), "one interface per port");
        assert_eq!((c.frames(), wire.frames, vf0.frames), (2, 1, 1));
        c.flush().unwrap();
        let got = read_all(&path).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].port, "wire");
        assert_eq!(got[0].direction, Some(Direction::Inbound));
        assert_eq!(got[0].data, vec![1; 60]);
        assert!(got[0].unix_ns >= before, "after the capture began");
        assert_eq!(got[1].port, "vf0");
        assert_eq!(got[1].direction, Some(Direction::Outbound));
        assert_eq!(got[1].unix_ns - got[0].unix_ns, 2_500, "the run's ns apart");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_capture_is_refused_clearly() {
        let path = tmp("not.pcap");
        std::fs::write(&path, b"hello, this is text and no capture at all").unwrap();
        let e = CaptureReader::open(&path).err().unwrap().to_string();
        assert!(e.contains("not a pcap or pcapng file"), "{e}");
        std::fs::write(&path, b"").unwrap();
        assert!(CaptureReader::open(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_truncated_capture_is_an_error_not_a_panic() {
        let path = tmp("cut.pcapng");
        let c = Capture::create(&path, 0).unwrap();
        let mut p = c.port("wire").unwrap();
        p.record(0, Direction::Inbound, &[3; 100]);
        c.flush().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let e = read_all(&path).unwrap_err().to_string();
        assert!(e.contains("truncated") || e.contains("malformed"), "{e}");
        std::fs::remove_file(&path).unwrap();
    }
}
