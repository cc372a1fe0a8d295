//! `cargo xtask bench --qemu --profile PATH`: where one full path's
//! instructions go, by function and by source line.
//!
//! The image runs the path alone (`mode=bench only=PATH`: 20 bursts of 64
//! frames) under `-icount shift=0 -singlestep -d exec,nochain`, so QEMU
//! logs every instruction it executes. Only what runs between a PMU read
//! and the next one is counted: those reads bracket each measured poll, so
//! the profile covers exactly what the bench's figure covers, and none of
//! the set-up. The program counters are then charged, through the ELF's
//! DWARF line tables, to the innermost (inlined) function and line, and to
//! the outermost real function they ran in.

use crate::image::BuiltImage;
use crate::workspace_root;
use addr2line::gimli;
use anyhow::{Context, Result, bail};
use object::{Object, ObjectSection};
use sim_tests::qemu::{Ending, QemuRun};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::time::Duration;

/// `MRS Xt, PMEVCNTR0_EL0` with Rt masked out: the PMU reads that bracket
/// each measurement.
const MRS_PMEVCNTR0: u32 = 0xd53b_e800;
const RT_MASK: u32 = 0x1f;

/// Addresses of the PMU counter reads in the image's code.
pub fn pmu_reads(obj: &object::File) -> Result<HashSet<u64>> {
    let text = obj
        .section_by_name(".text")
        .context("the image has no .text")?;
    let data = text.data()?;
    let reads: HashSet<u64> = data
        .chunks_exact(4)
        .enumerate()
        .filter(|(_, w)| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) & !RT_MASK == MRS_PMEVCNTR0)
        .map(|(i, _)| text.address() + 4 * i as u64)
        .collect();
    if reads.is_empty() {
        bail!("no PMU counter read in the image: nothing marks a measurement");
    }
    Ok(reads)
}

/// The program counter of one `-d exec` line
/// (`Trace 0: 0x... [cs_base/pc/flags/cflags] ...`).
pub fn trace_pc(line: &str) -> Option<u64> {
    let inside = line.split_once('[')?.1;
    let pc = inside.split('/').nth(1)?;
    u64::from_str_radix(pc, 16).ok()
}

/// Executions of each address between PMU reads (a read opens a window,
/// the next closes it).
pub fn count_windows(
    trace: impl BufRead,
    reads: &HashSet<u64>,
) -> Result<(HashMap<u64, u64>, u64)> {
    let mut counts = HashMap::new();
    let mut inside = false;
    let mut windows = 0;
    for line in trace.lines() {
        let Some(pc) = trace_pc(&line?) else {
            continue;
        };
        if reads.contains(&pc) {
            inside = !inside;
            windows += u64::from(inside);
            continue;
        }
        if inside {
            *counts.entry(pc).or_insert(0) += 1;
        }
    }
    Ok((counts, windows))
}

/// One address's place in the source: its inline chain, innermost first,
/// as (function, file:line).
type Place = Vec<(String, String)>;

fn symbolise(elf: &[u8], pcs: impl Iterator<Item = u64>) -> Result<HashMap<u64, Place>> {
    let obj = object::File::parse(elf)?;
    let load = |id: gimli::SectionId| -> Result<Cow<[u8]>, gimli::Error> {
        Ok(obj
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    };
    let sections = gimli::DwarfSections::load(load)?;
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, gimli::RunTimeEndian::Little));
    let ctx = addr2line::Context::from_dwarf(dwarf).context("reading the image's DWARF")?;
    let mut places = HashMap::new();
    for pc in pcs {
        let mut chain = Vec::new();
        let mut frames = ctx.find_frames(pc).skip_all_loads()?;
        while let Some(f) = frames.next()? {
            let name = f
                .function
                .as_ref()
                .and_then(|n| n.demangle().ok())
                .map(|n| short_name(&n))
                .unwrap_or_else(|| "?".into());
            let at = f
                .location
                .map(|l| {
                    let file = l.file.unwrap_or("?");
                    let file = file.rsplit_once("/src/").map_or(file, |(_, f)| f);
                    format!("{file}:{}", l.line.unwrap_or(0))
                })
                .unwrap_or_else(|| "?".into());
            chain.push((name, at));
        }
        if chain.is_empty() {
            chain.push((format!("{pc:#x}"), "?".into()));
        }
        places.insert(pc, chain);
    }
    Ok(places)
}

