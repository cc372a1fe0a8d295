//! The chip's host-interface window: the register blocks between the
//! firmware and the PCIe-facing hardware (on silicon, the endpoint's CSRs;
//! under QEMU and in the simulation, the hardware model on the other side of
//! a shared-memory window).
//!
//! The rule that makes one layout work in all three places: **every field
//! has exactly one writer**. Events are sequence counters, not
//! write-1-to-clear bits: the writer increments `*_seq`, the other side
//! records how far it got in its own `*_done`. "Pending" is `seq != done`.
//! That needs no atomic read-modify-write across the boundary, so it is
//! correct on plain shared memory (ivshmem between QEMU and a host process),
//! on silicon CSRs, and in one process. Writers publish data before the
//! counter that announces it (a release fence between the two).
//!
//! Field ownership is in each field's name block: `fw` = written by the
//! firmware, `hw` = written by the hardware (model), read by the firmware.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::{register_bitfields, register_structs};

/// `magic` once the firmware has initialised the window: "SRIV".
pub const WINDOW_MAGIC: u32 = 0x5352_4956;
/// Bumped on any incompatible change of this layout.
pub const LAYOUT_VERSION: u32 = 5;
/// VF slots in the window (PCIe's limit with ARI); boards enable fewer.
pub const MAX_VFS: usize = 256;
/// Words in an admin request or response.
pub const ADMIN_WORDS: usize = 32;
/// Entries in the firmware-to-PF event ring.
pub const EVENT_RING_LEN: usize = 256;
/// Functions with a block in the window: the PF (0) and VFs 1..=MAX_VFS.
pub const MAX_FUNCTIONS: usize = MAX_VFS + 1;
/// Queue pairs a function's block has room for (the 82599 VF map's 8).
pub const MAX_QUEUES: usize = 8;
/// Size of the register part of the window; the rest is host memory for DMA.
pub const REGISTERS_SIZE: usize = 0x8_0000;
/// Host memory behind the IOMMU: bus address `HOST_MEMORY_BUS_BASE + x` is
/// window offset `REGISTERS_SIZE + x` (under QEMU; on silicon the PCIe
/// endpoint's DMA engine reaches real host memory).
pub const HOST_MEMORY_BUS_BASE: u64 = 0x1_0000_0000;
/// Functions per Tx doorbell group ([`Global::tx_doorbell_group_seq`]).
pub const DOORBELL_GROUP: usize = 32;
/// Tx doorbell groups.
pub const DOORBELL_GROUPS: usize = MAX_FUNCTIONS.div_ceil(DOORBELL_GROUP);
/// VF slots per mailbox group ([`Global::vf_group_seq`]).
pub const VF_GROUP: usize = 8;
/// Mailbox groups.
pub const VF_GROUPS: usize = MAX_VFS.div_ceil(VF_GROUP);
/// Kinds of [`MailboxViolation`] (one counter each in [`VfSlot`]).
pub const VIOLATION_KINDS: usize = 3;
/// Bytes of host memory per function's IOMMU window.
pub const DMA_WINDOW_SIZE: u64 = 1 << 20;

register_bitfields! [u32,
    /// Firmware status (fw).
    pub FW_STATUS [
        /// The firmware has initialised the window and serves it.
        READY OFFSET(0) NUMBITS(1) [],
        /// The firmware stopped (panic or exception) and will not answer.
        HALTED OFFSET(1) NUMBITS(1) [],
    ],
    /// SR-IOV control as the PF driver wrote it to config space (hw).
    pub SRIOV_CTRL [
        NUM_VFS OFFSET(0) NUMBITS(16) [],
        VF_ENABLE OFFSET(16) NUMBITS(1) [],
    ],
    /// Why a VF slot's reset was requested (hw).
    pub RESET_CAUSE [
        CAUSE OFFSET(0) NUMBITS(8) [
            None = 0,
            /// The VF driver wrote VFCTRL.RST.
            VfctrlRst = 1,
            /// Function Level Reset through config space.
            Flr = 2
        ],
    ],
];

