//! Register-level semantics of the model, with the firmware's side of the
//! window played by the test.
use super::*;
use tock_registers::interfaces::Writeable;

fn enabled(vfs: u16) -> Model {
    let mut m = Model::new(8);
    m.config_write(PF_RID, offsets::COMMAND, 2, u32::from(CMD_MEMORY));
    m.config_write(PF_RID, offsets::SRIOV_NUM_VFS, 2, u32::from(vfs));
    m.config_write(
        PF_RID,
        offsets::SRIOV_CTRL,
        2,
        u32::from(SRIOV_CTRL_VFE | SRIOV_CTRL_VF_MSE),
    );
    // Play the firmware: serve every VF.
    for slot in m.regs().vf.iter().take(usize::from(vfs)) {
        slot.active.set(1);
    }
    m
}

#[test]
fn sriov_capability_is_where_the_chain_says() {
    let mut m = Model::new(64);
    let ari = m.config_read(PF_RID, 0x100, 4);
    assert_eq!(ari & 0xffff, 0x000e);
    let next = (ari >> 20) as u16;
    let sriov = m.config_read(PF_RID, next, 4);
    assert_eq!(sriov & 0xffff, 0x0010);
    assert_eq!(sriov >> 20, 0, "last capability");
    assert_eq!(m.config_read(PF_RID, next + 0x0e, 2), 64, "TotalVFs");
    assert_eq!(
        m.config_read(PF_RID, next + 0x1a, 2),
        u32::from(VF_DEVICE_ID)
    );
    assert_ne!(m.config_read(PF_RID, offsets::DEVCAP, 4) & DEVCAP_FLR, 0);
}

#[test]
fn vf_routing_ids_follow_num_vfs() {
    let m = enabled(4);
    assert_eq!(m.vf_rid(0), PF_RID + 0x80);
    assert_eq!(m.vf_rid(3), PF_RID + 0x83);
}

#[test]
fn mailbox_ownership_and_read_to_clear() {
    let mut m = enabled(2);
    let rid = m.vf_rid(0);
    m.bar_write32(rid, VFMAILBOX, MBX_VFU);
    assert_ne!(m.bar_read32(rid, VFMAILBOX) & MBX_VFU, 0, "lock granted");
    m.bar_write32(rid, VFMBMEM, 0x0002);
    m.bar_write32(rid, VFMBMEM + 4, 0x1111);
    m.bar_write32(rid, VFMAILBOX, MBX_REQ);
    let slot = &m.regs().vf[0];
    assert_eq!(slot.req_seq.get(), 1);
    assert_eq!(slot.req_len.get(), 2, "two words written");
    assert_eq!(slot.request[1].get(), 0x1111);
    assert_eq!(
        m.bar_read32(rid, VFMAILBOX) & MBX_VFU,
        0,
        "REQ alone dropped VFU"
    );
    // The firmware consumes it: PFACK once, then clear.
    m.regs().vf[0].req_done.set(1);
    assert_ne!(m.bar_read32(rid, VFMAILBOX) & MBX_PFACK, 0);
    assert_eq!(m.bar_read32(rid, VFMAILBOX) & MBX_PFACK, 0, "read to clear");
}

#[test]
fn pf_message_waits_while_the_vf_holds_the_buffer() {
    let mut m = enabled(1);
    let rid = m.vf_rid(0);
    m.bar_write32(rid, VFMAILBOX, MBX_VFU);
    let slot = &m.regs().vf[0];
    slot.reply[0].set(0x2000_0100);
    slot.reply_len.set(1);
    slot.reply_seq.set(1);
    let v = m.bar_read32(rid, VFMAILBOX);
    assert_eq!(
        v & (MBX_PFU | MBX_PFSTS),
        MBX_PFU,
        "held back, PF side waiting"
    );
    assert_ne!(m.bar_read32(rid, VFMBMEM), 0x2000_0100);
    m.bar_write32(rid, VFMAILBOX, 0);
    let v = m.bar_read32(rid, VFMAILBOX);
    assert_eq!(v & (MBX_PFU | MBX_PFSTS), MBX_PFSTS, "delivered on release");
    assert_eq!(m.bar_read32(rid, VFMBMEM), 0x2000_0100);
    // While a message waits, the lock is not granted.
    m.bar_write32(rid, VFMAILBOX, MBX_VFU);
    m.regs().vf[0].reply_seq.set(2);
    m.bar_write32(rid, VFMAILBOX, 0);
    assert_eq!(m.bar_read32(rid, VFMAILBOX) & MBX_PFSTS, MBX_PFSTS);
}

#[test]
fn reset_in_progress_until_the_firmware_completes_it() {
    let mut m = enabled(1);
    let rid = m.vf_rid(0);
    m.bar_write32(rid, VFCTRL, VFCTRL_RST);
    assert_ne!(m.bar_read32(rid, VFMAILBOX) & MBX_RSTI, 0);
    assert_eq!(m.regs().vf[0].reset_cause.get(), 1);
    m.regs().vf[0].reset_done.set(1);
    let v = m.bar_read32(rid, VFMAILBOX);
    assert_eq!(v & (MBX_RSTI | MBX_RSTD), MBX_RSTD);
    assert_eq!(m.bar_read32(rid, VFMAILBOX) & MBX_RSTD, 0, "read to clear");
}

#[test]
fn vf_memory_decode_needs_vf_mse() {
    let mut m = enabled(1);
    let rid = m.vf_rid(0);
    m.config_write(PF_RID, offsets::SRIOV_CTRL, 2, u32::from(SRIOV_CTRL_VFE));
    assert_eq!(m.bar_read32(rid, VFSTATUS), 0xffff_ffff);
    assert_eq!(m.counters.unsupported_requests, 1);
}

#[test]
fn pf_flr_takes_the_vfs_away() {
    let mut m = enabled(2);
    let seq = m.regs().global.sriov_seq.get();
    m.config_write(PF_RID, offsets::DEVCTL, 2, u32::from(DEVCTL_FLR));
    assert_eq!(m.vfs_present(), 0);
    assert_eq!(m.config_read(PF_RID, offsets::SRIOV_NUM_VFS, 2), 0);
    assert_ne!(m.regs().global.sriov_seq.get(), seq, "the firmware is told");
    assert_eq!(
        m.config_read(PF_RID, offsets::DEVCTL, 2) & u32::from(DEVCTL_FLR),
        0
    );
}

#[test]
fn pf_bar_reads_the_admin_block_word_by_word() {
    let mut m = Model::new(1);
    m.config_write(PF_RID, offsets::COMMAND, 2, u32::from(CMD_MEMORY));
    // Play the firmware: a response word and the event head.
    m.regs().admin.response[3].set(0x1234_5678);
    m.regs().admin.event_head.set(5);
    assert_eq!(
        m.bar_read32(PF_RID, pfreg::ADMIN_RESPONSE + 12),
        0x1234_5678
    );
    assert_eq!(m.bar_read32(PF_RID, pfreg::EVENT_HEAD), 5);
    // A reserved gap between the fields reads as the zeroes it holds.
    assert_eq!(m.bar_read32(PF_RID, pfreg::ADMIN + 0x90), 0);
    assert_eq!(m.counters.unmodelled, 0);
}
