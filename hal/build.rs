//! Turns the selected board TOML (`FW_BOARD`, default qemu-virt) into
//! `hal::board` constants.
fn main() {
    let board = board_config::load_for_build_script();
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("board.rs"), board_config::render_rust(&board))
        .expect("OUT_DIR is writable");
}