register_structs! {
    /// Global state.
    pub Global {
        /// fw: [`WINDOW_MAGIC`].
        (0x000 => pub magic: ReadWrite<u32>),
        /// fw: [`LAYOUT_VERSION`].
        (0x004 => pub layout_version: ReadWrite<u32>),
        /// fw: READY / HALTED.
        (0x008 => pub fw_status: ReadWrite<u32, FW_STATUS::Register>),
        /// fw: incremented every main-loop pass; a stuck value means the
        /// firmware stopped answering.
        (0x00c => pub heartbeat: ReadWrite<u32>),
        /// fw: TotalVFs of this board.
        (0x010 => pub total_vfs: ReadWrite<u32>),
        /// fw: queue pairs per VF.
        (0x014 => pub queue_pairs_per_vf: ReadWrite<u32>),
        /// fw: VFs the firmware serves now (NumVFs once applied).
        (0x018 => pub vfs_enabled: ReadWrite<u32>),
        /// fw: the `sriov_seq` last applied.
        (0x01c => pub sriov_done: ReadWrite<u32>),
        /// fw: the `pcie_error_seq` last logged.
        (0x020 => pub pcie_error_done: ReadWrite<u32>),
        (0x024 => _reserved_fw),
        /// hw: bumped after any change the firmware should look at (a
        /// summary doorbell: the firmware scans only when it moved).
        (0x040 => pub event_seq: ReadWrite<u32>),
        /// hw: bumped when NumVFs or VF Enable change.
        (0x044 => pub sriov_seq: ReadWrite<u32>),
        /// hw: NumVFs and VF Enable as the PF driver wrote them.
        (0x048 => pub sriov_ctrl: ReadWrite<u32, SRIOV_CTRL::Register>),
        /// hw: bumped when the hardware refused a host write (e.g. NumVFs
        /// changed while VF Enable is set).
        (0x04c => pub pcie_error_seq: ReadWrite<u32>),
        /// hw: what was refused: [`PcieError`] code in bits 7:0, the
        /// routing ID in bits 31:16.
        (0x050 => pub pcie_error: ReadWrite<u32>),
        /// hw: bumped on every Tx tail write of any function (the summary
        /// doorbell; each function's block has its own).
        (0x054 => pub tx_doorbell_seq: ReadWrite<u32>),
        /// hw: bumped on every Tx tail write of a function in group g
        /// (functions 32g..32g+31), so the firmware looks at one group's
        /// functions rather than all of them.
        (0x058 => pub tx_doorbell_group_seq: [ReadWrite<u32>; DOORBELL_GROUPS]),
        /// hw: bumped after any hw-owned counter of a VF slot in group g
        /// (VFs 8g..8g+7: request, ack, reset, violations) moved, so a scan
        /// reads the groups and then one group's slots, not every slot.
        (0x07c => pub vf_group_seq: [ReadWrite<u32>; VF_GROUPS]),
        (0x0fc => _reserved_hw),
        (0x100 => @END),
    }
}

register_structs! {
    /// One entry of the event ring: what happened, to which function, and
    /// two words of detail (see the firmware's `admin::Event`).
    pub EventEntry {
        (0x0 => pub kind: ReadWrite<u32>),
        (0x4 => pub vf: ReadWrite<u32>),
        (0x8 => pub data0: ReadWrite<u32>),
        (0xc => pub data1: ReadWrite<u32>),
        (0x10 => @END),
    }
}

register_structs! {
    /// The PF driver's administration channel (the PF BAR shows it at
    /// `PF_BAR_ADMIN`): one request at a time, and an event ring.
    pub AdminBlock {
        /// hw (from the PF driver): the request.
        (0x000 => pub request: [ReadWrite<u32>; ADMIN_WORDS]),
        /// hw: words of `request` in use.
        (0x080 => pub request_len: ReadWrite<u32>),
        /// hw: bumped when the PF driver rings the doorbell.
        (0x084 => pub doorbell: ReadWrite<u32>),
        (0x088 => _reserved0),
        /// fw: the response to the request `done` names.
        (0x100 => pub response: [ReadWrite<u32>; ADMIN_WORDS]),
        /// fw: words of `response` in use.
        (0x180 => pub response_len: ReadWrite<u32>),
        /// fw: the `doorbell` value answered.
        (0x184 => pub done: ReadWrite<u32>),
        /// fw: events written (free-running; entry = head % EVENT_RING_LEN).
        (0x188 => pub event_head: ReadWrite<u32>),
        /// hw (from the PF driver): events consumed (free-running).
        (0x18c => pub event_tail: ReadWrite<u32>),
        /// fw: events dropped because the ring was full.
        (0x190 => pub events_lost: ReadWrite<u32>),
        (0x194 => _reserved1),
        /// fw: the ring.
        (0x200 => pub events: [EventEntry; EVENT_RING_LEN]),
        (0x1200 => @END),
    }
}

