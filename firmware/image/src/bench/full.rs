//! The full data path, descriptors and DMA included: the real `Device`
//! serving a host-interface window in RAM, with this module playing the
//! hardware model and the host drivers (SR-IOV enable, each VF's reset and
//! MAC over the mailbox, rings in host memory).
//!
//! What one measurement covers is one or two `Device::poll` calls: the
//! doorbell scan, Tx descriptor reads and write-backs, the frame's copy out
//! of host memory (VF Tx) or from the uplink (wire Rx), parse, classify,
//! per-destination filters, RSS, Rx descriptor read, the frame's DMA into
//! the host buffer, the write-back, and the counters. The poll's fixed cost
//! is spread over the burst, as it is when serving.
//!
//! Table sizes are what the real control plane can hold: one MAC per VF
//! ("small"), or every MAC filter the board has plus every VF's multicast
//! hashes ("full"). The decision rows show flatness up to 4096 entries.

use super::{BURST, report, unicast_mac, write_frame};
use core::hint::black_box;
use firmware::admin::{Opcode, Status};
use firmware::device::Device;
use firmware::frame::{TPID_8021Q, Tag};
use firmware::mac::Mac;
use firmware::qm::QmRings;
use hal::arch::pmu::{InstructionCounter, without_interrupts};
use hal::board::capacities::{MAC_FILTERS, TOTAL_VFS};
use hal::chip::{HOST_MEMORY_BUS_BASE, HostInterface, REGISTERS_SIZE, SRIOV_CTRL};
use hal::ixgbe::desc::{
    SIZE as DESC, TX_CMD_DEXT, TX_CMD_EOP, TX_CMD_IFCS, TX_CMD_RS, TX_DTYP_DATA,
};
use hal::ixgbe::mbx::{self, ACK};
use hal::ixgbe::queuereg::{RXDCTL_ENABLE, TXDCTL_ENABLE};
use hal::mapped::MappedDma;
use hal::port::{Dma, Uplink};
use tock_registers::interfaces::{Readable, Writeable};

type Dev = Device<TOTAL_VFS>;

/// The port VLAN of the last VF (the one the port-VLAN paths use).
const PORT_VLAN: u16 = 100;

/// Descriptors per ring: a burst fits with room to spare.
const RING: u32 = 128;
/// Host memory per function (its IOMMU window).
const REGION: usize = 16 * 1024;
// Per queue pair: Rx ring, Tx ring; then one Rx buffer the Rx descriptors
// share, and the Tx frames.
const RX_RING_AT: usize = 0;
const TX_RING_AT: usize = 2 * RING as usize * DESC;
const RX_BUF_AT: usize = 4 * RING as usize * DESC;
const TX_FRAMES_AT: usize = RX_BUF_AT + 2048;
const FRAME: usize = 64;
const QUEUES: usize = 2;
const _: () = assert!(TX_FRAMES_AT + BURST * FRAME <= REGION);
const FUNCTIONS: usize = TOTAL_VFS + 1;

/// Bytes of host memory the bench's functions use.
const HOST_BYTES: usize = FUNCTIONS * REGION;

/// The physical port: hands out a burst, counts what is sent. Aligned, as
/// a MAC's receive buffers are.
#[repr(C, align(64))]
struct BurstUplink {
    frames: [[u8; FRAME]; BURST],
    /// The last frame sent (the wire's buffer).
    wire: [u8; 2048],
    next: usize,
    end: usize,
    sent: u32,
}

impl Uplink for BurstUplink {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.next == self.end {
            return None;
        }
        let f = &self.frames[self.next];
        self.next += 1;
        buf[..FRAME].copy_from_slice(f);
        Some(FRAME)
    }
    /// Copies the frame out, as virtio-net's transmit does (so that the
    /// paths to the wire pay for the copy the paths from it pay for).
    fn transmit(&mut self, frame: &[u8]) -> bool {
        hal::mem::copy(&mut self.wire, frame);
        black_box(&self.wire);
        self.sent += 1;
        true
    }
    fn link_up(&self) -> bool {
        true
    }
}

