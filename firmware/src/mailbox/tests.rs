//! Unit tests of the message handler alone; the protocol end to end (model,
//! VF driver) is tested in sim-tests.
use super::*;
use crate::vf::Vf;

fn ctx<'a>(pools: &'a mut Pools, key: &'a [u8; RSS_KEY_BYTES]) -> Context<'a> {
    Context {
        pools,
        queue_pairs: 2,
        rss_key: key,
        vf: 0,
    }
}

fn msg(words: &[u32]) -> [u32; WORDS] {
    let mut m = [0; WORDS];
    m[..words.len()].copy_from_slice(words);
    m
}

fn cts_vf(pools: &mut Pools) -> Vf {
    let mut vf = Vf::NEW;
    vf.lifecycle = Lifecycle::AwaitingReset;
    let key = [0; RSS_KEY_BYTES];
    handle(&mut vf, &mut ctx(pools, &key), &msg(&[mbx::VF_RESET]), 1);
    vf
}

#[test]
fn reset_reply_is_exactly_what_ixgbevf_compares() {
    let mut pools = Pools::new(8, 8, 64);
    let key = [0; RSS_KEY_BYTES];
    let mut vf = Vf::NEW;
    vf.lifecycle = Lifecycle::AwaitingReset;
    let out = handle(
        &mut vf,
        &mut ctx(&mut pools, &key),
        &msg(&[mbx::VF_RESET]),
        1,
    );
    let r = out.reply.unwrap();
    assert_eq!((r.words[0], r.len), (0x4000_0001, 4), "no admin MAC: NACK");
    assert_eq!(r.words[1..3], [0, 0]);

    vf.admin.mac = Some(Mac([2, 1, 2, 3, 4, 5]));
    let out = handle(
        &mut vf,
        &mut ctx(&mut pools, &key),
        &msg(&[mbx::VF_RESET]),
        1,
    );
    let r = out.reply.unwrap();
    assert_eq!(r.words[0], 0x8000_0001, "ACK, and no CTS");
    assert_eq!(
        Mac::from_words(r.words[1], r.words[2]),
        Mac([2, 1, 2, 3, 4, 5])
    );
    assert_eq!(vf.lifecycle, Lifecycle::ClearToSend);
    assert_eq!(pools.mac.used, 1, "the MAC holds one filter");
    assert_eq!(pools.vlan.users(0), 1, "VLAN 0 re-added");
}

#[test]
fn before_reset_everything_gets_a_one_word_nack() {
    let mut pools = Pools::new(8, 8, 64);
    let key = [0; RSS_KEY_BYTES];
    let mut vf = Vf::NEW;
    vf.lifecycle = Lifecycle::AwaitingReset;
    let out = handle(
        &mut vf,
        &mut ctx(&mut pools, &key),
        &msg(&[mbx::GET_QUEUES]),
        5,
    );
    let r = out.reply.unwrap();
    assert_eq!((r.words[0], r.len), (mbx::GET_QUEUES | NACK, 1));
    assert_eq!(out.refusal, Some(Refusal::BeforeClearToSend));
    assert_eq!(vf.mailbox.before_cts, 1);
}

#[test]
fn untrusted_allmulti_is_lowered_visibly() {
    let mut pools = Pools::new(8, 8, 64);
    let key = [0; RSS_KEY_BYTES];
    let mut vf = cts_vf(&mut pools);
    vf.oper.api = MbxApi::V1_3;
    let out = handle(
        &mut vf,
        &mut ctx(&mut pools, &key),
        &msg(&[mbx::UPDATE_XCAST_MODE, XcastMode::AllMulti as u32]),
        2,
    );
    let r = out.reply.unwrap();
    assert_eq!(r.words[0], mbx::UPDATE_XCAST_MODE | ACK | CTS);
    assert_eq!(r.words[1], XcastMode::Multi as u32);
    assert_eq!(vf.mailbox.xcast_downgrades, 1);
    assert!(matches!(out.events[0], Event::XcastDowngraded { .. }));
}

#[test]
fn multicast_count_and_length_are_checked() {
    let mut pools = Pools::new(8, 8, 64);
    let key = [0; RSS_KEY_BYTES];
    let mut vf = cts_vf(&mut pools);
    let too_many = mbx::SET_MULTICAST | (31 << mbx::MSGINFO_SHIFT);
    let out = handle(&mut vf, &mut ctx(&mut pools, &key), &msg(&[too_many]), 16);
    assert_eq!(out.refusal, Some(Refusal::BadCount));
    let three = mbx::SET_MULTICAST | (3 << mbx::MSGINFO_SHIFT);
    let out = handle(&mut vf, &mut ctx(&mut pools, &key), &msg(&[three, 1]), 2);
    assert_eq!(
        out.refusal,
        Some(Refusal::TooShort),
        "3 hashes need 3 words"
    );
    let out = handle(
        &mut vf,
        &mut ctx(&mut pools, &key),
        &msg(&[three, 0x0002_0001, 0xf003]),
        3,
    );
    assert_eq!(out.refusal, None);
    assert_eq!(vf.oper.mc_hashes.as_slice(), [1, 2, 3], "12 bits kept");
    assert_eq!(pools.multicast.used, 3);
}