register_structs! {
    /// One VF's mailbox and reset state.
    pub VfSlot {
        /// hw: bumped when the VF sets VFMAILBOX.REQ; `request` holds the
        /// message as the VF wrote it.
        (0x00 => pub req_seq: ReadWrite<u32>),
        /// hw: bumped when the VF sets VFMAILBOX.ACK (it read a message).
        (0x04 => pub vf_ack_seq: ReadWrite<u32>),
        /// hw: bumped when the VF must be reset; `reset_cause` says why.
        (0x08 => pub reset_seq: ReadWrite<u32>),
        /// hw: cause of the last reset request.
        (0x0c => pub reset_cause: ReadWrite<u32, RESET_CAUSE::Register>),
        /// hw: words the VF wrote into the buffer for this request (the
        /// highest index written since it took the buffer, plus one).
        (0x10 => pub req_len: ReadWrite<u32>),
        /// hw: one counter per [`MailboxViolation`] kind (index = code - 1),
        /// bumped each time the VF broke the protocol that way (wrote the
        /// buffer without owning it, REQ without VFU, REQ while busy). One
        /// counter per kind, so that two violations of different kinds
        /// between two firmware polls are two events with their own kinds.
        (0x14 => pub violation_seq: [ReadWrite<u32>; VIOLATION_KINDS]),
        /// hw: the VF's request.
        (0x20 => pub request: [ReadWrite<u32>; 16]),
        /// fw: the `req_seq` consumed (the VF sees PFACK).
        (0x60 => pub req_done: ReadWrite<u32>),
        /// fw: bumped when `reply` holds a new message (the VF sees PFSTS).
        (0x64 => pub reply_seq: ReadWrite<u32>),
        /// fw: words of `reply` in use.
        (0x68 => pub reply_len: ReadWrite<u32>),
        /// fw: the `reset_seq` completed (the VF sees RSTI clear, RSTD).
        (0x6c => pub reset_done: ReadWrite<u32>),
        (0x70 => _reserved_fw_70),
        /// fw: VFLINKS as this VF should read it (link-state policy).
        (0x74 => pub links: ReadWrite<u32>),
        /// fw: 1 while the firmware serves this VF (VF enabled).
        (0x78 => pub active: ReadWrite<u32>),
        (0x7c => _reserved_fw0),
        /// fw: the message to the VF.
        (0x80 => pub reply: [ReadWrite<u32>; 16]),
        /// fw: the `violation_seq` counters logged, kind by kind.
        (0xc0 => pub violation_done: [ReadWrite<u32>; VIOLATION_KINDS]),
        /// hw: bumped after any of this slot's hw counters moved (before
        /// its group's `vf_group_seq`), so a scan of a moved group reads
        /// one word per slot, then only the slots that moved.
        (0xcc => pub slot_seq: ReadWrite<u32>),
        (0xd0 => _reserved_fw1),
        (0x100 => @END),
    }
}

