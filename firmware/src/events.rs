//! Events the firmware posts to the PF driver's event ring.
//!
//! On the wire an event is four words: kind, VF (0-based; 0xffff when the
//! event is not about one VF), and two words of detail.

use crate::drops::QueueFault;
use crate::mac::Mac;
use crate::mailbox::Refusal;
use crate::pools::PoolKind;
use hal::chip::{MailboxViolation, PcieError};
use hal::ixgbe::XcastMode;

/// "Not about one VF" in the VF word.
pub const NO_VF: u16 = 0xffff;

/// Why a VF was reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResetCause {
    /// The VF driver wrote VFCTRL.RST.
    VfRequest = 1,
    /// Function Level Reset.
    Flr = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// kind 1: the VF was reset; data0 = cause.
    VfReset { vf: u16, cause: ResetCause },
    /// kind 2: the VF set its MAC; data0/1 = MAC words.
    VfMacChanged { vf: u16, mac: Mac },
    /// kind 3: the VF's MAC request was refused (invalid, or administered).
    VfMacRefused { vf: u16, mac: Mac },
    /// kind 4: an untrusted VF asked for more than MULTI.
    XcastDowngraded {
        vf: u16,
        requested: XcastMode,
        granted: XcastMode,
    },
    /// kind 5: a mailbox message was refused; data0 = refusal, data1 = ID.
    MailboxError {
        vf: u16,
        refusal: Refusal,
        msg_id: u16,
    },
    /// kind 6: the hardware caught a mailbox protocol violation.
    MailboxViolation {
        vf: u16,
        violation: MailboxViolation,
    },
    /// kind 7: a shared pool is full; data0 = pool.
    PoolExhausted { vf: u16, pool: PoolKind },
    /// kind 8: a link changed: the uplink (vf = NO_VF) or a VF's link by
    /// administration; data0 = up.
    LinkChange { vf: u16, up: bool },
    /// kind 9: VFs enabled or disabled; data0 = VFs now served.
    SriovChanged { num_vfs: u16 },
    /// kind 10: the hardware refused a config write; data0 = error, data1 = routing ID.
    PcieError { error: PcieError, rid: u16 },
    /// kind 11: a queue stopped; data0 = queue | 0x100 if Tx, data1 = fault.
    QueueFault {
        vf: u16,
        queue: u8,
        tx: bool,
        fault: QueueFault,
    },
    /// kind 12: spoofed frames dropped (sent at counts 1, 2, 4, 8, ...);
    /// data0 = 1 for MAC, 2 for VLAN; data1 = count.
    SpoofDrops { vf: u16, mac: bool, count: u32 },
    /// kind 13: the VF was quarantined; data0 = 1 mailbox flood, 2 reset storm.
    VfQuarantined { vf: u16, reason: QuarantineReason },
    /// kind 14: the PF released a quarantined VF.
    VfReleased { vf: u16 },
}

/// Why a VF was quarantined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QuarantineReason {
    MailboxFlood = 1,
    ResetStorm = 2,
}

impl Event {
    /// The four words of a ring entry.
    pub fn encode(&self) -> [u32; 4] {
        let vf32 = |vf: u16| u32::from(vf);
        match *self {
            Event::VfReset { vf, cause } => [1, vf32(vf), cause as u32, 0],
            Event::VfMacChanged { vf, mac } => {
                let (a, b) = mac.to_words();
                [2, vf32(vf), a, b]
            }
            Event::VfMacRefused { vf, mac } => {
                let (a, b) = mac.to_words();
                [3, vf32(vf), a, b]
            }
            Event::XcastDowngraded {
                vf,
                requested,
                granted,
            } => [4, vf32(vf), requested as u32, granted as u32],
            Event::MailboxError {
                vf,
                refusal,
                msg_id,
            } => [5, vf32(vf), refusal as u32, u32::from(msg_id)],
            Event::MailboxViolation { vf, violation } => [6, vf32(vf), violation as u32, 0],
            Event::PoolExhausted { vf, pool } => [7, vf32(vf), pool as u32, 0],
            Event::LinkChange { vf, up } => [8, vf32(vf), u32::from(up), 0],
            Event::SriovChanged { num_vfs } => [9, vf32(NO_VF), u32::from(num_vfs), 0],
            Event::PcieError { error, rid } => [10, vf32(NO_VF), error as u32, u32::from(rid)],
            Event::QueueFault {
                vf,
                queue,
                tx,
                fault,
            } => [
                11,
                vf32(vf),
                u32::from(queue) | u32::from(tx) << 8,
                fault as u32,
            ],
            Event::SpoofDrops { vf, mac, count } => [12, vf32(vf), if mac { 1 } else { 2 }, count],
            Event::VfQuarantined { vf, reason } => [13, vf32(vf), reason as u32, 0],
            Event::VfReleased { vf } => [14, vf32(vf), 0, 0],
        }
    }

    /// Short name of the event kind (logs, tools).
    pub const fn name(kind: u32) -> &'static str {
        match kind {
            1 => "vf-reset",
            2 => "vf-mac-changed",
            3 => "vf-mac-refused",
            4 => "xcast-downgraded",
            5 => "mailbox-error",
            6 => "mailbox-violation",
            7 => "pool-exhausted",
            8 => "link-change",
            9 => "sriov-changed",
            10 => "pcie-error",
            11 => "queue-fault",
            12 => "spoof-drops",
            13 => "vf-quarantined",
            14 => "vf-released",
            _ => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_carries_kind_vf_and_detail() {
        let mac = Mac([2, 0, 0, 0, 0, 9]);
        assert_eq!(
            Event::VfMacRefused { vf: 3, mac }.encode(),
            [3, 3, mac.to_words().0, mac.to_words().1]
        );
        assert_eq!(
            Event::SriovChanged { num_vfs: 8 }.encode(),
            [9, 0xffff, 8, 0]
        );
        assert_eq!(Event::name(6), "mailbox-violation");
    }
}
