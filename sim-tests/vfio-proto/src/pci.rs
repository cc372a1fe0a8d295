//! A VF as a VM sees an assigned 82599 VF: its own configuration space
//! (8086:10ed, class 0x020000, 64-bit BAR0 and BAR3, MSI-X and PCI Express
//! capabilities), BAR0 served by the hardware model, BAR3 holding the MSI-X
//! table and PBA. This is only the PCI plumbing a VMM needs: register
//! behaviour is the model's (BAR0 accesses go to it unchanged), policy the
//! firmware's.

use crate::protocol::vfio;

/// Configuration space size (PCI Express).
pub const CONFIG_SIZE: u64 = 4096;
pub const BAR0_SIZE: u64 = 0x4000;
pub const BAR3_SIZE: u64 = 0x4000;
/// MSI-X vectors (the 82599 VF's).
pub const MSIX_VECTORS: usize = 3;
pub const MSIX_TABLE: u64 = 0;
pub const MSIX_PBA: u64 = 0x2000;

const VENDOR: u32 = 0x8086;
const DEVICE: u32 = 0x10ed;
const MSIX_CAP: usize = 0x70;
const PCIE_CAP: usize = 0xa0;
const COMMAND_WRITABLE: u16 = 0x0406; // memory, bus master, INTx disable
const DEVCTL_FLR: u16 = 0x8000;

/// What a configuration write asks of the device beyond config space.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigEffect {
    None,
    /// Device Control bit 15: a Function Level Reset.
    Flr,
}

/// The VM-visible PCI state of one VF.
#[derive(Debug, Clone)]
pub struct VfConfig {
    command: u16,
    bar0: u64,
    bar3: u64,
    msix_control: u16,
    devctl: u16,
    /// The MSI-X table as the VMM wrote it (QEMU emulates its own; this
    /// keeps reads consistent for a VMM that does not).
    msix_table: [u8; 16 * MSIX_VECTORS],
    /// Writes to read-only or unimplemented config bytes (dropped).
    pub ignored_writes: u64,
}

impl Default for VfConfig {
    fn default() -> Self {
        VfConfig {
            command: 0,
            bar0: 0,
            bar3: 0,
            msix_control: (MSIX_VECTORS - 1) as u16,
            devctl: 0,
            msix_table: [0; 16 * MSIX_VECTORS],
            ignored_writes: 0,
        }
    }
}

impl VfConfig {
    fn dword(&self, off: usize) -> u32 {
        let bar_lo = |addr: u64, size: u64| (addr as u32 & !(size as u32 - 1)) | 0x4;
        match off {
            0x00 => VENDOR | DEVICE << 16,
            // Status: capabilities list.
            0x04 => u32::from(self.command) | 0x0010 << 16,
            // Ethernet controller, revision 1.
            0x08 => 0x0200_0001,
            0x10 => bar_lo(self.bar0, BAR0_SIZE),
            0x14 => (self.bar0 >> 32) as u32,
            0x1c => bar_lo(self.bar3, BAR3_SIZE),
            0x20 => (self.bar3 >> 32) as u32,
            0x2c => VENDOR | DEVICE << 16,
            0x34 => MSIX_CAP as u32,
            // MSI-X: ID 0x11, next PCIe; table and PBA in BAR3.
            o if o == MSIX_CAP => {
                0x11 | (PCIE_CAP as u32) << 8 | u32::from(self.msix_control) << 16
            }
            o if o == MSIX_CAP + 4 => MSIX_TABLE as u32 | 3,
            o if o == MSIX_CAP + 8 => MSIX_PBA as u32 | 3,
            // PCI Express: ID 0x10, last; version 2, endpoint.
            o if o == PCIE_CAP => 0x10 | 0x0002 << 16,
            // Device Capabilities: FLR.
            o if o == PCIE_CAP + 4 => 1 << 28,
            o if o == PCIE_CAP + 8 => u32::from(self.devctl & !DEVCTL_FLR),
            _ => 0,
        }
    }