register_structs! {
    /// One queue pair as the driver programmed it (hw: mirrored from the
    /// function's 82599 queue registers) and as the firmware progresses.
    pub QueueRegs {
        /// hw: Rx ring base (RDBAL/RDBAH), length in bytes (RDLEN).
        (0x00 => pub rdbal: ReadWrite<u32>),
        (0x04 => pub rdbah: ReadWrite<u32>),
        (0x08 => pub rdlen: ReadWrite<u32>),
        /// hw: Rx tail: the driver posted buffers up to here.
        (0x0c => pub rdt: ReadWrite<u32>),
        /// hw: SRRCTL (buffer size in KiB, bits 6:0; DROP_EN).
        (0x10 => pub srrctl: ReadWrite<u32>),
        /// hw: RXDCTL (ENABLE 0x0200_0000, VME 0x4000_0000).
        (0x14 => pub rxdctl: ReadWrite<u32>),
        /// hw: Tx ring base, length, tail, TXDCTL.
        (0x18 => pub tdbal: ReadWrite<u32>),
        (0x1c => pub tdbah: ReadWrite<u32>),
        (0x20 => pub tdlen: ReadWrite<u32>),
        (0x24 => pub tdt: ReadWrite<u32>),
        (0x28 => pub txdctl: ReadWrite<u32>),
        /// hw: the Rx head the driver wrote (RDH), where the ring restarts
        /// when the queue is next enabled.
        (0x2c => pub rx_start: ReadWrite<u32>),
        /// fw: Rx head (RDH): descriptors up to here are written back.
        (0x30 => pub rdh: ReadWrite<u32>),
        /// fw: Tx head (TDH): descriptors up to here are done.
        (0x34 => pub tdh: ReadWrite<u32>),
        /// fw: bumped when Rx / Tx descriptors complete (interrupt causes).
        (0x38 => pub rx_done_seq: ReadWrite<u32>),
        (0x3c => pub tx_done_seq: ReadWrite<u32>),
        /// hw: the Tx head the driver wrote (TDH).
        (0x40 => pub tx_start: ReadWrite<u32>),
        /// hw: bumped each time the driver enables the Rx / Tx queue
        /// (ENABLE written while it was clear): the firmware restarts the
        /// ring at `rx_start` / `tx_start`, however briefly the queue was
        /// off between two of its polls.
        (0x44 => pub rx_enable_seq: ReadWrite<u32>),
        (0x48 => pub tx_enable_seq: ReadWrite<u32>),
        /// fw: the `rx_enable_seq` / `tx_enable_seq` the firmware restarted
        /// the ring for; until then the head reads as the driver wrote it.
        (0x4c => pub rx_enable_done: ReadWrite<u32>),
        (0x50 => pub tx_enable_done: ReadWrite<u32>),
        (0x54 => _reserved),
        (0x60 => @END),
    }
}

register_structs! {
    /// A function's data-path block: its queues, its IOMMU window, its
    /// counters.
    pub FunctionBlock {
        (0x000 => pub queues: [QueueRegs; MAX_QUEUES]),
        /// hw: bumped when the driver writes a Tx tail (a doorbell).
        (0x300 => pub tx_doorbell_seq: ReadWrite<u32>),
        /// hw: the function's IOMMU window in host memory.
        (0x304 => pub dma_base_lo: ReadWrite<u32>),
        (0x308 => pub dma_base_hi: ReadWrite<u32>),
        (0x30c => pub dma_size: ReadWrite<u32>),
        /// hw: VFPSRTYPE as the driver wrote it; RQPL (bits 31:29) says
        /// over how many Rx queues RSS may spread (0: one, 1: two, 2: four).
        (0x310 => pub psrtype: ReadWrite<u32>),
        /// hw: 1 while the function's memory is a VM's, which the core
        /// cannot map: its DMA goes through the [`DmaEngine`].
        (0x314 => pub dma_engine: ReadWrite<u32>),
        (0x318 => _reserved_hw),
        /// fw: good packets received / transmitted (VFGPRC / VFGPTC).
        (0x340 => pub gprc: ReadWrite<u32>),
        (0x344 => pub gptc: ReadWrite<u32>),
        /// fw: good octets received / transmitted, 36 bits (VFGORC / VFGOTC).
        (0x348 => pub gorc_lsb: ReadWrite<u32>),
        (0x34c => pub gorc_msb: ReadWrite<u32>),
        (0x350 => pub gotc_lsb: ReadWrite<u32>),
        (0x354 => pub gotc_msb: ReadWrite<u32>),
        /// fw: multicast packets received, broadcast excluded (VFMPRC).
        (0x358 => pub mprc: ReadWrite<u32>),
        (0x35c => _reserved_fw),
        (0x400 => @END),
    }
}