/// The queue manager of the `-qm` rows and the rings it shares with the
/// device, in free RAM past host memory.
struct Qm {
    manager: &'static mut queue_manager::QueueManager,
    rings: &'static mut QmRings,
}

/// Bursts a profile measures (`mode=bench only=PATH`).
const PROFILE_BURSTS: u64 = 20;

/// The host side: writes what the hardware model and the drivers would.
struct Host<'a> {
    /// Profile: only this path, repeated, and no report lines.
    only: Option<&'a str>,
    /// Frames through the PMU windows of a profile.
    profiled_frames: u64,
    hw: &'static HostInterface,
    /// Core address of host memory (bus address HOST_MEMORY_BUS_BASE).
    memory: *mut u8,
    dma: MappedDma,
    uplink: BurstUplink,
    now_ns: u64,
    /// Unicast (MAC, function) pairs installed, in order.
    macs: heapless::Vec<(Mac, usize), { MAC_FILTERS }>,
    /// Multicast hashes installed.
    mc_hashes: usize,
    pf_programmed: bool,
    /// The `-qm` rows: the rings are the queue manager's (the rig runs it
    /// between polls, outside the count), the device polls with
    /// `poll_qm`.
    qm: Qm,
    qm_on: bool,
    /// What the manager did in the last measured burst.
    qm_work: queue_manager::Work,
}

fn bus(f: usize, off: usize) -> u64 {
    HOST_MEMORY_BUS_BASE + (f * REGION + off) as u64
}

/// The host's own writes to its memory (as the device would see them).
fn host_write(host: &Host, addr: u64, data: &[u8]) {
    // SAFETY: the same memory `host.dma` covers, on this one core.
    let _ = unsafe { MappedDma::new(host.memory, HOST_BYTES as u64) }.write(addr, data);
}

fn desc_bytes(w: [u32; 4]) -> [u8; DESC] {
    let mut b = [0u8; DESC];
    for (i, x) in w.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    b
}

