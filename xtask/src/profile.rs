//! `cargo xtask bench --qemu --profile PATH`: where one full path's
//! instructions go, by function and by source line.
//!
//! The image runs the path alone (`mode=bench only=PATH`: 20 bursts of 64
//! frames) under `-icount shift=0 -singlestep (one-insn-per-tb from QEMU 8.1) -d exec,nochain`, so QEMU
//! logs every instruction it executes. Only what runs between a PMU read
//! and the next one is counted: those reads bracket each measured poll, so
//! the profile covers exactly what the bench's figure covers, and none of
//! the set-up. The program counters are then charged, through the ELF's
//! DWARF line tables, to the innermost (inlined) function and line, and to
//! the outermost real function they ran in.
//!
//! Every instruction is in the trace, so the call stack is too: a `BL` or
//! `BLR` followed by a jump pushes its address, a `RET` pops back to the
//! call it returns past. Each window starts with an empty stack, in the
//! rig's function that read the PMU. With `--flamegraph` those stacks,
//! each call site and PC widened to its inline chain, become folded stacks
//! and an SVG flame graph (flame.rs).

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

/// The image's code, to tell calls and returns in the trace apart.
pub struct Code<'a> {
    pub base: u64,
    pub bytes: &'a [u8],
}

/// What an instruction does to the call stack.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Call,
    Return,
    Other,
}

impl Code<'_> {
    /// The image's `.text`.
    pub fn text<'a>(obj: &'a object::File) -> Result<Code<'a>> {
        let text = obj
            .section_by_name(".text")
            .context("the image has no .text")?;
        Ok(Code {
            base: text.address(),
            bytes: text.data()?,
        })
    }

    fn flow(&self, pc: u64) -> Flow {
        let Some(at) = pc
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok())
        else {
            return Flow::Other;
        };
        let Some(w) = self.bytes.get(at..at.saturating_add(4)) else {
            return Flow::Other;
        };
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        // BL imm26; BLR Xn; RET Xn (the image has no pointer
        // authentication, so no RETAA/BLRAA).
        if word & 0xfc00_0000 == 0x9400_0000 || word & 0xffff_fc1f == 0xd63f_0000 {
            Flow::Call
        } else if word & 0xffff_fc1f == 0xd65f_0000 {
            Flow::Return
        } else {
            Flow::Other
        }
    }
}

/// Executions inside the PMU windows, by call stack and address.
#[derive(Debug, Default)]
pub struct Tally {
    /// Call stacks (call-site addresses, outermost first), by id.
    pub stacks: Vec<Vec<u64>>,
    /// (stack id, PC) -> executions.
    pub counts: HashMap<(usize, u64), u64>,
    /// Measurement windows seen.
    pub windows: u64,
}

impl Tally {
    /// Executions by address, whatever the stack.
    pub fn by_pc(&self) -> HashMap<u64, u64> {
        let mut out = HashMap::new();
        for (&(_, pc), &n) in &self.counts {
            *out.entry(pc).or_insert(0) += n;
        }
        out
    }

    /// Every address the profile needs symbolised: PCs and call sites.
    pub fn addresses(&self) -> HashSet<u64> {
        let mut all: HashSet<u64> = self.counts.keys().map(|&(_, pc)| pc).collect();
        all.extend(self.stacks.iter().flatten());
        all
    }
}

/// Executions between PMU reads (a read opens a window, the next closes
/// it), with the call stack each ran under.
pub fn count_windows(trace: impl BufRead, reads: &HashSet<u64>, code: &Code) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut ids: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut intern = |stack: &Vec<u64>, tally: &mut Tally| -> usize {
        *ids.entry(stack.clone()).or_insert_with(|| {
            tally.stacks.push(stack.clone());
            tally.stacks.len() - 1
        })
    };
    let mut inside = false;
    let mut stack: Vec<u64> = Vec::new();
    let mut id = 0;
    let mut prev: Option<u64> = None;
    for line in trace.lines() {
        let Some(pc) = trace_pc(&line?) else {
            continue;
        };
        if reads.contains(&pc) {
            inside = !inside;
            if inside {
                tally.windows += 1;
                stack.clear();
                id = intern(&stack, &mut tally);
            }
            prev = None;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(p) = prev {
            let changed = match code.flow(p) {
                Flow::Call if pc != p + 4 => {
                    stack.push(p);
                    true
                }
                Flow::Return => {
                    // Back past its call; a return with no call on the
                    // stack leaves the window's first function (the stack
                    // above it is not known).
                    let to = stack.iter().rposition(|&c| c + 4 == pc).unwrap_or(0);
                    stack.truncate(to);
                    true
                }
                _ => false,
            };
            if changed {
                id = intern(&stack, &mut tally);
            }
        }
        *tally.counts.entry((id, pc)).or_insert(0) += 1;
        prev = Some(pc);
    }
    Ok(tally)
}

/// One address's place in the source: its inline chain, innermost first,
/// as (function, file:line).
pub type Place = Vec<(String, String)>;

