//! Uplink backends for the simulation: the physical port as memory, as
//! capture files (pcap or pcapng in, pcapng out), and a wrapper that
//! records any port into a capture (Wireshark opens them).

use crate::capture::{Capture, CaptureReader, Direction, PortCapture};
use hal::port::Uplink;
use std::collections::VecDeque;
use std::path::Path;

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

/// Frames from a pcap or pcapng file in; frames out to a pcapng file (one
/// interface, `wire`, every frame outbound).
pub struct PcapUplink {
    input: Option<CaptureReader>,
    output: Option<(Capture, PortCapture)>,
    now_ns: u64,
    /// Why the input stopped early (a malformed or truncated file).
    pub input_error: Option<String>,
}

impl PcapUplink {
    /// `now_ns`: the run's clock now (the output's time origin).
    pub fn open(input: Option<&Path>, output: Option<&Path>, now_ns: u64) -> anyhow::Result<Self> {
        let input = input.map(CaptureReader::open).transpose()?;
        let output = match output {
            Some(p) => {
                let capture = Capture::create(p, now_ns)?;
                let port = capture.port("wire")?;
                Some((capture, port))
            }
            None => None,
        };
        Ok(PcapUplink {
            input,
            output,
            now_ns,
            input_error: None,
        })
    }

    /// The run's time for the frames sent next (the simulation sets it
    /// before every firmware pass).
    pub fn set_now(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
    }

    /// Writes out the output file.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.output.as_ref().map_or(Ok(()), |(c, _)| c.flush())
    }
}

impl Uplink for PcapUplink {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let frame = match self.input.as_mut()?.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                self.input = None;
                return None;
            }
            Err(e) => {
                self.input_error = Some(format!("{e:#}"));
                self.input = None;
                return None;
            }
        };
        let n = frame.data.len().min(buf.len());
        buf[..n].copy_from_slice(&frame.data[..n]);
        Some(frame.data.len())
    }

    fn transmit(&mut self, frame: &[u8]) -> bool {
        if let Some((_, port)) = &mut self.output {
            port.record(self.now_ns, Direction::Outbound, frame);
        }
        true
    }

    fn link_up(&self) -> bool {
        true
    }
}

/// Any uplink, with every frame in and out recorded (if a capture is set):
/// received frames inbound, frames the wire took outbound.
pub struct Tapped<'a> {
    pub inner: &'a mut dyn Uplink,
    pub capture: Option<&'a mut PortCapture>,
    pub now_ns: u64,
}

impl Uplink for Tapped<'_> {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.inner.receive(buf)?;
        if let Some(c) = self.capture.as_mut() {
            c.record(self.now_ns, Direction::Inbound, &buf[..n.min(buf.len())]);
        }
        Some(n)
    }

    fn transmit(&mut self, frame: &[u8]) -> bool {
        // Only what the wire took: a refused frame is the firmware's drop.
        let sent = self.inner.transmit(frame);
        if let (true, Some(c)) = (sent, self.capture.as_mut()) {
            c.record(self.now_ns, Direction::Outbound, frame);
        }
        sent
    }

    fn link_up(&self) -> bool {
        self.inner.link_up()
    }
}