/// Bytes one [`DmaEngine`] move carries at most.
pub const DMA_ENGINE_BUFFER: usize = 0x3000;

register_structs! {
    /// The DMA engine: moves between a function's memory and the engine's
    /// buffer, performed by the hardware under the function's IOMMU
    /// mappings (on a SmartNIC, its DMA engine; under QEMU, the hardware
    /// model, which holds a VM's memory mappings). One move at a time: the
    /// firmware fills the request and bumps `req_seq`; the hardware
    /// performs it, writes `status` and sets `done_seq`. The buffer belongs
    /// to the firmware between moves and for a write's data, to the
    /// hardware while it fills a read.
    pub DmaEngine {
        /// fw: bumped to post the move below.
        (0x000 => pub req_seq: ReadWrite<u32>),
        /// fw: the requester (0 = PF, 1 + n = VF n).
        (0x004 => pub function: ReadWrite<u32>),
        /// fw: 1 = read (function memory → buffer), 2 = write (buffer →
        /// function memory).
        (0x008 => pub op: ReadWrite<u32>),
        /// fw: bytes, at most [`DMA_ENGINE_BUFFER`].
        (0x00c => pub len: ReadWrite<u32>),
        /// fw: the address in the function's memory (its IOVA).
        (0x010 => pub addr_lo: ReadWrite<u32>),
        (0x014 => pub addr_hi: ReadWrite<u32>),
        (0x018 => _reserved_fw),
        /// hw: the `req_seq` performed.
        (0x040 => pub done_seq: ReadWrite<u32>),
        /// hw: 0 done, 1 refused (outside the function's mappings, or no
        /// such access), 2 bad request.
        (0x044 => pub status: ReadWrite<u32>),
        /// hw: moves performed and refused (for the host's reports).
        (0x048 => pub moves: ReadWrite<u32>),
        (0x04c => pub refused: ReadWrite<u32>),
        (0x050 => _reserved_hw),
        /// The data.
        (0x100 => pub buffer: [ReadWrite<u8>; DMA_ENGINE_BUFFER]),
        (0x3100 => @END),
    }
}

/// [`DmaEngine::op`] values and [`DmaEngine::status`] codes.
pub mod dma_engine {
    pub const OP_READ: u32 = 1;
    pub const OP_WRITE: u32 = 2;
    pub const DONE: u32 = 0;
    pub const REFUSED: u32 = 1;
    pub const BAD_REQUEST: u32 = 2;
}

register_structs! {
    /// The whole register part of the window.
    pub HostInterface {
        (0x0000 => pub global: Global),
        (0x0100 => _reserved0),
        (0x1000 => pub admin: AdminBlock),
        (0x2200 => _reserved1),
        (0x4000 => pub vf: [VfSlot; MAX_VFS]),
        (0x1_4000 => _reserved2),
        /// Function f's data path (0 = PF, 1 + n = VF n).
        (0x2_0000 => pub function: [FunctionBlock; MAX_FUNCTIONS]),
        (0x6_0400 => _reserved3),
        /// The DMA engine for functions whose memory the core cannot map.
        (0x6_1000 => pub dma_engine: DmaEngine),
        (0x6_4100 => _reserved4),
        (0x8_0000 => @END),
    }
}

/// A host write the hardware refused (`Global::pcie_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum PcieError {
    /// NumVFs written while VF Enable is set (ignored, per SR-IOV).
    NumVfsWhileEnabled = 1,
    /// NumVFs above TotalVFs (clamped to 0, nothing enabled).
    NumVfsAboveTotal = 2,
    /// VF Enable set with NumVFs 0.
    EnableWithoutVfs = 3,
}

impl PcieError {
    pub fn from_code(code: u32) -> Option<Self> {
        [
            Self::NumVfsWhileEnabled,
            Self::NumVfsAboveTotal,
            Self::EnableWithoutVfs,
        ]
        .into_iter()
        .find(|e| *e as u32 == code)
    }
}

