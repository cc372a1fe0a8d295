//! The physical port under QEMU: virtio-net on virtio-mmio, driven by the
//! `virtio-drivers` crate (`VirtIONetRaw`), as a [`crate::port::Uplink`].
//!
//! DMA memory comes from a static pool (no heap), identity-mapped: QEMU
//! does not model caches, so Normal cacheable RAM is coherent with it.

use crate::board::devices::{VIRTIO_MMIO_SIZE, VIRTIO_MMIO_START};
use crate::port::Uplink;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// One virtio-mmio transport's register window.
const SLOT: usize = 0x200;
const MAGIC: u32 = 0x7472_6976;
const DEVICE_NET: u32 = 1;
/// Receive buffers posted (and virtqueue size).
pub const QUEUE: usize = 16;
/// A buffer: the virtio-net header and a jumbo frame.
const BUF: usize = 12 + 9736;
const PAGE: usize = 4096;
/// Pages for virtqueues.
const POOL_PAGES: usize = 16;

#[repr(C, align(4096))]
struct Pool(UnsafeCell<[u8; POOL_PAGES * PAGE]>);
// SAFETY: handed out once per page by the bump allocator below.
unsafe impl Sync for Pool {}
static POOL: Pool = Pool(UnsafeCell::new([0; POOL_PAGES * PAGE]));
static POOL_NEXT: AtomicUsize = AtomicUsize::new(0);

/// The `virtio-drivers` HAL: a static page pool, identity mapping.
pub struct StaticHal;

// SAFETY: pages are zeroed (in .bss, never reused), identity-mapped, and
// stay valid for the program's life.
unsafe impl Hal for StaticHal {
    fn dma_alloc(pages: usize, _dir: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let first = POOL_NEXT.fetch_add(pages, Ordering::Relaxed);
        assert!(first + pages <= POOL_PAGES, "virtio DMA pool exhausted");
        let p = POOL.0.get().cast::<u8>().wrapping_add(first * PAGE);
        (p as PhysAddr, NonNull::new(p).expect("pool is not at 0"))
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Virtqueues live as long as the firmware.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).expect("MMIO is not at 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _dir: BufferDirection) -> PhysAddr {
        buffer.cast::<u8>().as_ptr() as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _dir: BufferDirection) {}
}

type Net = virtio_drivers::device::net::VirtIONetRaw<StaticHal, MmioTransport<'static>, QUEUE>;

struct RxBuffers(UnsafeCell<[[u8; BUF]; QUEUE]>);
// SAFETY: owned by the one VirtioUplink (constructed once).
unsafe impl Sync for RxBuffers {}
static RX: RxBuffers = RxBuffers(UnsafeCell::new([[0; BUF]; QUEUE]));

/// Why the uplink could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UplinkError {
    /// No virtio-net device among the board's virtio-mmio transports.
    NotFound,
    /// The device refused initialisation.
    InitFailed,
}

/// virtio-net as the uplink.
pub struct VirtioUplink {
    net: Net,
    /// Which buffer each outstanding receive token uses.
    token_buf: [usize; QUEUE],
    rx: &'static mut [[u8; BUF]; QUEUE],
    pub mac: [u8; 6],
    pub rx_errors: u32,
    pub tx_errors: u32,
    /// The device's `status` config field (VIRTIO_NET_F_STATUS, which
    /// virtio-drivers negotiates but does not expose); `None` when the
    /// device does not offer it, and then the link counts as up.
    status: Option<*const u16>,
}

/// virtio-mmio DeviceFeatures and DeviceFeaturesSel.
const DEVICE_FEATURES: usize = 0x10;
const DEVICE_FEATURES_SEL: usize = 0x14;
/// VIRTIO_NET_F_STATUS, in feature word 0.
const F_STATUS: u32 = 1 << 16;

