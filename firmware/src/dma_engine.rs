//! DMA through the engine: for functions whose memory the core cannot map
//! (a VM's, reached only under its IOMMU mappings), each move is posted to
//! the window's [`DmaEngine`] and performed by the hardware, which checks
//! it against the function's mappings. Functions whose memory the core can
//! map go to `M` as before. The data path does not know the difference:
//! both are [`Dma`].

use core::sync::atomic::{Ordering, fence};
use hal::chip::{DMA_ENGINE_BUFFER, DmaEngine, HostInterface, dma_engine};
use hal::port::Dma;
use tock_registers::interfaces::{Readable, Writeable};

/// Polls of `done_seq` before a move is given up (a hardware that stopped
/// answering): the access fails as a DMA fault, and is counted.
pub const SPIN_LIMIT: u32 = 5_000_000;

/// What the engine did for the firmware.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    pub moves: u64,
    pub bytes: u64,
    /// Refused by the hardware (outside the function's mappings).
    pub refused: u64,
    /// Not answered within [`SPIN_LIMIT`] polls.
    pub timeouts: u64,
}

pub struct EngineDma<'a, M> {
    hw: &'a HostInterface,
    mapped: M,
    function: usize,
    remote: bool,
    pub counters: EngineCounters,
}

impl<'a, M: Dma> EngineDma<'a, M> {
    pub fn new(hw: &'a HostInterface, mapped: M) -> Self {
        EngineDma {
            hw,
            mapped,
            function: 0,
            remote: false,
            counters: EngineCounters::default(),
        }
    }

    /// One move of at most [`DMA_ENGINE_BUFFER`] bytes; true if done.
    fn post(&mut self, op: u32, addr: u64, len: usize) -> bool {
        let e: &DmaEngine = &self.hw.dma_engine;
        e.function.set(self.function as u32);
        e.op.set(op);
        e.len.set(len as u32);
        e.addr_lo.set(addr as u32);
        e.addr_hi.set((addr >> 32) as u32);
        let seq = e.req_seq.get().wrapping_add(1);
        fence(Ordering::Release);
        e.req_seq.set(seq);
        let mut spins = 0;
        while e.done_seq.get() != seq {
            spins += 1;
            if spins >= SPIN_LIMIT {
                self.counters.timeouts += 1;
                return false;
            }
            core::hint::spin_loop();
        }
        fence(Ordering::Acquire);
        if e.status.get() != dma_engine::DONE {
            self.counters.refused += 1;
            return false;
        }
        self.counters.moves += 1;
        self.counters.bytes += len as u64;
        true
    }
}

impl<M: Dma> Dma for EngineDma<'_, M> {
    fn requester(&mut self, function: usize) {
        self.function = function;
        self.remote = self
            .hw
            .function
            .get(function)
            .is_some_and(|b| b.dma_engine.get() != 0);
        self.mapped.requester(function);
    }

    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        if !self.remote {
            return self.mapped.read(addr, buf);
        }
        let mut at = addr;
        for chunk in buf.chunks_mut(DMA_ENGINE_BUFFER) {
            if !self.post(dma_engine::OP_READ, at, chunk.len()) {
                return false;
            }
            for (b, r) in chunk.iter_mut().zip(self.hw.dma_engine.buffer.iter()) {
                *b = r.get();
            }
            at = at.wrapping_add(chunk.len() as u64);
        }
        true
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        if !self.remote {
            return self.mapped.write(addr, data);
        }
        let mut at = addr;
        for chunk in data.chunks(DMA_ENGINE_BUFFER) {
            for (r, b) in self.hw.dma_engine.buffer.iter().zip(chunk) {
                r.set(*b);
            }
            if !self.post(dma_engine::OP_WRITE, at, chunk.len()) {
                return false;
            }
            at = at.wrapping_add(chunk.len() as u64);
        }
        true
    }

    fn read_desc(&mut self, addr: u64) -> Option<[u32; 4]> {
        if self.remote {
            hal::port::read_desc_bytes(self, addr)
        } else {
            self.mapped.read_desc(addr)
        }
    }

    /// Through the engine: words 0-1, then the status half in a second
    /// move, so that the driver never sees DD before the rest.
    fn write_desc(&mut self, addr: u64, words: [u32; 4]) -> bool {
        if self.remote {
            hal::port::write_desc_bytes(self, addr, words)
        } else {
            self.mapped.write_desc(addr, words)
        }
    }
}
