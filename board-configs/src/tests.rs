use super::*;

fn default_text() -> String {
    std::fs::read_to_string(boards_dir().join("qemu-virt.toml")).unwrap()
}

/// Loads the default board with one textual edit applied.
fn load_edited(from: &str, to: &str) -> Result<BoardConfig, ConfigError> {
    load_file_edited("qemu-virt.toml", from, to)
}

/// Loads a shipped board file with one textual edit applied.
fn load_file_edited(file: &str, from: &str, to: &str) -> Result<BoardConfig, ConfigError> {
    let text = std::fs::read_to_string(boards_dir().join(file)).unwrap();
    assert!(text.contains(from), "edit target {from:?} not in {file}");
    load_str(Path::new("edited.toml"), &text.replacen(from, to, 1))
}

#[test]
fn every_shipped_board_loads() {
    let names = board_names();
    assert!(names.contains(&"qemu-virt".to_owned()), "{names:?}");
    assert!(names.len() >= 2, "a second board is documented: {names:?}");
    for name in names {
        let board = load(&resolve(&name).unwrap()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(board.config.board.name, name, "name matches file name");
    }
}

#[test]
fn overlay_board_inherits_and_overrides() {
    let base = load(&resolve("qemu-virt").unwrap()).unwrap().config;
    let big = load(&resolve("qemu-virt-256vf").unwrap()).unwrap();
    assert_eq!(big.sources.len(), 2, "read the overlay and its base");
    let c = &big.config;
    assert_eq!(c.capacities.total_vfs, 256);
    assert_ne!(c.memory.ram.size, base.memory.ram.size);
    // Untouched tables and untouched keys of touched tables come from the base.
    assert_eq!(c.devices.uart, base.devices.uart);
    assert_eq!(c.memory.stack_size, base.memory.stack_size);
    assert_eq!(c.capacities.pf_queue_pairs, base.capacities.pf_queue_pairs);
}

#[test]
fn missing_field_names_file_and_field() {
    let e = load_edited("tick_hz = 100", "").unwrap_err();
    assert_eq!(e.file, Path::new("edited.toml"));
    assert_eq!(e.field, "timer");
    assert!(e.problem.contains("tick_hz"), "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with("edited.toml: field `timer`"), "{shown}");
}

#[test]
fn unknown_field_is_rejected() {
    let e = load_edited("tick_hz = 100", "tick_hz = 100\ntick_hertz = 5").unwrap_err();
    assert_eq!(e.field, "timer.tick_hertz");
    assert!(e.problem.contains("unknown field"), "{e}");
}

#[test]
fn overlapping_regions_are_rejected() {
    let e = load_edited(
        "uart = { kind = \"pl011\", start = 0x0900_0000",
        "uart = { kind = \"pl011\", start = 0x4000_1000",
    )
    .unwrap_err();
    assert_eq!(e.field, "devices.uart");
    assert!(e.problem.contains("overlaps `memory.ram`"), "{e}");
}

#[test]
fn misaligned_region_is_rejected() {
    let e = load_edited("size = 0x1000 }", "size = 0x1004 }").unwrap_err();
    assert_eq!(e.field, "devices.uart");
    assert!(e.problem.contains("aligned"), "{e}");
}

#[test]
fn region_beyond_address_space_is_rejected() {
    let e = load_edited(
        "pcie_ecam = { start = 0x3f00_0000",
        "pcie_ecam = { start = 0x80_0000_0000",
    )
    .unwrap_err();
    assert_eq!(e.field, "devices.pcie_ecam");
    assert!(e.problem.contains("beyond"), "{e}");
}

#[test]
fn shared_memory_outside_pcie_window_is_rejected() {
    let e = load_edited("start = 0x1000_0000\n", "start = 0x4000_0000\n").unwrap_err();
    assert_eq!(e.field, "shared_memory");
    assert!(e.problem.contains("pcie_mmio"), "{e}");
}

#[test]
fn capacities_that_do_not_fit_ram_are_rejected() {
    // 4 MiB of RAM cannot hold the 4 MiB image budget plus 64 VFs' tables.
    let e = load_edited("size = 0x0800_0000 }", "size = 0x0040_0000 }").unwrap_err();
    assert_eq!(e.field, "capacities");
    assert!(e.problem.contains("memory.ram"), "{e}");
}

#[test]
fn capacity_limits_are_enforced() {
    let e = load_edited("total_vfs = 64", "total_vfs = 300").unwrap_err();
    assert_eq!(e.field, "capacities.total_vfs");
    let e = load_edited("queue_pairs_per_vf = 2", "queue_pairs_per_vf = 9").unwrap_err();
    assert_eq!(e.field, "capacities.queue_pairs_per_vf");
    let e = load_edited("mac_filters = 128", "mac_filters = 100").unwrap_err();
    assert_eq!(e.field, "capacities.mac_filters");
    assert!(e.problem.contains("power of two"), "{e}");
}

#[test]
fn data_path_cores_need_psci_and_a_bound() {
    let e = load_edited("data_path_cores = 4", "data_path_cores = 0").unwrap_err();
    assert_eq!(e.field, "cpu.data_path_cores");
    let e = load_edited("data_path_cores = 4", "data_path_cores = 9").unwrap_err();
    assert_eq!(e.field, "cpu.data_path_cores");
    let e = load_edited("psci = \"hvc\"", "psci = \"none\"").unwrap_err();
    assert_eq!(e.field, "cpu.psci");
    let e = load_edited("psci = \"hvc\"", "psci = \"spin\"").unwrap_err();
    assert_eq!(e.field, "cpu.psci");
    // A board without the section runs on its boot core.
    let zcu = load(&resolve("zcu102").unwrap()).unwrap();
    assert_eq!(zcu.config.cpu.data_path_cores, 1);
    assert_eq!(zcu.config.cpu.psci, Psci::None);
    let rust = render_rust(&load(&resolve("qemu-virt-256vf").unwrap()).unwrap());
    assert!(
        rust.contains("pub const DATA_PATH_CORES: usize = 4;"),
        "{rust}"
    );
    assert!(rust.contains("pub const PSCI_CONDUIT: u8 = 1;"), "{rust}");
}

#[test]
fn timer_interrupt_must_be_a_ppi() {
    let e = load_edited("intid = 27", "intid = 40").unwrap_err();
    assert_eq!(e.field, "timer.intid");
}

#[test]
fn extends_cycle_is_rejected() {
    let dir = std::env::temp_dir().join(format!("board-config-cycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.toml"), "extends = \"b.toml\"\n").unwrap();
    std::fs::write(dir.join("b.toml"), "extends = \"a.toml\"\n").unwrap();
    let e = load(&dir.join("a.toml")).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.field, "extends");
    assert!(e.problem.contains("cycle"), "{e}");
}

#[test]
fn unknown_board_lists_the_known_ones() {
    let e = resolve("no-such-board").unwrap_err();
    assert!(e.problem.contains("qemu-virt"), "{e}");
}

#[test]
fn rendered_files_carry_the_board_values() {
    let board = load(&resolve("qemu-virt-256vf").unwrap()).unwrap();
    let rust = render_rust(&board);
    assert!(rust.contains("pub const TOTAL_VFS: usize = 256;"), "{rust}");
    assert!(
        rust.contains("pub const RAM_SIZE: usize = 0x20000000;"),
        "{rust}"
    );
    assert!(
        rust.contains("pub const UART_START: usize = 0x9000000;"),
        "{rust}"
    );
    let ld = render_memory_ld(&board);
    assert!(
        ld.contains("RAM : ORIGIN = 0x40000000, LENGTH = 0x20000000"),
        "{ld}"
    );
    assert!(ld.contains("__stack_size = 0x20000;"), "{ld}");
}

#[test]
fn gic_fields_follow_the_version() {
    let e = load_edited("version = \"v2\"", "version = \"v3\"").unwrap_err();
    assert_eq!(e.field, "devices.gic.redistributor");
    assert!(e.problem.contains("missing"), "{e}");
    let e = load_edited(
        "cpu_interface = { start = 0x0801_0000, size = 0x1_0000 }",
        "",
    )
    .unwrap_err();
    assert_eq!(e.field, "devices.gic.cpu_interface");
    let e = load_edited(
        "version = \"v2\"",
        "version = \"v2\"\nredistributor = { start = 0x0808_0000, size = 0x2_0000 }",
    )
    .unwrap_err();
    assert_eq!(e.field, "devices.gic.redistributor");
    let e = load_edited("version = \"v2\"", "version = \"v4\"").unwrap_err();
    assert_eq!(e.field, "devices.gic.version");
    assert!(e.problem.contains("v2"), "{e}");
}

#[test]
fn uart_kind_is_one_of_the_drivers() {
    let e = load_edited("kind = \"pl011\"", "kind = \"ns16550\"").unwrap_err();
    assert_eq!(e.field, "devices.uart.kind");
    assert!(e.problem.contains("cadence"), "{e}");
    let c = load_edited("kind = \"pl011\"", "kind = \"cadence\"").unwrap();
    assert_eq!(c.devices.uart.kind, UartKind::Cadence);
}

#[test]
fn pcie_is_optional_but_whole_and_carries_the_window() {
    let e = load_edited(
        "pcie_ecam = { start = 0x3f00_0000, size = 0x0100_0000 }",
        "",
    )
    .unwrap_err();
    assert_eq!(e.field, "devices.pcie_ecam");
    let text = default_text();
    let no_pcie: String = text
        .lines()
        .filter(|l| !l.starts_with("pcie_"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = load_str(Path::new("edited.toml"), &no_pcie).unwrap_err();
    assert_eq!(e.field, "shared_memory");
    assert!(e.problem.contains("no `devices.pcie_mmio`"), "{e}");
    let start = no_pcie.find("[shared_memory]").unwrap();
    let end = no_pcie.find("[timer]").unwrap();
    let bare = format!("{}{}", &no_pcie[..start], &no_pcie[end..]);
    let c = load_str(Path::new("edited.toml"), &bare).unwrap();
    assert!(c.devices.pcie_mmio.is_none() && c.shared_memory.is_none());
}

#[test]
fn timer_must_be_an_el1_timer_with_a_sane_frequency() {
    let e = load_edited("intid = 27", "intid = 26").unwrap_err();
    assert_eq!(e.field, "timer.intid");
    assert!(e.problem.contains("CNTP"), "{e}");
    let e = load_edited("frequency_hz = 62_500_000", "frequency_hz = 5").unwrap_err();
    assert_eq!(e.field, "timer.frequency_hz");
}

#[test]
fn qemu_memory_and_args_are_checked() {
    let e = load_edited(
        "cpu = \"cortex-a72\"",
        "cpu = \"cortex-a72\"\nmemory = 0x100_0000",
    )
    .unwrap_err();
    assert_eq!(e.field, "qemu.memory");
    let e = load_edited(
        "cpu = \"cortex-a72\"",
        "cpu = \"cortex-a72\"\nargs = [\"-m\", \"1G\"]",
    )
    .unwrap_err();
    assert_eq!(e.field, "qemu.args[0]");
}

#[test]
fn development_boards_state_their_interrupt_controllers_and_uarts() {
    let vck = load(&resolve("vck190").unwrap()).unwrap().config;
    assert_eq!(vck.devices.gic.version, GicVersion::V3);
    assert_eq!(vck.devices.uart.kind, UartKind::Pl011);
    assert!(vck.shared_memory.is_none() && vck.devices.pcie_ecam.is_none());
    let zcu = load(&resolve("zcu102").unwrap()).unwrap().config;
    assert_eq!(zcu.devices.gic.version, GicVersion::V2);
    assert_eq!(zcu.devices.uart.kind, UartKind::Cadence);
    assert!(zcu.devices.virtio_mmio.is_none());
    let rust = render_rust(&load(&resolve("zcu102").unwrap()).unwrap());
    assert!(
        rust.contains("pub type Uart = crate::drivers::cadence_uart::CadenceUart;"),
        "{rust}"
    );
    assert!(
        rust.contains("pub const VIRTIO_MMIO_PRESENT: bool = false;"),
        "{rust}"
    );
    assert!(rust.contains("pub const PHYSICAL: bool = true;"), "{rust}");
}

/// A silicon board's text with one edit.
fn load_silicon_edited(from: &str, to: &str) -> Result<BoardConfig, ConfigError> {
    load_file_edited("vck190-silicon.toml", from, to)
}

#[test]
fn silicon_boards_have_an_axi_window_and_halt() {
    for (name, start) in [
        ("vck190-silicon", 0xa400_0000),
        ("zcu102-silicon", 0xa000_0000),
    ] {
        let c = load(&resolve(name).unwrap()).unwrap().config;
        let shm = c.shared_memory.unwrap();
        assert_eq!((shm.bus, shm.start), (WindowBus::Axi, start), "{name}");
        assert_eq!(c.board.exit, ExitMethod::Halt, "{name}");
        assert!(c.qemu.is_none() && c.devices.pcie_mmio.is_none(), "{name}");
        assert!(c.devices.virtio_mmio.is_none(), "{name}: QEMU-only");
        let rust = render_rust(&load(&resolve(name).unwrap()).unwrap());
        assert!(rust.contains("pub const ON_PCIE: bool = false;"), "{name}");
    }
    let rust = render_rust(&load(&resolve("qemu-virt").unwrap()).unwrap());
    assert!(rust.contains("pub const ON_PCIE: bool = true;"));
}

#[test]
fn an_axi_window_is_a_region_of_the_address_map() {
    // Over RAM, or unaligned: refused, naming the window.
    let e = load_silicon_edited("start = 0xa400_0000", "start = 0x4000_0000").unwrap_err();
    assert_eq!(e.field, "shared_memory");
    assert!(e.problem.contains("overlaps `memory.ram`"), "{e}");
    let e = load_silicon_edited("start = 0xa400_0000", "start = 0xa400_0800").unwrap_err();
    assert_eq!(e.field, "shared_memory");
    assert!(e.problem.contains("aligned"), "{e}");
    // Not a BAR: any page-multiple size will do.
    let c = load_silicon_edited("size = 0x0400_0000", "size = 0x0300_0000").unwrap();
    assert_eq!(c.shared_memory.unwrap().size, 0x0300_0000);
    let e = load_silicon_edited("bus = \"axi\"", "bus = \"isa\"").unwrap_err();
    assert!(e.problem.contains("isa"), "{e}");
    // The default bus is PCIe, which needs a pcie_mmio to lie in.
    let e = load_silicon_edited("bus = \"axi\"\n", "").unwrap_err();
    assert_eq!(e.field, "shared_memory");
    assert!(e.problem.contains("pcie_mmio"), "{e}");
}
