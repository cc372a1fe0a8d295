//! Copying and moving frames under strict alignment.
//!
//! `aarch64-unknown-none` is built with strict alignment. There,
//! `compiler_builtins`' `memcpy` copies a source and destination that are
//! not 8-byte aligned alike one byte at a time, at about four instructions
//! a byte. Frames are often only 4-aligned alike: a VLAN tag went in or out,
//! or a virtio-net header of 12 bytes sits in front. [`copy`] moves such
//! bytes a word at a time. It is written here because no crate does this
//! for a strict-alignment target: the generic `memcpy`s are what it avoids.

/// Copies `src` into `dst` (the shorter length), in the widest unit the
/// two share: 8-byte alignment alike goes to `copy_from_slice` (`memcpy`'s
/// word loop); 4-byte alignment alike is copied as 32-bit words here;
/// anything else, bytes. Inline, so that the common case costs a test
/// and the same `memcpy` call as before.
#[inline]
pub fn copy(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let skew = (dst.as_ptr() as usize ^ src.as_ptr() as usize) & 7;
    if skew != 4 {
        dst.copy_from_slice(src);
    } else {
        copy_skewed_by_4(dst, src);
    }
}

/// [`copy`] for two slices of the same length 4 bytes apart in alignment.
#[inline(never)]
fn copy_skewed_by_4(dst: &mut [u8], src: &[u8]) {
    let n = dst.len();
    // Both 4-aligned after the same number of leading bytes.
    let head = dst.as_ptr().align_offset(4).min(n);
    dst[..head].copy_from_slice(&src[..head]);
    let words = (n - head) / 4;
    let body = head + 4 * words;
    let d = dst[head..body].as_mut_ptr().cast::<u32>();
    let s = src[head..body].as_ptr().cast::<u32>();
    for i in 0..words {
        // SAFETY: `i < words` keeps both inside their slices; both are
        // 4-aligned (`head`, and the skew of 4); any bits are a u32. The
        // volatile read keeps LLVM from turning the loop back into the
        // `memcpy` call this avoids.
        unsafe { d.add(i).write(s.add(i).read_volatile()) };
    }
    dst[body..].copy_from_slice(&src[body..]);
}

/// Moves `buf[from..from + len]` to `buf[to..]`, `to` below `from` (the
/// ranges may overlap): as 32-bit words, front to back, when both ends are
/// 4-aligned, which is what a tag pushed in front of the addresses needs
/// (12 bytes 4 back); `copy_within` (a `memmove` call, bytes under strict
/// alignment) otherwise. Front to back is right for a move down: each word
/// is read before anything at or after it is written.
#[inline]
pub fn move_down(buf: &mut [u8], from: usize, to: usize, len: usize) {
    assert!(
        to <= from && from + len <= buf.len(),
        "move_down out of range"
    );
    let base = buf.as_mut_ptr();
    let aligned = |off: usize| (base as usize + off).is_multiple_of(4);
    if !(aligned(from) && aligned(to)) {
        buf.copy_within(from..from + len, to);
        return;
    }
    let words = len / 4;
    for i in 0..words {
        // SAFETY: inside `buf` (asserted above), 4-aligned (checked), and
        // word `i` of the source is read before word `i` of the destination,
        // at or below it, is written: no byte is read after it changed.
        unsafe {
            let w = base.add(from + 4 * i).cast::<u32>().read();
            base.add(to + 4 * i).cast::<u32>().write(w);
        }
    }
    if !len.is_multiple_of(4) {
        buf.copy_within(from + 4 * words..from + len, to + 4 * words);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alignment, distance and length a pushed tag can meet: the
    /// bytes match `copy_within`'s, and nothing around them changes.
    #[test]
    fn moves_down_like_copy_within() {
        let pattern: std::vec::Vec<u8> = (0..64u32).map(|i| (i * 13 + 5) as u8).collect();
        for to in 0..8 {
            for gap in 0..9 {
                for len in 0..20 {
                    let from = to + gap;
                    let mut want = pattern.clone();
                    want.copy_within(from..from + len, to);
                    let mut got = pattern.clone();
                    move_down(&mut got, from, to, len);
                    assert_eq!(got, want, "to {to} gap {gap} len {len}");
                }
            }
        }
    }

    /// Every alignment of each side and every length a small frame has:
    /// the bytes match `copy_from_slice`'s. Under Miri, every fifth length
    /// (still every length mod 4, and bodies of several words): all 70
    /// take it most of a minute.
    #[test]
    fn copies_like_copy_from_slice() {
        let pattern: std::vec::Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for src_at in 0..8 {
            for dst_at in 0..8 {
                for len in (0..70).step_by(if cfg!(miri) { 5 } else { 1 }) {
                    let src = &pattern[src_at..src_at + len];
                    let mut dst = [0xaau8; 96];
                    copy(&mut dst[dst_at..dst_at + len], src);
                    assert_eq!(&dst[dst_at..dst_at + len], src, "{src_at} {dst_at} {len}");
                    assert!(dst[..dst_at].iter().all(|&b| b == 0xaa));
                    assert!(dst[dst_at + len..].iter().all(|&b| b == 0xaa));
                }
            }
        }
    }

    #[test]
    fn copies_the_shorter_length() {
        let mut dst = [0u8; 4];
        copy(&mut dst, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(dst, [1, 2, 3, 4]);
        let mut dst = [9u8; 6];
        copy(&mut dst, &[1, 2]);
        assert_eq!(dst, [1, 2, 9, 9, 9, 9]);
    }
}
