//! Board configurations: one TOML per board in this folder, read at build
//! time and turned into Rust constants (`board.rs`) and the linker `MEMORY`
//! (`memory.ld`).
//!
//! A board file may start with `extends = "other.toml"`: the named file is
//! read first and this one's tables are merged over it, so a variant board
//! states only what differs.
//!
//! Every problem is reported as `FILE: field `a.b`: problem`, at build time,
//! by the build scripts of `hal` and the image and by `cargo xtask`.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod render;
pub use render::{render_memory_ld, render_rust};

/// Environment variable that selects the board (a name in this folder or a
/// path to a TOML). Read by the build scripts; set by `cargo xtask`.
pub const BOARD_ENV: &str = "FW_BOARD";
/// The board used when `FW_BOARD` is not set.
pub const DEFAULT_BOARD: &str = "qemu-virt";

/// The largest address the firmware's page tables map (39-bit VA, 4 KiB
/// granule, level-1 root).
pub const ADDRESS_LIMIT: u64 = 1 << 39;
/// Mapping granule: every region starts and ends on it.
pub const PAGE_SIZE: u64 = 4096;

/// Static-RAM budgets used to check that the capacities fit the board's RAM.
/// The firmware asserts at compile time that its real structures stay within
/// them, so this check cannot drift from the code.
pub mod budget {
    /// Code, read-only data and everything not sized by a capacity.
    pub const IMAGE_BYTES: u64 = 4 << 20;
    /// Per-VF state: configuration, mailbox state, counters, filters' indices.
    pub const PER_VF_BYTES: u64 = 2048;
    /// Per queue pair: ring state for Rx and Tx.
    pub const PER_QUEUE_PAIR_BYTES: u64 = 256;
    /// One exact-match MAC(+VLAN) filter entry.
    pub const PER_MAC_FILTER_BYTES: u64 = 32;
    /// One VLAN filter entry.
    pub const PER_VLAN_FILTER_BYTES: u64 = 16;
    /// One multicast hash entry.
    pub const PER_MULTICAST_ENTRY_BYTES: u64 = 8;
}

/// Hard limits of the design, checked for every board.
pub mod limits {
    /// PCIe allows 256 functions per device with ARI.
    pub const MAX_TOTAL_VFS: u16 = 256;
    /// The 82599 VF register map has room for 8 queue pairs per VF.
    pub const MAX_QUEUE_PAIRS_PER_VF: u8 = 8;
    /// Largest exact-match or VLAN table (entries).
    pub const MAX_TABLE_ENTRIES: u32 = 1 << 16;
}

/// A board configuration and the files it was read from.
#[derive(Debug, Clone)]
pub struct Board {
    /// The board's own TOML.
    pub path: PathBuf,
    /// Every file read, `extends` chain included (for rebuild tracking).
    pub sources: Vec<PathBuf>,
    pub config: BoardConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardConfig {
    pub board: BoardInfo,
    /// How to run this board under QEMU; absent for silicon-only boards.
    pub qemu: Option<Qemu>,
    pub memory: Memory,
    pub devices: Devices,
    /// The host-interface window; absent on a board without one.
    pub shared_memory: Option<SharedMemory>,
    pub timer: Timer,
    pub capacities: Capacities,
    /// The cores the firmware runs on; absent: the boot core only.
    #[serde(default)]
    pub cpu: Cpu,
}

/// The cores the firmware may use, and how it starts the others.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    /// Cores that run data-path work, the boot core included (1 to
    /// [`Cpu::MAX_CORES`]). Core `i` is the one whose MPIDR Aff0 is `i`.
    pub data_path_cores: u8,
    /// How the boot core starts the others (PSCI CPU_ON).
    pub psci: Psci,
}

impl Cpu {
    /// Most cores a board may name: the per-core stacks are static.
    pub const MAX_CORES: u8 = 8;
}

impl Default for Cpu {
    fn default() -> Self {
        Cpu {
            data_path_cores: 1,
            psci: Psci::None,
        }
    }
}