fn symbolise(elf: &[u8], pcs: impl IntoIterator<Item = u64>) -> Result<HashMap<u64, Place>> {
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
/// With `flamegraph`, also writes the folded stacks and the flame graph.
pub fn run(built: &BuiltImage, path: &str, top: usize, flamegraph: bool) -> Result<()> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let trace = dir.join(format!("trace-{path}.log"));
    let mut run = QemuRun::for_board(&built.board.config, &built.elf)?;
    run.append = Some(format!("mode=bench only={path}"));
    run.timeout = Some(Duration::from_secs(900));
    let smp: &[&str] = if run.board_sets_smp() {
        &[]
    } else {
        &["-smp", "1"]
    };
    run.extra_args = smp.iter().map(|s| s.to_string()).collect();
    run.extra_args.extend([
        "-icount".into(),
        "shift=0".into(),
        "-d".into(),
        "exec,nochain".into(),
        "-D".into(),
        trace.display().to_string(),
    ]);
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
    let obj = object::File::parse(&*elf)?;
    let reads = pmu_reads(&obj)?;
    let file = std::fs::File::open(&trace).with_context(|| format!("{}", trace.display()))?;
    let counted = count_windows(std::io::BufReader::new(file), &reads, &Code::text(&obj)?);
    let _ = std::fs::remove_file(&trace);
    let tally = counted?;
    let windows = tally.windows;
    let counts = tally.by_pc();
    let total: u64 = counts.values().sum();
    if total == 0 {
        bail!("no instruction ran inside the {windows} PMU windows");
    }
    let places = symbolise(&elf, tally.addresses())?;

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
    if flamegraph {
        let folded = crate::flame::folded(&tally, &places);
        let (folded_path, svg) = crate::flame::write(&dir, path, &folded, total, frames)?;
        println!("\nfolded stacks: {}", folded_path.display());
        println!("flame graph: {}", svg.display());
    }
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

    fn trace(pcs: &[u64]) -> String {
        pcs.iter()
            .map(|pc| format!("Trace 0: 0x1 [0/{pc:016x}/0/0]\n"))
            .collect()
    }

    const NOP: u32 = 0xd503_201f;
    const BL: u32 = 0x9400_0007; // 28 bytes ahead
    const RET: u32 = 0xd65f_03c0;

    /// Words at 0x1000, 0x1004, ...
    fn code(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn counts_only_between_pmu_reads() {
        // 0x10 is a PMU read: 0x20 runs once before the first window,
        // twice inside, once after.
        let trace = trace(&[0x20, 0x10, 0x20, 0x24, 0x20, 0x10, 0x20]);
        let reads = HashSet::from([0x10]);
        let none = Code {
            base: 0,
            bytes: &[],
        };
        let tally = count_windows(trace.as_bytes(), &reads, &none).unwrap();
        assert_eq!(tally.windows, 1);
        let counts = tally.by_pc();
        assert_eq!(counts.get(&0x20), Some(&2));
        assert_eq!(counts.get(&0x24), Some(&1));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn calls_push_and_returns_pop() {
        // 0x1000 read; 0x1004 BL 0x1020; 0x1008 RET; 0x1020 NOP; 0x1024 RET.
        let bytes = code(&[NOP, BL, RET, NOP, NOP, NOP, NOP, NOP, NOP, RET]);
        let code = Code {
            base: 0x1000,
            bytes: &bytes,
        };
        let reads = HashSet::from([0x1000]);
        // In the window: the call, the callee, back, then a return out of
        // the window's first function (to 0x3000, its unknown caller).
        let t = trace(&[0x1000, 0x1004, 0x1020, 0x1024, 0x1008, 0x3000, 0x1000]);
        let tally = count_windows(t.as_bytes(), &reads, &code).unwrap();
        let at = |pc: u64| -> Vec<(Vec<u64>, u64)> {
            let mut v: Vec<_> = tally
                .counts
                .iter()
                .filter(|((_, p), _)| *p == pc)
                .map(|((id, _), n)| (tally.stacks[*id].clone(), *n))
                .collect();
            v.sort();
            v
        };
        assert_eq!(at(0x1004), [(vec![], 1)]);
        assert_eq!(at(0x1020), [(vec![0x1004], 1)]);
        assert_eq!(at(0x1024), [(vec![0x1004], 1)]);
        assert_eq!(at(0x1008), [(vec![], 1)]);
        assert_eq!(at(0x3000), [(vec![], 1)]);
        assert_eq!(tally.addresses().len(), 5);
    }

    #[test]
    fn flow_outside_the_code_is_nothing() {
        let bytes = code(&[BL, 0xd63f_0100, RET, 0xd65f_0200]);
        let code = Code {
            base: 0x1000,
            bytes: &bytes,
        };
        assert_eq!(code.flow(0x1000), Flow::Call);
        assert_eq!(code.flow(0x1004), Flow::Call); // BLR X8
        assert_eq!(code.flow(0x1008), Flow::Return);
        assert_eq!(code.flow(0x100c), Flow::Return); // RET X16
        assert_eq!(code.flow(0x0ffc), Flow::Other);
        assert_eq!(code.flow(0x100e), Flow::Other);
        assert_eq!(code.flow(0x1010), Flow::Other);
        assert_eq!(code.flow(u64::MAX), Flow::Other);
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
