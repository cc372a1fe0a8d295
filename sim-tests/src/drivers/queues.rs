//! Queue pairs as a VF driver programs them: the 82599 ring registers,
//! advanced Rx descriptors with posted buffers, and Tx descriptors (with a
//! context descriptor when a VLAN is inserted). Used for VFs (BAR offset 0)
//! and the PF (its queue registers sit at `pfreg::QUEUES`).

use crate::transport::Transport;
use hal::ixgbe::desc::*;
use hal::ixgbe::queuereg::*;

/// A received frame and its write-back fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxFrame {
    pub queue: u32,
    pub data: Vec<u8>,
    /// Status of the last descriptor (DD, EOP, VP, LB, ...).
    pub status: u32,
    /// VLAN field of the write-back (valid with VP).
    pub vlan: u16,
    pub rss_hash: u32,
    /// pkt_info: RSS type (3:0) and packet type.
    pub pkt_info: u32,
    /// Descriptors the frame used.
    pub descriptors: usize,
}

struct Ring {
    base: u64,
    count: u32,
    bufs: Vec<u64>,
    /// Rx: next descriptor to look at. Tx: tail.
    next: u32,
    /// Tx: oldest descriptor not yet seen done.
    clean: u32,
}

pub struct QueuePair {
    q: u32,
    rx: Ring,
    tx: Ring,
    /// Partial frame across descriptors.
    partial: Vec<u8>,
    partial_descs: usize,
}

pub struct Rings {
    /// Records every frame this function's driver sends (outbound) and
    /// receives (inbound): the function's port in a capture.
    pub capture: Option<crate::capture::PortCapture>,
    pub rid: u16,
    /// Offset of the 82599 queue registers in the function's BAR.
    pub base: u32,
    pub buf_size: usize,
    pub pairs: Vec<QueuePair>,
    buf_kib: u32,
    vme: bool,
}

