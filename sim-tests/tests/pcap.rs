//! Captures: one pcapng for every port (checked with the pcap-parser
//! reader and with Wireshark's own `tshark`), and the capture-file uplink
//! (pcap or pcapng in, pcapng out).

use firmware::mac::Mac;
use sim_tests::capture::{Capture, Direction, read_all};
use sim_tests::drivers::pf::PfDriver;
use sim_tests::drivers::queues::Rings;
use sim_tests::drivers::vf::VfDriver;
use sim_tests::frames::FrameSpec;
use sim_tests::model::{PF_RID, pfreg};
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;
use sim_tests::uplink::PcapUplink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-tests-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A classic (libpcap, µs) file: what older tools write.
fn classic_pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for w in [1_700_000_000u32, i as u32, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    b
}

fn vf_rings(sim: &mut Sim, pf: &mut PfDriver, n: u16) -> (Rings, Mac) {
    let mut vf = VfDriver::new(pf.vf_rid(sim, n));
    let mac = vf.bring_up(sim).unwrap().mac;
    (Rings::setup(sim, vf.rid, 0, 1, 32, 2, false).unwrap(), mac)
}

#[test]
fn frames_flow_from_a_classic_pcap_to_a_vf_and_out_to_a_pcapng() {
    let mut sim = Sim::with_board_capacities();
    let mut pf = PfDriver::probe(&mut sim).unwrap();
    pf.sriov_configure(&mut sim, 2).unwrap();
    let (mut rings, mac) = vf_rings(&mut sim, &mut pf, 0);

    let peer = Mac([2, 0xee, 0, 0, 0, 1]);
    let inbound: Vec<Vec<u8>> = (0..3)
        .map(|i| FrameSpec::new(mac, peer).payload(60 + i).build())
        .collect();
    std::fs::write(tmp("in.pcap"), classic_pcap(&inbound)).unwrap();
    let start = unix_ns();
    sim.pcap_uplink = Some(
        PcapUplink::open(
            Some(&tmp("in.pcap")),
            Some(&tmp("out.pcapng")),
            sim.now_ns(),
        )
        .unwrap(),
    );
    sim.delay_us(10);
    let got: Vec<Vec<u8>> = rings
        .receive(&mut sim)
        .into_iter()
        .map(|r| r.data)
        .collect();
    assert_eq!(got, inbound);
    let outbound = FrameSpec::new(peer, mac).build();
    assert!(rings.send(&mut sim, 0, &outbound, None));
    sim.delay_us(10);
    let uplink = sim.pcap_uplink.take().unwrap();
    assert_eq!(uplink.input_error, None);
    uplink.flush().unwrap();
    drop(uplink);
    let out = read_all(&tmp("out.pcapng")).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data, outbound);
    assert_eq!(out[0].port, "wire");
    assert_eq!(out[0].direction, Some(Direction::Outbound));
    assert!(
        (start..start + 60_000_000_000).contains(&out[0].unix_ns),
        "stamped now, not frame 1 after 1970: {}",
        out[0].unix_ns
    );
    let back = read_all(&tmp("in.pcap")).unwrap();
    assert_eq!(back[1].unix_ns, 1_700_000_000_000_001_000, "µs read as µs");
    for f in ["in.pcap", "out.pcapng"] {
        std::fs::remove_file(tmp(f)).unwrap();
    }
}

#[test]
fn a_malformed_input_stops_the_uplink_with_the_reason() {
    let path = tmp("bad-input.pcap");
    let mut bytes = classic_pcap(&[vec![0xab; 60], vec![0xcd; 60]]);
    bytes.truncate(bytes.len() - 20);
    std::fs::write(&path, bytes).unwrap();
    let mut uplink = PcapUplink::open(Some(&path), None, 0).unwrap();
    let mut buf = [0u8; 128];
    use hal::port::Uplink;
    assert_eq!(uplink.receive(&mut buf), Some(60));
    assert_eq!(uplink.receive(&mut buf), None);
    let why = uplink.input_error.clone().unwrap();
    assert!(why.contains("truncated"), "{why}");
    let e = PcapUplink::open(Some(&tmp("none.pcap")), None, 0)
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("none.pcap"), "{e:#}");
    std::fs::remove_file(&path).unwrap();
}

