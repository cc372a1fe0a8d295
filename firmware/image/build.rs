//! Links the image for the selected board: the generic `linker/image.ld`,
//! this board's `memory.ld` (generated from its TOML) and defmt's `defmt.x`.
//! Link arguments come only from here, never from `.cargo/config.toml`, so
//! host builds of the workspace are untouched.
use std::path::PathBuf;

fn main() {
    // Built for the host (`cargo run -p firmware-image` without --target),
    // the image cannot link; say what to type instead of a wall of errors.
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "aarch64-unknown-none" {
        eprintln!(
            "error: firmware-image builds only for aarch64-unknown-none, not {target}: \
             `cargo run -p firmware-image --target aarch64-unknown-none` (boots it on QEMU), \
             or `cargo xtask build` / `cargo xtask run`"
        );
        std::process::exit(1);
    }
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
