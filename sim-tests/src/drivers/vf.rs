//! A VF driver that does what ixgbevf does, in the same order, with the
//! same timeouts and the same checks on the replies, talking only through
//! the VF's BAR. If the firmware satisfies this driver it satisfies
//! ixgbevf's mailbox and reset paths.

use crate::transport::Transport;
use firmware::mac::Mac;
use hal::ixgbe::mbx::{self, ACK, CTS, NACK};
use hal::ixgbe::vfreg::*;
use hal::ixgbe::{MbxApi, XcastMode, multicast_hash};
use std::fmt;

/// ixgbevf: 200 polls of 5 µs for the reset bits to clear.
pub const RESET_POLLS: u32 = 200;
/// Between tries of [`VfDriver::bring_up_retrying`] (ixgbevf's watchdog
/// retries after 2 s; a harness need not wait that long).
pub const RESET_RETRY_US: u64 = 20_000;
/// ixgbevf: 2000 polls of 500 µs for a mailbox reply (1 s).
pub const MBX_POLLS: u32 = 2000;
pub const MBX_POLL_US: u64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VfError {
    /// RSTI/RSTD did not clear after VFCTRL.RST ("PF still resetting").
    ResetFailed,
    /// The mailbox lock (VFU) was never granted.
    LockTimeout,
    /// No PF message (PFSTS) within the timeout.
    NoReply,
    /// The reset reply's word 0 was neither RESET|ACK nor RESET|NACK.
    InvalidResetReply(u32),
    /// The PF refused: word 0 of the reply.
    Nack(u32),
    /// A reply for another message.
    UnexpectedReply(u32),
}

impl fmt::Display for VfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VfError::ResetFailed => write!(f, "reset failed: PF still resetting"),
            VfError::LockTimeout => write!(f, "mailbox lock not granted"),
            VfError::NoReply => write!(f, "no reply from the PF"),
            VfError::InvalidResetReply(w) => write!(f, "invalid reset reply {w:#010x}"),
            VfError::Nack(w) => write!(f, "refused by the PF ({w:#010x})"),
            VfError::UnexpectedReply(w) => write!(f, "unexpected reply {w:#010x}"),
        }
    }
}

impl std::error::Error for VfError {}

/// What `check_link` concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCheck {
    /// Up, with VFLINKS's speed field.
    Up(u32),
    Down,
    /// The PF said NACK without CTS: the driver must reset.
    ResetRequired,
}

/// Facts from bring-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BringUp {
    pub mac: Mac,
    /// Whether the PF assigned the MAC (reset ACK) or the VF chose one.
    pub mac_from_pf: bool,
    pub api: MbxApi,
    pub tx_queues: u32,
    pub rx_queues: u32,
    pub link_enabled: bool,
}

pub struct VfDriver {
    pub rid: u16,
    pub api: MbxApi,
    /// Mailbox API 1.5: the v2 register protocol.
    v2: bool,
    /// Read-to-clear bits seen but not yet consumed (ixgbevf's sw copy).
    sticky: u32,
    pub perm_mac: Option<Mac>,
    pub mc_filter_type: u32,
    /// The newest API this driver knows (ixgbevf of today: 1.5; older
    /// kernels: 1.4 or less, and only the legacy mailbox protocol).
    pub max_api: MbxApi,
}

impl VfDriver {
    pub fn new(rid: u16) -> Self {
        VfDriver {
            rid,
            api: MbxApi::V1_0,
            v2: false,
            sticky: 0,
            perm_mac: None,
            mc_filter_type: 0,
            max_api: MbxApi::V1_5,
        }
    }

    /// A locally administered MAC derived from the routing ID, as a
    /// stand-in for ixgbevf's random one (deterministic for tests).
    pub fn chosen_mac(&self) -> Mac {
        Mac([
            0x02,
            0x00,
            0x5e,
            0x10,
            (self.rid >> 8) as u8,
            self.rid as u8,
        ])
    }

