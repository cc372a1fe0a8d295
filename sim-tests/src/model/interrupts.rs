//! A VF's MSI-X interrupt logic, as the 82599 VF has it: causes, enables,
//! auto-clear and auto-mask, and which vectors fired. The model turns
//! firmware progress into causes (`Model::sync_interrupts`).

/// MSI-X vectors of an 82599 VF: two for queues, one for the mailbox.
pub const VF_MSIX_VECTORS: u32 = 3;
pub(super) const VECTOR_BITS: u32 = (1 << VF_MSIX_VECTORS) - 1;

/// A VF's interrupt logic, as the 82599 VF has it in MSI-X mode (the only
/// mode ixgbevf and DPDK use): one cause bit per vector in VTEICR, set by
/// the events VTIVAR / VTIVAR_MISC route to that vector (or by VTEICS);
/// a vector sends its message when its cause is set while VTEIMS enables
/// it; sending auto-clears the cause (VTEIAC) and auto-masks the vector
/// (VTEIAM) where those bits are set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interrupts {
    /// VTEICR: causes (bit v = vector v).
    pub eicr: u32,
    /// VTEIMS: enabled vectors (VTEIMC clears).
    pub eims: u32,
    /// VTEIAC: causes cleared when their vector fires.
    pub eiac: u32,
    /// VTEIAM: vectors masked when they fire.
    pub eiam: u32,
    /// VTIVAR(i): queue pair 2i/2i+1 → vectors (Rx bits 7:0 and 23:16, Tx
    /// bits 15:8 and 31:24; valid 0x80, vector in bits 1:0).
    pub ivar: [u32; 4],
    /// VTIVAR_MISC: the mailbox cause's vector (valid 0x80).
    pub ivar_misc: u32,
    /// Vectors whose cause was set and enabled at the last evaluation: a
    /// vector fires again only after that stopped being so.
    asserted: u32,
    /// Messages sent and not yet taken by the transport (bit v = vector v).
    pub fired: u32,
    /// Messages sent since the VF was last reset, per vector.
    pub messages: [u64; VF_MSIX_VECTORS as usize],
}

impl Interrupts {
    /// A routing entry (VTIVAR byte, VTIVAR_MISC): its vector bit if valid.
    pub(super) fn route(entry: u32) -> u32 {
        if entry & 0x80 != 0 {
            1 << (entry & 0x3) & VECTOR_BITS
        } else {
            0
        }
    }

    /// New causes arrive (vector bits).
    pub(super) fn raise(&mut self, causes: u32) {
        self.eicr |= causes & VECTOR_BITS;
        self.evaluate();
    }

    /// Sends the message of every vector whose cause became set and
    /// enabled, then applies auto-clear and auto-mask. Called after every
    /// change of causes or masks.
    pub(super) fn evaluate(&mut self) {
        let pending = self.eicr & self.eims;
        let fire = pending & !self.asserted;
        if fire != 0 {
            self.fired |= fire;
            for (v, n) in self.messages.iter_mut().enumerate() {
                if fire & (1 << v) != 0 {
                    *n += 1;
                }
            }
            self.eicr &= !(fire & self.eiac);
            self.eims &= !(fire & self.eiam);
        }
        self.asserted = self.eicr & self.eims;
    }
}
