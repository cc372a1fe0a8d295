//! The MMU: an identity map built with `aarch64-paging`, page tables from a
//! static pool (no heap).
//!
//! - Image code: normal write-back memory, read-only, executable.
//! - Image read-only data: read-only, never executable.
//! - The rest of RAM: read-write, never executable, except the two stack
//!   guard pages, which stay unmapped.
//! - Every device region of the board: Device-nGnRE, never executable.
//! - Everything else is unmapped: a stray access is a translation fault.

use crate::board::MEMORY_MAP;
use crate::board::memory::{RAM_END_INCLUSIVE, RAM_START};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{MAIR_EL1, ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, Writeable};
use aarch64_paging::Mapping;
use aarch64_paging::descriptor::{El1Attributes, PhysicalAddress};
use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion, PageTable, Translation, VaRange};
use core::cell::UnsafeCell;
use core::ptr::NonNull;

/// MAIR_EL1 attribute slots.
const MAIR_DEVICE_NGNRE: u64 = 0x04; // slot 0
const MAIR_NORMAL_WB: u64 = 0xff; // slot 1: inner/outer write-back, RW-allocate
const MAIR_NORMAL_NC: u64 = 0x44; // slot 2: inner/outer non-cacheable
const MAIR: u64 = MAIR_DEVICE_NGNRE | (MAIR_NORMAL_WB << 8) | (MAIR_NORMAL_NC << 16);

/// Tables in the pool. The qemu-virt map needs about a dozen.
const POOL_TABLES: usize = 32;
/// 39-bit virtual addresses: the root table is at level 1.
const T0SZ: u64 = 64 - 39;
const ROOT_LEVEL: usize = 1;

const DEVICE: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_0)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);
const NORMAL: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN);
const CODE: El1Attributes = NORMAL.union(El1Attributes::READ_ONLY);
const RODATA: El1Attributes = CODE.union(El1Attributes::PXN);
const DATA: El1Attributes = NORMAL.union(El1Attributes::PXN);
/// The shared-memory window: Normal non-cacheable, so the other side (the
/// host process, or the PCIe endpoint) sees every write without cache
/// maintenance, and memcpy's unaligned accesses are allowed (they are not on
/// Device memory).
const SHARED: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_2)
    .union(El1Attributes::OUTER_SHAREABLE)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);

/// What the MMU set-up did, for the boot report.
#[derive(Debug, Clone, Copy)]
pub struct MmuState {
    pub sctlr: u64,
    pub mmu_on: bool,
    pub dcache_on: bool,
    pub icache_on: bool,
    pub tables_used: usize,
    pub tables_total: usize,
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);

struct Pool(UnsafeCell<[Page; POOL_TABLES]>);
// SAFETY: only `init` touches the pool, once, on the boot core.
unsafe impl Sync for Pool {}

#[unsafe(link_section = ".pagetables")]
static POOL: Pool = Pool(UnsafeCell::new([const { Page([0; 4096]) }; POOL_TABLES]));

/// Hands out zeroed tables from [`POOL`]; identity-mapped, never freed.
struct StaticTables {
    next: usize,
}

impl Translation<El1Attributes> for StaticTables {
    fn allocate_table(&mut self) -> (NonNull<PageTable<El1Attributes>>, PhysicalAddress) {
        // Exhaustion is a board-config design error found at first boot.
        assert!(
            self.next < POOL_TABLES,
            "page-table pool exhausted ({POOL_TABLES} tables)"
        );
        let page = POOL.0.get().cast::<Page>().wrapping_add(self.next);
        self.next += 1;
        let ptr = NonNull::new(page.cast()).expect("pool is not at address 0");
        (ptr, PhysicalAddress(page as usize))
    }

    unsafe fn deallocate_table(&mut self, _table: NonNull<PageTable<El1Attributes>>) {
        // The map is built once and lives forever; nothing is split or freed.
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<El1Attributes>> {
        NonNull::new(pa.0 as *mut _).expect("table address is not 0")
    }
}

fn symbol_addr(sym: *const u8) -> usize {
    sym as usize
}

/// Builds the map, turns on the MMU and the caches. Called once by `init`.
pub(super) fn init() -> MmuState {
    unsafe extern "C" {
        static __text_start: u8;
        static __text_end: u8;
        static __rodata_end: u8;
        static __stack_guard_start: u8;
        static __stack_bottom: u8;
        static __exception_stack_guard_start: u8;
        static __exception_stack_bottom: u8;
    }
    let text = symbol_addr(&raw const __text_start);
    let text_end = symbol_addr(&raw const __text_end);
    let rodata_end = symbol_addr(&raw const __rodata_end);
    let guard0 = symbol_addr(&raw const __stack_guard_start);
    let guard0_end = symbol_addr(&raw const __stack_bottom);
    let guard1 = symbol_addr(&raw const __exception_stack_guard_start);
    let guard1_end = symbol_addr(&raw const __exception_stack_bottom);
    let ram_end = RAM_END_INCLUSIVE + 1;
    debug_assert_eq!(text, RAM_START);

    let mut map = Mapping::with_asid_and_va_range(
        StaticTables { next: 0 },
        0,
        ROOT_LEVEL,
        El1And0,
        VaRange::Lower,
    );
    let regions: [(usize, usize, El1Attributes); 5] = [
        (text, text_end, CODE),
        (text_end, rodata_end, RODATA),
        (rodata_end, guard0, DATA),
        (guard0_end, guard1, DATA),
        (guard1_end, ram_end, DATA),
    ];
    for (start, end, flags) in regions {
        map_identity(&mut map, start, end, flags);
    }
    for &(name, start, size) in MEMORY_MAP {
        // The shared-memory window is inside pcie_mmio: mapped with it.
        if name.starts_with("devices.") {
            map_identity(&mut map, start, start + size, DEVICE);
        }
    }
    if crate::board::shared_memory::PRESENT {
        use crate::board::shared_memory::{SIZE, START};
        map_identity(&mut map, START, START + SIZE, SHARED);
    }
    let tables_used = map.translation().next;

    MAIR_EL1.set(MAIR);
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(T0SZ)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::IPS::Bits_40,
    );
    barrier::isb(barrier::SY);
    // SAFETY: the map covers everything the firmware touches (image, stacks,
    // page tables, devices), identity-mapped, so execution continues.
    unsafe { map.activate() };
    // The Mapping's Drop would reset TTBR0: this map lives forever.
    core::mem::forget(map);
    // SAFETY: TLB maintenance has no memory effects.
    unsafe { core::arch::asm!("tlbi vmalle1", "dsb ish", "isb", options(nostack)) };
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);

    let sctlr = SCTLR_EL1.get();
    MmuState {
        sctlr,
        mmu_on: SCTLR_EL1.is_set(SCTLR_EL1::M),
        dcache_on: SCTLR_EL1.is_set(SCTLR_EL1::C),
        icache_on: SCTLR_EL1.is_set(SCTLR_EL1::I),
        tables_used,
        tables_total: POOL_TABLES,
    }
}

fn map_identity(
    map: &mut Mapping<StaticTables, El1And0>,
    start: usize,
    end: usize,
    flags: El1Attributes,
) {
    if start >= end {
        return;
    }
    if let Err(e) = map.map_range(
        &MemoryRegion::new(start, end),
        PhysicalAddress(start),
        flags,
        Constraints::empty(),
    ) {
        panic!("MMU: cannot map {:#x}..{:#x}: {:?}", start, end, e);
    }
}