/// The PSCI conduit: what the firmware below us (QEMU's built-in PSCI,
/// TF-A) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Psci {
    /// No PSCI: the other cores stay parked.
    None,
    /// `hvc #0` (QEMU virt entered at EL1).
    Hvc,
    /// `smc #0` (TF-A at EL3).
    Smc,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardInfo {
    pub name: String,
    pub description: String,
    pub exit: ExitMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitMethod {
    /// Arm semihosting SYS_EXIT_EXTENDED: QEMU's exit status is the code.
    Semihosting,
    /// Mask interrupts and wait forever (silicon without a debugger).
    Halt,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qemu {
    pub machine: String,
    pub cpu: String,
    /// `-m` in bytes when it is not `memory.ram.size` (a board whose RAM
    /// region leaves out the bottom of the machine's DDR).
    #[serde(default)]
    pub memory: Option<u64>,
    /// More arguments the machine needs (`-smp 4` for xlnx-versal-virt).
    #[serde(default)]
    pub args: Vec<String>,
}

impl Qemu {
    /// The size to give QEMU's `-m`, in bytes.
    pub fn memory_bytes(&self, ram: &Region) -> u64 {
        self.memory.unwrap_or(ram.size)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub ram: Region,
    pub stack_size: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Devices {
    pub uart: Uart,
    pub gic: Gic,
    /// virtio-mmio transports (the QEMU uplink); absent on a board without.
    pub virtio_mmio: Option<Region>,
    /// PCIe configuration space; absent on a board without a root complex.
    pub pcie_ecam: Option<Region>,
    /// The 32-bit PCIe memory window BARs are assigned from.
    pub pcie_mmio: Option<Region>,
}

/// The console UART: which driver, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uart {
    pub kind: UartKind,
    pub start: u64,
    pub size: u64,
}

impl Uart {
    pub fn region(&self) -> Region {
        Region {
            start: self.start,
            size: self.size,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UartKind {
    /// Arm PrimeCell PL011 (QEMU virt, Versal).
    Pl011,
    /// Cadence UART, `cdns,uart-r1p12` (Zynq UltraScale+).
    Cadence,
}

impl UartKind {
    /// The register block's size: the UART region must hold it.
    pub fn registers_size(self) -> u64 {
        match self {
            UartKind::Pl011 => 0x48,
            UartKind::Cadence => 0x48,
        }
    }
}

/// The interrupt controller. GICv2 has a memory-mapped CPU interface;
/// GICv3 has system-register CPU interfaces and one redistributor frame
/// pair per core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gic {
    pub version: GicVersion,
    pub distributor: Region,
    /// GICv2 only: GICC.
    pub cpu_interface: Option<Region>,
    /// GICv3 only: the redistributor region (RD_base + SGI_base per core).
    pub redistributor: Option<Region>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GicVersion {
    V2,
    V3,
}

/// The host-interface window and how the firmware reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedMemory {
    pub start: u64,
    pub size: u64,
    #[serde(default)]
    pub bus: WindowBus,
}

impl SharedMemory {
    pub fn region(&self) -> Region {
        Region {
            start: self.start,
            size: self.size,
        }
    }
}

/// Where the window is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowBus {
    /// A PCIe BAR (QEMU's ivshmem) the firmware places at `start`, inside
    /// `devices.pcie_mmio`.
    #[default]
    Pcie,
    /// Fixed in the SoC's address map: the programmable logic's register
    /// file on a PS-to-PL AXI port (silicon). Nothing to place or probe.
    Axi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub start: u64,
    pub size: u64,
}

impl Region {
    /// One past the last byte, if it does not overflow.
    pub fn end(&self) -> Option<u64> {
        self.start.checked_add(self.size)
    }

    fn overlaps(&self, other: &Region) -> bool {
        // Both regions are known not to wrap when this is called.
        self.start < other.start + other.size && other.start < self.start + self.size
    }

    fn contains(&self, other: &Region) -> bool {
        other.start >= self.start && other.start + other.size <= self.start + self.size
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.start + self.size)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    pub tick_hz: u32,
    /// 27: the EL1 virtual timer (CNTV); 30: the EL1 physical timer (CNTP).
    pub intid: u32,
    /// The counter frequency the board's firmware programs into
    /// CNTFRQ_EL0; checked against it at boot, used if it reads 0.
    #[serde(default)]
    pub frequency_hz: Option<u64>,
}

/// The EL1 virtual timer's interrupt (PPI 11).
pub const VIRTUAL_TIMER_INTID: u32 = 27;
/// The EL1 non-secure physical timer's interrupt (PPI 14).
pub const PHYSICAL_TIMER_INTID: u32 = 30;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacities {
    pub total_vfs: u16,
    pub queue_pairs_per_vf: u8,
    pub pf_queue_pairs: u8,
    pub mac_filters: u32,
    pub vlan_filters: u32,
    pub multicast_hashes: u32,
}

impl Capacities {
    /// Static RAM the capacities need, by the budgets in [`budget`].
    pub fn static_ram_bytes(&self) -> u64 {
        use budget::*;
        let queue_pairs = u64::from(self.total_vfs) * u64::from(self.queue_pairs_per_vf)
            + u64::from(self.pf_queue_pairs);
        u64::from(self.total_vfs) * PER_VF_BYTES
            + queue_pairs * PER_QUEUE_PAIR_BYTES
            + u64::from(self.mac_filters) * PER_MAC_FILTER_BYTES
            + u64::from(self.vlan_filters) * PER_VLAN_FILTER_BYTES
            + u64::from(self.multicast_hashes) * PER_MULTICAST_ENTRY_BYTES
    }
}

/// A problem with a board file: which file, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the field (`memory.ram`), or empty for the whole file.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.problem)
        } else {
            write!(
                f,
                "{}: field `{}`: {}",
                self.file.display(),
                self.field,
                self.problem
            )
        }
    }
}

impl std::error::Error for ConfigError {}

fn error(file: &Path, field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// The folder holding the board TOMLs (this crate's own folder).
pub fn boards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Names of the boards in [`boards_dir`].
pub fn board_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(boards_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".toml")
                .filter(|n| *n != "Cargo")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Turns a board name (`qemu-virt`) or a path to a TOML into a path.
pub fn resolve(spec: &str) -> Result<PathBuf, ConfigError> {
    let path = if spec.ends_with(".toml") || spec.contains('/') {
        PathBuf::from(spec)
    } else {
        boards_dir().join(format!("{spec}.toml"))
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(error(
            &path,
            "",
            format!(
                "no such board file (boards in {}: {})",
                boards_dir().display(),
                board_names().join(", ")
            ),
        ))
    }
}

/// Reads, composes and validates a board file.
pub fn load(path: &Path) -> Result<Board, ConfigError> {
    let mut sources = Vec::new();
    let table = read_composed(path, &mut sources)?;
    let config = parse(path, table)?;
    validate(path, &config)?;
    Ok(Board {
        path: path.to_owned(),
        sources,
        config,
    })
}

/// Parses and validates a board from TOML text (`path` names it in errors).
pub fn load_str(path: &Path, text: &str) -> Result<BoardConfig, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| error(path, "", e.to_string()))?;
    load_table(path, table)
}

