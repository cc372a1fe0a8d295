//! Images for a board's boot loader: the ELF's loadable bytes as a flat
//! binary (`--format bin`, for U-Boot's `go`), and that binary behind a
//! U-Boot legacy header (`--format uimage`, for `bootm`).
//!
//! The uImage says `-A arm64 -O linux -T kernel -C none`: the one
//! combination both QEMU's `-kernel` and U-Boot's `bootm` take as "load
//! here, jump there". Its entry contract is Linux's (EL2 or EL1, MMU and
//! caches off, x0 = the FDT, which the firmware ignores), and `_start`
//! handles any of EL3, EL2 or EL1.

use anyhow::{Context, Result, bail, ensure};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use std::path::Path;

/// What `cargo xtask build --format` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The linked ELF (QEMU, JTAG debuggers, `defmt-print`).
    Elf,
    /// Raw bytes from the load address on (U-Boot `go`, `-device loader`).
    Bin,
    /// A U-Boot legacy image (`bootm`, QEMU `-kernel`).
    Uimage,
}

/// The loadable bytes of an image and where they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flat {
    pub load: u64,
    pub entry: u64,
    pub bytes: Vec<u8>,
}

/// Lays the ELF's PT_LOAD segments out by physical address, gaps zeroed.
/// Only the file bytes: .bss and the stacks are zeroed by `_start`.
pub fn flatten(elf_bytes: &[u8]) -> Result<Flat> {
    let elf = ElfFile64::<object::Endianness>::parse(elf_bytes).context("parsing the ELF")?;
    let endian = elf.endian();
    let mut segments = Vec::new();
    for ph in elf.elf_program_headers() {
        if ph.p_type(endian) != PT_LOAD || ph.p_filesz(endian) == 0 {
            continue;
        }
        let data = ph
            .data(endian, elf_bytes)
            .map_err(|()| anyhow::anyhow!("a PT_LOAD segment lies outside the file"))?;
        segments.push((ph.p_paddr(endian), data));
    }
    segments.sort_by_key(|(addr, _)| *addr);
    let Some(&(load, _)) = segments.first() else {
        bail!("the ELF has no loadable bytes");
    };
    let end = segments
        .iter()
        .map(|(addr, data)| addr + data.len() as u64)
        .max()
        .unwrap_or(load);
    // A gap this big means a stray section, not padding: refuse it rather
    // than write a huge file.
    ensure!(
        end - load <= 64 << 20,
        "the loadable bytes span {:#x}..{end:#x}, over 64 MiB",
        load
    );
    let mut bytes = vec![0u8; (end - load) as usize];
    for (addr, data) in segments {
        let at = (addr - load) as usize;
        bytes[at..at + data.len()].copy_from_slice(data);
    }
    let entry = elf.elf_header().e_entry(endian);
    ensure!(
        entry == load,
        "the entry point {entry:#x} is not the load address {load:#x} (linker/image.ld puts _start first)"
    );
    Ok(Flat { load, entry, bytes })
}

/// U-Boot legacy image header fields (include/image.h).
const IH_MAGIC: u32 = 0x2705_1956;
const IH_OS_LINUX: u8 = 5;
const IH_ARCH_ARM64: u8 = 22;
const IH_TYPE_KERNEL: u8 = 2;
const IH_COMP_NONE: u8 = 0;
pub const HEADER_LEN: usize = 64;
const NAME_LEN: usize = 32;

/// The 64-byte big-endian header and the data: what `mkimage -A arm64 -O
/// linux -T kernel -C none -a LOAD -e ENTRY -n NAME -d data` writes.
pub fn uimage(flat: &Flat, name: &str, time: u32) -> Result<Vec<u8>> {
    let load = u32::try_from(flat.load).context("uImage addresses are 32-bit")?;
    let entry = u32::try_from(flat.entry).context("uImage addresses are 32-bit")?;
    let size = u32::try_from(flat.bytes.len()).context("image over 4 GiB")?;
    ensure!(
        name.len() < NAME_LEN,
        "uImage name {name:?} is longer than {} bytes",
        NAME_LEN - 1
    );
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&IH_MAGIC.to_be_bytes());
    h[8..12].copy_from_slice(&time.to_be_bytes());
    h[12..16].copy_from_slice(&size.to_be_bytes());
    h[16..20].copy_from_slice(&load.to_be_bytes());
    h[20..24].copy_from_slice(&entry.to_be_bytes());
    h[24..28].copy_from_slice(&crc32(&flat.bytes).to_be_bytes());
    h[28] = IH_OS_LINUX;
    h[29] = IH_ARCH_ARM64;
    h[30] = IH_TYPE_KERNEL;
    h[31] = IH_COMP_NONE;
    h[32..32 + name.len()].copy_from_slice(name.as_bytes());
    // The header's CRC is over the header with its CRC field zero.
    let hcrc = crc32(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(&flat.bytes);
    Ok(out)
}

