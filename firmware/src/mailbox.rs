//! The PF side of the VF mailbox: the ixgbe protocol under PF policy.
//!
//! Behaviour follows the Linux ixgbe PF where VF drivers depend on it (exact
//! reply words, what needs clear-to-send, what needs which API) and is
//! stricter or more generous where that costs a VF driver nothing: messages
//! shorter than their payload and counts above 30 get a NACK; limits are
//! per VF and larger; every refusal is counted and can raise a PF event.

use crate::events::Event;
use crate::mac::Mac;
use crate::pools::{PoolKind, Pools};
use crate::vf::{
    Lifecycle, MAX_FRAME, MAX_MACVLANS_PER_VF, MAX_VLANS_PER_VF, MIN_FRAME, OperConfig, Vf,
};
use hal::ixgbe::mbx::{self, ACK, CTS, NACK, WORDS};
use hal::ixgbe::{MbxApi, XcastMode};

/// RETA entries a VF reads (82599: 128, two bits each in the reply).
pub const RETA_ENTRIES: usize = 128;
/// RSS key length in bytes.
pub const RSS_KEY_BYTES: usize = 40;
/// The multicast filter type the PF reports in the reset reply.
pub const MC_FILTER_TYPE: u32 = 0;

/// Device-wide facts the handler needs.
pub struct Context<'a> {
    pub pools: &'a mut Pools,
    pub queue_pairs: u32,
    pub rss_key: &'a [u8; RSS_KEY_BYTES],
    /// VF number (0-based), for events and logs.
    pub vf: u16,
}

/// What the VF gets back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub words: [u32; WORDS],
    pub len: usize,
}

/// Why a message was refused (for counters, logs and PF events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refusal {
    /// Not clear to send: VF_RESET first.
    BeforeClearToSend = 1,
    UnknownMessage = 2,
    /// Fewer words written than the message's payload needs.
    TooShort = 3,
    /// MSGINFO count above the protocol's limit.
    BadCount = 4,
    /// A value out of range (VID, frame size, MAC, mode, API).
    BadValue = 5,
    /// The message needs a newer negotiated API.
    ApiTooOld = 6,
    /// PF policy forbids it (administered MAC, port VLAN, query_rss off).
    Policy = 7,
    /// A per-VF limit or a shared pool is full.
    NoSpace = 8,
    /// The VF sent a word 0 carrying ACK/NACK: ignored, no reply.
    AlreadyProcessed = 9,
    /// Over the VF's mailbox rate (or the VF is quarantined).
    RateLimited = 10,
}

/// The result of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `None`: no reply (a message already marked processed).
    pub reply: Option<Reply>,
    pub refusal: Option<Refusal>,
    pub events: heapless::Vec<Event, 2>,
}

impl Outcome {
    fn new() -> Self {
        Outcome {
            reply: None,
            refusal: None,
            events: heapless::Vec::new(),
        }
    }

    fn event(&mut self, e: Event) {
        // Two slots are enough for any single message; never more.
        let _ = self.events.push(e);
    }
}

/// Handles one request of `len` words from a VF.
pub fn handle(vf: &mut Vf, ctx: &mut Context, msg: &[u32; WORDS], len: usize) -> Outcome {
    let mut out = Outcome::new();
    vf.mailbox.requests += 1;
    let word0 = msg[0];

    if word0 & (ACK | NACK) != 0 {
        out.refusal = Some(Refusal::AlreadyProcessed);
        vf.mailbox.malformed += 1;
        return out;
    }
    if word0 == mbx::VF_RESET {
        reset_message(vf, ctx, &mut out);
        return out;
    }
    if !vf.lifecycle.clear_to_send() {
        vf.mailbox.before_cts += 1;
        vf.mailbox.nacks += 1;
        out.refusal = Some(Refusal::BeforeClearToSend);
        let mut words = [0; WORDS];
        words[0] = word0 | NACK;
        out.reply = Some(Reply { words, len: 1 });
        return out;
    }

    let mut words = *msg;
    let result = dispatch(vf, ctx, &mut words, len, &mut out);
    words[0] &= !(ACK | NACK | CTS);
    match result {
        Ok(()) => {
            words[0] |= ACK;
            vf.mailbox.acks += 1;
            if vf.lifecycle == Lifecycle::ClearToSend {
                vf.lifecycle = Lifecycle::Active;
            }
        }
        Err(r) => {
            words[0] |= NACK;
            vf.mailbox.nacks += 1;
            if matches!(
                r,
                Refusal::UnknownMessage | Refusal::TooShort | Refusal::BadCount | Refusal::BadValue
            ) {
                vf.mailbox.malformed += 1;
            }
            out.refusal = Some(r);
        }
    }
    words[0] |= CTS;
    out.reply = Some(Reply { words, len: WORDS });
    out
}