    fn rd(&self, t: &mut impl Transport, off: u32) -> u32 {
        t.bar_read32(self.rid, off)
    }

    fn wr(&self, t: &mut impl Transport, off: u32, v: u32) {
        t.bar_write32(self.rid, off, v);
    }

    /// VFMAILBOX with the read-to-clear bits seen earlier kept.
    pub fn read_mailbox(&mut self, t: &mut impl Transport) -> u32 {
        let v = self.rd(t, VFMAILBOX);
        self.sticky |= v & MBX_R2C;
        v | self.sticky
    }

    fn check_and_clear(&mut self, t: &mut impl Transport, mask: u32) -> bool {
        let v = self.read_mailbox(t);
        self.sticky &= !mask;
        v & mask != 0
    }

    fn check_msg(&mut self, t: &mut impl Transport) -> bool {
        self.read_mailbox(t) & MBX_PFSTS != 0
    }

    fn obtain_lock(&mut self, t: &mut impl Transport) -> Result<(), VfError> {
        for _ in 0..MBX_POLLS {
            let v = self.read_mailbox(t);
            self.wr(t, VFMAILBOX, v | MBX_VFU);
            if self.read_mailbox(t) & MBX_VFU != 0 {
                return Ok(());
            }
            t.delay_us(MBX_POLL_US);
        }
        Err(VfError::LockTimeout)
    }

    /// Writes a message with the protocol in force.
    pub fn write_msg(&mut self, t: &mut impl Transport, msg: &[u32]) -> Result<(), VfError> {
        self.obtain_lock(t)?;
        // Flush stale PFSTS/PFACK before a new exchange.
        self.check_and_clear(t, MBX_PFSTS | MBX_PFACK);
        for (i, w) in msg.iter().enumerate() {
            self.wr(t, VFMBMEM + 4 * i as u32, *w);
        }
        if !self.v2 {
            // Legacy: REQ alone, which also drops VFU; no wait for PFACK.
            self.wr(t, VFMAILBOX, MBX_REQ);
            return Ok(());
        }
        let v = self.read_mailbox(t);
        self.wr(t, VFMAILBOX, v | MBX_REQ);
        let mut acked = false;
        for _ in 0..MBX_POLLS {
            if self.check_and_clear(t, MBX_PFACK) {
                acked = true;
                break;
            }
            t.delay_us(MBX_POLL_US);
        }
        let v = self.read_mailbox(t);
        self.wr(t, VFMAILBOX, v & !MBX_VFU);
        if acked { Ok(()) } else { Err(VfError::NoReply) }
    }

    /// Reads `n` words of a PF message with the protocol in force.
    pub fn read_msg(&mut self, t: &mut impl Transport, n: usize) -> Result<Vec<u32>, VfError> {
        if self.v2 {
            if !self.check_and_clear(t, MBX_PFSTS) {
                return Err(VfError::NoReply);
            }
            let words = (0..n).map(|i| self.rd(t, VFMBMEM + 4 * i as u32)).collect();
            let v = self.read_mailbox(t);
            self.wr(t, VFMAILBOX, v | MBX_ACK);
            return Ok(words);
        }
        self.obtain_lock(t)?;
        self.sticky &= !MBX_PFSTS;
        let words = (0..n).map(|i| self.rd(t, VFMBMEM + 4 * i as u32)).collect();
        // ACK alone, which also drops VFU.
        self.wr(t, VFMAILBOX, MBX_ACK);
        Ok(words)
    }

    fn poll_msg(&mut self, t: &mut impl Transport) -> Result<(), VfError> {
        for _ in 0..MBX_POLLS {
            if self.check_msg(t) {
                return Ok(());
            }
            t.delay_us(MBX_POLL_US);
        }
        Err(VfError::NoReply)
    }