impl Host<'_> {
    fn poll(&mut self, dev: &mut Dev) {
        self.now_ns += 1_000_000;
        if self.qm_on {
            dev.poll_qm(self.hw, self.qm.rings, self.now_ns);
        } else {
            dev.poll(self.hw, &mut self.dma, &mut self.uplink, self.now_ns);
        }
    }

    /// The queue manager's pass (the hardware's work, not counted).
    fn serve(&mut self) {
        if self.qm_on {
            let Qm { manager, rings } = &mut self.qm;
            manager.serve(self.hw, rings, &mut self.dma, &mut self.uplink);
        }
    }

    /// Switches the rings' owner: every function's queues are set up again
    /// (heads 0, enabled), so whoever owns them now starts where the
    /// driver put them.
    fn own_rings(&mut self, dev: &mut Dev, qm: bool, functions: usize) {
        self.qm_on = qm;
        for f in 0..functions {
            self.program_function(f);
        }
        self.serve();
        self.poll(dev);
        self.serve();
    }

    fn kick(&self) {
        let g = &self.hw.global;
        g.event_seq.set(g.event_seq.get().wrapping_add(1));
    }

    /// Sets NumVFs and VF Enable, as config space would.
    fn set_vfs(&mut self, dev: &mut Dev, n: usize) {
        let g = &self.hw.global;
        g.sriov_ctrl
            .write(SRIOV_CTRL::NUM_VFS.val(n as u32) + SRIOV_CTRL::VF_ENABLE.val(u32::from(n > 0)));
        g.sriov_seq.set(g.sriov_seq.get().wrapping_add(1));
        self.kick();
        self.poll(dev);
    }

    /// One mailbox exchange for VF `i`; the reply's word 0.
    fn mailbox(&mut self, dev: &mut Dev, i: usize, msg: &[u32]) -> u32 {
        let slot = &self.hw.vf[i];
        for (r, w) in slot.request.iter().zip(msg) {
            r.set(*w);
        }
        slot.req_len.set(msg.len() as u32);
        let seq = slot.reply_seq.get();
        slot.req_seq.set(slot.req_seq.get().wrapping_add(1));
        hal::chip::announce_vf_slot(self.hw, i);
        self.poll(dev);
        let word0 = if slot.reply_seq.get() != seq {
            slot.reply[0].get()
        } else {
            0
        };
        // The VF read it: ACK.
        slot.vf_ack_seq.set(slot.vf_ack_seq.get().wrapping_add(1));
        hal::chip::announce_vf_slot(self.hw, i);
        self.poll(dev);
        word0
    }

    /// One admin command (as the PF driver sends it); the status.
    fn admin(&mut self, dev: &mut Dev, words: &[u32]) -> u32 {
        let a = &self.hw.admin;
        for (r, w) in a.request.iter().zip(words) {
            r.set(*w);
        }
        a.request_len.set(words.len() as u32);
        let doorbell = a.doorbell.get().wrapping_add(1);
        a.doorbell.set(doorbell);
        self.kick();
        self.poll(dev);
        if a.done.get() != doorbell {
            return u32::MAX;
        }
        a.response[0].get() >> 16
    }

    /// Enables `vfs` VFs; each resets and takes its MAC; with `full`, the
    /// MAC filters are filled with MAC-VLANs and each VF adds its share of
    /// multicast hashes. Programs every function's window and queues.
    fn configure(&mut self, dev: &mut Dev, vfs: usize, full: bool) -> Result<(), &'static str> {
        self.set_vfs(dev, 0);
        self.set_vfs(dev, vfs);
        if usize::from(dev.enabled_vfs()) != vfs {
            return Err("the device did not enable the VFs");
        }
        self.macs.clear();
        self.mc_hashes = 0;
        // Every VF at the defaults, then the last one behind port VLAN
        // PORT_VLAN (before the resets, so they pick it up).
        let all = u32::from(firmware::events::NO_VF) << 16;
        if self.admin(dev, &[Opcode::ResetVfConfig as u32 | all]) != Status::Ok as u32 {
            return Err("ResetVfConfig refused");
        }
        let pv = (vfs as u32 - 1) << 16;
        let vlan = [Opcode::SetVfVlan as u32 | pv, PORT_VLAN.into(), 0, 0x8100];
        if self.admin(dev, &vlan) != Status::Ok as u32 {
            return Err("SetVfVlan refused");
        }
        for i in 0..vfs {
            self.mailbox(dev, i, &[mbx::VF_RESET]);
            let mac = unicast_mac(i);
            let (lo, hi) = mac.to_words();
            if self.mailbox(dev, i, &[mbx::SET_MAC_ADDR, lo, hi]) & ACK == 0 {
                return Err("SET_MAC_ADDR refused");
            }
            let _ = self.macs.push((mac, 1 + i));
        }
        if full {
            // MAC-VLANs round-robin over the VFs until the pool says no
            // (each VF numbers its list from 1: the round, plus one).
            'fill: for round in 0..firmware::vf::MAX_MACVLANS_PER_VF {
                for i in 0..vfs {
                    if self.macs.is_full() {
                        break 'fill;
                    }
                    let mac = unicast_mac(0x10_0000 + round * TOTAL_VFS + i);
                    let (lo, hi) = mac.to_words();
                    let word0 = mbx::SET_MACVLAN | (round as u32 + 1) << mbx::MSGINFO_SHIFT;
                    if self.mailbox(dev, i, &[word0, lo, hi]) & ACK == 0 {
                        break 'fill;
                    }
                    let _ = self.macs.push((mac, 1 + i));
                }
            }
            // Multicast hashes: the most one message carries, per VF,
            // spread over the 4096-entry table.
            let n = mbx::MAX_MULTICAST_HASHES;
            for i in 0..vfs {
                let mut msg = [0u32; 1 + mbx::MAX_MULTICAST_HASHES / 2];
                msg[0] = mbx::SET_MULTICAST | (n as u32) << mbx::MSGINFO_SHIFT;
                for j in 0..n {
                    let h = ((i * n + j) * 4096 / (vfs * n)) as u32 & 0xfff;
                    msg[1 + j / 2] |= h << (16 * (j % 2));
                }
                if self.mailbox(dev, i, &msg) & ACK != 0 {
                    self.mc_hashes += n;
                }
            }
        }
        // The PF's queues once (its ring state lives on across SR-IOV
        // changes); the VFs' every time (enabling them starts at head 0).
        if !self.pf_programmed {
            self.program_function(0);
            self.pf_programmed = true;
        }
        for f in 1..=vfs {
            self.program_function(f);
        }
        // One poll to apply what changed (the classifier is rebuilt).
        self.poll(dev);
        Ok(())
    }

    /// The driver's part: window, rings, buffers; queues enabled.
    fn program_function(&self, f: usize) {
        let b = &self.hw.function[f];
        let base = bus(f, 0);
        b.dma_base_lo.set(base as u32);
        b.dma_base_hi.set((base >> 32) as u32);
        b.dma_size.set(REGION as u32);
        // RSS over every queue the rig sets up, as a VF driver says with
        // VFPSRTYPE.RQPL (ixgbevf: 1 for two queues).
        b.psrtype
            .set((QUEUES as u32).trailing_zeros() << hal::ixgbe::vfreg::PSRTYPE_RQPL_SHIFT);
        for (q, regs) in b.queues.iter().take(QUEUES).enumerate() {
            let rx = bus(f, RX_RING_AT + q * RING as usize * DESC);
            let tx = bus(f, TX_RING_AT + q * RING as usize * DESC);
            regs.rxdctl.set(0);
            regs.txdctl.set(0);
            regs.rdbal.set(rx as u32);
            regs.rdbah.set((rx >> 32) as u32);
            regs.rdlen.set(RING * DESC as u32);
            regs.srrctl.set(2);
            regs.tdbal.set(tx as u32);
            regs.tdbah.set((tx >> 32) as u32);
            regs.tdlen.set(RING * DESC as u32);
            // Heads 0, then enable: as the hardware does, the enable is
            // announced, and the firmware restarts the rings at the heads
            // on first use.
            regs.rx_start.set(0);
            regs.tx_start.set(0);
            regs.rdt.set(0);
            regs.tdt.set(0);
            regs.rxdctl.set(RXDCTL_ENABLE);
            regs.txdctl.set(TXDCTL_ENABLE);
            regs.rx_enable_seq
                .set(regs.rx_enable_seq.get().wrapping_add(1));
            regs.tx_enable_seq
                .set(regs.tx_enable_seq.get().wrapping_add(1));
        }
    }

    /// Posts every Rx buffer of the first `functions` functions again (the
    /// driver's refill, outside the measurement).
    fn refill_rx(&self, functions: usize) {
        for f in 0..functions {
            for (q, regs) in self.hw.function[f].queues.iter().take(QUEUES).enumerate() {
                let ring = bus(f, RX_RING_AT + q * RING as usize * DESC);
                let buf = bus(f, RX_BUF_AT);
                for d in 0..RING as u64 {
                    let w = [buf as u32, (buf >> 32) as u32, 0, 0];
                    host_write(self, ring + d * DESC as u64, &desc_bytes(w));
                }
                regs.rdt.set((rx_head(regs) + RING - 1) % RING);
            }
        }
    }

    /// Queues a burst on function `f`'s Tx queue 0 and rings the doorbell.
    fn post_tx(&self, f: usize, frames: &[[u8; FRAME]; BURST]) {
        let regs = &self.hw.function[f].queues[0];
        let ring = bus(f, TX_RING_AT);
        let mut tail = tx_head(regs);
        for (k, frame) in frames.iter().enumerate() {
            let at = bus(f, TX_FRAMES_AT + k * FRAME);
            host_write(self, at, frame);
            let cmd = TX_CMD_DEXT | TX_DTYP_DATA | TX_CMD_EOP | TX_CMD_IFCS | TX_CMD_RS;
            let w = [at as u32, (at >> 32) as u32, cmd | FRAME as u32, 0];
            host_write(self, ring + u64::from(tail) * DESC as u64, &desc_bytes(w));
            tail = (tail + 1) % RING;
        }
        regs.tdt.set(tail);
        hal::chip::ring_tx_doorbell(self.hw, f);
    }
}