/// Validates a board already read into a TOML table (`path` names it in
/// errors), as [`load_str`] does after parsing.
pub fn load_table(path: &Path, table: toml::Table) -> Result<BoardConfig, ConfigError> {
    if table.contains_key("extends") {
        return Err(error(path, "extends", "not supported for in-memory boards"));
    }
    let config = parse(path, table)?;
    validate(path, &config)?;
    Ok(config)
}

fn read_composed(path: &Path, sources: &mut Vec<PathBuf>) -> Result<toml::Table, ConfigError> {
    if sources.iter().any(|p| p == path) {
        return Err(error(path, "extends", "forms a cycle"));
    }
    sources.push(path.to_owned());
    let text = std::fs::read_to_string(path).map_err(|e| error(path, "", e.to_string()))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| error(path, "", e.to_string()))?;
    match table.remove("extends") {
        None => Ok(table),
        Some(toml::Value::String(base)) => {
            let base_path = path.parent().unwrap_or(Path::new(".")).join(base);
            let mut merged = read_composed(&base_path, sources)?;
            merge(&mut merged, table);
            Ok(merged)
        }
        Some(_) => Err(error(path, "extends", "must be a file name string")),
    }
}

/// Merges `overlay` into `base`: tables merge key by key, anything else is
/// replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn parse(path: &Path, table: toml::Table) -> Result<BoardConfig, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        error(path, &field, e.into_inner().message().trim().to_owned())
    })
}