/// How a VF broke the mailbox protocol (`VfSlot::violation_seq`, indexed
/// by code - 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum MailboxViolation {
    /// Wrote VFMBMEM without holding VFU (the write was dropped).
    WriteWithoutOwnership = 1,
    /// Set REQ without holding VFU (no message was sent).
    RequestWithoutOwnership = 2,
    /// Set REQ while its previous request was still unanswered.
    RequestWhileBusy = 3,
}

impl MailboxViolation {
    /// Every kind, in code order (index i = code i + 1).
    pub const ALL: [MailboxViolation; VIOLATION_KINDS] = [
        Self::WriteWithoutOwnership,
        Self::RequestWithoutOwnership,
        Self::RequestWhileBusy,
    ];

    /// Its counter in [`VfSlot::violation_seq`].
    pub const fn index(self) -> usize {
        self as usize - 1
    }

    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|e| *e as u32 == code)
    }
}

/// The hardware's side of a Tx tail write by function `f`: its doorbell,
/// its group's, then the summary, in that order (the firmware reads them
/// the other way round). For the hardware model and test rigs; the
/// firmware never calls it.
pub fn ring_tx_doorbell(hw: &HostInterface, f: usize) {
    let bump = |r: &ReadWrite<u32>| r.set(r.get().wrapping_add(1));
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    bump(&hw.function[f].tx_doorbell_seq);
    bump(&hw.global.tx_doorbell_group_seq[f / DOORBELL_GROUP]);
    bump(&hw.global.tx_doorbell_seq);
}

/// The hardware's side after it bumped a counter of VF `vf`'s slot (and
/// wrote what the counter announces): the slot's `slot_seq`, the VF's
/// group, then the summary, in that order (the firmware reads them the
/// other way round). For the hardware model and test rigs; the firmware
/// never calls it.
pub fn announce_vf_slot(hw: &HostInterface, vf: usize) {
    let bump = |r: &ReadWrite<u32>| r.set(r.get().wrapping_add(1));
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    bump(&hw.vf[vf].slot_seq);
    bump(&hw.global.vf_group_seq[vf / VF_GROUP]);
    bump(&hw.global.event_seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layout_is_what_the_docs_say() {
        assert_eq!(size_of::<Global>(), 0x100);
        assert_eq!(offset_of!(Global, vf_group_seq), 0x07c);
        assert_eq!(size_of::<EventEntry>(), 0x10);
        assert_eq!(size_of::<AdminBlock>(), 0x1200);
        assert_eq!(size_of::<VfSlot>(), 0x100);
        assert_eq!(size_of::<HostInterface>(), REGISTERS_SIZE);
        assert_eq!(offset_of!(HostInterface, admin), 0x1000);
        assert_eq!(offset_of!(HostInterface, vf), 0x4000);
        assert_eq!(offset_of!(VfSlot, request), 0x20);
        assert_eq!(offset_of!(VfSlot, reply), 0x80);
        assert_eq!(offset_of!(AdminBlock, events), 0x200);
        assert_eq!(size_of::<QueueRegs>(), 0x60);
        assert_eq!(offset_of!(FunctionBlock, tx_doorbell_seq), 0x300);
        assert_eq!(offset_of!(FunctionBlock, gprc), 0x340);
        assert_eq!(offset_of!(VfSlot, violation_seq), 0x14);
        assert_eq!(offset_of!(VfSlot, violation_done), 0xc0);
        assert_eq!(offset_of!(VfSlot, slot_seq), 0xcc);
        assert_eq!(size_of::<FunctionBlock>(), 0x400);
        assert_eq!(offset_of!(HostInterface, function), 0x2_0000);
        assert_eq!(offset_of!(HostInterface, dma_engine), 0x6_1000);
        assert_eq!(size_of::<DmaEngine>(), 0x3100);
    }

    #[test]
    fn codes_round_trip() {
        for e in [
            PcieError::NumVfsWhileEnabled,
            PcieError::NumVfsAboveTotal,
            PcieError::EnableWithoutVfs,
        ] {
            assert_eq!(PcieError::from_code(e as u32), Some(e));
        }
        assert_eq!(PcieError::from_code(0), None);
        assert_eq!(
            MailboxViolation::from_code(3),
            Some(MailboxViolation::RequestWhileBusy)
        );
        assert_eq!(MailboxViolation::from_code(9), None);
    }
}