/// Fills a burst: frame k to `dst(k)` from `src`.
fn fill(frames: &mut [[u8; FRAME]; BURST], dst: impl Fn(usize) -> Mac, src: Mac) {
    for (k, f) in frames.iter_mut().enumerate() {
        write_frame(f, dst(k), src, k);
    }
}

/// The heads as the host reads them (the hardware's rule): where the
/// driver put them, until the firmware has restarted the ring.
fn rx_head(regs: &hal::chip::QueueRegs) -> u32 {
    if regs.rx_enable_done.get() != regs.rx_enable_seq.get() {
        regs.rx_start.get()
    } else {
        regs.rdh.get()
    }
}

fn tx_head(regs: &hal::chip::QueueRegs) -> u32 {
    if regs.tx_enable_done.get() != regs.tx_enable_seq.get() {
        regs.tx_start.get()
    } else {
        regs.tdh.get()
    }
}

/// Frames received by the first `functions` functions, all told.
fn received(dev: &Dev, functions: usize) -> u64 {
    (0..functions)
        .filter_map(|f| dev.port_counters(f))
        .map(|c| c.rx_packets)
        .sum()
}

/// Where a burst's frames come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The uplink's frames (already in place).
    Wire,
    /// Function f's Tx queue 0.
    Tx(usize, &'a [[u8; FRAME]; BURST]),
}