/// A demangled name, short: `Type::method` for methods (impl blocks and
/// trait impls alike), the last three parts of a path otherwise.
fn short_name(full: &str) -> String {
    let name = full
        .rsplit_once("::h")
        .filter(|(_, h)| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .map_or(full, |(p, _)| p);
    if let Some((head, method)) = name.rsplit_once(">::") {
        // `m::<impl a::Type<_>>::f` or `<a::Type as Trait>::f`: the type.
        let ty = match head.rfind("<impl ") {
            Some(i) => &head[i + "<impl ".len()..],
            None => head.strip_prefix('<').unwrap_or(head),
        };
        let ty = ty.split(" as ").next().unwrap_or(ty);
        let ty = ty.split('<').next().unwrap_or(ty);
        let ty = ty.rsplit("::").next().unwrap_or(ty);
        return format!("{ty}::{method}");
    }
    let parts: Vec<&str> = name.split("::").collect();
    parts[parts.len().saturating_sub(3)..].join("::")
}

/// The top `n` of a tally, as instructions per frame.
fn print_top(title: &str, tally: BTreeMap<String, u64>, frames: u64, n: usize) {
    let total: u64 = tally.values().sum();
    let mut rows: Vec<(String, u64)> = tally.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("\n{title}");
    for (what, count) in rows.iter().take(n) {
        println!(
            "{:>8.1} {:>5.1}%  {what}",
            *count as f64 / frames as f64,
            *count as f64 * 100.0 / total.max(1) as f64
        );
    }
}

/// Profiles `path` and prints where its instructions go.
pub fn run(built: &BuiltImage, path: &str, top: usize) -> Result<()> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let trace = dir.join(format!("trace-{path}.log"));
    let mut run = QemuRun::for_board(&built.board.config, &built.elf)?;
    run.append = Some(format!("mode=bench only={path}"));
    run.timeout = Some(Duration::from_secs(900));
    run.extra_args = vec![
        "-icount".into(),
        "shift=0".into(),
        "-smp".into(),
        "1".into(),
        "-d".into(),
        "exec,nochain".into(),
        "-D".into(),
        trace.display().to_string(),
    ];
    // One instruction per translation block, blocks not chained: the exec
    // log then has a line for every instruction executed.
    run.extra_args
        .extend(sim_tests::qemu::one_insn_per_tb(sim_tests::qemu::version()?));
    eprintln!("tracing {path} under QEMU (a few hundred MB of log, deleted after)");
    let outcome = run.run(&workspace_root(), |_| {})?;
    if outcome.ending != Ending::Exited(0) {
        let _ = std::fs::remove_file(&trace);
        bail!(
            "the profile run ended {:?}:\n{}{}",
            outcome.ending,
            outcome.log_text(),
            outcome.stderr
        );
    }
    let frames: u64 = outcome
        .lines
        .iter()
        .find_map(|l| {
            l.message
                .strip_prefix("profile: ")?
                .strip_suffix(" frames measured")?
                .parse()
                .ok()
        })
        .context("the image did not say how many frames it measured")?;
    let elf = std::fs::read(&built.elf)?;
    let reads = pmu_reads(&object::File::parse(&*elf)?)?;
    let file = std::fs::File::open(&trace).with_context(|| format!("{}", trace.display()))?;
    let counted = count_windows(std::io::BufReader::new(file), &reads);
    let _ = std::fs::remove_file(&trace);
    let (counts, windows) = counted?;
    let total: u64 = counts.values().sum();
    if total == 0 {
        bail!("no instruction ran inside the {windows} PMU windows");
    }
    let places = symbolise(&elf, counts.keys().copied())?;

    let mut inner = BTreeMap::new();
    let mut outer = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for (pc, n) in &counts {
        let chain = &places[pc];
        let (f, at) = &chain[0];
        *inner.entry(f.clone()).or_insert(0) += n;
        *lines.entry(format!("{at}  ({f})")).or_insert(0) += n;
        *outer.entry(chain[chain.len() - 1].0.clone()).or_insert(0) += n;
    }
    println!(
        "{path}: {:.1} instructions/frame over {frames} frames ({windows} measured polls)",
        total as f64 / frames as f64
    );
    print_top(
        "by function (innermost, inlined included): instructions/frame, share",
        inner,
        frames,
        top,
    );
    print_top(
        "by function called (outermost: what a call graph shows)",
        outer,
        frames,
        top,
    );
    print_top("by source line", lines, frames, top);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pc_of_an_exec_line() {
        let line = "Trace 0: 0x7fab0c000100 [0000000000004000/0000000040019e54/00000121/ff020201] ";
        assert_eq!(trace_pc(line), Some(0x4001_9e54));
        assert_eq!(trace_pc("Linking TBs"), None);
    }

    #[test]
    fn counts_only_between_pmu_reads() {
        let line = |pc: u64| format!("Trace 0: 0x1 [0/{pc:016x}/0/0]\n");
        // 0x10 is a PMU read: 0x20 runs once before the first window,
        // twice inside, once after.
        let trace: String = [0x20, 0x10, 0x20, 0x24, 0x20, 0x10, 0x20]
            .into_iter()
            .map(line)
            .collect();
        let reads = HashSet::from([0x10]);
        let (counts, windows) = count_windows(trace.as_bytes(), &reads).unwrap();
        assert_eq!(windows, 1);
        assert_eq!(counts.get(&0x20), Some(&2));
        assert_eq!(counts.get(&0x24), Some(&1));
    }

    #[test]
    fn names_are_shortened() {
        assert_eq!(
            short_name("firmware::device::dataplane::rx_put::h0123456789abcdef"),
            "device::dataplane::rx_put"
        );
        assert_eq!(
            short_name("firmware::device::dataplane::<impl firmware::device::Device<_>>::offer"),
            "Device::offer"
        );
        assert_eq!(
            short_name(
                "<firmware::classifier::Members as core::iter::traits::iterator::Iterator>::next"
            ),
            "Members::next"
        );
        assert_eq!(short_name("memcpy"), "memcpy");
    }
}