/// Where a virtio-mmio transport's device config starts.
const CONFIG: usize = 0x100;
/// virtio-net config: `status` follows the 6-byte MAC.
const CONFIG_STATUS: usize = 6;
const STATUS_LINK_UP: u16 = 1;

impl VirtioUplink {
    /// Finds the first virtio-net transport and posts every receive buffer.
    /// Call once.
    pub fn probe() -> Result<VirtioUplink, UplinkError> {
        let slots = VIRTIO_MMIO_SIZE / SLOT;
        let slot = (0..slots)
            .map(|i| VIRTIO_MMIO_START + i * SLOT)
            .find(|&base| {
                // SAFETY: inside the board's virtio-mmio region (device memory).
                let (magic, id) = unsafe {
                    (
                        (base as *const u32).read_volatile(),
                        ((base + 8) as *const u32).read_volatile(),
                    )
                };
                magic == MAGIC && id == DEVICE_NET
            })
            .ok_or(UplinkError::NotFound)?;
        // SAFETY: the transport's registers, before anyone drives it (the
        // driver selects its own feature word during initialisation).
        let offers_status = unsafe {
            ((slot + DEVICE_FEATURES_SEL) as *mut u32).write_volatile(0);
            ((slot + DEVICE_FEATURES) as *const u32).read_volatile() & F_STATUS != 0
        };
        // SAFETY: a virtio-mmio header with its config space, SLOT bytes,
        // used only by this driver.
        let transport = unsafe {
            MmioTransport::new(
                NonNull::new(slot as *mut VirtIOHeader).ok_or(UplinkError::NotFound)?,
                SLOT,
            )
        }
        .map_err(|_| UplinkError::InitFailed)?;
        let mut net = Net::new(transport).map_err(|_| UplinkError::InitFailed)?;
        let mac = net.mac_address();
        // SAFETY: probe runs once; the buffers are ours from here on.
        let rx = unsafe { &mut *RX.0.get() };
        let mut token_buf = [0; QUEUE];
        for (i, buf) in rx.iter_mut().enumerate() {
            // SAFETY: the buffer is static and stays posted until completed.
            let token = unsafe { net.receive_begin(buf) }.map_err(|_| UplinkError::InitFailed)?;
            token_buf[usize::from(token) % QUEUE] = i;
        }
        Ok(VirtioUplink {
            net,
            token_buf,
            rx,
            mac,
            rx_errors: 0,
            tx_errors: 0,
            status: offers_status.then_some((slot + CONFIG + CONFIG_STATUS) as *const u16),
        })
    }
}

impl Uplink for VirtioUplink {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let token = self.net.poll_receive()?;
        let i = self.token_buf[usize::from(token) % QUEUE];
        let rxbuf = &mut self.rx[i];
        // SAFETY: this token was posted with this buffer.
        let got = unsafe { self.net.receive_complete(token, rxbuf) };
        let n = match got {
            Ok((hdr, len)) => {
                let n = len.min(buf.len());
                // The 12-byte header leaves the frame 4-aligned only.
                crate::mem::copy(&mut buf[..n], &rxbuf[hdr..hdr + n]);
                Some(len)
            }
            Err(_) => {
                self.rx_errors += 1;
                None
            }
        };
        // Post the buffer again.
        // SAFETY: as at probe.
        match unsafe { self.net.receive_begin(rxbuf) } {
            Ok(t) => self.token_buf[usize::from(t) % QUEUE] = i,
            Err(_) => self.rx_errors += 1,
        }
        n
    }

    fn transmit(&mut self, frame: &[u8]) -> bool {
        match self.net.send(frame) {
            Ok(()) => true,
            Err(_) => {
                self.tx_errors += 1;
                false
            }
        }
    }

    fn link_up(&self) -> bool {
        match self.status {
            // SAFETY: the transport's config space (device memory), read only.
            Some(status) => unsafe { status.read_volatile() & STATUS_LINK_UP != 0 },
            None => true,
        }
    }
}