fn need(len: usize, words: usize) -> Result<(), Refusal> {
    if len < words {
        Err(Refusal::TooShort)
    } else {
        Ok(())
    }
}

fn need_api(vf: &Vf, min: MbxApi) -> Result<(), Refusal> {
    if vf.oper.api.level() >= min.level() {
        Ok(())
    } else {
        Err(Refusal::ApiTooOld)
    }
}

fn dispatch(
    vf: &mut Vf,
    ctx: &mut Context,
    w: &mut [u32; WORDS],
    len: usize,
    out: &mut Outcome,
) -> Result<(), Refusal> {
    let info = mbx::info(w[0]);
    match mbx::id(w[0]) {
        mbx::SET_MAC_ADDR => {
            need(len, 3)?;
            set_mac(vf, ctx, Mac::from_words(w[1], w[2]), out)
        }
        mbx::SET_MULTICAST => {
            let n = info as usize;
            if n > mbx::MAX_MULTICAST_HASHES {
                return Err(Refusal::BadCount);
            }
            need(len, 1 + n.div_ceil(2))?;
            // Two 16-bit hashes per word, low half first. Only 12 bits are
            // a hash (ixgbevf may leave stale high bits in unused slots).
            let hash = |i: usize| ((w[1 + i / 2] >> (16 * (i % 2))) & 0xfff) as u16;
            set_multicast(vf, ctx, (0..n).map(hash), n, out)
        }
        mbx::SET_VLAN => {
            need(len, 2)?;
            if vf.admin.port_vlan.is_some() {
                return Err(Refusal::Policy);
            }
            let raw = w[1];
            if raw > 0xfff {
                return Err(Refusal::BadValue);
            }
            set_vlan(vf, ctx, raw as u16, info != 0, out)
        }
        mbx::SET_LPE => {
            need(len, 2)?;
            let frame = w[1];
            if !(MIN_FRAME..=MAX_FRAME).contains(&frame) {
                return Err(Refusal::BadValue);
            }
            vf.oper.max_frame = frame as u16;
            Ok(())
        }
        mbx::SET_MACVLAN => {
            let index = info as usize;
            if index == 0 {
                release_macvlans(vf, ctx);
                return Ok(());
            }
            need(len, 3)?;
            if vf.admin.mac.is_some() && !vf.trusted() {
                return Err(Refusal::Policy);
            }
            let mac = Mac::from_words(w[1], w[2]);
            if !mac.is_valid_unicast() {
                return Err(Refusal::BadValue);
            }
            // The VF numbers its list from 1; index 1 starts a new list.
            if index == 1 {
                release_macvlans(vf, ctx);
            }
            if vf.oper.macvlans.contains(&mac) || vf.oper.mac == Some(mac) {
                return Ok(());
            }
            if vf.oper.macvlans.len() >= MAX_MACVLANS_PER_VF {
                return Err(Refusal::NoSpace);
            }
            if !ctx.pools.mac.take(1) {
                out.event(Event::PoolExhausted {
                    vf: ctx.vf,
                    pool: PoolKind::MacFilters,
                });
                return Err(Refusal::NoSpace);
            }
            let _ = vf.oper.macvlans.push(mac);
            Ok(())
        }
        mbx::API_NEGOTIATE => {
            need(len, 2)?;
            match MbxApi::from_wire(w[1]) {
                // 2.0 is a DPDK-only variant that Linux PFs refuse too.
                Some(MbxApi::V2_0) | None => Err(Refusal::BadValue),
                Some(api) => {
                    vf.oper.api = api;
                    Ok(())
                }
            }
        }
        mbx::GET_QUEUES => {
            need_api(vf, MbxApi::V1_1)?;
            w[mbx::QUEUES_TX] = ctx.queue_pairs;
            w[mbx::QUEUES_RX] = ctx.queue_pairs;
            w[mbx::QUEUES_TRANS_VLAN] = u32::from(vf.admin.port_vlan.is_some());
            w[mbx::QUEUES_DEF_QUEUE] = 0;
            Ok(())
        }
        mbx::GET_RETA => {
            need_api(vf, MbxApi::V1_2)?;
            if !vf.admin.query_rss {
                return Err(Refusal::Policy);
            }
            // The default table spreads over the VF's queues; 2 bits each,
            // 16 entries per word.
            let q = ctx.queue_pairs.max(1);
            for (i, word) in w[1..=RETA_ENTRIES / 16].iter_mut().enumerate() {
                *word = (0..16).fold(0, |acc, j| {
                    acc | ((((16 * i + j) as u32 % q) & 3) << (2 * j))
                });
            }
            Ok(())
        }
        mbx::GET_RSS_KEY => {
            need_api(vf, MbxApi::V1_2)?;
            if !vf.admin.query_rss {
                return Err(Refusal::Policy);
            }
            for (i, chunk) in ctx.rss_key.chunks_exact(4).enumerate() {
                w[1 + i] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
            Ok(())
        }
        mbx::UPDATE_XCAST_MODE => {
            need(len, 2)?;
            need_api(vf, MbxApi::V1_2)?;
            let Some(asked) = XcastMode::from_wire(w[1]) else {
                return Err(Refusal::BadValue);
            };
            if asked == XcastMode::Promisc {
                need_api(vf, MbxApi::V1_3)?;
            }
            let granted = if asked > XcastMode::Multi && !vf.trusted() {
                vf.mailbox.xcast_downgrades += 1;
                out.event(Event::XcastDowngraded {
                    vf: ctx.vf,
                    requested: asked,
                    granted: XcastMode::Multi,
                });
                XcastMode::Multi
            } else {
                asked
            };
            vf.oper.xcast = granted;
            w[1] = granted as u32;
            Ok(())
        }
        mbx::GET_LINK_STATE => {
            need_api(vf, MbxApi::V1_2)?;
            w[1] = u32::from(vf.admin.link_state != crate::vf::LinkState::Disable);
            Ok(())
        }
        _ => Err(Refusal::UnknownMessage),
    }
}

fn set_mac(vf: &mut Vf, ctx: &mut Context, mac: Mac, out: &mut Outcome) -> Result<(), Refusal> {
    if !mac.is_valid_unicast() {
        out.event(Event::VfMacRefused { vf: ctx.vf, mac });
        return Err(Refusal::BadValue);
    }
    if let Some(admin) = vf.admin.mac
        && admin != mac
        && !vf.trusted()
    {
        out.event(Event::VfMacRefused { vf: ctx.vf, mac });
        return Err(Refusal::Policy);
    }
    if vf.oper.mac == Some(mac) {
        return Ok(());
    }
    // The primary MAC holds one filter entry; replacing it keeps it.
    if vf.oper.mac.is_none() && !ctx.pools.mac.take(1) {
        out.event(Event::PoolExhausted {
            vf: ctx.vf,
            pool: PoolKind::MacFilters,
        });
        return Err(Refusal::NoSpace);
    }
    vf.oper.mac = Some(mac);
    out.event(Event::VfMacChanged { vf: ctx.vf, mac });
    Ok(())
}

fn set_multicast(
    vf: &mut Vf,
    ctx: &mut Context,
    hashes: impl Iterator<Item = u16>,
    n: usize,
    out: &mut Outcome,
) -> Result<(), Refusal> {
    let old = vf.oper.mc_hashes.len() as u32;
    ctx.pools.multicast.give(old);
    if !ctx.pools.multicast.take(n as u32) {
        // Keep the old list: take its entries back (they were just freed).
        let _ = ctx.pools.multicast.take(old);
        out.event(Event::PoolExhausted {
            vf: ctx.vf,
            pool: PoolKind::MulticastHashes,
        });
        return Err(Refusal::NoSpace);
    }
    vf.oper.mc_hashes.clear();
    for h in hashes {
        // Capacity is the protocol's maximum, checked above.
        let _ = vf.oper.mc_hashes.push(h);
    }
    Ok(())
}

fn set_vlan(
    vf: &mut Vf,
    ctx: &mut Context,
    vid: u16,
    add: bool,
    out: &mut Outcome,
) -> Result<(), Refusal> {
    if vid == 4095 {
        return Err(Refusal::BadValue);
    }
    if !add {
        // VLAN 0 stays (untagged and priority-tagged traffic): a no-op.
        if vid != 0 && vf.oper.vlans.remove(vid) {
            ctx.pools.vlan.release(vid);
        }
        return Ok(());
    }
    if vf.oper.vlans.contains(vid) {
        return Ok(());
    }
    if vf.oper.vlans.len() >= MAX_VLANS_PER_VF {
        return Err(Refusal::NoSpace);
    }
    if !ctx.pools.vlan.acquire(vid) {
        out.event(Event::PoolExhausted {
            vf: ctx.vf,
            pool: PoolKind::VlanFilters,
        });
        return Err(Refusal::NoSpace);
    }
    vf.oper.vlans.insert(vid);
    Ok(())
}

fn release_macvlans(vf: &mut Vf, ctx: &mut Context) {
    release_macvlans_pools(vf, ctx.pools);
}

/// Gives back everything the VF's operational config holds and clears it
/// (what a VF reset, FLR or disable clears).
pub fn clear_oper(vf: &mut Vf, pools: &mut Pools) {
    release_macvlans_pools(vf, pools);
    pools.multicast.give(vf.oper.mc_hashes.len() as u32);
    for vid in vf.oper.vlans.iter() {
        pools.vlan.release(vid);
    }
    if vf.oper.mac.is_some() {
        pools.mac.give(1);
    }
    vf.oper = OperConfig::RESET;
}

fn release_macvlans_pools(vf: &mut Vf, pools: &mut Pools) {
    pools.mac.give(vf.oper.macvlans.len() as u32);
    vf.oper.macvlans.clear();
}

/// Programs what a reset leaves: the administered MAC (if any) and VLAN 0
/// or the port VLAN. Pool exhaustion here leaves the VF without the entry
/// and raises an event.
pub fn apply_reset_defaults(vf: &mut Vf, pools: &mut Pools, index: u16) -> Option<Event> {
    let mut event = None;
    if let Some(mac) = vf.admin.mac {
        if pools.mac.take(1) {
            vf.oper.mac = Some(mac);
        } else {
            event = Some(Event::PoolExhausted {
                vf: index,
                pool: PoolKind::MacFilters,
            });
        }
    }
    let vid = vf.admin.port_vlan.map_or(0, |p| p.vid);
    if pools.vlan.acquire(vid) {
        vf.oper.vlans.insert(vid);
    } else {
        event = Some(Event::PoolExhausted {
            vf: index,
            pool: PoolKind::VlanFilters,
        });
    }
    event
}

/// VF_RESET: clear what the VF configured, keep what the PF administered,
/// reply with the MAC. ACK only if the PF assigned a MAC; NACK (and a zero
/// MAC) tells the VF to pick its own. Exactly 4 words, no CTS.
fn reset_message(vf: &mut Vf, ctx: &mut Context, out: &mut Outcome) {
    clear_oper(vf, ctx.pools);
    if let Some(e) = apply_reset_defaults(vf, ctx.pools, ctx.vf) {
        out.event(e);
    }
    vf.lifecycle = Lifecycle::ClearToSend;
    vf.pending_control = None;
    let mut words = [0; WORDS];
    match vf.admin.mac.filter(|_| vf.oper.mac.is_some()) {
        Some(mac) => {
            words[0] = mbx::VF_RESET | ACK;
            (words[1], words[2]) = mac.to_words();
            vf.mailbox.acks += 1;
        }
        None => {
            words[0] = mbx::VF_RESET | NACK;
            vf.mailbox.nacks += 1;
        }
    }
    words[3] = MC_FILTER_TYPE;
    out.reply = Some(Reply {
        words,
        len: mbx::RESET_REPLY_WORDS,
    });
}

#[cfg(test)]
mod tests;