/// The configuration a row is measured in.
#[derive(Clone, Copy)]
struct At {
    entries: usize,
    vfs: usize,
    /// Enabled VFs and the PF.
    functions: usize,
}

/// One measured path: its name (the budget key), its frames' source, what
/// must come of them, and what to say if it does not.
struct Case<'a> {
    path: &'static str,
    destinations: usize,
    source: Source<'a>,
    expect: Expect,
    failure: &'static str,
}

/// What a burst must achieve, or the run fails.
#[derive(Clone, Copy)]
enum Expect {
    /// This many frames in the functions' Rx rings, all told.
    Received(u64),
    /// This many frames on the wire.
    Sent(u32),
    /// This many frames dropped by function f's Tx policy (all told).
    TxDropped(usize, u64),
}

impl Host<'_> {
    /// One burst, measured: Rx buffers refilled, the frames offered, the
    /// device polled until they are through (at most four polls: a Tx
    /// queue sends 32 a poll). Instructions per frame, the polls' alone.
    fn burst(
        &mut self,
        pmu: &InstructionCounter,
        dev: &mut Dev,
        functions: usize,
        source: Source,
        expect: Expect,
    ) -> Result<u64, ()> {
        self.refill_rx(functions);
        let tx_dropped = |d: &Dev, f| d.port_counters(f).map_or(0, |c| c.tx_dropped);
        let (rx0, sent0) = (received(dev, functions), self.uplink.sent);
        let dropped0 = match expect {
            Expect::TxDropped(f, _) => tx_dropped(dev, f),
            _ => 0,
        };
        let polls = match source {
            // With a queue manager, a broadcast to every function takes a
            // poll for every few frames (the posts ring's room).
            Source::Wire if self.qm_on => {
                (self.uplink.next, self.uplink.end) = (0, BURST);
                BURST
            }
            Source::Wire => {
                (self.uplink.next, self.uplink.end) = (0, BURST);
                1
            }
            Source::Tx(f, frames) => {
                self.post_tx(f, frames);
                // With a queue manager, a poll asks for a queue's burst of
                // 32 and the next one switches it (with 256 VFs, as many
                // frames a poll as a broadcast to each would have room
                // for in the posts ring).
                if self.qm_on { BURST + 2 } else { 4 }
            }
        };
        let work0 = self.qm.manager.work;
        let done = |h: &Host, d: &Dev| match expect {
            Expect::Received(n) => received(d, functions) - rx0 == n,
            Expect::Sent(n) => h.uplink.sent - sent0 == n,
            Expect::TxDropped(f, n) => tx_dropped(d, f) - dropped0 == n,
        };
        // Only the polls are counted, not the check between them.
        let mut counted = 0;
        for _ in 0..polls {
            self.serve();
            counted += without_interrupts(|| {
                let before = pmu.read();
                self.poll(dev);
                pmu.read() - before
            });
            self.serve();
            if done(self, dev) {
                let w = self.qm.manager.work;
                // A delivery the manager could not make would be taken
                // back on the next poll: none may have failed.
                if w.failures != work0.failures {
                    return Err(());
                }
                self.qm_work = queue_manager::Work {
                    moves: w.moves - work0.moves,
                    bytes: w.bytes - work0.bytes,
                    ..queue_manager::Work::default()
                };
                return Ok(counted / BURST as u64);
            }
        }
        Err(())
    }

    /// One row: the case's burst measured warm and reported, or the run
    /// fails saying which delivery went wrong.
    fn row(
        &mut self,
        pmu: &InstructionCounter,
        dev: &mut Dev,
        at: At,
        case: Case,
    ) -> Result<(), &'static str> {
        match self.only {
            Some(p) if p != case.path => return Ok(()),
            Some(_) => {
                // A profile: every burst in the PMU windows, none reported.
                for _ in 0..PROFILE_BURSTS {
                    self.burst(pmu, dev, at.functions, case.source, case.expect)
                        .map_err(|_| case.failure)?;
                }
                self.profiled_frames += PROFILE_BURSTS * BURST as u64;
                return Ok(());
            }
            None => {}
        }
        let n = self
            .warm_burst(pmu, dev, at.functions, case.source, case.expect)
            .map_err(|_| case.failure)?;
        if self.qm_on {
            let w = self.qm_work;
            super::report_engine(
                case.path,
                at.entries,
                at.vfs,
                case.destinations,
                n,
                w.moves * 100 / BURST as u64,
                w.bytes / BURST as u64,
            );
        } else {
            report(case.path, at.entries, at.vfs, case.destinations, n);
        }
        Ok(())
    }

    /// The burst twice, the second measured: the first use of a queue
    /// after its VF was enabled resets its state, which is not the cost
    /// of a frame.
    fn warm_burst(
        &mut self,
        pmu: &InstructionCounter,
        dev: &mut Dev,
        functions: usize,
        source: Source,
        expect: Expect,
    ) -> Result<u64, ()> {
        self.burst(pmu, dev, functions, source, expect)?;
        self.burst(pmu, dev, functions, source, expect)
    }
}

