//! `cargo xtask bench --qemu --plot`: the bench's rows and the budget
//! file's history as SVG (plotters, SVG backend only: text is left to the
//! viewer's fonts, so nothing here needs font libraries).
//!
//! - `instructions.svg`: one panel per path, instructions per frame against
//!   the table size, one line per VF count, the budget dashed; then the
//!   replicated paths against their destination count, and the pieces
//!   without a table as bars.
//! - `budget-history.svg`: every committed revision of the budget file, one
//!   line per path.

use crate::bench::{BUDGET_FILE, PER_EXTRA_DESTINATION, Report, Row};
use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Distinct on white and to most colour-blind eyes; red is the budget's.
const COLOURS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
    RGBColor(128, 0, 0),
];
const BUDGET: RGBColor = RGBColor(214, 39, 40);

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// plotters' errors borrow the backend; anyhow wants them owned.
fn drawn<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow::anyhow!("drawing: {e}"))
}

/// The `[budget]` table of one revision of the budget file; keys whose
/// value is not a count are left out, with a note each.
pub fn parse_budget(text: &str) -> Result<(BTreeMap<String, u64>, Vec<String>)> {
    let table: toml::Table = toml::from_str(text).context("not TOML")?;
    let budget = table
        .get("budget")
        .and_then(toml::Value::as_table)
        .context("no [budget] table")?;
    let mut out = BTreeMap::new();
    let mut notes = Vec::new();
    for (key, value) in budget {
        match value.as_integer().and_then(|v| u64::try_from(v).ok()) {
            Some(v) => {
                out.insert(key.clone(), v);
            }
            None => notes.push(format!("{key} = {value} is not a count, left out")),
        }
    }
    Ok((out, notes))
}

/// One revision of the budget file.
#[derive(Debug, PartialEq)]
pub struct Revision {
    /// Short hash, or "worktree" for uncommitted changes.
    pub label: String,
    /// Commit date, YYYY-MM-DD.
    pub date: String,
    pub budget: BTreeMap<String, u64>,
}

/// Parses every revision ((label, date, file text), oldest first); a
/// revision that does not parse is skipped with a note.
pub fn history(revisions: Vec<(String, String, String)>) -> (Vec<Revision>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (label, date, text) in revisions {
        match parse_budget(&text) {
            Ok((budget, key_notes)) => {
                notes.extend(key_notes.into_iter().map(|n| format!("{label}: {n}")));
                out.push(Revision {
                    label,
                    date,
                    budget,
                });
            }
            Err(e) => notes.push(format!("{label}: skipped ({e:#})")),
        }
    }
    (out, notes)
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = crate::setup::stdout_of(
        std::process::Command::new("git")
            .current_dir(root)
            .args(args),
    )?;
    String::from_utf8(out).context("git's output is not UTF-8")
}

/// Every commit that touched the budget file, oldest first, and the
/// working tree's copy when it differs from the last one.
fn revisions_in_git(root: &Path) -> Result<Vec<(String, String, String)>> {
    let log = git(
        root,
        &["log", "--reverse", "--format=%H %h %cs", "--", BUDGET_FILE],
    )?;
    let mut revs = Vec::new();
    for line in log.lines() {
        let mut words = line.split_whitespace();
        let (Some(full), Some(short), Some(date)) = (words.next(), words.next(), words.next())
        else {
            bail!("unexpected git log line: {line}");
        };
        // The commit that deleted the file (if any) has no copy to show.
        let Ok(text) = git(root, &["show", &format!("{full}:{BUDGET_FILE}")]) else {
            continue;
        };
        revs.push((short.to_owned(), date.to_owned(), text));
    }
    if let Ok(now) = std::fs::read_to_string(root.join(BUDGET_FILE))
        && revs.last().is_none_or(|(_, _, t)| *t != now)
    {
        revs.push(("worktree".into(), "uncommitted".into(), now));
    }
    if revs.is_empty() {
        bail!("git has no revision of {BUDGET_FILE}");
    }
    Ok(revs)
}

/// x in log2 of the table size: labels at the powers of two.
fn pow2_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 && (0.0..63.0).contains(v) {
        format!("{}", 1u64 << v.round() as u32)
    } else {
        String::new()
    }
}

