//! The fuzz rig: the firmware's device logic over plain memory, with this
//! code playing the hardware's side of the window (sequence counters,
//! mailbox slots, queue registers, IOMMU windows). Every target checks the
//! same invariants after every step: no panic, the pools' books balance,
//! every port's frames are accounted for, and nothing outside a function's
//! DMA window is written.

use firmware::device::{Capacities, Device};
use hal::chip::{HOST_MEMORY_BUS_BASE, HostInterface, REGISTERS_SIZE, SRIOV_CTRL};
use hal::port::{Dma, Uplink};
use std::collections::VecDeque;
use tock_registers::interfaces::{Readable, Writeable};

pub const VFS: u16 = 8;
/// Each function's DMA window in the rig.
pub const WINDOW: u64 = 64 * 1024;
/// Host memory: the PF, the VFs, and one spare window nobody owns (a
/// canary: nothing may ever write it).
pub const HOST_BYTES: usize = (VFS as usize + 2) * WINDOW as usize;

pub struct HostMem(pub Vec<u8>);

impl Dma for HostMem {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(off) = addr.checked_sub(HOST_MEMORY_BUS_BASE) else {
            return false;
        };
        let (off, n) = (off as usize, buf.len());
        if off.checked_add(n).is_none_or(|e| e > self.0.len()) {
            return false;
        }
        buf.copy_from_slice(&self.0[off..off + n]);
        true
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let Some(off) = addr.checked_sub(HOST_MEMORY_BUS_BASE) else {
            return false;
        };
        let (off, n) = (off as usize, data.len());
        if off.checked_add(n).is_none_or(|e| e > self.0.len()) {
            return false;
        }
        self.0[off..off + n].copy_from_slice(data);
        true
    }
}

#[derive(Default)]
pub struct MemUplink {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: usize,
}

impl Uplink for MemUplink {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let f = self.rx.pop_front()?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Some(f.len())
    }
    fn transmit(&mut self, _frame: &[u8]) -> bool {
        self.tx += 1;
        true
    }
    fn link_up(&self) -> bool {
        true
    }
}

pub struct Rig {
    window: Vec<u64>,
    pub host: HostMem,
    pub uplink: MemUplink,
    pub device: Box<Device<{ VFS as usize }>>,
    now: u64,
}

fn bump(r: &tock_registers::registers::ReadWrite<u32>) {
    r.set(r.get().wrapping_add(1));
}

impl Rig {
    /// A device with `VFS` VFs enabled and served.
    pub fn new() -> Rig {
        let caps = Capacities {
            total_vfs: VFS,
            queue_pairs_per_vf: 2,
            pf_queue_pairs: 2,
            mac_filters: 32,
            vlan_filters: 16,
            multicast_hashes: 64,
        };
        let mut rig = Rig {
            window: vec![0; REGISTERS_SIZE / 8],
            host: HostMem(vec![0; HOST_BYTES]),
            uplink: MemUplink::default(),
            device: Box::new(Device::new(caps)),
            now: 0,
        };
        for f in 0..=usize::from(VFS) {
            let b = &rig.hw().function[f];
            let start = HOST_MEMORY_BUS_BASE + f as u64 * WINDOW;
            b.dma_base_lo.set(start as u32);
            b.dma_base_hi.set((start >> 32) as u32);
            b.dma_size.set(WINDOW as u32);
        }
        let hw: *const HostInterface = rig.hw();
        // SAFETY: the window outlives this call; the device only keeps
        // values, not the reference.
        rig.device.attach(unsafe { &*hw });
        let g = &rig.hw().global;
        g.sriov_ctrl
            .write(SRIOV_CTRL::NUM_VFS.val(u32::from(VFS)) + SRIOV_CTRL::VF_ENABLE::SET);
        bump(&g.sriov_seq);
        bump(&g.event_seq);
        rig.poll();
        rig
    }

    pub fn hw(&self) -> &HostInterface {
        // SAFETY: REGISTERS_SIZE bytes, 8-aligned, all-zero valid.
        unsafe { &*(self.window.as_ptr() as *const HostInterface) }
    }