    /// Sends `msg` and reads an `n`-word reply (ixgbevf_write_msg_read_ack).
    pub fn exchange(
        &mut self,
        t: &mut impl Transport,
        msg: &[u32],
        n: usize,
    ) -> Result<Vec<u32>, VfError> {
        self.write_msg(t, msg)?;
        self.poll_msg(t)?;
        self.read_msg(t, n)
    }

    /// Sends and requires `ID | ACK` back (CTS ignored).
    fn command(
        &mut self,
        t: &mut impl Transport,
        msg: &[u32],
        n: usize,
    ) -> Result<Vec<u32>, VfError> {
        let reply = self.exchange(t, msg, n)?;
        let id = mbx::id(msg[0]);
        let w0 = reply[0] & !CTS;
        if w0 & NACK != 0 {
            return Err(VfError::Nack(reply[0]));
        }
        if mbx::id(w0) != id || w0 & ACK == 0 {
            return Err(VfError::UnexpectedReply(reply[0]));
        }
        Ok(reply)
    }

    /// ixgbevf_reset_hw_vf: VFCTRL.RST, wait for the PF side, VF_RESET,
    /// 10 ms, read the 4-word reply. Returns the MAC if the PF assigned one.
    pub fn reset(&mut self, t: &mut impl Transport) -> Result<Option<Mac>, VfError> {
        self.api = MbxApi::V1_0;
        self.v2 = false;
        self.sticky = 0;
        self.wr(t, VFCTRL, VFCTRL_RST);
        let _ = self.rd(t, VFSTATUS);
        let mut polls = RESET_POLLS;
        while polls > 0 && self.check_and_clear(t, MBX_RSTI | MBX_RSTD) {
            polls -= 1;
            t.delay_us(5);
        }
        if polls == 0 {
            return Err(VfError::ResetFailed);
        }
        self.write_msg(t, &[mbx::VF_RESET])?;
        t.delay_us(10_000);
        self.poll_msg(t)?;
        let r = self.read_msg(t, mbx::RESET_REPLY_WORDS)?;
        self.mc_filter_type = r[3];
        if r[0] == mbx::VF_RESET | ACK {
            let mac = Mac::from_words(r[1], r[2]);
            self.perm_mac = Some(mac);
            Ok(Some(mac))
        } else if r[0] == mbx::VF_RESET | NACK {
            Ok(None)
        } else {
            Err(VfError::InvalidResetReply(r[0]))
        }
    }

    /// Newest API first, stepping down on NACK.
    pub fn negotiate_api(&mut self, t: &mut impl Transport) -> Result<MbxApi, VfError> {
        use MbxApi::*;
        for api in [V1_5, V1_4, V1_3, V1_2, V1_1, V1_0] {
            if api > self.max_api {
                continue;
            }
            let reply = self.exchange(t, &[mbx::API_NEGOTIATE, api as u32, 0], 3)?;
            if reply[0] & !CTS == mbx::API_NEGOTIATE | ACK {
                self.api = api;
                self.v2 = api >= V1_5;
                return Ok(api);
            }
        }
        Err(VfError::Nack(mbx::API_NEGOTIATE | NACK))
    }

    /// GET_QUEUES: (tx, rx, transparent VLAN, default queue), clamped as
    /// ixgbevf does.
    /// GET_QUEUES as ixgbevf reads it: a count of 0 or above 8 taken as 8.
    pub fn get_queues(&mut self, t: &mut impl Transport) -> Result<[u32; 4], VfError> {
        let [tx, rx, trans_vlan, default_queue] = self.get_queues_raw(t)?;
        let clamp = |q: u32| if q == 0 || q > 8 { 8 } else { q };
        Ok([clamp(tx), clamp(rx), trans_vlan, default_queue])
    }

    /// GET_QUEUES's reply words 1-4 as the PF wrote them.
    pub fn get_queues_raw(&mut self, t: &mut impl Transport) -> Result<[u32; 4], VfError> {
        let r = self.command(t, &[mbx::GET_QUEUES, 0, 0, 0, 0], 5)?;
        Ok([r[1], r[2], r[3], r[4]])
    }

