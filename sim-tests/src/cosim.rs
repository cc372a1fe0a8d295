//! The co-simulation: the firmware image under QEMU serves the hardware
//! model in this process through a shared file (QEMU's ivshmem BAR in the
//! guest, a memory mapping here). The drivers are the same as in-process:
//! `CoSim` is one more [`Transport`]. Time is real: delays sleep.

use crate::capture::{Capture, Direction, PortCapture};
use crate::defmt_log::LogLine;
use crate::hostmem::HostMemory;
use crate::model::Model;
use crate::qemu::{Ending, Outcome, QemuRun};
use crate::sniff::TapSniffer;
use crate::transport::Transport;
use crate::window::Window;
use anyhow::{Context, Result, bail};
use board_config::BoardConfig;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the heartbeat may stand still before the firmware is declared
/// stopped.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the physical port goes.
#[derive(Clone, Debug, Default)]
pub enum Wire {
    /// A UDP socket in this process (one datagram = one frame).
    #[default]
    Udp,
    /// A TAP device (real Linux networking); frames do not pass through
    /// this process (a capture sniffs the TAP: `crate::sniff`).
    Tap(String),
    /// No uplink device at all.
    None,
}

pub struct CoSimOptions {
    /// The physical port.
    pub wire: Wire,
    /// Print the firmware's log as it arrives.
    pub echo_log: bool,
    /// Kill QEMU after this long whatever happens.
    pub timeout: Duration,
    /// More QEMU arguments (the uplink netdev).
    pub extra_args: Vec<String>,
}

impl CoSimOptions {
    /// For tests and tools: no log echo, a 120 s limit, nothing extra.
    pub fn quiet(wire: Wire) -> Self {
        CoSimOptions {
            wire,
            echo_log: false,
            timeout: Duration::from_secs(120),
            extra_args: Vec::new(),
        }
    }
}

/// QEMU's id of the uplink's virtio-net (what `set_link` names).
pub const UPLINK_NIC: &str = "uplink0";

/// A running co-simulation.
pub struct CoSim {
    pub model: Model,
    shm: PathBuf,
    runner: Option<JoinHandle<Result<Outcome>>>,
    lines: Arc<Mutex<Vec<LogLine>>>,
    last_beat: (u32, Instant),
    /// Set when the heartbeat stood still for [`HEARTBEAT_TIMEOUT`].
    pub stalled: bool,
    /// This process's end of the wire, and QEMU's address.
    udp: Option<(std::net::UdpSocket, std::net::SocketAddr)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    qmp_path: PathBuf,
    qmp: Option<crate::qmp::Qmp>,
    /// The TAP the uplink is on, if it is.
    tap: Option<String>,
    /// The run's clock (`Transport::now_ns`): real time since start.
    started: Instant,
    /// When QEMU is killed whatever happens ([`CoSimOptions::timeout`]).
    timeout: Duration,
    /// Records every frame on the UDP wire (what this process sends in
    /// and receives from the firmware's uplink).
    wire_capture: Option<PortCapture>,
    /// Records the TAP instead, under `Wire::Tap`.
    sniffer: Option<TapSniffer>,
}

impl CoSim {
    /// Creates the shared file, attaches the model, boots the image in
    /// serve mode.
    pub fn start(
        board: &BoardConfig,
        elf: &Path,
        workspace_root: &Path,
        opts: CoSimOptions,
    ) -> Result<CoSim> {
        let Some(shm) = board.shared_memory else {
            bail!(
                "board {} has no [shared_memory] window: it cannot be co-simulated \
                 (the window is an ivshmem BAR on a PCI bus{}); boot it alone with \
                 `--append mode=selftest`",
                board.board.name,
                if board.devices.pcie_ecam.is_none() {
                    ", and the board has none"
                } else {
                    ""
                }
            );
        };
        if shm.bus != board_config::WindowBus::Pcie {
            bail!(
                "board {}'s window is on the AXI bus at {:#x} (silicon: the programmable \
                 logic's register file): QEMU has nothing there to share, so it cannot be \
                 co-simulated",
                board.board.name,
                shm.start
            );
        }
        let total_vfs = board.capacities.total_vfs;
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("sriov-fw-{}-{}", std::process::id(), unique()));
        let qmp_path = path.with_extension("qmp");
        let window = Rc::new(Window::create_shared(&path, shm.size as usize)?);
        let memory = HostMemory::in_window(Rc::clone(&window), total_vfs).with_context(|| {
            format!(
                "the board's window ({:#x} bytes) cannot hold host memory for {} functions",
                shm.size,
                total_vfs + 1
            )
        })?;
        let model = Model::with_window(window, memory, total_vfs);
        let started = Instant::now();

