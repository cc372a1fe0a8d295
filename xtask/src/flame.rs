//! `cargo xtask bench --qemu --profile PATH --flamegraph`: the profile's
//! call stacks as folded stacks (one `a;b;c COUNT` line per stack, the
//! format every flame graph tool reads) and an SVG flame graph (inferno).
//!
//! Each frame of a stack is a call site or the PC, widened to its inline
//! chain: the real function first, then what was inlined into it, marked
//! `_[i]` (inferno shows those in aqua, real functions in yellow).

use crate::profile::{Place, Tally};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One address's frames, outermost first.
fn frames(place: &Place) -> impl Iterator<Item = String> + '_ {
    place.iter().rev().enumerate().map(|(i, (name, _))| {
        // `;` separates frames and the last space the count: a generic
        // like `[u8; 4]` would split a frame in two.
        let name = name.replace(';', ",");
        if i == 0 { name } else { format!("{name}_[i]") }
    })
}

/// The tally as folded stacks, sorted (stacks that symbolise the same are
/// one line).
pub fn folded(tally: &Tally, places: &HashMap<u64, Place>) -> Vec<String> {
    let unknown: Place = vec![("?".into(), "?".into())];
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    for (&(id, pc), &n) in &tally.counts {
        let stack = tally.stacks.get(id).map_or(&[][..], Vec::as_slice);
        let key = stack
            .iter()
            .chain([&pc])
            .flat_map(|a| frames(places.get(a).unwrap_or(&unknown)))
            .collect::<Vec<_>>()
            .join(";");
        *lines.entry(key).or_insert(0) += n;
    }
    lines.into_iter().map(|(k, n)| format!("{k} {n}")).collect()
}

/// Writes `profile-PATH.folded` and `profile-PATH.svg` into `dir`.
pub fn write(
    dir: &Path,
    path: &str,
    folded: &[String],
    total: u64,
    frames: u64,
) -> Result<(PathBuf, PathBuf)> {
    let folded_path = dir.join(format!("profile-{path}.folded"));
    let mut text = folded.join("\n");
    text.push('\n');
    std::fs::write(&folded_path, text)
        .with_context(|| format!("writing {}", folded_path.display()))?;

    let svg_path = dir.join(format!("profile-{path}.svg"));
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = format!("{path}: where its instructions go");
    opt.subtitle = Some(format!(
        "{:.1} instructions/frame over {frames} frames; call stacks from the trace's BL/RET, inlined functions in aqua",
        total as f64 / frames.max(1) as f64
    ));
    opt.count_name = "instructions".into();
    opt.colors =
        inferno::flamegraph::Palette::Multi(inferno::flamegraph::color::MultiPalette::Java);
    // The same profile gives the same picture.
    opt.deterministic = true;
    let out = std::fs::File::create(&svg_path)
        .with_context(|| format!("writing {}", svg_path.display()))?;
    inferno::flamegraph::from_lines(
        &mut opt,
        folded.iter().map(String::as_str),
        std::io::BufWriter::new(out),
    )
    .with_context(|| format!("drawing {}", svg_path.display()))?;
    Ok((folded_path, svg_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(chain: &[&str]) -> Place {
        chain
            .iter()
            .map(|f| (f.to_string(), "x.rs:1".into()))
            .collect()
    }

    fn tally() -> (Tally, HashMap<u64, Place>) {
        let tally = Tally {
            stacks: vec![vec![], vec![0x100]],
            counts: HashMap::from([
                ((0, 0x104), 2),
                ((1, 0x200), 3),
                ((1, 0x204), 1),
                ((1, 0x208), 4),
            ]),
            windows: 1,
        };
        // Innermost first, as symbolise gives them.
        let places = HashMap::from([
            (0x100, place(&["Rx::put", "Host::burst"])),
            (0x104, place(&["Host::burst"])),
            (0x200, place(&["Device::poll"])),
            (0x204, place(&["parse", "Device::poll"])),
            (0x208, place(&["drop_in_place<[u8; 4]>", "Device::poll"])),
        ]);
        (tally, places)
    }

    #[test]
    fn folded_lines_are_outermost_first_with_inlined_frames_marked() {
        let (tally, places) = tally();
        assert_eq!(
            folded(&tally, &places),
            [
                "Host::burst 2",
                "Host::burst;Rx::put_[i];Device::poll 3",
                "Host::burst;Rx::put_[i];Device::poll;drop_in_place<[u8, 4]>_[i] 4",
                "Host::burst;Rx::put_[i];Device::poll;parse_[i] 1",
            ]
        );
    }

    #[test]
    fn same_symbols_fold_into_one_line() {
        let (mut tally, mut places) = tally();
        tally.counts.insert((0, 0x108), 5);
        places.insert(0x108, place(&["Host::burst"]));
        // 0x300 has no symbols: its own frame, not a crash.
        tally.counts.insert((0, 0x300), 1);
        let lines = folded(&tally, &places);
        assert_eq!(lines[0], "? 1");
        assert_eq!(lines[1], "Host::burst 7");
    }

    #[test]
    fn writes_the_folded_file_and_an_svg() {
        let (tally, places) = tally();
        let dir = std::env::temp_dir().join(format!("xtask-flame-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (f, svg) = write(&dir, "uplink-to-vf", &folded(&tally, &places), 10, 2).unwrap();
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.starts_with("Host::burst 2\n"), "{text}");
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("Device::poll"));
        assert!(svg.contains("5.0 instructions/frame over 2 frames"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
