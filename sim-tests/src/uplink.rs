//! Uplink backends for the simulation: the physical port as memory, as
//! pcap files, and a capture wrapper that records any port to a pcap file
//! (Wireshark opens them).

use hal::port::Uplink;
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Duration;

/// Frames in and out of memory: what tests inject and inspect.
#[derive(Default)]
pub struct MemoryUplink {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: Vec<Vec<u8>>,
    pub down: bool,
    /// Frames `transmit` still takes before refusing (None: unlimited).
    pub tx_budget: Option<usize>,
}

impl MemoryUplink {
    pub fn inject(&mut self, frame: &[u8]) {
        self.rx.push_back(frame.to_vec());
    }

    pub fn take_tx(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.tx)
    }
}

impl Uplink for MemoryUplink {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let f = self.rx.pop_front()?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Some(f.len())
    }

    fn transmit(&mut self, frame: &[u8]) -> bool {
        match &mut self.tx_budget {
            Some(0) => return false,
            Some(n) => *n -= 1,
            None => {}
        }
        self.tx.push(frame.to_vec());
        true
    }

    fn link_up(&self) -> bool {
        !self.down
    }
}

/// Frames from a pcap file in; frames out to a pcap file.
pub struct PcapUplink {
    input: Option<PcapReader<File>>,
    output: Option<PcapWriter<BufWriter<File>>>,
    sent: u32,
}

impl PcapUplink {
    pub fn open(input: Option<&Path>, output: Option<&Path>) -> anyhow::Result<Self> {
        let input = match input {
            Some(p) => Some(PcapReader::new(File::open(p)?)?),
            None => None,
        };
        let output = match output {
            Some(p) => Some(PcapWriter::new(BufWriter::new(File::create(p)?))?),
            None => None,
        };
        Ok(PcapUplink {
            input,
            output,
            sent: 0,
        })
    }
}

impl Uplink for PcapUplink {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let packet = self.input.as_mut()?.next_packet()?.ok()?;
        let n = packet.data.len().min(buf.len());
        buf[..n].copy_from_slice(&packet.data[..n]);
        Some(packet.data.len())
    }

    fn transmit(&mut self, frame: &[u8]) -> bool {
        self.sent += 1;
        match &mut self.output {
            Some(w) => w
                .write_packet(&PcapPacket::new(
                    Duration::from_micros(u64::from(self.sent)),
                    frame.len() as u32,
                    frame,
                ))
                .is_ok(),
            None => true,
        }
    }

    fn link_up(&self) -> bool {
        true
    }
}

/// Records everything through a port to a pcap file.
pub struct PcapCapture {
    writer: PcapWriter<BufWriter<File>>,
    pub frames: u64,
}

impl PcapCapture {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Ok(PcapCapture {
            writer: PcapWriter::new(BufWriter::new(File::create(path)?))?,
            frames: 0,
        })
    }

    /// Records one frame at simulated time `now_ns`.
    pub fn record(&mut self, now_ns: u64, frame: &[u8]) {
        self.frames += 1;
        let _ = self.writer.write_packet(&PcapPacket::new(
            Duration::from_nanos(now_ns),
            frame.len() as u32,
            frame,
        ));
    }
}

/// Any uplink, with every frame in and out recorded (if a capture is set).
pub struct Tapped<'a> {
    pub inner: &'a mut dyn Uplink,
    pub capture: Option<&'a mut PcapCapture>,
    pub now_ns: u64,
}

impl Uplink for Tapped<'_> {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.inner.receive(buf)?;
        if let Some(c) = self.capture.as_mut() {
            c.record(self.now_ns, &buf[..n.min(buf.len())]);
        }
        Some(n)
    }

    fn transmit(&mut self, frame: &[u8]) -> bool {
        if let Some(c) = self.capture.as_mut() {
            c.record(self.now_ns, frame);
        }
        self.inner.transmit(frame)
    }

    fn link_up(&self) -> bool {
        self.inner.link_up()
    }
}
