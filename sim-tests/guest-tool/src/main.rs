//! `vmtool`, in the Linux VM's initramfs beside busybox:
//!
//! - `vmtool join IFACE MAC SECONDS`: holds a link-layer multicast group
//!   on IFACE for SECONDS (what `ip maddr add` does; busybox's ip lacks it);
//! - `vmtool send IFACE SRC DST COUNT [LEN]`: sends COUNT Ethernet frames of
//!   LEN bytes (default 60) from any source MAC (a spoofed source, for the
//!   PF's spoof check; a burst, for its rate limit).
//!
//! Exit status 0 on success, 1 with a message on stderr otherwise.

use std::ffi::CString;

fn mac(s: &str) -> Result<[u8; 6], String> {
    let mut m = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("{s:?}: not a MAC address"));
    }
    for (b, p) in m.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?}: not a MAC address"))?;
    }
    Ok(m)
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A packet socket bound to `iface`; its index.
fn packet_socket(iface: &str) -> Result<(i32, i32), String> {
    let name = CString::new(iface).map_err(|_| "bad interface name".to_string())?;
    // SAFETY: plain calls with valid arguments; the name outlives them.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr()) as i32;
        if index == 0 {
            return Err(os_err(iface));
        }
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto);
        if fd < 0 {
            return Err(os_err("socket(AF_PACKET)"));
        }
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto as u16;
        sll.sll_ifindex = index;
        let p = (&sll as *const libc::sockaddr_ll).cast();
        if libc::bind(fd, p, std::mem::size_of::<libc::sockaddr_ll>() as u32) < 0 {
            return Err(os_err("bind"));
        }
        Ok((fd, index))
    }
}

fn join(iface: &str, group: [u8; 6], seconds: u64) -> Result<(), String> {
    let (fd, index) = packet_socket(iface)?;
    // SAFETY: a packet_mreq for setsockopt, as packet(7) describes.
    unsafe {
        let mut mr: libc::packet_mreq = std::mem::zeroed();
        mr.mr_ifindex = index;
        mr.mr_type = libc::PACKET_MR_MULTICAST as u16;
        mr.mr_alen = 6;
        mr.mr_address[..6].copy_from_slice(&group);
        let r = libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            (&mr as *const libc::packet_mreq).cast(),
            std::mem::size_of::<libc::packet_mreq>() as u32,
        );
        if r < 0 {
            return Err(os_err("PACKET_ADD_MEMBERSHIP"));
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    Ok(())
}

fn send(iface: &str, src: [u8; 6], dst: [u8; 6], count: u32, len: usize) -> Result<(), String> {
    if !(60..=1514).contains(&len) {
        return Err(format!("length {len}: 60 to 1514"));
    }
    let (fd, _) = packet_socket(iface)?;
    let mut frame = vec![0u8; len];
    frame[0..6].copy_from_slice(&dst);
    frame[6..12].copy_from_slice(&src);
    // A local experimental EtherType (IEEE 802 local experimental 1).
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    for _ in 0..count {
        // SAFETY: a write of our buffer on our socket.
        let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
        if n != frame.len() as isize {
            return Err(os_err("write"));
        }
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let num = |s: &str| s.parse::<u64>().map_err(|_| format!("{s:?}: not a number"));
    match args {
        [cmd, iface, group, secs] if cmd == "join" => join(iface, mac(group)?, num(secs)?),
        [cmd, iface, src, dst, n] if cmd == "send" => {
            send(iface, mac(src)?, mac(dst)?, num(n)? as u32, 60)
        }
        [cmd, iface, src, dst, n, len] if cmd == "send" => send(
            iface,
            mac(src)?,
            mac(dst)?,
            num(n)? as u32,
            num(len)? as usize,
        ),
        _ => Err(
            "usage: vmtool join IFACE MAC SECONDS | vmtool send IFACE SRC DST COUNT [LEN]".into(),
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("vmtool: {e}");
        std::process::exit(1);
    }
}
