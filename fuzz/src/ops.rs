//! Operations the targets decode with `arbitrary`: the fuzzer mutates
//! messages, requests and frames, not the bytes that encode them. Each
//! type keeps a raw escape (`Raw`, `Any`) so that anything the window can
//! hold is still reachable; the named cases only make the meaningful
//! values likely.

use crate::Rig;
use arbitrary::Arbitrary;
use firmware::admin::Opcode;
use hal::chip::{ADMIN_WORDS, HOST_MEMORY_BUS_BASE};
use hal::ixgbe::mbx;

/// A claimed length: what was written, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Len {
    Written,
    Any(u8),
}

impl Len {
    fn of(self, written: usize) -> u32 {
        match self {
            Len::Written => written as u32,
            Len::Any(n) => u32::from(n),
        }
    }
}

/// A mailbox message ID: the ones the firmware knows, or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum MsgId {
    VfReset,
    SetMacAddr,
    SetMulticast,
    SetVlan,
    SetLpe,
    SetMacvlan,
    ApiNegotiate,
    GetQueues,
    GetReta,
    GetRssKey,
    UpdateXcastMode,
    GetLinkState,
    Raw(u16),
}

impl MsgId {
    fn code(self) -> u32 {
        match self {
            MsgId::VfReset => mbx::VF_RESET,
            MsgId::SetMacAddr => mbx::SET_MAC_ADDR,
            MsgId::SetMulticast => mbx::SET_MULTICAST,
            MsgId::SetVlan => mbx::SET_VLAN,
            MsgId::SetLpe => mbx::SET_LPE,
            MsgId::SetMacvlan => mbx::SET_MACVLAN,
            MsgId::ApiNegotiate => mbx::API_NEGOTIATE,
            MsgId::GetQueues => mbx::GET_QUEUES,
            MsgId::GetReta => mbx::GET_RETA,
            MsgId::GetRssKey => mbx::GET_RSS_KEY,
            MsgId::UpdateXcastMode => mbx::UPDATE_XCAST_MODE,
            MsgId::GetLinkState => mbx::GET_LINK_STATE,
            MsgId::Raw(v) => u32::from(v),
        }
    }
}

/// A VF's mailbox message as its driver writes it.
#[derive(Arbitrary, Debug, Clone)]
pub struct Message {
    pub id: MsgId,
    /// MSGINFO (word 0 bits 23:16): counts, modes, flags.
    pub info: u8,
    /// Word 0 bits 31:24 (ACK, NACK, CTS: a VF may set them too).
    pub flags: Option<u8>,
    /// Words 1.. (more than the buffer holds are cut at 16).
    pub args: Vec<u32>,
    pub len: Len,
}

impl Message {
    pub fn send<const N: usize>(&self, rig: &mut Rig<N>, vf: usize) {
        let mut words = [0u32; mbx::WORDS];
        words[0] = self.id.code()
            | u32::from(self.info) << mbx::MSGINFO_SHIFT
            | u32::from(self.flags.unwrap_or(0)) << 24;
        let n = 1 + self.args.len().min(mbx::WORDS - 1);
        words[1..n].copy_from_slice(&self.args[..n - 1]);
        rig.message(vf, &words[..n], self.len.of(n));
    }
}

/// VF `vf` (modulo the VFs) brings itself up the way its driver does:
/// reset, API 1.5, its [`vf_mac`].
pub fn bring_up<const N: usize>(rig: &mut Rig<N>, vf: usize) {
    let vf = vf % N;
    rig.message(vf, &[mbx::VF_RESET], 1);
    rig.message(vf, &[mbx::API_NEGOTIATE, 6], 2);
    rig.message(vf, &set_mac(vf_mac(vf)), 3);
}

fn set_mac(mac: [u8; 6]) -> [u32; 3] {
    [
        mbx::SET_MAC_ADDR,
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        u32::from_le_bytes([mac[4], mac[5], 0, 0]),
    ]
}

/// A VF number in admin word 0: an enabled one, all (0xffff), or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AdminVf {
    Enabled(u8),
    All,
    Any(u16),
}

/// An admin opcode: one the firmware knows (by index), or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AdminCode {
    Known(u8),
    Raw(u16),
}