    pub fn set_mac(&mut self, t: &mut impl Transport, mac: Mac) -> Result<(), VfError> {
        let (a, b) = mac.to_words();
        self.command(t, &[mbx::SET_MAC_ADDR, a, b], 3).map(|_| ())
    }

    /// SET_MULTICAST with the hashes of `macs` (at most 30 are sent).
    pub fn set_multicast(&mut self, t: &mut impl Transport, macs: &[Mac]) -> Result<(), VfError> {
        let n = macs.len().min(mbx::MAX_MULTICAST_HASHES);
        let mut msg = [0u32; mbx::WORDS];
        msg[0] = mbx::SET_MULTICAST | (n as u32) << mbx::MSGINFO_SHIFT;
        for (i, mac) in macs[..n].iter().enumerate() {
            let h = u32::from(multicast_hash(mac.0, self.mc_filter_type));
            msg[1 + i / 2] |= h << (16 * (i % 2));
        }
        self.command(t, &msg, mbx::WORDS).map(|_| ())
    }

    pub fn set_vlan(&mut self, t: &mut impl Transport, vid: u16, add: bool) -> Result<(), VfError> {
        let w0 = mbx::SET_VLAN | u32::from(add) << mbx::MSGINFO_SHIFT;
        self.command(t, &[w0, u32::from(vid)], 2).map(|_| ())
    }

    pub fn set_lpe(&mut self, t: &mut impl Transport, max_frame: u32) -> Result<(), VfError> {
        self.command(t, &[mbx::SET_LPE, max_frame], 2).map(|_| ())
    }

    /// SET_MACVLAN: index 0 clears, 1.. adds.
    pub fn set_macvlan(
        &mut self,
        t: &mut impl Transport,
        index: u32,
        mac: Mac,
    ) -> Result<(), VfError> {
        let (a, b) = mac.to_words();
        let w0 = mbx::SET_MACVLAN | index << mbx::MSGINFO_SHIFT;
        self.command(t, &[w0, a, b], 3).map(|_| ())
    }

    /// UPDATE_XCAST_MODE: the mode the PF applied.
    pub fn update_xcast(
        &mut self,
        t: &mut impl Transport,
        mode: XcastMode,
    ) -> Result<XcastMode, VfError> {
        let r = self.command(t, &[mbx::UPDATE_XCAST_MODE, mode as u32], 2)?;
        XcastMode::from_wire(r[1]).ok_or(VfError::UnexpectedReply(r[1]))
    }

    pub fn get_link_state(&mut self, t: &mut impl Transport) -> Result<bool, VfError> {
        let r = self.command(t, &[mbx::GET_LINK_STATE, 0], 2)?;
        Ok(r[1] != 0)
    }

    /// GET_RETA: the 128 entries (2 bits each on the wire).
    pub fn get_reta(&mut self, t: &mut impl Transport) -> Result<Vec<u8>, VfError> {
        let r = self.command(t, &[mbx::GET_RETA], 9)?;
        Ok((0..128)
            .map(|i| ((r[1 + i / 16] >> (2 * (i % 16))) & 3) as u8)
            .collect())
    }

    pub fn get_rss_key(&mut self, t: &mut impl Transport) -> Result<Vec<u8>, VfError> {
        let r = self.command(t, &[mbx::GET_RSS_KEY], 11)?;
        Ok(r[1..11].iter().flat_map(|w| w.to_le_bytes()).collect())
    }