/// CRC-32/ISO-HDLC (zlib's, which U-Boot uses): reflected polynomial
/// 0xEDB88320, initial and final XOR all ones. Bitwise: images are small.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Writes the image next to the ELF in `format`; returns its path.
pub fn write(elf: &Path, format: Format, name: &str) -> Result<std::path::PathBuf> {
    if format == Format::Elf {
        return Ok(elf.to_owned());
    }
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let flat = flatten(&bytes).with_context(|| elf.display().to_string())?;
    let (path, out) = match format {
        Format::Bin => (elf.with_extension("bin"), flat.bytes.clone()),
        Format::Uimage => {
            // The build's time, as mkimage stamps it (SOURCE_DATE_EPOCH for
            // reproducible builds).
            let time = std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as u32)
                });
            (elf.with_extension("uimg"), uimage(&flat, name, time)?)
        }
        Format::Elf => unreachable!(),
    };
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// How QEMU boots `built` in `format`, writing the file first.
pub fn qemu_boot(
    built: &crate::image::BuiltImage,
    format: Format,
) -> Result<sim_tests::qemu::BootFile> {
    use sim_tests::qemu::BootFile;
    let name = format!("sriov-fw {}", built.board.config.board.name);
    Ok(match format {
        Format::Elf => BootFile::Elf,
        Format::Uimage => BootFile::Kernel(write(&built.elf, format, &name)?),
        Format::Bin => BootFile::Raw(
            write(&built.elf, format, &name)?,
            built.board.config.memory.ram.start,
        ),
    })
}

/// The U-Boot commands that load and start `file` (SD card, FAT partition
/// 1; `tftpboot ADDR FILE` works the same from the network).
pub fn uboot_commands(format: Format, file: &str, load: u64) -> Vec<String> {
    match format {
        Format::Elf => vec![],
        // `go` calls the entry at U-Boot's EL2 with its MMU and caches on:
        // turning the D-cache off first cleans it (the image was loaded
        // through it) and turns the MMU off, which `_start` expects.
        Format::Bin => vec![
            format!("fatload mmc 0:1 {load:#010x} {file}"),
            "dcache off; icache off".into(),
            format!("go {load:#010x}"),
        ],
        // `bootm` copies the data to the header's load address, cleans and
        // turns off the caches and MMU, and enters at EL2 with x0 = the FDT
        // (it refuses an arm64 Linux image without one: U-Boot's own).
        Format::Uimage => vec![
            format!("fatload mmc 0:1 {UIMAGE_STAGING:#010x} {file}"),
            format!("bootm {UIMAGE_STAGING:#010x} - ${{fdtcontroladdr}}"),
        ],
    }
}

/// Where the uImage file is put before `bootm` copies its data to the load
/// address: 256 MiB, inside both boards' RAM, far from the image and below
/// where U-Boot relocates itself (the top of RAM).
pub const UIMAGE_STAGING: u64 = 0x1000_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn uimage_header_has_the_fields_mkimage_writes() {
        let flat = Flat {
            load: 0x10_0000,
            entry: 0x10_0000,
            bytes: vec![1, 2, 3, 4, 5],
        };
        let img = uimage(&flat, "sriov-fw vck190", 0x6000_0000).unwrap();
        assert_eq!(img.len(), HEADER_LEN + 5);
        let be = |o: usize| u32::from_be_bytes(img[o..o + 4].try_into().unwrap());
        assert_eq!(be(0), IH_MAGIC);
        assert_eq!(be(8), 0x6000_0000);
        assert_eq!(be(12), 5);
        assert_eq!(be(16), 0x10_0000);
        assert_eq!(be(20), 0x10_0000);
        assert_eq!(be(24), crc32(&[1, 2, 3, 4, 5]));
        assert_eq!(&img[28..32], &[5, 22, 2, 0], "linux, arm64, kernel, none");
        assert_eq!(&img[32..47], b"sriov-fw vck190");
        assert!(img[47..64].iter().all(|&b| b == 0), "name NUL-padded");
        let mut h = img[..HEADER_LEN].to_vec();
        h[4..8].fill(0);
        assert_eq!(be(4), crc32(&h), "header CRC over the zeroed field");
    }

    #[test]
    fn uimage_refuses_what_the_header_cannot_say() {
        let high = Flat {
            load: 0x1_0000_0000,
            entry: 0x1_0000_0000,
            bytes: vec![0],
        };
        assert!(uimage(&high, "x", 0).is_err());
        let low = Flat {
            load: 0,
            entry: 0,
            bytes: vec![0],
        };
        assert!(uimage(&low, &"n".repeat(32), 0).is_err());
    }

    #[test]
    fn uboot_commands_load_and_start_at_the_right_addresses() {
        let bin = uboot_commands(Format::Bin, "firmware.bin", 0x20_0000);
        assert_eq!(bin.last().unwrap(), "go 0x00200000");
        assert!(bin[0].contains("0x00200000 firmware.bin"));
        let ui = uboot_commands(Format::Uimage, "firmware.uimg", 0x10_0000);
        assert_eq!(ui.last().unwrap(), "bootm 0x10000000 - ${fdtcontroladdr}");
    }
}
