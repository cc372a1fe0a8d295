//! `vmtool`, in the Linux VM's initramfs beside busybox:
//!
//! - `vmtool join IFACE MAC SECONDS`: holds a link-layer multicast group
//!   on IFACE for SECONDS (what `ip maddr add` does; busybox's ip lacks it);
//! - `vmtool send IFACE SRC DST COUNT [LEN]`: sends COUNT Ethernet frames of
//!   LEN bytes (default 60) from any source MAC (a spoofed source, for the
//!   PF's spoof check; a burst, for its rate limit);
//! - `vmtool send-hex IFACE HEX COUNT`: sends a frame given in hex (the
//!   host side uses it too, in the far end's namespace, for tagged frames);
//! - `vmtool flood IPV4 SECONDS`: ICMP echo as fast as replies come (32
//!   outstanding), and prints sent, received, loss and rate (`ping -f`).
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

fn hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("{s:?}: not hex")))
        .collect()
}

fn send_hex(iface: &str, frame: &[u8], count: u32) -> Result<(), String> {
    if !(14..=9018).contains(&frame.len()) {
        return Err(format!("a frame of {} bytes: 14 to 9018", frame.len()));
    }
    let (fd, _) = packet_socket(iface)?;
    for _ in 0..count {
        // SAFETY: a write of our buffer on our socket.
        let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
        if n != frame.len() as isize {
            return Err(os_err("write"));
        }
    }
    Ok(())
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// ICMP echo requests to `dst` for `seconds`, as fast as replies come back
/// (at most `WINDOW` outstanding): what `ping -f` measures.
fn flood(dst: &str, seconds: u64) -> Result<(), String> {
    const WINDOW: u64 = 32;
    let ip: std::net::Ipv4Addr = dst
        .parse()
        .map_err(|_| format!("{dst:?}: not an IPv4 address"))?;
    // SAFETY: plain socket calls on our own descriptor and buffers.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        if fd < 0 {
            return Err(os_err("socket(IPPROTO_ICMP)"));
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 1000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let mut to: libc::sockaddr_in = std::mem::zeroed();
        to.sin_family = libc::AF_INET as u16;
        to.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
        let id = (std::process::id() & 0xffff) as u16;
        // Replies not seen within 1 ms of a full window count as lost, so
        // that one lost reply does not stop the flood.
        let (mut sent, mut got, mut given_up) = (0u64, 0u64, 0u64);
        let start = std::time::Instant::now();
        let until = start + std::time::Duration::from_secs(seconds);
        let mut buf = [0u8; 1500];
        while std::time::Instant::now() < until {
            while sent - got - given_up < WINDOW && std::time::Instant::now() < until {
                let mut p = [0u8; 64];
                p[0] = 8; // echo request
                p[4..6].copy_from_slice(&id.to_be_bytes());
                p[6..8].copy_from_slice(&(sent as u16).to_be_bytes());
                let c = checksum(&p);
                p[2..4].copy_from_slice(&c.to_be_bytes());
                let r = libc::sendto(
                    fd,
                    p.as_ptr().cast(),
                    p.len(),
                    0,
                    (&to as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                );
                if r < 0 {
                    break;
                }
                sent += 1;
            }
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n >= 28 {
                let ihl = usize::from(buf[0] & 0xf) * 4;
                let icmp = &buf[ihl..n as usize];
                if icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() {
                    got += 1;
                }
            } else if n < 0 && sent - got - given_up >= WINDOW {
                given_up += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "flood {sent} sent, {got} received, {:.1}% loss, {:.0} per second",
            if sent == 0 {
                0.0
            } else {
                (sent - got.min(sent)) as f64 * 100.0 / sent as f64
            },
            got as f64 / secs
        );
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
        [cmd, iface, frame, n] if cmd == "send-hex" => {
            send_hex(iface, &hex(frame)?, num(n)? as u32)
        }
        [cmd, dst, secs] if cmd == "flood" => flood(dst, num(secs)?),
        _ => Err(
            "usage: vmtool join IFACE MAC SECONDS | send IFACE SRC DST COUNT [LEN] \
                  | send-hex IFACE HEX COUNT | flood IPV4 SECONDS"
                .into(),
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
