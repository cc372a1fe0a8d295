//! Links the image for the selected board: the generic `linker/image.ld`,
//! this board's `memory.ld` (generated from its TOML) and defmt's `defmt.x`.
//! Link arguments come only from here, never from `.cargo/config.toml`, so
//! host builds of the workspace are untouched.
use std::path::PathBuf;

fn main() {
    let board = board_config::load_for_build_script();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("memory.ld"),
        board_config::render_memory_ld(&board),
    )
    .expect("OUT_DIR is writable");

    let linker_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../linker");
    println!(
        "cargo:rerun-if-changed={}",
        linker_dir.join("image.ld").display()
    );
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-search={}", linker_dir.display());
    println!("cargo:rustc-link-arg-bins=-Timage.ld");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
