//! The board TOML parser and its checks (`board_config::load_str`, and
//! `load_table` for the edits): any text, or edits of the default board (any key set to any value, removed,
//! or added). Nothing panics; a refused board's error names the file and
//! the place (a field, or the line the syntax broke on); an accepted one
//! renders.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::toml_edit::{Base, Document};
use std::path::Path;

static BASE: Base = Base::new(include_str!("../../board-configs/qemu-virt.toml"));
fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.toml");
    let loaded = match BASE.document(data) {
        Some(Document::Text(text)) => board_config::load_str(path, &text),
        // Edits skip the text: the checks, not the syntax, are what they
        // are for.
        Some(Document::Table(table)) => board_config::load_table(path, table),
        None => return,
    };
    match loaded {
        Ok(config) => {
            let board = board_config::Board {
                path: path.to_owned(),
                sources: vec![path.to_owned()],
                config,
            };
            let _ = board_config::render_rust(&board);
            let _ = board_config::render_memory_ld(&board);
        }
        Err(e) => {
            assert_eq!(e.file, path);
            let shown = e.to_string();
            assert!(
                !e.field.is_empty() || e.problem.contains("line ") || e.problem.contains('`'),
                "an error that names no place: {shown}"
            );
        }
    }
});