/// Runs one of Wireshark's tools; its standard output.
fn wireshark_tool(program: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = match Command::new(program).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{program} not found: this test checks captures with Wireshark's own reader; \
             install it (Debian/Ubuntu: `sudo apt-get install -y tshark`; .ci/run does)"
        ),
        Err(e) => panic!("running {program}: {e}"),
    };
    // Warnings about the file would be here (not the one about root).
    let stderr: Vec<&str> = std::str::from_utf8(&out.stderr)
        .unwrap_or("(not UTF-8)")
        .lines()
        .filter(|l| !l.starts_with("Running as user"))
        .collect();
    assert!(out.status.success(), "{program} failed: {stderr:?}");
    assert!(stderr.is_empty(), "{program} complained: {stderr:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tshark's fields for every frame, one Vec per frame.
fn tshark(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-r".as_ref(), file.as_os_str()];
    for a in ["-T", "fields", "-E", "separator=|"] {
        args.push(a.as_ref());
    }
    for f in fields {
        args.push("-e".as_ref());
        args.push(f.as_ref());
    }
    wireshark_tool("tshark", &args)
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn one_pcapng_holds_every_port_with_directions_and_wall_clock_times_per_tshark() {
    let mut sim = Sim::with_board_capacities();
    let mut pf = PfDriver::probe(&mut sim).unwrap();
    pf.sriov_configure(&mut sim, 2).unwrap();
    let path = tmp("run.pcapng");
    let start = unix_ns();
    let sim_start = sim.now_ns();
    let capture = Capture::create(&path, sim_start).unwrap();
    sim.uplink_capture = Some(capture.port("wire").unwrap());
    let mut pf_rings = Rings::setup(&mut sim, PF_RID, pfreg::QUEUES, 1, 32, 2, false).unwrap();
    pf_rings.capture = Some(capture.port("pf").unwrap());
    let (mut vf0, mac0) = vf_rings(&mut sim, &mut pf, 0);
    vf0.capture = Some(capture.port("vf0").unwrap());
    let (mut vf1, mac1) = vf_rings(&mut sim, &mut pf, 1);
    vf1.capture = Some(capture.port("vf1").unwrap());

    let peer = Mac([2, 0xee, 0, 0, 0, 1]);
    // The wire to VF 0 (UDP), VF 0 to VF 1 (inside), VF 1 to the wire, a
    // broadcast from the wire (the PF and both VFs).
    sim.inject(
        &FrameSpec::new(mac0, peer)
            .udp([192, 0, 2, 1], [192, 0, 2, 10], 4000, 4001)
            .build(),
    );
    sim.delay_us(100);
    assert_eq!(vf0.receive(&mut sim).len(), 1);
    assert!(vf0.send(&mut sim, 0, &FrameSpec::new(mac1, mac0).build(), None));
    sim.delay_us(100);
    assert_eq!(vf1.receive(&mut sim).len(), 1);
    assert!(vf1.send(&mut sim, 0, &FrameSpec::new(peer, mac1).build(), None));
    sim.delay_us(100);
    assert_eq!(sim.uplink.take_tx().len(), 1);
    sim.inject(&FrameSpec::new(Mac::BROADCAST, peer).build());
    sim.delay_us(100);
    assert_eq!(pf_rings.receive(&mut sim).len(), 1);
    assert_eq!(vf0.receive(&mut sim).len() + vf1.receive(&mut sim).len(), 2);
    capture.flush().unwrap();
    // The capture began between `start` and now; its frames are the
    // simulated time since then later (faster than real time here).
    let end = unix_ns() + (sim.now_ns() - sim_start);

    // (port, direction) of each frame, in the order they were recorded.
    let want = [
        ("wire", "in"),
        ("vf0", "in"),
        ("vf0", "out"),
        ("vf1", "in"),
        ("vf1", "out"),
        ("wire", "out"),
        ("wire", "in"),
        ("pf", "in"),
        ("vf0", "in"),
        ("vf1", "in"),
    ];
    // Our own reader first (pcap-parser): the same story.
    let ours: Vec<(String, Option<Direction>)> = read_all(&path)
        .unwrap()
        .into_iter()
        .map(|f| (f.port, f.direction))
        .collect();
    let dir = |d: &str| {
        Some(if d == "in" {
            Direction::Inbound
        } else {
            Direction::Outbound
        })
    };
    let expected: Vec<(String, Option<Direction>)> =
        want.iter().map(|(p, d)| (p.to_string(), dir(d))).collect();
    assert_eq!(ours, expected);

    let rows = tshark(
        &path,
        &[
            "frame.interface_id",
            "frame.interface_name",
            "frame.packet_flags_direction",
            "frame.time_epoch",
            "eth.src",
            "ip.dst",
        ],
    );
    assert_eq!(rows.len(), want.len(), "frames: {rows:?}");
    for (row, (port, d)) in rows.iter().zip(want) {
        assert_eq!(row[1], port, "{row:?}");
        // epb_flags direction: 1 inbound, 2 outbound.
        let flag = if d == "in" { "1" } else { "2" };
        assert!(
            row[2] == flag || row[2] == format!("0x0000000{flag}"),
            "direction of {row:?}"
        );
        // Seconds and nanoseconds on this run's wall clock (not 1970).
        let (s, ns) = row[3].split_once('.').expect("seconds.fraction");
        let t = s.parse::<u128>().unwrap() * 1_000_000_000
            + format!("{ns:0<9}")[..9].parse::<u128>().unwrap();
        assert!(
            (u128::from(start)..=u128::from(end)).contains(&t),
            "{row:?}: {t} not within {start}..={end}"
        );
    }
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        ids,
        ["0", "2", "2", "3", "3", "0", "0", "1", "2", "3"],
        "interfaces in order of appearance"
    );
    assert_eq!(rows[0][4], "02:ee:00:00:00:01", "the first frame's source");
    assert_eq!(
        rows[0][5], "192.0.2.10",
        "the first frame's IPv4 destination"
    );
    // The interfaces as capinfos lists them (every port, named, ns).
    let info = wireshark_tool("capinfos", &[path.as_os_str()]);
    assert!(info.contains("Number of interfaces in file: 4"), "{info}");
    let names: Vec<&str> = info
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Name = "))
        .collect();
    assert_eq!(names, ["wire", "pf", "vf0", "vf1"], "{info}");
    assert_eq!(
        info.matches("Time precision = nanoseconds (9)").count(),
        4,
        "{info}"
    );
    std::fs::remove_file(&path).unwrap();
}

/// Sends `frame` out of interface `ifname` as the kernel would (an
/// AF_PACKET socket): into a TAP, toward whoever reads it.
fn kernel_sends(ifname: &str, frame: &[u8]) {
    let name = std::ffi::CString::new(ifname).unwrap();
    // SAFETY: plain libc calls on a descriptor we own and close.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        assert_ne!(index, 0, "{ifname} exists");
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(fd >= 0, "AF_PACKET socket");
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = index as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        let n = libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        libc::close(fd);
        assert_eq!(
            n,
            frame.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
    }
}

/// Under `--tap` the wire is sniffed: what QEMU writes into the TAP (from
/// the firmware) is outbound, what the kernel sends into it inbound. Needs
/// root and /dev/net/tun, as the real-Linux tests do.
#[test]
fn a_tap_is_captured_both_ways() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/net/tun").exists() {
        eprintln!("skipped: needs root and /dev/net/tun");
        return;
    }
    let name = format!("sniff{}", std::process::id() % 100_000);
    let mut tap = sim_tests::tap::Tap::open(&name).unwrap();
    let up = Command::new("ip")
        .args(["link", "set", &name, "up"])
        .status()
        .expect("running ip (iproute2)");
    assert!(up.success());
    let path = tmp("tap.pcapng");
    let capture = Capture::create(&path, 0).unwrap();
    let mut sniffer = sim_tests::sniff::TapSniffer::start(
        &name,
        capture.port("wire").unwrap(),
        std::time::Instant::now(),
    )
    .unwrap();
    // A local experimental EtherType: the kernel's own frames (IPv6
    // neighbour discovery on a new link) are told apart by it.
    let frame = |dst: Mac, tag: u8| {
        let mut f = FrameSpec::new(dst, Mac([2, 0xaa, 0, 0, 0, tag])).build();
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f
    };
    let from_firmware = frame(Mac([2, 0xbb, 0, 0, 0, 1]), 1);
    let to_firmware = frame(Mac::BROADCAST, 2);
    assert!(tap.send(&from_firmware));
    kernel_sends(&name, &to_firmware);
    let mut buf = [0u8; 2048];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut seen = false;
    while !seen && std::time::Instant::now() < deadline {
        match tap.recv(&mut buf) {
            Some(n) => seen = buf[..n] == to_firmware[..],
            None => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
    assert!(seen, "the kernel's frame reached the TAP's reader");
    std::thread::sleep(std::time::Duration::from_millis(50));
    sniffer.stop().unwrap();
    capture.flush().unwrap();
    let ours: Vec<(Vec<u8>, Option<Direction>)> = read_all(&path)
        .unwrap()
        .into_iter()
        .filter(|f| f.data.get(12..14) == Some(&[0x88, 0xb5][..]))
        .map(|f| (f.data, f.direction))
        .collect();
    assert_eq!(
        ours,
        [
            (from_firmware, Some(Direction::Outbound)),
            (to_firmware, Some(Direction::Inbound))
        ]
    );
    std::fs::remove_file(&path).unwrap();
}
