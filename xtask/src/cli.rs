//! Value lists of the command line: the boards (`--board`) and the paths
//! the bench can profile (`--profile`). `--help` and the shell completions
//! show them; a wrong value is refused with them.

use clap::builder::{PossibleValue, TypedValueParser};

/// The full paths the image's bench mode can run alone
/// (`mode=bench only=PATH`, firmware/image/src/bench/full.rs).
pub const PROFILE_PATHS: [&str; 11] = [
    "uplink-to-vf",
    "uplink-to-vf-port-vlan",
    "uplink-broadcast",
    "vf-to-uplink",
    "vf-to-uplink-port-vlan",
    "vf-to-vf",
    "vf-tx-spoofed",
    "uplink-to-vf-qm",
    "uplink-broadcast-qm",
    "vf-to-uplink-qm",
    "vf-to-vf-qm",
];

/// `--board`: a board of board-configs/ by name, or a path to a board
/// TOML (which cannot be listed, so any existing file is taken).
#[derive(Clone)]
pub struct BoardParser;

impl TypedValueParser for BoardParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let s = value.to_string_lossy().into_owned();
        let names = board_config::board_names();
        if names.contains(&s) || board_config::resolve(&s).is_ok() {
            return Ok(s);
        }
        let mut err = clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(cmd);
        use clap::error::{ContextKind, ContextValue};
        if let Some(arg) = arg {
            err.insert(
                ContextKind::InvalidArg,
                ContextValue::String(arg.to_string()),
            );
        }
        err.insert(ContextKind::InvalidValue, ContextValue::String(s));
        err.insert(
            ContextKind::ValidValue,
            ContextValue::Strings(
                names
                    .into_iter()
                    .chain(["a path to a board TOML".to_owned()])
                    .collect(),
            ),
        );
        Err(err)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            board_config::board_names()
                .into_iter()
                .map(PossibleValue::new),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_profile_list_is_the_benchs_own() {
        // Every `path: "..."` of the full-path bench, and no other.
        let src = std::fs::read_to_string(
            crate::workspace_root().join("firmware/image/src/bench/full.rs"),
        )
        .unwrap();
        let in_bench: BTreeSet<&str> = src
            .split("path: \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        let listed: BTreeSet<&str> = PROFILE_PATHS.into_iter().collect();
        assert_eq!(listed, in_bench);
    }

    #[test]
    fn a_board_is_a_name_or_a_file_and_nothing_else() {
        use clap::Parser;
        let parse = |s: &str| crate::Cli::try_parse_from(["xtask", "build", "--board", s]);
        assert!(parse("qemu-virt").is_ok());
        let path = crate::workspace_root().join("board-configs/qemu-virt.toml");
        assert!(parse(path.to_str().unwrap()).is_ok());
        let err = parse("qemu-virtt").err().unwrap().to_string();
        assert!(
            err.contains("qemu-virtt") && err.contains("qemu-virt-256vf"),
            "{err}"
        );
        let listed: Vec<String> = BoardParser
            .possible_values()
            .unwrap()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert!(listed.contains(&"qemu-virt".to_owned()), "{listed:?}");
    }
}
