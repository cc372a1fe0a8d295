//! Uplink backends: pcap in, pcap out, and captures on the uplink and on a
//! VF's port, all readable as pcap (what Wireshark opens).

use firmware::mac::Mac;
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use sim_tests::drivers::pf::PfDriver;
use sim_tests::drivers::queues::Rings;
use sim_tests::drivers::vf::VfDriver;
use sim_tests::frames::FrameSpec;
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;
use sim_tests::uplink::{PcapCapture, PcapUplink};
use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-tests-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn read_all(path: &PathBuf) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

#[test]
fn frames_flow_from_a_pcap_file_to_a_vf_and_out_to_a_pcap_file() {
    let mut sim = Sim::with_board_capacities();
    let mut pf = PfDriver::probe(&mut sim).unwrap();
    pf.sriov_configure(&mut sim, 2).unwrap();
    let mut vf = VfDriver::new(pf.vf_rid(&mut sim, 0));
    let mac = vf.bring_up(&mut sim).unwrap().mac;
    let mut rings = Rings::setup(&mut sim, vf.rid, 0, 1, 32, 2, false).unwrap();
    rings.capture = Some(PcapCapture::create(&tmp("vf0.pcap")).unwrap());

    let peer = Mac([2, 0xee, 0, 0, 0, 1]);
    let inbound: Vec<Vec<u8>> = (0..3)
        .map(|i| FrameSpec::new(mac, peer).payload(60 + i).build())
        .collect();
    {
        let mut w = PcapWriter::new(File::create(tmp("in.pcap")).unwrap()).unwrap();
        for (i, f) in inbound.iter().enumerate() {
            w.write_packet(&PcapPacket::new(
                Duration::from_micros(i as u64),
                f.len() as u32,
                f,
            ))
            .unwrap();
        }
    }
    sim.pcap_uplink =
        Some(PcapUplink::open(Some(&tmp("in.pcap")), Some(&tmp("out.pcap"))).unwrap());
    sim.uplink_capture = Some(PcapCapture::create(&tmp("uplink.pcap")).unwrap());
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
    // Flush the writers.
    sim.pcap_uplink = None;
    sim.uplink_capture = None;
    rings.capture = None;
    assert_eq!(read_all(&tmp("out.pcap")), vec![outbound.clone()]);
    let mut uplink_seen = inbound.clone();
    uplink_seen.push(outbound.clone());
    assert_eq!(read_all(&tmp("uplink.pcap")), uplink_seen);
    let mut vf_seen = inbound;
    vf_seen.push(outbound);
    assert_eq!(read_all(&tmp("vf0.pcap")), vf_seen);
    std::fs::remove_dir_all(tmp("x").parent().unwrap()).unwrap();
}