    /// Reads `buf.len()` bytes at `offset` (any alignment, any length
    /// within the space; beyond it reads 0xff, as an absent register).
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let at = offset.saturating_add(i as u64);
            *b = if at < CONFIG_SIZE {
                let at = at as usize;
                (self.dword(at & !3) >> (8 * (at & 3))) as u8
            } else {
                0xff
            };
        }
    }

    /// Writes bytes at `offset`, register by register.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> ConfigEffect {
        let mut effect = ConfigEffect::None;
        let mut i = 0;
        while i < data.len() {
            let at = offset.saturating_add(i as u64);
            if at >= CONFIG_SIZE {
                self.ignored_writes += 1;
                break;
            }
            let at = at as usize;
            let dw = at & !3;
            // Merge what this write covers of the dword.
            let first = at & 3;
            let n = (4 - first).min(data.len() - i);
            let mut v = self.dword(dw).to_le_bytes();
            v[first..first + n].copy_from_slice(&data[i..i + n]);
            let v = u32::from_le_bytes(v);
            if self.store(dw, v) {
                effect = ConfigEffect::Flr;
            }
            i += n;
        }
        effect
    }

    /// Stores a dword; true if it starts an FLR.
    fn store(&mut self, off: usize, v: u32) -> bool {
        let mask = |size: u64| !(size - 1);
        match off {
            0x04 => self.command = v as u16 & COMMAND_WRITABLE,
            0x10 => self.bar0 = (self.bar0 & !0xffff_ffff) | (u64::from(v) & mask(BAR0_SIZE)),
            0x14 => self.bar0 = (self.bar0 & 0xffff_ffff) | u64::from(v) << 32,
            0x1c => self.bar3 = (self.bar3 & !0xffff_ffff) | (u64::from(v) & mask(BAR3_SIZE)),
            0x20 => self.bar3 = (self.bar3 & 0xffff_ffff) | u64::from(v) << 32,
            o if o == MSIX_CAP => {
                // Enable (15) and function mask (14); the table size is
                // read-only.
                self.msix_control = (MSIX_VECTORS - 1) as u16 | ((v >> 16) as u16 & 0xc000);
            }
            o if o == PCIE_CAP + 8 => {
                let devctl = v as u16;
                self.devctl = devctl & !DEVCTL_FLR;
                return devctl & DEVCTL_FLR != 0;
            }
            _ => {
                if v != self.dword(off) {
                    self.ignored_writes += 1;
                }
            }
        }
        false
    }

    /// What a Function Level Reset returns to its initial values.
    pub fn reset(&mut self) {
        *self = VfConfig {
            ignored_writes: self.ignored_writes,
            ..VfConfig::default()
        };
    }

    pub fn msix_enabled(&self) -> bool {
        self.msix_control & 0x8000 != 0
    }

    /// BAR3 reads: the MSI-X table as written, the PBA (nothing pends
    /// here: masking is the VMM's, which keeps its own pending bits).
    pub fn bar3_read(&self, offset: u64, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let at = offset.saturating_add(i as u64);
            *b = match at.checked_sub(MSIX_TABLE) {
                Some(t) if (t as usize) < self.msix_table.len() => self.msix_table[t as usize],
                _ => 0,
            };
        }
    }

    pub fn bar3_write(&mut self, offset: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            let at = offset.saturating_add(i as u64);
            match at.checked_sub(MSIX_TABLE) {
                Some(t) if (t as usize) < self.msix_table.len() => {
                    self.msix_table[t as usize] = *b;
                }
                _ => self.ignored_writes += 1,
            }
        }
    }
}