        let mut run = QemuRun::for_board(board, elf)?;
        run.append = Some("mode=serve".into());
        run.timeout = Some(opts.timeout);
        run.extra_args = vec![
            "-object".into(),
            format!(
                "memory-backend-file,id=hostmem,share=on,mem-path={},size={}",
                path.display(),
                shm.size
            ),
            "-device".into(),
            "ivshmem-plain,memdev=hostmem".into(),
            // The uplink's carrier is toggled through QMP (`set_link`).
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", qmp_path.display()),
        ];
        let mut udp = None;
        match &opts.wire {
            Wire::Udp => {
                let sock = std::net::UdpSocket::bind("127.0.0.1:0")
                    .context("binding the wire's UDP port")?;
                sock.set_nonblocking(true)?;
                let host_port = sock.local_addr()?.port();
                // A free port for QEMU's end (bound, read, released).
                let qemu_port = std::net::UdpSocket::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                run.extra_args.extend([
                    "-device".into(),
                    format!("virtio-net-device,netdev=n0,id={UPLINK_NIC}"),
                    "-netdev".into(),
                    format!(
                        "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={qemu_port},\
                         remote.type=inet,remote.host=127.0.0.1,remote.port={host_port}"
                    ),
                ]);
                udp = Some((
                    sock,
                    std::net::SocketAddr::from(([127, 0, 0, 1], qemu_port)),
                ));
            }
            Wire::Tap(name) => run.extra_args.extend([
                "-device".into(),
                format!("virtio-net-device,netdev=n0,id={UPLINK_NIC}"),
                "-netdev".into(),
                format!("tap,id=n0,ifname={name},script=no,downscript=no"),
            ]),
            Wire::None => {}
        }
        run.extra_args.extend(opts.extra_args);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        run.stop = Some(Arc::clone(&stop));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let root = workspace_root.to_owned();
        let echo = opts.echo_log;
        let runner = std::thread::spawn(move || {
            run.run(&root, |l| {
                if echo {
                    println!("{l}");
                }
                sink.lock().expect("log lock").push(l.clone());
            })
        });
        Ok(CoSim {
            model,
            shm: path,
            runner: Some(runner),
            lines,
            last_beat: (0, Instant::now()),
            stalled: false,
            timeout: opts.timeout,
            udp,
            stop,
            qmp_path,
            qmp: None,
            tap: match &opts.wire {
                Wire::Tap(name) => Some(name.clone()),
                _ => None,
            },
            started,
            wire_capture: None,
            sniffer: None,
        })
    }

    /// The shared file behind the window (removed when this is dropped).
    pub fn window_path(&self) -> &Path {
        &self.shm
    }

    /// Sets the uplink's carrier as the firmware's virtio-net sees it
    /// (QMP `set_link`); the firmware notices on its next poll.
    pub fn set_uplink_link(&mut self, up: bool) -> Result<()> {
        if self.qmp.is_none() {
            self.qmp = Some(crate::qmp::Qmp::connect(
                &self.qmp_path,
                Duration::from_secs(5),
            )?);
        }
        self.qmp
            .as_mut()
            .expect("connected above")
            .set_link(UPLINK_NIC, up)
    }

    /// Records the wire as port `wire` of `capture`: frames into the
    /// firmware inbound, frames from it outbound. Under a TAP, a thread
    /// sniffs the TAP (root or CAP_NET_RAW).
    pub fn capture_wire(&mut self, capture: &Capture) -> Result<()> {
        let port = capture.port("wire")?;
        match &self.tap {
            Some(name) => self.sniffer = Some(TapSniffer::start(name, port, self.started)?),
            None => self.wire_capture = Some(port),
        }
        Ok(())
    }

    /// Whether QEMU is still running.
    pub fn running(&self) -> bool {
        self.runner.as_ref().is_some_and(|r| !r.is_finished())
    }

    /// Kills QEMU (the run ends as if signalled).
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The firmware's log so far.
    pub fn log(&self) -> Vec<LogLine> {
        self.lines.lock().expect("log lock").clone()
    }

    /// Waits for QEMU to end (after a shutdown, or its timeout).
    pub fn finish(mut self) -> Result<Outcome> {
        let runner = self.runner.take().expect("finish once");
        let outcome = runner
            .join()
            .map_err(|_| anyhow::anyhow!("the QEMU runner panicked"))??;
        // After QEMU: the TAP's last frames are in.
        if let Some(mut sniffer) = self.sniffer.take() {
            sniffer.stop()?;
        }
        Ok(outcome)
    }

    /// Sends a frame into the firmware's uplink (false without a UDP wire).
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        let now = self.now_ns();
        let sent = match &self.udp {
            Some((sock, qemu)) => sock.send_to(frame, qemu).is_ok(),
            None => false,
        };
        if let (true, Some(c)) = (sent, self.wire_capture.as_mut()) {
            c.record(now, Direction::Inbound, frame);
        }
        sent
    }

    /// Frames the firmware sent to the wire so far.
    pub fn take_wire(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some((sock, _)) = &self.udp {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                out.push(buf[..n].to_vec());
            }
        }
        let now = self.now_ns();
        if let Some(c) = self.wire_capture.as_mut() {
            for f in &out {
                c.record(now, Direction::Outbound, f);
            }
        }
        out
    }

    fn watch_heartbeat(&mut self) {
        let beat = {
            use tock_registers::interfaces::Readable;
            self.model.regs().global.heartbeat.get()
        };
        if beat != self.last_beat.0 {
            self.last_beat = (beat, Instant::now());
            self.stalled = false;
        } else if self.last_beat.1.elapsed() > HEARTBEAT_TIMEOUT && !self.stalled {
            self.stalled = true;
            eprintln!(
                "the firmware stopped answering: heartbeat stuck at {beat} for {HEARTBEAT_TIMEOUT:?}{}",
                if self.running() {
                    String::new()
                } else if self.started.elapsed() >= self.timeout {
                    format!(
                        " (QEMU was killed at the co-simulation's {} s timeout)",
                        self.timeout.as_secs()
                    )
                } else {
                    " (QEMU has exited)".into()
                }
            );
        }
    }
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Drop for CoSim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.shm);
        let _ = std::fs::remove_file(&self.qmp_path);
    }
}

