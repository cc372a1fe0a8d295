//! Arm semihosting (QEMU with `-semihosting-config enable=on`): exit with a
//! status, read the command line given with `-append`.
//!
//! Without semihosting enabled, `hlt #0xf000` is an undefined instruction:
//! only boards whose config says `exit = "semihosting"` call these.

use core::arch::asm;

const SYS_GET_CMDLINE: u64 = 0x15;
const SYS_EXIT_EXTENDED: u64 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// # Safety
/// `param` must be what operation `op` expects.
unsafe fn call(op: u64, param: u64) -> u64 {
    let ret;
    // SAFETY: the semihosting trap reads and writes only the parameter block.
    unsafe {
        asm!("hlt #0xf000", inout("x0") op => ret, in("x1") param, options(nostack));
    }
    ret
}

/// Ends the emulation with `code` as QEMU's exit status.
pub fn exit(code: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code)];
    // SAFETY: SYS_EXIT_EXTENDED takes a pointer to a two-word block.
    unsafe { call(SYS_EXIT_EXTENDED, block.as_ptr() as u64) };
    super::halt()
}

/// The `-append` string (QEMU may put the image path before it), or `None`
/// when the host refuses or it is not UTF-8.
pub fn command_line(buf: &mut [u8]) -> Option<&str> {
    let mut block = [buf.as_mut_ptr() as u64, buf.len() as u64];
    // SAFETY: SYS_GET_CMDLINE writes at most block[1] bytes to block[0] and
    // the length back to block[1].
    let ret = unsafe { call(SYS_GET_CMDLINE, block.as_mut_ptr() as u64) };
    if ret != 0 {
        return None;
    }
    let len = (block[1] as usize).min(buf.len());
    core::str::from_utf8(&buf[..len]).ok()
}