/// Region sizes and flags, by VFIO region index.
pub fn region(index: u32) -> Option<(u64, u32)> {
    let rw = vfio::REGION_INFO_FLAG_READ | vfio::REGION_INFO_FLAG_WRITE;
    match index {
        0 => Some((BAR0_SIZE, rw)),
        3 => Some((BAR3_SIZE, rw)),
        vfio::PCI_CONFIG_REGION_INDEX => Some((CONFIG_SIZE, rw)),
        // The other BARs, the ROM and VGA: present, empty.
        i if i < vfio::PCI_NUM_REGIONS => Some((0, 0)),
        _ => None,
    }
}

/// IRQ counts and flags, by VFIO IRQ index: MSI-X only (ixgbevf has no
/// INTx or MSI fallback), and the error and request notifiers a VMM asks
/// for.
pub fn irq(index: u32) -> Option<(u32, u32)> {
    match index {
        vfio::PCI_MSIX_IRQ_INDEX => Some((
            MSIX_VECTORS as u32,
            vfio::IRQ_INFO_EVENTFD | vfio::IRQ_INFO_NORESIZE,
        )),
        vfio::PCI_ERR_IRQ_INDEX | vfio::PCI_REQ_IRQ_INDEX => Some((1, vfio::IRQ_INFO_EVENTFD)),
        i if i < vfio::PCI_NUM_IRQS => Some((0, 0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dw(c: &VfConfig, off: u64) -> u32 {
        let mut b = [0; 4];
        c.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn looks_like_an_assigned_82599_vf() {
        let c = VfConfig::default();
        assert_eq!(dw(&c, 0), 0x10ed_8086);
        assert_eq!(dw(&c, 8) >> 8, 0x02_0000, "class Ethernet");
        // Capabilities: MSI-X (3 vectors, BAR3) then PCI Express with FLR.
        let msix = dw(&c, 0x34) as u64;
        assert_eq!(dw(&c, msix) & 0xff, 0x11);
        assert_eq!((dw(&c, msix) >> 16) & 0x7ff, 2, "table size - 1");
        assert_eq!(dw(&c, msix + 4), 3, "table at BAR3 + 0");
        assert_eq!(dw(&c, msix + 8), 0x2003, "PBA at BAR3 + 0x2000");
        let pcie = u64::from((dw(&c, msix) >> 8) & 0xff);
        assert_eq!(dw(&c, pcie) & 0xff, 0x10);
        assert_ne!(dw(&c, pcie + 4) & 1 << 28, 0, "FLR capable");
        let mut all = vec![0u8; CONFIG_SIZE as usize];
        c.read(0, &mut all);
        assert_eq!(&all[0..2], &[0x86, 0x80]);
    }

    #[test]
    fn bars_size_and_flr_is_an_effect() {
        let mut c = VfConfig::default();
        c.write(0x10, &u32::MAX.to_le_bytes());
        assert_eq!(dw(&c, 0x10), 0xffff_c004, "16 KiB, 64-bit memory");
        c.write(0x10, &0xfe00_0000u32.to_le_bytes());
        c.write(0x14, &1u32.to_le_bytes());
        assert_eq!((dw(&c, 0x10), dw(&c, 0x14)), (0xfe00_0004, 1));
        assert_eq!(c.write(0xa8, &0x8000u16.to_le_bytes()), ConfigEffect::Flr);
        assert_eq!(dw(&c, 0xa8) & 0x8000, 0, "FLR reads 0");
        c.write(0x04, &0xffffu16.to_le_bytes());
        assert_eq!(dw(&c, 4) & 0xffff, 0x0406);
        c.write(0x00, &[0; 4]);
        assert_eq!(dw(&c, 0), 0x10ed_8086, "IDs are read-only");
        assert_eq!(c.ignored_writes, 1);
        c.reset();
        assert_eq!((dw(&c, 4) & 0xffff, dw(&c, 0x10)), (0, 4));
        let mut b = [0u8; 4];
        c.read(CONFIG_SIZE - 2, &mut b);
        assert_eq!(b, [0, 0, 0xff, 0xff], "beyond the space");
    }
}