    /// ixgbevf_check_mac_link_vf: VFLINKS, then one mailbox word whose CTS
    /// says the PF side is ready.
    pub fn check_link(&mut self, t: &mut impl Transport) -> LinkCheck {
        let links = self.rd(t, VFLINKS);
        if links & VFLINKS_UP == 0 {
            return LinkCheck::Down;
        }
        let speed = (links >> VFLINKS_SPEED_SHIFT) & 3;
        let Ok(w) = self.read_msg(t, 1) else {
            // The v2 protocol reads only when PFSTS is set; no message
            // means nothing changed, and ixgbevf then reports the link up.
            return if self.v2 {
                LinkCheck::Up(speed)
            } else {
                LinkCheck::Down
            };
        };
        if w[0] & CTS == 0 {
            if w[0] & NACK != 0 {
                return LinkCheck::ResetRequired;
            }
            return LinkCheck::Down;
        }
        LinkCheck::Up(speed)
    }

    /// Probe and open, in ixgbevf's order.
    /// [`bring_up`](Self::bring_up), tried again (up to `tries` times in
    /// all, [`RESET_RETRY_US`] apart) while it is the reset that fails:
    /// ixgbevf gives the PF 1 ms to finish a reset, and when it has not,
    /// its watchdog tries again later. For harnesses where the firmware
    /// runs in real time beside the driver (QEMU on a loaded machine can
    /// miss the 1 ms); in-process the first try always decides.
    pub fn bring_up_retrying(
        &mut self,
        t: &mut impl Transport,
        tries: u32,
    ) -> Result<BringUp, VfError> {
        retrying_reset_failures(t, tries, |t| self.bring_up(t)).0
    }

    /// [`reset`](Self::reset), tried again the same way; also how many
    /// times it was tried again (a timing that includes the waits should
    /// say so).
    pub fn reset_retrying(
        &mut self,
        t: &mut impl Transport,
        tries: u32,
    ) -> (Result<Option<Mac>, VfError>, u32) {
        retrying_reset_failures(t, tries, |t| self.reset(t))
    }

    pub fn bring_up(&mut self, t: &mut impl Transport) -> Result<BringUp, VfError> {
        let pf_mac = self.reset(t)?;
        let api = self.negotiate_api(t)?;
        let [tx, rx, _, _] = if api >= MbxApi::V1_1 {
            self.get_queues(t)?
        } else {
            [1, 1, 0, 0]
        };
        if api >= MbxApi::V1_2 {
            self.update_xcast(t, XcastMode::Multi)?;
        }
        self.set_multicast(t, &[])?;
        self.set_macvlan(t, 0, Mac::ZERO)?;
        // With a port VLAN the PF refuses VLAN requests; ixgbevf logs the
        // refused VLAN 0 filter and carries on.
        match self.set_vlan(t, 0, true) {
            Ok(()) | Err(VfError::Nack(_)) => {}
            Err(e) => return Err(e),
        }
        self.set_lpe(t, 1518)?;
        let mac = pf_mac.unwrap_or_else(|| self.chosen_mac());
        self.set_mac(t, mac)?;
        // Before API 1.2 the PF refuses GET_LINK_STATE; the link is then
        // taken as enabled, as ixgbevf does.
        let link_enabled = match self.get_link_state(t) {
            Ok(enabled) => enabled,
            Err(VfError::Nack(_)) => true,
            Err(e) => return Err(e),
        };
        Ok(BringUp {
            mac,
            mac_from_pf: pf_mac.is_some(),
            api,
            tx_queues: tx,
            rx_queues: rx,
            link_enabled,
        })
    }
}

/// Runs `op` up to `tries` times (at least once), [`RESET_RETRY_US`] apart,
/// while it fails because the PF side did not finish a reset in time; its
/// last result and the retries it took.
fn retrying_reset_failures<T: Transport, R>(
    t: &mut T,
    tries: u32,
    mut op: impl FnMut(&mut T) -> Result<R, VfError>,
) -> (Result<R, VfError>, u32) {
    let mut retried = 0;
    loop {
        match op(t) {
            Err(VfError::ResetFailed) if retried + 1 < tries.max(1) => {
                retried += 1;
                t.delay_us(RESET_RETRY_US);
            }
            done => return (done, retried),
        }
    }
}
