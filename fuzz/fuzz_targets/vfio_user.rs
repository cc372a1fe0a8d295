//! The vfio-user server's message handling without its sockets: any bytes
//! as a stream of messages (header, body), each decoded, and the VF's
//! configuration space and BAR3 driven by the region accesses among them.
//! Nothing may panic; the VF's identity and the MSI-X table size never
//! change, whatever is written.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vfio_proto::pci::{ConfigEffect, VfConfig};
use vfio_proto::protocol::{self, HEADER, Header, Request, vfio};

fuzz_target!(|data: &[u8]| {
    let mut cfg = VfConfig::default();
    let mut rest = data;
    while rest.len() >= HEADER {
        let h = Header::parse(rest[..HEADER].try_into().unwrap());
        let announced = (h.size as usize).saturating_sub(HEADER);
        let n = announced.min(rest.len() - HEADER);
        let body = &rest[HEADER..HEADER + n];
        rest = &rest[HEADER + n..];
        let _ = h.body_len();
        let result = match protocol::parse(&h, body) {
            Ok(Request::RegionRead {
                region,
                offset,
                count,
            }) => {
                let mut b = vec![0u8; count as usize];
                match region {
                    vfio::PCI_CONFIG_REGION_INDEX => cfg.read(offset, &mut b),
                    3 => cfg.bar3_read(offset, &mut b),
                    _ => {}
                }
                Ok(b)
            }
            Ok(Request::RegionWrite {
                region,
                offset,
                data,
            }) => {
                match region {
                    vfio::PCI_CONFIG_REGION_INDEX => {
                        if cfg.write(offset, data) == ConfigEffect::Flr {
                            cfg.reset();
                        }
                    }
                    3 => cfg.bar3_write(offset, data),
                    _ => {}
                }
                Ok(Vec::new())
            }
            Ok(_) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        let reply = protocol::reply(&h, result);
        assert!(reply.len() >= HEADER);
        let mut id = [0u8; 4];
        cfg.read(0, &mut id);
        assert_eq!(id, [0x86, 0x80, 0xed, 0x10], "the VF's IDs changed");
        let mut msix = [0u8; 2];
        cfg.read(0x72, &mut msix);
        assert_eq!(
            u16::from_le_bytes(msix) & 0x7ff,
            2,
            "the MSI-X table size changed"
        );
    }
});