    pub fn poll(&mut self) {
        self.now += 1_000;
        let hw: *const HostInterface = self.hw();
        // SAFETY: as in `new`; the window is not resized.
        self.device
            .poll(unsafe { &*hw }, &mut self.host, &mut self.uplink, self.now);
    }

    /// VF `vf` sends a mailbox message of `len` words.
    pub fn message(&mut self, vf: usize, words: &[u32], len: u32) {
        let s = &self.hw().vf[vf % usize::from(VFS)];
        for (r, w) in s.request.iter().zip(words) {
            r.set(*w);
        }
        s.req_len.set(len);
        bump(&s.req_seq);
        bump(&self.hw().global.event_seq);
        self.poll();
    }

    /// VF `vf` is reset (VFCTRL.RST, or FLR with `flr`).
    pub fn reset(&mut self, vf: usize, flr: bool) {
        let s = &self.hw().vf[vf % usize::from(VFS)];
        s.reset_cause.set(if flr { 2 } else { 1 });
        bump(&s.reset_seq);
        bump(&self.hw().global.event_seq);
        self.poll();
    }

    /// VF `vf` acknowledges a message, or breaks the protocol.
    pub fn ack(&mut self, vf: usize) {
        bump(&self.hw().vf[vf % usize::from(VFS)].vf_ack_seq);
        bump(&self.hw().global.event_seq);
        self.poll();
    }

    pub fn violation(&mut self, vf: usize, code: u32) {
        // Any kind the window has a counter for.
        let s = &self.hw().vf[vf % usize::from(VFS)];
        bump(&s.violation_seq[code as usize % s.violation_seq.len()]);
        bump(&self.hw().global.event_seq);
        self.poll();
    }

    /// The PF driver's admin request (`words`, claimed length `len`).
    pub fn admin(&mut self, words: &[u32], len: u32) {
        let a = &self.hw().admin;
        for (r, w) in a.request.iter().zip(words) {
            r.set(*w);
        }
        a.request_len.set(len);
        bump(&a.doorbell);
        bump(&self.hw().global.event_seq);
        // The PF driver drains events, so the ring does not fill forever.
        a.event_tail.set(a.event_head.get());
        self.poll();
    }

    /// Writes a function's queue register by index (0..15, the hw-owned
    /// fields of `QueueRegs` in order) and rings its Tx doorbell.
    pub fn queue_reg(&mut self, f: usize, q: usize, reg: usize, value: u32) {
        let qr = &self.hw().function[f % (usize::from(VFS) + 1)].queues[q % 8];
        let r = [
            &qr.rdbal,
            &qr.rdbah,
            &qr.rdlen,
            &qr.rdt,
            &qr.srrctl,
            &qr.rxdctl,
            &qr.tdbal,
            &qr.tdbah,
            &qr.tdlen,
            &qr.tdt,
            &qr.txdctl,
            &qr.rx_start,
            &qr.tx_start,
            &qr.rx_enable_seq,
            &qr.tx_enable_seq,
        ];
        r[reg % r.len()].set(value);
        hal::chip::ring_tx_doorbell(self.hw(), f % (usize::from(VFS) + 1));
        self.poll();
    }

    /// The invariants every target checks after every step.
    pub fn check(&self) {
        if let Err(e) = self.device.audit() {
            panic!("pool audit: {e}");
        }
        assert!(self.device.uplink_counters().balanced(), "uplink books");
        for f in 0..=usize::from(VFS) {
            if let Some(c) = self.device.port_counters(f) {
                assert!(c.balanced(), "function {f} books: {c:?}");
            }
        }
        let canary = (usize::from(VFS) + 1) * WINDOW as usize;
        assert!(
            self.host.0[canary..].iter().all(|b| *b == 0),
            "memory outside every function's window was written"
        );
    }
}

impl Default for Rig {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads little-endian words from fuzz bytes.
pub fn words(data: &[u8]) -> Vec<u32> {
    data.chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(b)
        })
        .collect()
}