/// Lower and upper x of points in log2, with room at both ends.
fn log2_span(xs: impl Iterator<Item = u64>) -> (f64, f64) {
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| {
        let l = (x.max(1) as f64).log2();
        (lo.min(l), hi.max(l))
    });
    (lo.floor() - 0.5, hi.ceil() + 0.5)
}

/// One chart's series: label, colour, points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

struct Panel {
    title: String,
    x: (f64, f64),
    /// x is log2 of the table size (labels at powers of two); otherwise
    /// x is the destination count.
    log2: bool,
    series: Vec<Series>,
    /// The budget as a dashed line: its legend and two points.
    budget: Option<(String, [(f64, f64); 2])>,
}

fn draw_panel(area: &Area, p: &Panel) -> Result<()> {
    let top = p
        .series
        .iter()
        .flat_map(|s| s.2.iter().map(|pt| pt.1))
        .chain(p.budget.iter().flat_map(|b| b.1.map(|pt| pt.1)))
        .fold(0.0, f64::max);
    let mut chart = drawn(
        ChartBuilder::on(area)
            .caption(&p.title, ("sans-serif", 17))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(p.x.0..p.x.1, 0.0..(top * 1.18).max(1.0)),
    )?;
    let (labels, desc) = if p.log2 {
        ((p.x.1 - p.x.0).round() as usize + 1, "table entries")
    } else {
        (9, "destinations")
    };
    drawn(
        chart
            .configure_mesh()
            .x_labels(labels.min(14))
            .x_label_formatter(&|v| {
                if p.log2 {
                    pow2_label(v)
                } else {
                    format!("{v:.0}")
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc(desc)
            .y_desc("instructions/frame")
            .light_line_style(WHITE.mix(0.0))
            .draw(),
    )?;
    if let Some((label, line)) = &p.budget {
        drawn(chart.draw_series(DashedLineSeries::new(*line, 6, 4, BUDGET.stroke_width(2))))?
            .label(label)
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BUDGET.stroke_width(2)));
    }
    let n = p.series.len() as i32;
    for (i, (label, c, pts)) in p.series.iter().enumerate() {
        let c = *c;
        drawn(chart.draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2))))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        // Each series' dots smaller than the one before: where the VF
        // counts measure the same, the dots nest and every colour shows.
        let r = 3 + 2 * (n - 1 - i as i32);
        drawn(chart.draw_series(pts.iter().map(|&pt| Circle::new(pt, r, c.filled()))))?;
    }
    drawn(
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw(),
    )?;
    Ok(())
}

/// Bars for the pieces measured without a table.
fn draw_pieces(area: &Area, pieces: &[(String, u64)]) -> Result<()> {
    let top = pieces.iter().map(|p| p.1).max().unwrap_or(1) as f64;
    let n = pieces.len();
    let names: Vec<&str> = pieces.iter().map(|p| p.0.as_str()).collect();
    let mut chart = drawn(
        ChartBuilder::on(area)
            .caption("pieces (no table)", ("sans-serif", 17))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top * 1.18),
    )?;
    drawn(
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    names
                        .get(i as usize)
                        .map_or(String::new(), |s| s.to_string())
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("instructions/frame")
            .light_line_style(WHITE.mix(0.0))
            .draw(),
    )?;
    for (i, (_, v)) in pieces.iter().enumerate() {
        let (x, v) = (i as f64, *v as f64);
        let c = colour(i);
        drawn(chart.draw_series([Rectangle::new(
            [(x - 0.3, 0.0), (x + 0.3, v)],
            c.mix(0.8).filled(),
        )]))?;
        drawn(chart.draw_series([Text::new(
            format!("{v:.0}"),
            (x - 0.08, v + top * 0.07),
            ("sans-serif", 13),
        )]))?;
    }
    Ok(())
}

