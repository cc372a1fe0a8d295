//! `cargo xtask size`: where the image's memory goes, from the linker's
//! own section symbols in the ELF (the same symbols the MMU set-up maps).

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};
use std::path::Path;

/// Bytes per section of a linked image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    pub bss: u64,
    /// Main and exception stacks with their guard pages.
    pub stacks: u64,
    /// The MMU's static translation-table pool.
    pub page_tables: u64,
    /// From the image's start to its end, page padding included: all the
    /// RAM the firmware claims (it has no heap).
    pub static_ram: u64,
}

/// Reads the sections and the linker's bounds of the ELF at `path`.
pub fn of_elf(path: &Path) -> Result<ImageSize> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let elf = object::File::parse(&*bytes).context("parsing the image's ELF")?;
    let section = |n: &str| {
        elf.section_by_name(n)
            .map(|s| s.size())
            .with_context(|| format!("{}: no section {n} (linker/image.ld)", path.display()))
    };
    let symbol = |n: &str| {
        elf.symbols()
            .find(|s| s.name() == Ok(n))
            .map(|s| s.address())
            .with_context(|| format!("{}: no symbol {n} (linker/image.ld)", path.display()))
    };
    Ok(ImageSize {
        text: section(".text")?,
        rodata: section(".rodata")?,
        data: section(".data")?,
        bss: section(".bss")?,
        stacks: section(".stack")?,
        page_tables: section(".pagetables")?,
        static_ram: symbol("__image_end")? - symbol("__image_start")?,
    })
}

pub fn print(board: &str, s: &ImageSize) {
    let kib = |b: u64| b as f64 / 1024.0;
    println!(
        "{board}: text {:.1} KiB, rodata {:.1} KiB, data {:.1} KiB, bss {:.1} KiB, stacks {:.1} KiB, page tables {:.1} KiB; static RAM {:.1} KiB",
        kib(s.text),
        kib(s.rodata),
        kib(s.data),
        kib(s.bss),
        kib(s.stacks),
        kib(s.page_tables),
        kib(s.static_ram)
    );
}

/// The sizes as one JSON object (bytes).
pub fn to_json(board: &str, s: &ImageSize) -> serde_json::Value {
    serde_json::json!({
        "board": board,
        "text": s.text,
        "rodata": s.rodata,
        "data": s.data,
        "bss": s.bss,
        "stacks": s.stacks,
        "page_tables": s.page_tables,
        "static_ram": s.static_ram,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_has_every_figure_in_bytes() {
        let s = super::ImageSize {
            text: 1,
            rodata: 2,
            data: 3,
            bss: 4,
            stacks: 5,
            page_tables: 6,
            static_ram: 7,
        };
        let v = super::to_json("b", &s);
        assert_eq!(v["board"], "b");
        let figures: Vec<u64> = [
            "text",
            "rodata",
            "data",
            "bss",
            "stacks",
            "page_tables",
            "static_ram",
        ]
        .iter()
        .map(|k| v[k].as_u64().unwrap())
        .collect();
        assert_eq!(figures, [1, 2, 3, 4, 5, 6, 7]);
    }
}