impl Transport for CoSim {
    fn config_read(&mut self, rid: u16, offset: u16, size: u8) -> u32 {
        self.model.sync();
        self.model.config_read(rid, offset, size)
    }

    fn config_write(&mut self, rid: u16, offset: u16, size: u8, value: u32) {
        self.model.config_write(rid, offset, size, value);
    }

    fn bar_read32(&mut self, rid: u16, offset: u32) -> u32 {
        self.model.bar_read32(rid, offset)
    }

    fn bar_write32(&mut self, rid: u16, offset: u32, value: u32) {
        self.model.bar_write32(rid, offset, value);
    }

    fn delay_us(&mut self, us: u64) {
        let d = Duration::from_micros(us);
        if d < Duration::from_micros(100) {
            // Short polls: give the firmware's core the CPU briefly.
            let until = Instant::now() + d;
            while Instant::now() < until {
                std::thread::yield_now();
            }
        } else {
            std::thread::sleep(d);
        }
        self.model.advance(us * 1000);
        self.model.sync();
        self.watch_heartbeat();
    }

    fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    fn dma_alloc(&mut self, rid: u16, len: u64, align: u64) -> Option<u64> {
        self.model.dma_alloc(rid, len, align)
    }

    fn dma_write(&mut self, addr: u64, data: &[u8]) -> bool {
        self.model.host_memory.write(addr, data)
    }

    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        self.model.host_memory.read(addr, buf)
    }

    fn take_interrupts(&mut self, rid: u16) -> u32 {
        self.model.take_interrupts(rid)
    }
}

/// Whether an outcome is the firmware's own clean exit.
pub fn clean_exit(outcome: &Outcome) -> bool {
    outcome.ending == Ending::Exited(0)
}

impl crate::scenario::Harness for CoSim {
    fn real_time(&self) -> bool {
        true
    }

    fn set_uplink(&mut self, up: bool) {
        match self.set_uplink_link(up) {
            // The firmware polls the carrier; give it a moment.
            Ok(()) => self.delay_us(5_000),
            Err(e) => eprintln!("co-simulation: setting the uplink's link failed: {e:#}"),
        }
    }

    fn inject(&mut self, frame: &[u8]) {
        CoSim::inject(self, frame);
        // Let the firmware take it: it polls continuously.
        self.delay_us(2_000);
    }

    fn take_wire(&mut self) -> Vec<Vec<u8>> {
        self.delay_us(2_000);
        CoSim::take_wire(self)
    }

    fn set_uplink_tx_limit(&mut self, _n: usize) {
        eprintln!("co-simulation: the wire always takes frames; step ignored");
    }
}