/// The panels of `instructions.svg`, in the bench's order, and the
/// pieces without a table.
fn instruction_panels(
    report: &Report,
    budget: &BTreeMap<String, u64>,
) -> (Vec<Panel>, Vec<(String, u64)>) {
    let rows = &report.rows;
    let mut order: Vec<&str> = Vec::new();
    for r in rows {
        if !order.contains(&r.path.as_str()) {
            order.push(&r.path);
        }
    }
    // One colour per VF count, the same in every panel.
    let vf_counts: BTreeSet<u64> = rows.iter().map(|r| r.vfs).collect();
    let vf_colour = |vfs: u64| colour(vf_counts.iter().position(|&v| v == vfs).unwrap_or(0));

    let mut panels = Vec::new();
    let mut pieces = Vec::new();
    for path in order {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.path == path).collect();
        if let Some(&per) = report.per_extra_destination.get(path) {
            panels.push(replicated(path, &mine, per, budget));
            continue;
        }
        let worst = mine.iter().map(|r| r.instructions_per_frame).max();
        if mine.iter().all(|r| r.entries == 0) {
            pieces.push((path.to_owned(), worst.unwrap_or(0)));
            continue;
        }
        let mut by_vfs: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
        for r in &mine {
            by_vfs.entry(r.vfs).or_default().push((
                (r.entries.max(1) as f64).log2(),
                r.instructions_per_frame as f64,
            ));
        }
        let series = by_vfs
            .into_iter()
            .map(|(vfs, mut pts)| {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                (format!("{vfs} VFs"), vf_colour(vfs), pts)
            })
            .collect();
        let x = log2_span(mine.iter().map(|r| r.entries));
        panels.push(Panel {
            title: format!("{path} (worst {})", worst.unwrap_or(0)),
            x,
            log2: true,
            series,
            budget: budget
                .get(path)
                .map(|&b| (format!("budget {b}"), [(x.0, b as f64), (x.1, b as f64)])),
        });
    }
    (panels, pieces)
}

/// A replicated path against its destination count (linear: a straight
/// line is a constant cost per destination), the worst row at each; the
/// budget is the slope its per-destination key allows from the first.
fn replicated(path: &str, rows: &[&Row], per: f64, budget: &BTreeMap<String, u64>) -> Panel {
    let mut at: BTreeMap<u64, u64> = BTreeMap::new();
    for r in rows {
        let w = at.entry(r.destinations.max(1)).or_default();
        *w = (*w).max(r.instructions_per_frame);
    }
    let pts: Vec<(f64, f64)> = at.iter().map(|(&d, &n)| (d as f64, n as f64)).collect();
    let x = (0.0, pts.last().map_or(1.0, |p| p.0) * 1.05);
    let key = format!("{path}{PER_EXTRA_DESTINATION}");
    let line = budget.get(&key).zip(pts.first()).map(|(&b, &(d0, n0))| {
        let end = n0 + b as f64 * (x.1 - d0);
        (format!("budget +{b}/destination"), [(d0, n0), (x.1, end)])
    });
    Panel {
        title: format!("{path} ({per:.1} per extra destination)"),
        x,
        log2: false,
        series: vec![("worst".into(), colour(0), pts)],
        budget: line,
    }
}

/// Small multiples, three to a row.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn grid<'a>(
    out: &'a Path,
    title: &str,
    cell: (u32, u32),
    n: usize,
) -> Result<(Area<'a>, Vec<Area<'a>>)> {
    const COLUMNS: usize = 3;
    let rows = n.div_ceil(COLUMNS).max(1);
    let size = (cell.0 * COLUMNS as u32, cell.1 * rows as u32 + 50);
    let root = SVGBackend::new(out, size).into_drawing_area();
    drawn(root.fill(&WHITE))?;
    let body = drawn(root.titled(title, ("sans-serif", 22)))?;
    let cells = body.split_evenly((rows, COLUMNS));
    Ok((root, cells))
}

/// Writes `instructions.svg` from the bench's rows on `board`.
pub fn instructions(
    report: &Report,
    budget: &BTreeMap<String, u64>,
    board: &str,
    out: &Path,
) -> Result<()> {
    if report.rows.is_empty() {
        bail!("no bench rows to plot");
    }
    let (panels, pieces) = instruction_panels(report, budget);
    let n = panels.len() + usize::from(!pieces.is_empty());
    let (root, cells) = grid(
        out,
        &format!("{board}: instructions per frame (PMU under QEMU -icount); dashed: the budget"),
        (520, 330),
        n,
    )?;
    for (p, cell) in panels.iter().zip(&cells) {
        draw_panel(cell, p)?;
    }
    if !pieces.is_empty() {
        draw_pieces(&cells[panels.len()], &pieces)?;
    }
    drawn(root.present())?;
    Ok(())
}