/// The opcodes the firmware knows, from its own table.
fn known_opcodes() -> &'static [u16] {
    static CODES: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    CODES.get_or_init(|| {
        (0..=u16::MAX)
            .filter(|c| Opcode::from_code(*c).is_some())
            .collect()
    })
}

/// A PF admin request.
#[derive(Arbitrary, Debug, Clone)]
pub struct AdminRequest {
    pub code: AdminCode,
    pub vf: AdminVf,
    /// Words 1.. (cut at the request block's 32).
    pub args: Vec<u32>,
    /// The claimed length: the opcode's own, what was written, or any
    /// (the block holds 32 words; lengths past it are refused).
    pub len: AdminLen,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AdminLen {
    Needed,
    Written,
    Any(u8),
}

impl AdminRequest {
    /// Sends it; returns the response's status and length.
    pub fn send<const N: usize>(&self, rig: &mut Rig<N>) -> (u32, u32) {
        let codes = known_opcodes();
        let code = match self.code {
            AdminCode::Known(i) => codes[usize::from(i) % codes.len()],
            AdminCode::Raw(c) => c,
        };
        let vf = match self.vf {
            AdminVf::Enabled(v) => usize::from(v) % N.max(1),
            AdminVf::All => 0xffff,
            AdminVf::Any(v) => usize::from(v),
        };
        let mut words = [0u32; ADMIN_WORDS];
        words[0] = u32::from(code) | (vf as u32) << 16;
        let n = 1 + self.args.len().min(ADMIN_WORDS - 1);
        words[1..n].copy_from_slice(&self.args[..n - 1]);
        let len = match self.len {
            AdminLen::Needed => Opcode::from_code(code).map_or(n, Opcode::request_words) as u32,
            AdminLen::Written => n as u32,
            AdminLen::Any(l) => u32::from(l),
        };
        rig.admin(&words[..n], len);
        rig.admin_response()
    }
}

/// A frame's destination.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Dst {
    Broadcast,
    /// The MAC [`bring_up`] gives VF n.
    Vf(u8),
    /// A multicast address (its hash is what VFs register).
    Multicast([u8; 5]),
    Any([u8; 6]),
}

/// An Ethernet frame, built from its parts.
#[derive(Arbitrary, Debug, Clone)]
pub struct Frame {
    pub dst: Dst,
    pub src: [u8; 6],
    /// 802.1Q / 802.1ad tags: (TPID choice, TCI); more than two is an
    /// error the parser must report.
    pub tags: Vec<(bool, u16)>,
    pub ethertype: u16,
    /// Payload bytes: `len` of them, each `fill`.
    pub len: u16,
    pub fill: u8,
}

/// The MAC [`bring_up`] gives VF `vf`.
pub fn vf_mac(vf: usize) -> [u8; 6] {
    [0x02, 0, 0, 0, (vf >> 8) as u8, vf as u8]
}

impl Frame {
    pub fn bytes(&self) -> Vec<u8> {
        let dst = match self.dst {
            Dst::Broadcast => [0xff; 6],
            Dst::Vf(n) => vf_mac(usize::from(n)),
            Dst::Multicast(m) => [0x01, m[0], m[1], m[2], m[3], m[4]],
            Dst::Any(m) => m,
        };
        let mut f = Vec::with_capacity(18 + 4 * self.tags.len() + usize::from(self.len));
        f.extend_from_slice(&dst);
        f.extend_from_slice(&self.src);
        for (ad, tci) in self.tags.iter().take(3) {
            let tpid: u16 = if *ad { 0x88a8 } else { 0x8100 };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&self.ethertype.to_be_bytes());
        // Up to a jumbo frame and a little past it (oversize drops).
        f.resize(f.len() + usize::from(self.len % 10_000), self.fill);
        f
    }
}

/// A value for a register holding an address: inside function `f`'s DMA
/// window (the rig's layout), the window's high half, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Addr {
    InWindow(u16),
    High,
    Any(u32),
}

impl Addr {
    pub fn value(self, f: usize) -> u32 {
        match self {
            Addr::InWindow(off) => {
                (HOST_MEMORY_BUS_BASE + f as u64 * crate::WINDOW) as u32 + u32::from(off)
            }
            Addr::High => (HOST_MEMORY_BUS_BASE >> 32) as u32,
            Addr::Any(v) => v,
        }
    }
}