/// One full path, 20 bursts in the first configuration (8 VFs, one MAC
/// each), for `cargo xtask bench --qemu --profile PATH`: it traces the run
/// and charges what executes between the PMU reads to source lines.
pub fn profile(pmu: &InstructionCounter, dev: &mut Dev, path: &str) -> Result<(), &'static str> {
    let frames = run(pmu, dev, Some(path))?;
    if frames == 0 {
        // No case has that name: the names are the full-path rows of
        // `cargo xtask bench --qemu`.
        return Err("not a full path (see the rows of cargo xtask bench --qemu)");
    }
    defmt::info!("profile: {} frames measured", frames);
    Ok(())
}

/// Every full path in every configuration (or, with `only`, one path in
/// the first); the frames a profile measured.
pub fn run(
    pmu: &InstructionCounter,
    dev: &mut Dev,
    only: Option<&str>,
) -> Result<u64, &'static str> {
    // The window's registers, then host memory, in the RAM past the image
    // (not static: every image would carry them).
    let (free, free_len) = hal::arch::free_ram::take().ok_or("free RAM already taken")?;
    let qm_at = (free + REGISTERS_SIZE + HOST_BYTES).next_multiple_of(64);
    let rings_at = (qm_at + size_of::<queue_manager::QueueManager>()).next_multiple_of(64);
    let end = rings_at + size_of::<QmRings>();
    if free_len < end - free {
        return Err("not enough free RAM for the window, host memory and the queue manager");
    }
    // SAFETY: free RAM is mapped, page-aligned, and ours alone (`take`);
    // zeroed before it is laid out as the register part of the window.
    let hw: &'static HostInterface = unsafe {
        core::ptr::write_bytes(free as *mut u8, 0, end - free);
        &*(free as *const HostInterface)
    };
    // SAFETY: zeroed, 64-aligned, past the window and host memory and
    // apart from each other; every field of both is an integer, a bool or
    // an enum whose zero is a variant, so all zeros is a valid value (the
    // manager's NEW and the rings' NEW are all zeros but the slots' `at`,
    // which the manager sets before it publishes a slot). Built in place:
    // as values they would pass through the 128 KiB stack.
    let qm = unsafe {
        Qm {
            manager: &mut *(qm_at as *mut queue_manager::QueueManager),
            rings: &mut *(rings_at as *mut QmRings),
        }
    };
    let memory = (free + REGISTERS_SIZE) as *mut u8;
    dev.attach(hw);
    let mut host = Host {
        only,
        profiled_frames: 0,
        hw,
        memory,
        // SAFETY: host memory, used as nothing else from here on.
        dma: unsafe { MappedDma::new(memory, HOST_BYTES as u64) },
        uplink: BurstUplink {
            frames: [[0; FRAME]; BURST],
            wire: [0; 2048],
            next: 0,
            end: 0,
            sent: 0,
        },
        now_ns: 0,
        macs: heapless::Vec::new(),
        mc_hashes: 0,
        pf_programmed: false,
        qm,
        qm_on: false,
        qm_work: queue_manager::Work::default(),
    };
    let stranger = Mac([0x02, 0xee, 0, 0, 0, 1]);
    for vfs in [8, 64, 256] {
        if vfs > TOTAL_VFS {
            continue;
        }
        for full in [false, true] {
            if only.is_some() && (vfs, full) != (8, false) {
                continue;
            }
            host.configure(dev, vfs, full)?;
            let entries = host.macs.len() + host.mc_hashes;
            let functions = vfs + 1;
            let sender = 1;
            let sender_mac = unicast_mac(0);
            // The port-VLAN VF takes only its VLAN: the plain paths leave
            // it out, the port-VLAN paths use it alone.
            let pv_function = vfs;
            // Indices into host.macs (not copies: the stack is 128 KiB and
            // the table holds up to 1024 entries).
            let plain: heapless::Vec<u16, { MAC_FILTERS }> = (0..host.macs.len())
                .filter(|&i| host.macs[i].1 != pv_function)
                .map(|i| i as u16)
                .collect();
            let others: heapless::Vec<u16, { MAC_FILTERS }> = plain
                .iter()
                .copied()
                .filter(|&i| host.macs[usize::from(i)].1 != sender)
                .collect();
            // The k-th of a burst's destinations, spread over `among`.
            let spread = |host: &Host, among: &[u16], k: usize| {
                host.macs[usize::from(among[k * among.len() / BURST])].0
            };

            // Idle: a poll with nothing to do (per poll, not per frame).
            if only.is_none() {
                let idle = without_interrupts(|| {
                    let before = pmu.read();
                    host.poll(dev);
                    pmu.read() - before
                });
                report("idle-poll", entries, vfs, 0, idle);
            }

            let at = At {
                entries,
                vfs,
                functions,
            };
            let one_each = Expect::Received(BURST as u64);
            let to_wire = Expect::Sent(BURST as u32);

            // Wire → VF: unicast spread over the whole table.
            let dsts: [Mac; BURST] = core::array::from_fn(|k| spread(&host, &plain, k));
            fill(&mut host.uplink.frames, |k| dsts[k], stranger);
            let case = Case {
                path: "uplink-to-vf",
                destinations: 1,
                source: Source::Wire,
                expect: one_each,
                failure: "uplink to VF: not every frame reached its VF's ring",
            };
            host.row(pmu, dev, at, case)?;

            // Wire → everyone: broadcast to the PF and every VF (but the
            // port-VLAN one: the frames are untagged).
            fill(&mut host.uplink.frames, |_| Mac::BROADCAST, stranger);
            let case = Case {
                path: "uplink-broadcast",
                destinations: functions,
                source: Source::Wire,
                expect: Expect::Received((BURST * (functions - 1)) as u64),
                failure: "uplink broadcast: not every function got every frame",
            };
            host.row(pmu, dev, at, case)?;

            // VF → wire: to an address no function owns.
            let nobody = |k: usize| Mac([0x02, 0xdd, 0, 0, 0, k as u8]);
            let mut frames = [[0u8; FRAME]; BURST];
            fill(&mut frames, nobody, sender_mac);
            let case = Case {
                path: "vf-to-uplink",
                destinations: 1,
                source: Source::Tx(sender, &frames),
                expect: to_wire,
                failure: "VF to uplink: not every frame reached the wire",
            };
            host.row(pmu, dev, at, case)?;

            // VF → VF: to the other VFs' addresses, spread over the table.
            let to_others: [Mac; BURST] = core::array::from_fn(|k| spread(&host, &others, k));
            fill(&mut frames, |k| to_others[k], sender_mac);
            let case = Case {
                path: "vf-to-vf",
                destinations: 1,
                source: Source::Tx(sender, &frames),
                expect: one_each,
                failure: "VF to VF: not every frame reached its VF's ring",
            };
            host.row(pmu, dev, at, case)?;

            // Anti-spoof: VF 1 sends from an address it does not own;
            // every frame is dropped (the cost of saying no).
            fill(&mut frames, |k| to_others[k], stranger);
            let case = Case {
                path: "vf-tx-spoofed",
                destinations: 1,
                source: Source::Tx(sender, &frames),
                expect: Expect::TxDropped(sender, BURST as u64),
                failure: "spoofed VF Tx: not every frame was dropped",
            };
            host.row(pmu, dev, at, case)?;

            // Port VLAN out: the port-VLAN VF sends untagged, the wire
            // gets them tagged.
            let pv_mac = unicast_mac(pv_function - 1);
            fill(&mut frames, nobody, pv_mac);
            let case = Case {
                path: "vf-to-uplink-port-vlan",
                destinations: 1,
                source: Source::Tx(pv_function, &frames),
                expect: to_wire,
                failure: "port VLAN out: not every frame reached the wire",
            };
            host.row(pmu, dev, at, case)?;

            // Port VLAN in: tagged frames from the wire, stripped into the
            // port-VLAN VF's ring.
            let tag = Tag {
                tpid: TPID_8021Q,
                tci: PORT_VLAN,
            };
            for (k, f) in host.uplink.frames.iter_mut().enumerate() {
                let mut plain = [0u8; FRAME];
                write_frame(&mut plain, pv_mac, stranger, k);
                let mut tagged = [0u8; FRAME + 4];
                let _ = firmware::frame::insert_tag(&plain, tag, &mut tagged);
                f.copy_from_slice(&tagged[..FRAME]);
            }
            let case = Case {
                path: "uplink-to-vf-port-vlan",
                destinations: 1,
                source: Source::Wire,
                expect: one_each,
                failure: "port VLAN in: not every frame reached the VF's ring",
            };
            host.row(pmu, dev, at, case)?;

            // The same paths with a queue manager owning the rings: the
            // core's share of each frame, and the manager's moves.
            host.own_rings(dev, true, functions);
            fill(&mut host.uplink.frames, |k| dsts[k], stranger);
            let case = Case {
                path: "uplink-to-vf-qm",
                destinations: 1,
                source: Source::Wire,
                expect: one_each,
                failure: "uplink to VF (queue manager): not every frame reached its VF's ring",
            };
            host.row(pmu, dev, at, case)?;
            fill(&mut host.uplink.frames, |_| Mac::BROADCAST, stranger);
            let case = Case {
                path: "uplink-broadcast-qm",
                destinations: functions,
                source: Source::Wire,
                expect: Expect::Received((BURST * (functions - 1)) as u64),
                failure: "uplink broadcast (queue manager): not every function got every frame",
            };
            host.row(pmu, dev, at, case)?;
            fill(&mut frames, nobody, sender_mac);
            let case = Case {
                path: "vf-to-uplink-qm",
                destinations: 1,
                source: Source::Tx(sender, &frames),
                expect: to_wire,
                failure: "VF to uplink (queue manager): not every frame reached the wire",
            };
            host.row(pmu, dev, at, case)?;
            fill(&mut frames, |k| to_others[k], sender_mac);
            let case = Case {
                path: "vf-to-vf-qm",
                destinations: 1,
                source: Source::Tx(sender, &frames),
                expect: one_each,
                failure: "VF to VF (queue manager): not every frame reached its VF's ring",
            };
            host.row(pmu, dev, at, case)?;
            host.own_rings(dev, false, functions);
        }
    }
    // Leave the device as a boot would find it.
    host.set_vfs(dev, 0);
    Ok(host.profiled_frames)
}