/// Writes `budget-history.svg`: decisions and pieces (under 400 now), full
/// paths (400 and over), each on its own scale, the legend beside it.
pub fn budget_history(revs: &[Revision], out: &Path) -> Result<()> {
    let Some(last) = revs.last() else {
        bail!("no revision of the budget file to plot");
    };
    let keys: BTreeSet<&str> = revs
        .iter()
        .flat_map(|r| r.budget.keys().map(String::as_str))
        .collect();
    // A key no longer in the file goes by its last value.
    let latest = |k: &str| revs.iter().rev().find_map(|r| r.budget.get(k).copied());
    let (small, large): (Vec<&str>, Vec<&str>) =
        keys.iter().partition(|k| latest(k).unwrap_or(0) < 400);
    let labels: Vec<String> = revs
        .iter()
        .map(|r| format!("{} {}", r.date.get(5..).unwrap_or(&r.date), r.label))
        .collect();
    let x_label = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let root = SVGBackend::new(out, (1500, 1000)).into_drawing_area();
    drawn(root.fill(&WHITE))?;
    let body = drawn(root.titled(
        &format!(
            "Budgets in {BUDGET_FILE}, by commit ({} revisions, last {} {})",
            revs.len(),
            last.date,
            last.label
        ),
        ("sans-serif", 22),
    ))?;
    let halves = body.split_evenly((2, 1));
    for (half, (what, group)) in halves
        .iter()
        .zip([("decisions and pieces", &small), ("full paths", &large)])
    {
        let (chart_area, legend) = half.split_horizontally(1180);
        let series: Vec<Series> = group
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let pts = revs
                    .iter()
                    .enumerate()
                    .filter_map(|(x, r)| Some((x as f64, *r.budget.get(*k)? as f64)))
                    .collect();
                ((*k).to_owned(), colour(i), pts)
            })
            .collect();
        let top = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let mut chart = drawn(
            ChartBuilder::on(&chart_area)
                .caption(what, ("sans-serif", 17))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(52)
                .build_cartesian_2d(-0.5..revs.len() as f64 - 0.5, 0.0..(top * 1.1).max(1.0)),
        )?;
        drawn(
            chart
                .configure_mesh()
                .x_labels(revs.len().min(12))
                .x_label_formatter(&x_label)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .y_desc("instructions/frame allowed")
                .light_line_style(WHITE.mix(0.0))
                .draw(),
        )?;
        for (i, (name, c, pts)) in series.iter().enumerate() {
            let c = *c;
            drawn(chart.draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2))))?;
            drawn(chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))))?;
            let y = 40 + 22 * i as i32;
            drawn(legend.draw(&PathElement::new([(4, y), (28, y)], c.stroke_width(3))))?;
            drawn(legend.draw(&Text::new(name.clone(), (34, y - 7), ("sans-serif", 13))))?;
        }
    }
    drawn(root.present())?;
    Ok(())
}

