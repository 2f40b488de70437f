//! The binary's global allocator: the process's first allocations come from a fixed arena, the
//! rest from the system allocator.
//!
//! A cached `sidekey token` makes about 300 allocations, most of them freed before it exits; with
//! musl's allocator (the static binary of the image) they were 40 % of its instructions, and its
//! mapping and unmapping of small groups 37 of its 107 system calls (docs/benchmarks.md,
//! "`sidekey token` against a process spawn: the command line on demand, an arena, signals").
//! From the arena an allocation is one atomic compare-and-swap, a free nothing (or, for the
//! newest block, handing it back), and the pages are contiguous, in `.bss`: no system call,
//! fewer page faults.
//!
//! Once the arena is used up every allocation goes to the system allocator, which frees: the
//! daemon spends the arena on its start-up (its config, its routes, its first requests) and then
//! runs as before. Memory freed in the arena is not reused, except the newest block's (a growing
//! `Vec` or `String` grows in place at the top). At most the arena's size is held that way,
//! [`ARENA_BYTES`].
//!
//! `mimalloc` was measured instead first: a cached `token` ran more instructions with it than
//! with musl's (421,720 against 291,672: it prepares a fresh page per size class on first use).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The size of the binary's arena: a cached `token` fits in it with room to spare.
pub const ARENA_BYTES: usize = 256 * 1024;

/// A bump arena of `N` bytes in front of [`System`].
pub struct Arena<const N: usize> {
    bytes: UnsafeCell<[u8; N]>,
    /// Bytes handed out from the start of `bytes` (the top of the arena).
    used: AtomicUsize,
}

