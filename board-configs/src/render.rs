//! Turns a validated board into the files the build scripts write to
//! `OUT_DIR`.

use crate::{
    Board, ExitMethod, GicVersion, PHYSICAL_TIMER_INTID, UartKind, device_slots, memory_map,
};
use std::fmt::Write;

/// Rust constants for `hal::board` (`include!`d from `OUT_DIR/board.rs`).
pub fn render_rust(board: &Board) -> String {
    let c = &board.config;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "// Generated from {} by board-config. Do not edit.\n",
        board.path.display()
    );
    let _ = writeln!(w, "/// Board name, as in its TOML.");
    let _ = writeln!(w, "pub const NAME: &str = {:?};", c.board.name);
    let _ = writeln!(w, "/// One-line description of the board.");
    let _ = writeln!(
        w,
        "pub const DESCRIPTION: &str = {:?};",
        c.board.description
    );
    let _ = writeln!(w, "/// The run ends through Arm semihosting (else: halt).");
    let _ = writeln!(
        w,
        "pub const EXIT_BY_SEMIHOSTING: bool = {};",
        c.board.exit == ExitMethod::Semihosting
    );

    let _ = writeln!(w, "\n/// Memory.\n#[rustfmt::skip]\npub mod memory {{");
    let ram = c.memory.ram;
    let _ = writeln!(w, "    pub const RAM_START: usize = {:#x};", ram.start);
    let _ = writeln!(w, "    pub const RAM_SIZE: usize = {:#x};", ram.size);
    let _ = writeln!(
        w,
        "    pub const RAM_END_INCLUSIVE: usize = {:#x};",
        ram.start + ram.size - 1
    );
    let _ = writeln!(
        w,
        "    pub const STACK_SIZE: usize = {:#x};",
        c.memory.stack_size
    );
    let _ = writeln!(w, "}}");

    let _ = writeln!(
        w,
        "\n/// Device register regions.\n#[rustfmt::skip]\npub mod devices {{"
    );
    // Every slot is rendered, an absent device as PRESENT = false and size
    // 0, so board-independent code compiles everywhere and checks PRESENT.
    for (field, r) in device_slots(c) {
        let name = field
            .trim_start_matches("devices.")
            .replace('.', "_")
            .to_uppercase();
        let r = r.unwrap_or(crate::Region { start: 0, size: 0 });
        let _ = writeln!(w, "    pub const {name}_PRESENT: bool = {};", r.size != 0);
        let _ = writeln!(w, "    pub const {name}_START: usize = {:#x};", r.start);
        let _ = writeln!(w, "    pub const {name}_SIZE: usize = {:#x};", r.size);
    }
    let (uart_kind, uart_type) = match c.devices.uart.kind {
        UartKind::Pl011 => ("pl011", "crate::drivers::pl011::Pl011"),
        UartKind::Cadence => ("cadence", "crate::drivers::cadence_uart::CadenceUart"),
    };
    let _ = writeln!(w, "    /// `devices.uart.kind`.");
    let _ = writeln!(w, "    pub const UART_KIND: &str = {uart_kind:?};");
    let _ = writeln!(
        w,
        "    /// The console's driver, chosen by `devices.uart.kind`."
    );
    let _ = writeln!(w, "    pub type Uart = {uart_type};");
    let version = match c.devices.gic.version {
        GicVersion::V2 => 2,
        GicVersion::V3 => 3,
    };
    let _ = writeln!(w, "    /// `devices.gic.version`: 2 or 3.");
    let _ = writeln!(w, "    pub const GIC_VERSION: u8 = {version};");
    let _ = writeln!(w, "}}");

    let _ = writeln!(
        w,
        "\n/// The host-interface window, if the board has one.\n#[rustfmt::skip]\npub mod shared_memory {{"
    );
    let shm = c
        .shared_memory
        .map_or(crate::Region { start: 0, size: 0 }, |s| s.region());
    let _ = writeln!(
        w,
        "    pub const PRESENT: bool = {};",
        c.shared_memory.is_some()
    );
    let _ = writeln!(
        w,
        "    /// An ivshmem BAR to place (else fixed on the AXI bus).\n    pub const ON_PCIE: bool = {};",
        c.shared_memory
            .is_none_or(|s| s.bus == crate::WindowBus::Pcie)
    );
    let _ = writeln!(w, "    pub const START: usize = {:#x};", shm.start);
    let _ = writeln!(w, "    pub const SIZE: usize = {:#x};", shm.size);
    let _ = writeln!(w, "}}");

    let _ = writeln!(
        w,
        "\n/// The periodic tick.\n#[rustfmt::skip]\npub mod timer {{"
    );
    let _ = writeln!(w, "    pub const TICK_HZ: u32 = {};", c.timer.tick_hz);
    let _ = writeln!(w, "    pub const INTID: u32 = {};", c.timer.intid);
    let _ = writeln!(
        w,
        "    /// The tick uses the EL1 physical timer (CNTP), else the virtual one (CNTV)."
    );
    let _ = writeln!(
        w,
        "    pub const PHYSICAL: bool = {};",
        c.timer.intid == PHYSICAL_TIMER_INTID
    );
    let _ = writeln!(
        w,
        "    /// The board's stated counter frequency (0: none stated)."
    );
    let _ = writeln!(
        w,
        "    pub const FREQUENCY_HZ: u64 = {};",
        c.timer.frequency_hz.unwrap_or(0)
    );
    let _ = writeln!(w, "}}");

    let _ = writeln!(w, "\n/// The cores.\n#[rustfmt::skip]\npub mod cpu {{");
    let _ = writeln!(
        w,
        "    /// Cores running data-path work, the boot core included.\n    pub const DATA_PATH_CORES: usize = {};",
        c.cpu.data_path_cores
    );
    let conduit = match c.cpu.psci {
        crate::Psci::None => 0,
        crate::Psci::Hvc => 1,
        crate::Psci::Smc => 2,
    };
    let _ = writeln!(
        w,
        "    /// PSCI conduit: 0 none, 1 `hvc`, 2 `smc`.\n    pub const PSCI_CONDUIT: u8 = {conduit};"
    );
    let _ = writeln!(w, "}}");

    let cap = &c.capacities;
    let _ = writeln!(
        w,
        "\n/// Device capacities (compile-time: the firmware never allocates).\n#[rustfmt::skip]\npub mod capacities {{"
    );
    let _ = writeln!(w, "    pub const TOTAL_VFS: usize = {};", cap.total_vfs);
    let _ = writeln!(
        w,
        "    pub const QUEUE_PAIRS_PER_VF: usize = {};",
        cap.queue_pairs_per_vf
    );
    let _ = writeln!(
        w,
        "    pub const PF_QUEUE_PAIRS: usize = {};",
        cap.pf_queue_pairs
    );
    let _ = writeln!(w, "    pub const MAC_FILTERS: usize = {};", cap.mac_filters);
    let _ = writeln!(
        w,
        "    pub const VLAN_FILTERS: usize = {};",
        cap.vlan_filters
    );
    let _ = writeln!(
        w,
        "    pub const MULTICAST_HASHES: usize = {};",
        cap.multicast_hashes
    );
    let _ = writeln!(w, "}}");

    let _ = writeln!(
        w,
        "\n/// Static-RAM budgets the capacities were checked against.\n#[rustfmt::skip]\npub mod budget {{"
    );
    use crate::budget::*;
    for (name, v) in [
        ("PER_VF_BYTES", PER_VF_BYTES),
        ("PER_QUEUE_PAIR_BYTES", PER_QUEUE_PAIR_BYTES),
        ("PER_MAC_FILTER_BYTES", PER_MAC_FILTER_BYTES),
        ("PER_VLAN_FILTER_BYTES", PER_VLAN_FILTER_BYTES),
        ("PER_MULTICAST_ENTRY_BYTES", PER_MULTICAST_ENTRY_BYTES),
    ] {
        let _ = writeln!(w, "    pub const {name}: usize = {v};");
    }
    let _ = writeln!(w, "}}");

    let _ = writeln!(
        w,
        "\n/// The address map, for the boot report: (name, start, size).\n#[rustfmt::skip]\npub const MEMORY_MAP: &[(&str, usize, usize)] = &["
    );
    for (field, r) in memory_map(c) {
        let _ = writeln!(w, "    ({field:?}, {:#x}, {:#x}),", r.start, r.size);
    }
    if let Some(shm) = c.shared_memory {
        let _ = writeln!(
            w,
            "    (\"shared_memory\", {:#x}, {:#x}),",
            shm.start, shm.size
        );
    }
    let _ = writeln!(w, "];");
    s
}

/// The linker `MEMORY` block and the symbols the generic `linker/image.ld`
/// expects from a board.
pub fn render_memory_ld(board: &Board) -> String {
    let c = &board.config;
    format!(
        "/* Generated from {} by board-config. Do not edit. */\n\
         MEMORY\n{{\n    RAM : ORIGIN = {:#x}, LENGTH = {:#x}\n}}\n\
         __stack_size = {:#x};\n",
        board.path.display(),
        c.memory.ram.start,
        c.memory.ram.size,
        c.memory.stack_size
    )
}
