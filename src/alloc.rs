//! The binary's global allocator: mimalloc, called the cheap way.
//!
//! The `mimalloc` crate sends every allocation through `mi_malloc_aligned`.
//! In mimalloc 3 that takes a slow path (a generic search, then an
//! over-allocation by the alignment) for any block over 1 KiB that is not a
//! power of two, such as the boxed pipeline futures and hyper's read
//! buffer (its measured share is in BENCHMARKS.md). Every mimalloc block is aligned to at least a word, so up to
//! that alignment plain `mi_malloc` and `mi_realloc` are enough; larger
//! alignments (tokio's 128-byte task cells) still go to the aligned calls.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Alignment every mimalloc block has: its block sizes are whole words.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc as the global allocator.
pub struct Mimalloc;

// SAFETY: each method returns memory from mimalloc with at least the
// layout's alignment (plain calls only up to a word, which every mimalloc
// block has), or null on failure; `dealloc` and `realloc` receive only
// pointers mimalloc returned, which `mi_free` and `mi_realloc*` take
// whatever call made them.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: see the impl.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size class from a byte to past the small-block limit, at each
    /// alignment Rust asks for, comes back aligned and usable; a realloc
    /// keeps the contents.
    #[test]
    fn blocks_are_aligned_and_keep_their_bytes() {
        let a = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in (1..=2100).step_by(7).chain([4096, 8192, 65_536, 1 << 20]) {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: a non-zero size; every pointer is freed with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xA5, size);
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed size {size} align {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|b| *b == 0));
                    a.dealloc(z, layout);
                    let q = a.realloc(p, layout, size * 2 + 1);
                    assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                    assert!(
                        std::slice::from_raw_parts(q, size)
                            .iter()
                            .all(|b| *b == 0xA5)
                    );
                    a.dealloc(
                        q,
                        Layout::from_size_align(size * 2 + 1, align).expect("layout"),
                    );
                }
            }
        }
    }
}