// SAFETY: `bytes` is only reached through disjoint ranges, each handed out once by an atomic
// compare-and-swap on `used` (a range comes back only while it is the top one, by the same swap).
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Arena {
            bytes: UnsafeCell::new([0; N]),
            used: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> *mut u8 {
        self.bytes.get().cast::<u8>()
    }

    /// The block's offset in the arena, when it is one of the arena's.
    fn offset(&self, p: *mut u8) -> Option<usize> {
        let off = p.addr().wrapping_sub(self.base().addr());
        (off < N).then_some(off)
    }

    /// Bytes handed out so far (for tests and measurements).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base().addr();
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            // `align` is a power of two; the block starts at an aligned address.
            let start = (base + used).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size())?;
            if end > N {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(used, end, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: start + size <= N: inside the arena.
                Ok(_) => return Some(unsafe { self.base().add(start) }),
                Err(now) => used = now,
            }
        }
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// Not inlined: not into the thousands of places that allocate (246 KB more code when it was).
// SAFETY: every block is either a range of the arena handed out once (see `Sync`) and aligned
// as asked, or the system allocator's, given back to it; `offset` tells the two apart.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: the caller's layout, as GlobalAlloc requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => {
                // A block handed back may be handed out again: not necessarily zero any more.
                // SAFETY: the block just handed out, `layout.size()` bytes.
                unsafe { ptr::write_bytes(p, 0, layout.size()) };
                p
            }
            // SAFETY: the caller's layout.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match self.offset(p) {
            // The newest block goes back to the arena; any other stays used.
            Some(off) => {
                let _ = self.used.compare_exchange(
                    off + layout.size(),
                    off,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            // SAFETY: a block of the system allocator, with the layout it was allocated with.
            None => unsafe { System.dealloc(p, layout) },
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(off) = self.offset(p) else {
            // SAFETY: a block of the system allocator; the caller's layout and size.
            return unsafe { System.realloc(p, layout, new_size) };
        };
        // The newest block grows or shrinks in place while the arena has the room.
        if off + new_size <= N
            && self
                .used
                .compare_exchange(
                    off + layout.size(),
                    off + new_size,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return p;
        }
        if new_size <= layout.size() {
            // Smaller, and not the newest: the block keeps its room.
            return p;
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, fits in isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a non-zero size (larger than the old one).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least `layout.size()` long.
            unsafe {
                ptr::copy_nonoverlapping(p, new, layout.size());
                self.dealloc(p, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_distinct_and_then_come_from_the_system() {
        let a: Box<Arena<4096>> = Box::default();
        let mut blocks = vec![];
        for (size, align) in [(1, 1), (24, 8), (3, 1), (64, 64), (100, 16), (7, 4)] {
            let l = layout(size, align);
            let p = unsafe { a.alloc(l) };
            assert!(a.offset(p).is_some(), "{size}/{align} not from the arena");
            assert_eq!(p.addr() % align, 0, "{size}/{align} misaligned");
            unsafe { ptr::write_bytes(p, size as u8, size) };
            blocks.push((p, l));
        }
        for (i, (p, l)) in blocks.iter().enumerate() {
            for (q, m) in &blocks[i + 1..] {
                let (p, q) = (p.addr(), q.addr());
                assert!(p + l.size() <= q || q + m.size() <= p, "blocks overlap");
            }
            // Each still holds what was written into it.
            let s = unsafe { std::slice::from_raw_parts(*p, l.size()) };
            assert!(s.iter().all(|&b| b == l.size() as u8));
        }
        // Too big for what is left: the system's, and given back to it.
        let big = layout(8192, 8);
        let p = unsafe { a.alloc(big) };
        assert!(!p.is_null() && a.offset(p).is_none());
        unsafe { a.dealloc(p, big) };
        for (p, l) in blocks {
            unsafe { a.dealloc(p, l) };
        }
    }

    #[test]
    fn the_newest_block_comes_back_grows_in_place_and_an_older_one_moves() {
        let a: Box<Arena<4096>> = Box::default();
        let l = layout(16, 8);
        let first = unsafe { a.alloc(l) };
        let top = unsafe { a.alloc(l) };
        let used = a.used();
        // The newest grows in place, keeping its bytes.
        unsafe { ptr::write_bytes(top, 7, 16) };
        let grown = unsafe { a.realloc(top, l, 64) };
        assert_eq!(grown, top);
        assert_eq!(a.used(), used + 48);
        assert!(
            unsafe { std::slice::from_raw_parts(grown, 16) }
                .iter()
                .all(|&b| b == 7)
        );
        // An older one moves, its bytes with it.
        unsafe { ptr::write_bytes(first, 9, 16) };
        let moved = unsafe { a.realloc(first, l, 32) };
        assert_ne!(moved, first);
        assert!(
            unsafe { std::slice::from_raw_parts(moved, 16) }
                .iter()
                .all(|&b| b == 9)
        );
        // Freeing the newest hands its room back; freeing an older one does not.
        let before = a.used();
        unsafe { a.dealloc(moved, layout(32, 8)) };
        assert!(a.used() < before);
        let now = a.used();
        unsafe { a.dealloc(grown, layout(64, 8)) };
        assert!(a.used() <= now);
        // A zeroed block is zero even where an earlier block wrote.
        let z = unsafe { a.alloc_zeroed(layout(64, 8)) };
        assert!(
            unsafe { std::slice::from_raw_parts(z, 64) }
                .iter()
                .all(|&b| b == 0)
        );
        // Growing past the arena's end moves the block to the system, bytes and all.
        unsafe { ptr::write_bytes(z, 5, 64) };
        let out = unsafe { a.realloc(z, layout(64, 8), 8192) };
        assert!(a.offset(out).is_none());
        assert!(
            unsafe { std::slice::from_raw_parts(out, 64) }
                .iter()
                .all(|&b| b == 5)
        );
        unsafe { a.dealloc(out, layout(8192, 8)) };
    }

    #[test]
    fn threads_allocating_at_once_never_share_a_byte() {
        static A: Arena<{ 64 * 1024 }> = Arena::new();
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut mine = vec![];
                    for i in 0..400usize {
                        let l = layout(1 + (i * 7 + t as usize) % 40, 8);
                        let p = unsafe { A.alloc(l) };
                        assert!(!p.is_null());
                        unsafe { ptr::write_bytes(p, t, l.size()) };
                        mine.push((p.addr(), l));
                        if i % 3 == 0 {
                            let (q, m) = mine.pop().unwrap();
                            unsafe { A.dealloc(q as *mut u8, m) };
                        }
                    }
                    // Nobody else wrote into this thread's blocks.
                    for (p, l) in &mine {
                        let s = unsafe { std::slice::from_raw_parts(*p as *const u8, l.size()) };
                        assert!(s.iter().all(|&b| b == t), "a block was shared");
                    }
                    for (p, l) in mine {
                        unsafe { A.dealloc(p as *mut u8, l) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