fn validate(path: &Path, c: &BoardConfig) -> Result<(), ConfigError> {
    let err = |field: &str, problem: String| Err(error(path, field, problem));

    let cores = c.cpu.data_path_cores;
    if !(1..=Cpu::MAX_CORES).contains(&cores) {
        return err(
            "cpu.data_path_cores",
            format!("{cores} is not 1 to {}", Cpu::MAX_CORES),
        );
    }
    if cores > 1 && c.cpu.psci == Psci::None {
        return err(
            "cpu.psci",
            format!("\"none\": {cores} data-path cores need PSCI to start the others"),
        );
    }

    let name = &c.board.name;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return err(
            "board.name",
            format!("{name:?} must be non-empty lowercase letters, digits and '-'"),
        );
    }

    // Regions: aligned, non-empty, inside the mapped address space. A
    // window on the AXI bus is one of them (a PCIe one lies in pcie_mmio).
    let mut regions = memory_map(c);
    if let Some(shm) = c.shared_memory.filter(|s| s.bus == WindowBus::Axi) {
        regions.push(("shared_memory", shm.region()));
    }
    for (field, r) in &regions {
        if r.size == 0 {
            return err(field, "size is 0".into());
        }
        if r.start == 0 && *field != "memory.ram" {
            return err(
                field,
                "a device register block at address 0 is not supported".into(),
            );
        }
        if !r.start.is_multiple_of(PAGE_SIZE) || !r.size.is_multiple_of(PAGE_SIZE) {
            return err(
                field,
                format!("{r} is not aligned to the {PAGE_SIZE:#x}-byte page"),
            );
        }
        match r.end() {
            Some(end) if end <= ADDRESS_LIMIT => {}
            _ => {
                return err(
                    field,
                    format!("{r} reaches beyond the mapped address space ({ADDRESS_LIMIT:#x})"),
                );
            }
        }
    }
    for (i, (fa, a)) in regions.iter().enumerate() {
        for (fb, b) in &regions[i + 1..] {
            if a.overlaps(b) {
                return err(fb, format!("{b} overlaps `{fa}` {a}"));
            }
        }
    }
    let d = &c.devices;
    let uart_needs = d.uart.kind.registers_size();
    if d.uart.size < uart_needs {
        return err(
            "devices.uart.size",
            format!(
                "{:#x} is smaller than the {:?} register block ({uart_needs:#x})",
                d.uart.size, d.uart.kind
            ),
        );
    }
    match (d.gic.version, d.gic.cpu_interface, d.gic.redistributor) {
        (GicVersion::V2, None, _) => {
            return err(
                "devices.gic.cpu_interface",
                "missing: a GICv2 needs its CPU interface (GICC)".into(),
            );
        }
        (GicVersion::V2, Some(_), Some(_)) => {
            return err(
                "devices.gic.redistributor",
                "a GICv2 has no redistributors (that is GICv3)".into(),
            );
        }
        (GicVersion::V3, _, None) => {
            return err(
                "devices.gic.redistributor",
                "missing: a GICv3 needs its redistributor region (GICR)".into(),
            );
        }
        (GicVersion::V3, Some(_), Some(_)) => {
            return err(
                "devices.gic.cpu_interface",
                "a GICv3 is driven through system registers: no memory-mapped CPU interface".into(),
            );
        }
        (GicVersion::V3, None, Some(r)) if r.size < GICV3_REDISTRIBUTOR_STRIDE => {
            return err(
                "devices.gic.redistributor",
                format!(
                    "{r} is smaller than one core's frames ({GICV3_REDISTRIBUTOR_STRIDE:#x}: RD_base + SGI_base)"
                ),
            );
        }
        _ => {}
    }
    if d.pcie_ecam.is_some() != d.pcie_mmio.is_some() {
        let missing = if d.pcie_ecam.is_none() {
            "devices.pcie_ecam"
        } else {
            "devices.pcie_mmio"
        };
        return err(
            missing,
            "missing: PCIe needs both its configuration space (pcie_ecam) and its memory window (pcie_mmio)".into(),
        );
    }
    if let Some(shm) = c.shared_memory.filter(|s| s.bus == WindowBus::Pcie) {
        let shm = &shm.region();
        if shm.size == 0
            || !shm.start.is_multiple_of(PAGE_SIZE)
            || !shm.size.is_multiple_of(PAGE_SIZE)
        {
            return err(
                "shared_memory",
                format!("{shm} must be non-empty and page-aligned"),
            );
        }
        if !shm.size.is_power_of_two() {
            return err(
                "shared_memory.size",
                format!("{:#x} is not a power of two (PCIe BAR sizes are)", shm.size),
            );
        }
        if !shm.start.is_multiple_of(shm.size) {
            return err(
                "shared_memory.start",
                format!(
                    "{:#x} is not aligned to the window's size {:#x} (PCIe BARs are naturally aligned)",
                    shm.start, shm.size
                ),
            );
        }
        let Some(pcie_mmio) = d.pcie_mmio else {
            return err(
                "shared_memory",
                "the window is a PCIe BAR, but the board has no `devices.pcie_mmio`".into(),
            );
        };
        if shm.end().is_none() || !pcie_mmio.contains(shm) {
            return err(
                "shared_memory",
                format!("{shm} is not inside `devices.pcie_mmio` {pcie_mmio}"),
            );
        }
    }
    if let Some(q) = &c.qemu {
        if let Some(m) = q.memory
            && (m < c.memory.ram.size || !m.is_multiple_of(1 << 20))
        {
            return err(
                "qemu.memory",
                format!(
                    "{m:#x} must be a whole number of MiB and at least `memory.ram.size` ({:#x})",
                    c.memory.ram.size
                ),
            );
        }
        for (i, a) in q.args.iter().enumerate() {
            if ["-M", "-machine", "-cpu", "-m", "-kernel", "-append"].contains(&a.as_str()) {
                return err(
                    &format!("qemu.args[{i}]"),
                    format!("{a} is set from the board's other fields"),
                );
            }
        }
    }

    let stack = c.memory.stack_size;
    if stack < PAGE_SIZE || !stack.is_multiple_of(16) {
        return err(
            "memory.stack_size",
            format!("{stack:#x} must be at least {PAGE_SIZE:#x} and a multiple of 16"),
        );
    }
    if !(1..=10_000).contains(&c.timer.tick_hz) {
        return err(
            "timer.tick_hz",
            format!("{} is outside 1..=10000", c.timer.tick_hz),
        );
    }
    if ![VIRTUAL_TIMER_INTID, PHYSICAL_TIMER_INTID].contains(&c.timer.intid) {
        return err(
            "timer.intid",
            format!(
                "{} is not an EL1 timer interrupt: {VIRTUAL_TIMER_INTID} (virtual, CNTV) or \
                 {PHYSICAL_TIMER_INTID} (physical, CNTP)",
                c.timer.intid
            ),
        );
    }
    if let Some(f) = c.timer.frequency_hz
        && !(1_000..=10_000_000_000).contains(&f)
    {
        return err(
            "timer.frequency_hz",
            format!("{f} is outside 1 kHz..=10 GHz"),
        );
    }

    let cap = &c.capacities;
    if !(1..=limits::MAX_TOTAL_VFS).contains(&cap.total_vfs) {
        return err(
            "capacities.total_vfs",
            format!("{} is outside 1..={}", cap.total_vfs, limits::MAX_TOTAL_VFS),
        );
    }
    for (field, n) in [
        ("capacities.queue_pairs_per_vf", cap.queue_pairs_per_vf),
        ("capacities.pf_queue_pairs", cap.pf_queue_pairs),
    ] {
        if !(1..=limits::MAX_QUEUE_PAIRS_PER_VF).contains(&n) {
            return err(
                field,
                format!("{n} is outside 1..={}", limits::MAX_QUEUE_PAIRS_PER_VF),
            );
        }
    }
    for (field, n) in [
        ("capacities.mac_filters", cap.mac_filters),
        ("capacities.vlan_filters", cap.vlan_filters),
        ("capacities.multicast_hashes", cap.multicast_hashes),
    ] {
        if !n.is_power_of_two() || n > limits::MAX_TABLE_ENTRIES {
            return err(
                field,
                format!(
                    "{n} must be a power of two up to {} (the tables are hashed)",
                    limits::MAX_TABLE_ENTRIES
                ),
            );
        }
    }

    let needed = budget::IMAGE_BYTES + stack + cap.static_ram_bytes();
    if needed > c.memory.ram.size {
        return err(
            "capacities",
            format!(
                "need {needed:#x} bytes of RAM (image {:#x} + stack {stack:#x} + tables {:#x}) \
                 but `memory.ram` has {:#x}",
                budget::IMAGE_BYTES,
                cap.static_ram_bytes(),
                c.memory.ram.size
            ),
        );
    }
    Ok(())
}

