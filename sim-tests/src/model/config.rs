//! PCIe configuration space: the PF's (type 0 header, PCIe capability with
//! FLR, ARI and SR-IOV extended capabilities) and each VF's.

/// Offsets in the PF's configuration space.
pub mod offsets {
    pub const VENDOR_ID: u16 = 0x00;
    pub const DEVICE_ID: u16 = 0x02;
    pub const COMMAND: u16 = 0x04;
    pub const STATUS: u16 = 0x06;
    pub const CLASS_REV: u16 = 0x08;
    pub const HEADER_TYPE: u16 = 0x0e;
    pub const BAR0: u16 = 0x10;
    pub const SUBSYSTEM: u16 = 0x2c;
    pub const CAP_PTR: u16 = 0x34;
    /// PCI Express capability.
    pub const PCIE_CAP: u16 = 0x40;
    pub const DEVCAP: u16 = PCIE_CAP + 0x04;
    pub const DEVCTL: u16 = PCIE_CAP + 0x08;
    pub const DEVSTA: u16 = PCIE_CAP + 0x0a;
    /// ARI extended capability.
    pub const ARI_CAP: u16 = 0x100;
    /// SR-IOV extended capability.
    pub const SRIOV_CAP: u16 = 0x140;
    pub const SRIOV_CAPS: u16 = SRIOV_CAP + 0x04;
    pub const SRIOV_CTRL: u16 = SRIOV_CAP + 0x08;
    pub const SRIOV_STATUS: u16 = SRIOV_CAP + 0x0a;
    pub const SRIOV_INITIAL_VFS: u16 = SRIOV_CAP + 0x0c;
    pub const SRIOV_TOTAL_VFS: u16 = SRIOV_CAP + 0x0e;
    pub const SRIOV_NUM_VFS: u16 = SRIOV_CAP + 0x10;
    pub const SRIOV_FUNC_DEP: u16 = SRIOV_CAP + 0x12;
    pub const SRIOV_VF_OFFSET: u16 = SRIOV_CAP + 0x14;
    pub const SRIOV_VF_STRIDE: u16 = SRIOV_CAP + 0x16;
    pub const SRIOV_VF_DID: u16 = SRIOV_CAP + 0x1a;
    pub const SRIOV_SUP_PGSIZE: u16 = SRIOV_CAP + 0x1c;
    pub const SRIOV_SYS_PGSIZE: u16 = SRIOV_CAP + 0x20;
    pub const SRIOV_VF_BAR0: u16 = SRIOV_CAP + 0x24;
}

/// Command register bits.
pub const CMD_MEMORY: u16 = 0x0002;
pub const CMD_BUS_MASTER: u16 = 0x0004;
/// Device Capabilities: Function Level Reset capable.
pub const DEVCAP_FLR: u32 = 1 << 28;
/// Device Control: Initiate Function Level Reset.
pub const DEVCTL_FLR: u16 = 0x8000;
/// SR-IOV Control bits.
pub const SRIOV_CTRL_VFE: u16 = 0x01;
pub const SRIOV_CTRL_VF_MSE: u16 = 0x08;
pub const SRIOV_CTRL_ARI: u16 = 0x10;

/// The PF's identity: Intel's vendor ID, because an operating system gives
/// every VF its PF's vendor ID (Linux's drivers/pci/iov.c; DPDK reads it
/// from sysfs) and the VF drivers match 8086:10ed only. The device ID is
/// one no Linux or DPDK Intel driver claims (not ixgbe's, igb's, e1000e's,
/// i40e's, ice's, ...): the PF speaks this project's admin protocol, not
/// the 82599's, and ixgbe must not bind it. See docs/vf-interface.md.
pub const PF_VENDOR_ID: u16 = 0x8086;
pub const PF_DEVICE_ID: u16 = 0x1505;
/// The VF's IDs: the 82599 VF, so ixgbevf-compatible drivers bind. The VF's
/// own Vendor/Device ID registers read 0xffff, as SR-IOV specifies; the
/// device ID is the PF's SR-IOV capability's VF Device ID, the vendor the
/// PF's; the subsystem IDs say the same.
pub const VF_VENDOR_ID: u16 = 0x8086;
pub const VF_DEVICE_ID: u16 = 0x10ed;
/// Ethernet controller.
pub const CLASS_ETHERNET: u32 = 0x0200_0000;
/// BAR sizes.
pub const PF_BAR0_SIZE: u32 = 0x1_0000;
pub const VF_BAR0_SIZE: u32 = 0x4000;
/// Supported page sizes: 4K, 8K, 64K, 256K, 1M, 4M (the usual set).
pub const SUPPORTED_PAGE_SIZES: u32 = 0x553;

/// First VF Offset for a given NumVFs: 0x80 while the VFs fit in the
/// function numbers after it on the PF's bus, else 1. It changes with
/// NumVFs, as the spec allows, so drivers must re-read it.
pub const fn first_vf_offset(num_vfs: u16) -> u16 {
    if num_vfs <= 0x80 { 0x80 } else { 1 }
}
/// VF Stride.
pub const VF_STRIDE: u16 = 1;

/// A 32-bit BAR: the programmed address and the sizing handshake.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bar {
    pub address: u32,
    pub size: u32,
}

impl Bar {
    pub fn read(&self) -> u32 {
        // Memory, 32-bit, non-prefetchable: type bits 0.
        self.address & !(self.size - 1)
    }

    pub fn write(&mut self, v: u32) {
        // Writing all ones then reading gives the size mask.
        self.address = v & !(self.size - 1);
    }
}

/// Reads `size` bytes (1, 2 or 4) at `offset` from a little-endian 32-bit
/// register value at `base`.
pub fn extract(reg: u32, offset: u16, size: u8) -> u32 {
    let shift = u32::from(offset & 3) * 8;
    let v = reg >> shift;
    match size {
        1 => v & 0xff,
        2 => v & 0xffff,
        _ => v,
    }
}

/// Merges a `size`-byte write at `offset` into a 32-bit register value.
pub fn merge(reg: u32, offset: u16, size: u8, value: u32) -> u32 {
    let shift = u32::from(offset & 3) * 8;
    let mask: u32 = match size {
        1 => 0xff,
        2 => 0xffff,
        _ => 0xffff_ffff,
    } << shift;
    (reg & !mask) | ((value << shift) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_word_access() {
        assert_eq!(extract(0x1122_3344, 2, 2), 0x1122);
        assert_eq!(extract(0x1122_3344, 1, 1), 0x33);
        assert_eq!(merge(0x1122_3344, 2, 2, 0xabcd), 0xabcd_3344);
        assert_eq!(merge(0x1122_3344, 0, 1, 0xff), 0x1122_33ff);
    }

    #[test]
    fn bar_sizing() {
        let mut b = Bar {
            address: 0,
            size: 0x4000,
        };
        b.write(0xffff_ffff);
        assert_eq!(b.read(), 0xffff_c000, "size mask");
        b.write(0x1000_4000);
        assert_eq!(b.read(), 0x1000_4000);
    }

    #[test]
    fn offset_follows_num_vfs() {
        assert_eq!(first_vf_offset(8), 0x80);
        assert_eq!(first_vf_offset(200), 1);
    }
}
