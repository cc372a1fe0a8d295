//! Decoding the firmware's log: defmt frames from the UART, turned into
//! lines with level, timestamp and source location using the image's ELF.

use anyhow::{Context, Result, bail};
use defmt_decoder::{DecodeError, Locations, StreamDecoder, Table};
use std::fmt;
use std::path::Path;

/// One decoded log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`, or `DECODER` for a
    /// problem the decoder itself reports.
    pub level: String,
    /// Seconds since boot as the firmware stamped it, e.g. `0.012345`.
    pub timestamp: String,
    pub message: String,
    /// `file:line` of the log statement, relative to the workspace.
    pub location: Option<String>,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>11} {:<5} {}",
            self.timestamp, self.level, self.message
        )?;
        if let Some(loc) = &self.location {
            write!(f, "  ({loc})")?;
        }
        Ok(())
    }
}

/// A stream decoder for one image.
pub struct LogDecoder {
    table: &'static Table,
    locations: Locations,
    stream: Box<dyn StreamDecoder + Send + Sync + 'static>,
    /// Paths are shown relative to this.
    root: String,
    malformed: usize,
}

impl LogDecoder {
    /// Reads the defmt table and the source locations from an ELF.
    pub fn from_elf(elf_path: &Path, workspace_root: &Path) -> Result<Self> {
        let elf = std::fs::read(elf_path)
            .with_context(|| format!("reading the firmware ELF {}", elf_path.display()))?;
        let Some(table) = Table::parse(&elf)
            .with_context(|| format!("reading the defmt table of {}", elf_path.display()))?
        else {
            bail!(
                "{} has no defmt table: it was not linked with -Tdefmt.x",
                elf_path.display()
            );
        };
        let locations = table.get_locations(&elf).unwrap_or_default();
        // The table lives as long as the tool; a decoder borrows it.
        let table: &'static Table = Box::leak(Box::new(table));
        Ok(Self {
            table,
            locations,
            stream: table.new_stream_decoder(),
            root: format!("{}/", workspace_root.display()),
            malformed: 0,
        })
    }

    /// Frames that could not be decoded and were skipped.
    pub fn malformed_frames(&self) -> usize {
        self.malformed
    }

    /// Feeds received bytes; returns the lines completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<LogLine> {
        self.stream.received(bytes);
        let mut lines = Vec::new();
        loop {
            match self.stream.decode() {
                Ok(frame) => {
                    let location = self.locations.get(&frame.index()).map(|l| {
                        let file = l.file.display().to_string();
                        let file = file.strip_prefix(&self.root).unwrap_or(&file).to_owned();
                        format!("{file}:{}", l.line)
                    });
                    lines.push(LogLine {
                        level: frame.level().map_or("PRINT", |l| l.as_str()).to_uppercase(),
                        timestamp: frame
                            .display_timestamp()
                            .map(|t| t.to_string())
                            .unwrap_or_default(),
                        message: frame.display_message().to_string(),
                        location,
                    });
                }
                Err(DecodeError::UnexpectedEof) => break,
                Err(DecodeError::Malformed) => {
                    self.malformed += 1;
                    lines.push(LogLine {
                        level: "DECODER".into(),
                        timestamp: String::new(),
                        message: "skipped a malformed frame".into(),
                        location: None,
                    });
                    if !self.table.encoding().can_recover() {
                        break;
                    }
                }
            }
        }
        lines
    }
}