/// Bytes of one core's GICv3 redistributor without virtual LPIs: the
/// RD_base and SGI_base frames, 64 KiB each.
pub const GICV3_REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// Every device region the firmware may know of, present or not, as
/// (field name, region): what `hal::board::devices` is generated from.
pub fn device_slots(c: &BoardConfig) -> Vec<(&'static str, Option<Region>)> {
    let d = &c.devices;
    vec![
        ("devices.uart", Some(d.uart.region())),
        ("devices.gic.distributor", Some(d.gic.distributor)),
        ("devices.gic.cpu_interface", d.gic.cpu_interface),
        ("devices.gic.redistributor", d.gic.redistributor),
        ("devices.virtio_mmio", d.virtio_mmio),
        ("devices.pcie_ecam", d.pcie_ecam),
        ("devices.pcie_mmio", d.pcie_mmio),
    ]
}

/// The board's address map as (field name, region), RAM first, then the
/// devices it has.
pub fn memory_map(c: &BoardConfig) -> Vec<(&'static str, Region)> {
    let mut map = vec![("memory.ram", c.memory.ram)];
    map.extend(
        device_slots(c)
            .into_iter()
            .filter_map(|(name, r)| Some((name, r?))),
    );
    map
}

/// Board selection for build scripts: reads `FW_BOARD`, prints the
/// `cargo:rerun-if-*` lines, and ends the build with the error on a bad
/// board (a build script has no better channel than stderr and exit 1).
pub fn load_for_build_script() -> Board {
    println!("cargo:rerun-if-env-changed={BOARD_ENV}");
    let spec = std::env::var(BOARD_ENV).unwrap_or_else(|_| DEFAULT_BOARD.to_owned());
    let board = resolve(&spec).and_then(|p| load(&p));
    match board {
        Ok(board) => {
            for source in &board.sources {
                println!("cargo:rerun-if-changed={}", source.display());
            }
            board
        }
        Err(e) => {
            // Track the folder so fixing the file reruns the script.
            println!("cargo:rerun-if-changed={}", boards_dir().display());
            eprintln!("error: bad board configuration: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests;
