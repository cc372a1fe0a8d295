//! The control socket of a running `cargo xtask run --forever`, and
//! `cargo xtask ip`, its client: one request per connection, the `ip`
//! words as a JSON array on one line; the answer a JSON object with the
//! exit status and what `ip` would print (or the error).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `run --forever` listens unless told otherwise.
pub fn default_path() -> PathBuf {
    crate::target_dir().join("run").join("control.sock")
}

/// How long one request may take to arrive or be answered.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The listening end; the socket file goes when this does.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Listens at `path`, refusing if another run answers there (a socket
    /// file nobody answers on is left over from a killed run: replaced).
    pub fn bind(path: &Path) -> Result<ControlSocket> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                bail!(
                    "{}: another `cargo xtask run --forever` is serving there (stop it, or give --control another path)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing the stale socket {}", path.display()))?;
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
        listener.set_nonblocking(true)?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers the requests waiting now (never blocks for a new one):
    /// `handle` gets the words and returns the status and the text.
    pub fn serve_pending(&self, mut handle: impl FnMut(&[String]) -> (i32, String)) {
        while let Ok((stream, _)) = self.listener.accept() {
            if let Err(e) = answer(stream, &mut handle) {
                eprintln!("control socket: a request failed: {e:#}");
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn answer(stream: UnixStream, handle: &mut impl FnMut(&[String]) -> (i32, String)) -> Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .take(64 * 1024)
        .read_line(&mut line)
        .context("reading the request")?;
    let reply = match serde_json::from_str::<Vec<String>>(&line) {
        Ok(words) => {
            let (status, output) = handle(&words);
            json!({ "status": status, "output": output })
        }
        Err(e) => json!({
            "status": 2,
            "output": format!("the request is not a JSON array of words: {e}\n"),
        }),
    };
    (&stream).write_all(format!("{reply}\n").as_bytes())?;
    Ok(())
}

/// `cargo xtask ip WORDS`: sends the words, prints the answer; the exit
/// status is `ip`'s (0 done, 1 the firmware refused, 2 a bad command).
pub fn client(path: &Path, words: &[String]) -> Result<i32> {
    let stream = UnixStream::connect(path).with_context(|| {
        format!(
            "no firmware answers on {} (start one with `cargo xtask run --forever`)",
            path.display()
        )
    })?;
    stream.set_read_timeout(Some(IO_TIMEOUT * 2))?;
    (&stream).write_all(format!("{}\n", json!(words)).as_bytes())?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .context("reading the answer")?;
    let reply: Value =
        serde_json::from_str(&line).with_context(|| format!("the answer is not JSON: {line:?}"))?;
    let status = reply["status"].as_i64().unwrap_or(1) as i32;
    let output = reply["output"].as_str().unwrap_or_default();
    if status == 0 {
        print!("{output}");
    } else {
        eprint!("{output}");
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_answered_and_a_second_server_refused() {
        let dir = std::env::temp_dir().join(format!("xtask-control-{}", std::process::id()));
        let path = dir.join("c.sock");
        let server = ControlSocket::bind(&path).unwrap();
        assert!(ControlSocket::bind(&path).is_err());
        let words: Vec<String> = vec!["link".into(), "show".into()];
        let client = std::thread::spawn({
            let path = path.clone();
            move || client(&path, &words).unwrap()
        });
        let mut seen = Vec::new();
        while !client.is_finished() {
            server.serve_pending(|w| {
                seen = w.to_vec();
                (1, "refused\n".into())
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(client.join().unwrap(), 1);
        assert_eq!(seen, ["link", "show"]);
        drop(server);
        assert!(!path.exists(), "the socket file goes with the server");
        // A leftover file nobody answers on is replaced.
        std::fs::write(&path, b"").unwrap();
        let again = ControlSocket::bind(&path).unwrap();
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