fn words(d: [u32; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (i, w) in d.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    b
}

fn unwords(b: &[u8; 16]) -> [u32; 4] {
    let w = |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
    [w(0), w(1), w(2), w(3)]
}

impl Rings {
    /// Sets up `queues` pairs of `count` descriptors with `buf_kib` KiB
    /// buffers (VME: strip VLAN tags into the descriptor).
    pub fn setup(
        t: &mut impl Transport,
        rid: u16,
        base: u32,
        queues: u32,
        count: u32,
        buf_kib: u32,
        vme: bool,
    ) -> Result<Rings, String> {
        let buf_size = buf_kib as usize * 1024;
        let mut pairs = Vec::new();
        for q in 0..queues {
            let mut alloc = |len: u64, align: u64| {
                t.dma_alloc(rid, len, align)
                    .ok_or_else(|| format!("host memory of function {rid:#x} is full"))
            };
            let tx_base = alloc(u64::from(count) * 16, 128)?;
            let rx_base = alloc(u64::from(count) * 16, 128)?;
            let tx_bufs = (0..count)
                .map(|_| alloc(buf_size as u64, 64))
                .collect::<Result<Vec<_>, _>>()?;
            let rx_bufs = (0..count)
                .map(|_| alloc(buf_size as u64, 64))
                .collect::<Result<Vec<_>, _>>()?;
            let ring = |base, bufs| Ring {
                base,
                count,
                bufs,
                next: 0,
                clean: 0,
            };
            pairs.push(QueuePair {
                q,
                rx: ring(rx_base, rx_bufs),
                tx: ring(tx_base, tx_bufs),
                partial: Vec::new(),
                partial_descs: 0,
            });
        }
        let mut rings = Rings {
            capture: None,
            rid,
            base,
            buf_size,
            pairs,
            buf_kib,
            vme,
        };
        rings.program(t);
        Ok(rings)
    }

    /// Sets the same rings (the memory the driver already has) up again,
    /// empty, as a driver does after its function was reset; `rid` is the
    /// function's routing ID now (a VF's follows NumVFs).
    pub fn restart(&mut self, t: &mut impl Transport, rid: u16) {
        self.rid = rid;
        for p in &mut self.pairs {
            for r in [&mut p.rx, &mut p.tx] {
                r.next = 0;
                r.clean = 0;
            }
            p.partial.clear();
            p.partial_descs = 0;
        }
        self.program(t);
    }

    /// Programs every queue pair's registers and posts the Rx buffers.
    fn program(&mut self, t: &mut impl Transport) {
        let (rid, base) = (self.rid, self.base);
        if base == 0 {
            // A VF tells the device over how many Rx queues RSS may spread
            // (VFPSRTYPE.RQPL), as ixgbevf and DPDK do; the PF has no such
            // register in its map.
            let rqpl = match self.pairs.len() {
                0 | 1 => 0,
                2 | 3 => 1,
                _ => 2,
            };
            t.bar_write32(
                rid,
                hal::ixgbe::vfreg::VFPSRTYPE,
                rqpl << hal::ixgbe::vfreg::PSRTYPE_RQPL_SHIFT,
            );
        }
        for pair in &mut self.pairs {
            let (q, count) = (pair.q, pair.tx.count);
            let (tx_base, rx_base) = (pair.tx.base, pair.rx.base);
            let r = |off: u32| base + off;
            // As ixgbevf does on every ring set-up: the queues are stopped
            // first, and only then given their rings and heads.
            t.bar_write32(rid, r(txdctl(q)), TXDCTL_SWFLSH);
            t.bar_write32(rid, r(rxdctl(q)), 0);
            t.bar_write32(rid, r(tdbal(q)), tx_base as u32);
            t.bar_write32(rid, r(tdbah(q)), (tx_base >> 32) as u32);
            t.bar_write32(rid, r(tdlen(q)), count * 16);
            t.bar_write32(rid, r(tdh(q)), 0);
            t.bar_write32(rid, r(tdt(q)), 0);
            t.bar_write32(rid, r(tdwbal(q)), 0);
            t.bar_write32(rid, r(tdwbah(q)), 0);
            t.bar_write32(rid, r(txdctl(q)), TXDCTL_ENABLE);
            t.bar_write32(rid, r(rdbal(q)), rx_base as u32);
            t.bar_write32(rid, r(rdbah(q)), (rx_base >> 32) as u32);
            t.bar_write32(rid, r(rdlen(q)), count * 16);
            t.bar_write32(rid, r(rdh(q)), 0);
            t.bar_write32(rid, r(rdt(q)), 0);
            t.bar_write32(
                rid,
                r(srrctl(q)),
                self.buf_kib | SRRCTL_DESCTYPE_ADV_ONEBUF | SRRCTL_DROP_EN,
            );
            t.bar_write32(
                rid,
                r(rxdctl(q)),
                RXDCTL_ENABLE | if self.vme { RXDCTL_VME } else { 0 },
            );
            // Post every buffer but one (a full ring looks empty).
            for i in 0..count {
                Self::post(t, &mut pair.rx, i);
            }
            t.bar_write32(rid, r(rdt(q)), count - 1);
        }
    }

    fn post(t: &mut impl Transport, ring: &mut Ring, i: u32) {
        let addr = ring.bufs[i as usize];
        t.dma_write(
            ring.base + u64::from(i) * 16,
            &words([addr as u32, (addr >> 32) as u32, 0, 0]),
        );
    }

    /// Writes one Tx descriptor at the tail (no doorbell).
    pub fn push_tx_desc(&mut self, t: &mut impl Transport, q: usize, d: [u32; 4]) -> bool {
        let ring = &mut self.pairs[q].tx;
        if (ring.next + 1) % ring.count == ring.clean {
            return false;
        }
        t.dma_write(ring.base + u64::from(ring.next) * 16, &words(d));
        ring.next = (ring.next + 1) % ring.count;
        true
    }

    /// Rings the Tx doorbell of queue `q` (TDT = tail), or any value.
    pub fn doorbell(&mut self, t: &mut impl Transport, q: usize, tail: Option<u32>) {
        let p = &self.pairs[q];
        let tail = tail.unwrap_or(p.tx.next);
        t.bar_write32(self.rid, self.base + tdt(p.q), tail);
    }

    /// Queues a frame on queue `q` (in buffer-sized pieces), with a VLAN
    /// tag to insert; rings the doorbell. False if the ring is full.
    pub fn send(
        &mut self,
        t: &mut impl Transport,
        q: usize,
        frame: &[u8],
        vlan: Option<u16>,
    ) -> bool {
        self.reap(t, q);
        let pieces: Vec<&[u8]> = frame.chunks(self.buf_size).collect();
        let need = pieces.len().max(1) + usize::from(vlan.is_some());
        let ring = &self.pairs[q].tx;
        let free = (ring.clean + ring.count - ring.next - 1) % ring.count;
        if (free as usize) < need {
            return false;
        }
        if let Some(tag) = vlan {
            self.push_tx_desc(
                t,
                q,
                [
                    u32::from(tag) << 16 | 14 << 9,
                    0,
                    TX_CMD_DEXT | TX_DTYP_CTXT,
                    0,
                ],
            );
        }
        if let Some(c) = self.capture.as_mut() {
            c.record(t.now_ns(), crate::capture::Direction::Outbound, frame);
        }
        let total = frame.len() as u32;
        for (i, piece) in pieces.iter().enumerate() {
            let ring = &self.pairs[q].tx;
            let buf = ring.bufs[ring.next as usize];
            t.dma_write(buf, piece);
            let last = i + 1 == pieces.len();
            let mut cmd = piece.len() as u32 | TX_DTYP_DATA | TX_CMD_DEXT | TX_CMD_IFCS;
            if last {
                cmd |= TX_CMD_EOP | TX_CMD_RS;
            }
            if vlan.is_some() {
                cmd |= TX_CMD_VLE;
            }
            let olinfo = total << TX_PAYLEN_SHIFT | TX_OLINFO_CC;
            self.push_tx_desc(t, q, [buf as u32, (buf >> 32) as u32, cmd, olinfo]);
        }
        self.doorbell(t, q, None);
        true
    }

    /// Moves the Tx clean index past descriptors the device finished
    /// (the head register); returns how many.
    pub fn reap(&mut self, t: &mut impl Transport, q: usize) -> u32 {
        let head = t.bar_read32(self.rid, self.base + tdh(self.pairs[q].q));
        let ring = &mut self.pairs[q].tx;
        let done = (head + ring.count - ring.clean) % ring.count;
        ring.clean = head % ring.count;
        done
    }

    /// Whether the device has taken every frame queued on every Tx queue
    /// (reaping what it finished).
    pub fn tx_drained(&mut self, t: &mut impl Transport) -> bool {
        (0..self.pairs.len()).all(|q| {
            self.reap(t, q);
            let ring = &self.pairs[q].tx;
            ring.clean == ring.next
        })
    }

    /// Reads a Tx descriptor back (to see DD).
    pub fn tx_desc(&self, t: &mut impl Transport, q: usize, i: u32) -> [u32; 4] {
        let mut b = [0u8; 16];
        t.dma_read(self.pairs[q].tx.base + u64::from(i) * 16, &mut b);
        unwords(&b)
    }

    /// Collects every complete frame the device wrote back, refilling the
    /// buffers as ixgbevf does.
    pub fn receive(&mut self, t: &mut impl Transport) -> Vec<RxFrame> {
        let mut out = Vec::new();
        for p in self.pairs.iter_mut() {
            let mut refilled = false;
            loop {
                let at = p.rx.base + u64::from(p.rx.next) * 16;
                let mut b = [0u8; 16];
                t.dma_read(at, &mut b);
                let d = unwords(&b);
                if d[2] & RX_STAT_DD == 0 {
                    break;
                }
                let len = (d[3] & 0xffff) as usize;
                let mut data = vec![0u8; len];
                t.dma_read(p.rx.bufs[p.rx.next as usize], &mut data);
                p.partial.extend_from_slice(&data);
                p.partial_descs += 1;
                if d[2] & RX_STAT_EOP != 0 {
                    if let Some(c) = self.capture.as_mut() {
                        c.record(t.now_ns(), crate::capture::Direction::Inbound, &p.partial);
                    }
                    out.push(RxFrame {
                        queue: p.q,
                        data: std::mem::take(&mut p.partial),
                        status: d[2],
                        vlan: (d[3] >> 16) as u16,
                        rss_hash: d[1],
                        pkt_info: d[0] & 0xffff,
                        descriptors: std::mem::take(&mut p.partial_descs),
                    });
                }
                let i = p.rx.next;
                Self::post(t, &mut p.rx, i);
                p.rx.next = (p.rx.next + 1) % p.rx.count;
                refilled = true;
            }
            if refilled {
                let tail = (p.rx.next + p.rx.count - 1) % p.rx.count;
                t.bar_write32(self.rid, self.base + rdt(p.q), tail);
            }
        }
        out
    }

    /// Stops posting buffers: RDT = next (the ring looks empty to the device).
    pub fn starve_rx(&mut self, t: &mut impl Transport, q: usize) {
        let p = &self.pairs[q];
        let head = t.bar_read32(self.rid, self.base + rdh(p.q));
        t.bar_write32(self.rid, self.base + rdt(p.q), head);
    }

    /// The function's good-packet counters as its BAR shows them:
    /// (GPRC, GPTC, GORC, GOTC, MPRC).
    pub fn stats(&self, t: &mut impl Transport) -> (u32, u32, u64, u64, u32) {
        let r = |t: &mut dyn FnMut(u32) -> u32, off| t(self.base + off);
        let mut rd = |off: u32| t.bar_read32(self.rid, off);
        let gorc = u64::from(r(&mut rd, VFGORC_LSB)) | u64::from(r(&mut rd, VFGORC_MSB)) << 32;
        let gotc = u64::from(r(&mut rd, VFGOTC_LSB)) | u64::from(r(&mut rd, VFGOTC_MSB)) << 32;
        (
            r(&mut rd, VFGPRC),
            r(&mut rd, VFGPTC),
            gorc,
            gotc,
            r(&mut rd, VFMPRC),
        )
    }
}