/// Both pictures, under target/bench/; prints their paths and the
/// history's notes.
pub fn print(report: &Report, budget_toml: &str, board: &str) -> Result<()> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let (budget, mut notes) = parse_budget(budget_toml).context("reading the budget file")?;
    let ins = dir.join("instructions.svg");
    instructions(report, &budget, board, &ins)?;
    let (revs, history_notes) = history(revisions_in_git(&crate::workspace_root())?);
    notes.extend(history_notes);
    let hist = dir.join("budget-history.svg");
    budget_history(&revs, &hist)?;
    for n in notes {
        println!("budget history: {n}");
    }
    println!("SVG: {}", ins.display());
    println!("SVG: {}", hist.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn row(path: &str, entries: u64, vfs: u64, dests: u64, n: u64) -> Row {
        Row {
            path: path.into(),
            entries,
            vfs,
            destinations: dests,
            instructions_per_frame: n,
            engine: None,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn two_revisions_and_a_bad_one() {
        let (revs, notes) = history(vec![
            (
                "aaaaaaa".into(),
                "2026-11-23".into(),
                "# old\n[budget]\nparse = 292\ncopy-64 = 76\n".into(),
            ),
            ("bbbbbbb".into(), "2026-11-23".into(), "budget = [".into()),
            (
                "ccccccc".into(),
                "2026-12-01".into(),
                "[budget]\nparse = 78\nnote = \"x\"\nuplink-to-vf = 875\n".into(),
            ),
            ("ddddddd".into(), "2026-12-02".into(), "[limits]\n".into()),
        ]);
        assert_eq!(revs.len(), 2);
        assert_eq!(revs[0].label, "aaaaaaa");
        assert_eq!(
            revs[0].budget,
            BTreeMap::from([("copy-64".into(), 76), ("parse".into(), 292)])
        );
        assert_eq!(
            revs[1].budget,
            BTreeMap::from([("parse".into(), 78), ("uplink-to-vf".into(), 875)])
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            notes[0].starts_with("bbbbbbb: skipped (not TOML"),
            "{notes:?}"
        );
        assert_eq!(notes[1], "ccccccc: note = \"x\" is not a count, left out");
        assert_eq!(notes[2], "ddddddd: skipped (no [budget] table)");
    }

    #[test]
    fn the_budget_files_own_history_parses() {
        let revs = revisions_in_git(&crate::workspace_root()).unwrap();
        let (parsed, _) = history(revs);
        assert!(parsed.iter().any(|r| r.budget.contains_key("parse")));
    }

    #[test]
    fn labels_powers_of_two_only() {
        assert_eq!(pow2_label(&4.0), "16");
        assert_eq!(pow2_label(&12.0), "4096");
        assert_eq!(pow2_label(&4.5), "");
        assert_eq!(pow2_label(&-1.0), "");
        assert_eq!(log2_span([16u64, 4096].into_iter()), (3.5, 12.5));
    }

    #[test]
    fn instructions_svg_names_every_path() {
        let rows = vec![
            row("parse", 16, 8, 1, 75),
            row("parse", 4096, 8, 1, 75),
            row("parse", 16, 64, 1, 76),
            row("uplink-to-vf", 8, 8, 1, 844),
            row("uplink-to-vf", 368, 8, 1, 848),
            row("wire-broadcast-decision", 16, 256, 1, 127),
            row("wire-broadcast-decision", 16, 256, 256, 3945),
            row("copy-64", 0, 0, 1, 72),
        ];
        let budget = BTreeMap::from([
            ("parse".into(), 78),
            ("wire-broadcast-decision-per-extra-destination".into(), 16),
        ]);
        let out = temp("instructions.svg");
        let report = crate::bench::summarise(rows, None);
        instructions(&report, &budget, "qemu-virt", &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.contains("<svg"));
        for name in [
            "qemu-virt: instructions per frame",
            "parse (worst 76)",
            "uplink-to-vf (worst 848)",
            "wire-broadcast-decision (15.0 per extra destination)",
            "budget +16/destination",
            "copy-64",
            "budget 78",
            "64 VFs",
            "4096",
        ] {
            assert!(svg.contains(name), "{name} missing");
        }
        let empty = crate::bench::summarise(vec![], None);
        assert!(instructions(&empty, &budget, "qemu-virt", &out).is_err());
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn history_svg_names_every_key() {
        let (revs, _) = history(vec![
            (
                "aaaaaaa".into(),
                "2026-11-23".into(),
                "[budget]\nparse = 292\nvf-to-vf = 1466\n".into(),
            ),
            (
                "ccccccc".into(),
                "2026-12-01".into(),
                "[budget]\nparse = 78\nvf-to-vf = 1328\n".into(),
            ),
        ]);
        let out = temp("budget-history.svg");
        budget_history(&revs, &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.contains("<svg"));
        for name in ["parse", "vf-to-vf", "11-23 aaaaaaa", "12-01 ccccccc"] {
            assert!(svg.contains(name), "{name} missing");
        }
        assert!(budget_history(&[], &out).is_err());
        std::fs::remove_file(out).unwrap();
    }
}
