//! A QMP (QEMU Machine Protocol) client, the little of it the co-simulation
//! needs: the greeting, `qmp_capabilities`, then one command at a time
//! (`set_link` for the uplink's carrier). QMP is JSON lines over a Unix
//! socket; events that arrive between a command and its answer are
//! skipped.
//!
//! Hand-written rather than the `qapi` crate: that one generates every QMP
//! command's types from QEMU's schema (a large build) for the one command
//! used here.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to QEMU's `-qmp unix:PATH,server=on,wait=off`, waiting up to
    /// `wait` for QEMU to create the socket, and leaves capabilities
    /// negotiation mode.
    pub fn connect(path: &Path, wait: Duration) -> Result<Qmp> {
        let deadline = Instant::now() + wait;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(e).with_context(|| format!("QMP socket {}", path.display()));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        let greeting = qmp.read()?;
        if greeting.get("QMP").is_none() {
            bail!("QMP: expected the greeting, got {greeting}");
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    fn read(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).context("QMP: reading")? == 0 {
            bail!("QMP: QEMU closed the socket");
        }
        serde_json::from_str(&line).with_context(|| format!("QMP: not JSON: {line:?}"))
    }

    /// Runs one command; its `return` value, or its `error` as an error.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let msg = json!({ "execute": command, "arguments": arguments });
        self.writer
            .write_all(format!("{msg}\n").as_bytes())
            .context("QMP: writing")?;
        loop {
            let v = self.read()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                bail!(
                    "QMP {command}: {} ({})",
                    e["desc"].as_str().unwrap_or("?"),
                    e["class"].as_str().unwrap_or("?")
                );
            }
            // An asynchronous event ({"event": ...}): not our answer.
        }
    }

    /// `set_link NAME on|off`: the carrier of a NIC as its guest sees it.
    pub fn set_link(&mut self, name: &str, up: bool) -> Result<()> {
        self.execute("set_link", json!({ "name": name, "up": up }))
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A stand-in QEMU: greets, answers capabilities, sends an event
    /// before the answer, refuses an unknown NIC.
    #[test]
    fn commands_are_answered_past_events_and_errors_named() {
        let path = std::env::temp_dir().join(format!("qmp-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut said = Vec::new();
            writeln!(w, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
            for answer in [
                r#"{"return": {}}"#.to_owned(),
                format!(
                    "{}\n{}",
                    r#"{"event": "NIC_RX_FILTER_CHANGED", "data": {}}"#, r#"{"return": {}}"#
                ),
                r#"{"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}}"#
                    .to_owned(),
            ] {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                said.push(serde_json::from_str::<Value>(&line).unwrap());
                writeln!(w, "{answer}").unwrap();
            }
            said
        });
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        qmp.set_link("uplink0", false).unwrap();
        let e = qmp.set_link("nope", true).unwrap_err().to_string();
        assert!(e.contains("Device 'nope' not found"), "{e}");
        let said = server.join().unwrap();
        assert_eq!(said[0]["execute"], "qmp_capabilities");
        assert_eq!(
            said[1],
            json!({"execute": "set_link", "arguments": {"name": "uplink0", "up": false}})
        );
        let _ = std::fs::remove_file(&path);
    }
}
