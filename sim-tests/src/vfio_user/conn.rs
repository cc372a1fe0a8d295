//! One vfio-user connection: whole messages in and out of a UNIX stream
//! socket, with the file descriptors that come with them (SCM_RIGHTS).

use super::protocol::{HEADER, Header, MAX_MSG_FDS};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Why a connection ends.
#[derive(Debug)]
pub enum ConnError {
    /// The client closed it (between messages, or in the middle of one).
    Closed,
    /// A size the stream cannot be resynchronised after (the rest of the
    /// message cannot be told from the next one).
    BadSize(u32),
    Io(io::Error),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Closed => write!(f, "the client closed the connection"),
            ConnError::BadSize(s) => write!(f, "message size {s} out of range"),
            ConnError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => ConnError::Closed,
            _ => ConnError::Io(e),
        }
    }
}

/// A message as it arrived.
pub struct Message {
    pub header: Header,
    pub body: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

pub struct Conn {
    pub stream: UnixStream,
}

/// A client that stalls in the middle of a message this long is dropped.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(2);

impl Conn {
    pub fn new(stream: UnixStream) -> io::Result<Conn> {
        stream.set_read_timeout(Some(MESSAGE_TIMEOUT))?;
        stream.set_write_timeout(Some(MESSAGE_TIMEOUT))?;
        Ok(Conn { stream })
    }

    /// Reads one whole message (call when the socket is readable).
    pub fn receive(&mut self) -> Result<Message, ConnError> {
        let mut head = [0u8; HEADER];
        let (n, fds) = recv_with_fds(&self.stream, &mut head)?;
        if n == 0 {
            return Err(ConnError::Closed);
        }
        self.stream.read_exact(&mut head[n..])?;
        let header = Header::parse(&head);
        let len = header
            .body_len()
            .map_err(|_| ConnError::BadSize(header.size))?;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        Ok(Message { header, body, fds })
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(bytes)?;
        Ok(())
    }
}

/// `recvmsg` into `buf` (at most its length), collecting descriptors.
fn recv_with_fds(s: &UnixStream, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    const SPACE: usize = unsafe { libc::CMSG_SPACE((MAX_MSG_FDS * 4) as u32) } as usize;
    let mut control = [0u8; SPACE];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: zeroed msghdr, then every pointer set to live buffers above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = SPACE as _;
    let n = loop {
        // SAFETY: msg describes valid buffers for the call's duration.
        let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: walking the control buffer the kernel filled, with its macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<i32>();
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        // More descriptors than we take: what arrived is closed (dropped
        // with `fds`), and the message is refused by its handler.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "more file descriptors than max_msg_fds",
        ));
    }
    Ok((n, fds))
}

/// `sendmsg` of `bytes` with descriptors (the client's side; tests).
pub fn send_with_fds(s: &UnixStream, bytes: &[u8], fds: &[i32]) -> io::Result<()> {
    let space = unsafe { libc::CMSG_SPACE((fds.len() * 4) as u32) } as usize;
    let mut control = vec![0u8; space.max(1)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut _,
        iov_len: bytes.len(),
    };
    // SAFETY: as in `recv_with_fds`; the control buffer holds one header
    // and `fds`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as _;
            let data = libc::CMSG_DATA(c).cast::<i32>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(*fd);
            }
        }
        let n = libc::sendmsg(s.as_raw_fd(), &msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if (n as usize) < bytes.len() {
            (&*s).write_all(&bytes[n as usize..])?;
        }
    }
    Ok(())
}
