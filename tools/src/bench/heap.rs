//! Heap bytes held by a value, measured rather than estimated: [`Counting`] is `aim-bench`'s global allocator
//! (the system allocator, counting on each thread what is allocated less what is freed), and [`held_by`]
//! reads that count around building a value on one thread.
//!
//! The figures are the sizes asked for; glibc adds 8 to 16 bytes to each allocation, reported beside them as
//! the number of allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Bytes allocated less bytes freed on this thread, and allocations made less freed.
    static NET: Cell<(isize, isize)> = const { Cell::new((0, 0)) };
}

fn count(bytes: isize, allocations: isize) {
    // `try_with`: a thread being torn down has no counter any more, and its frees are not measured anyway.
    let _ = NET.try_with(|n| {
        let (b, a) = n.get();
        n.set((b + bytes, a + allocations));
    });
}

/// The system allocator, counting per thread.
pub struct Counting;

// SAFETY: every call is passed on to `System` unchanged; the counting touches only a thread-local `Cell`.
// A global allocator cannot be written without `unsafe`; this one is the benchmark's, never the operator's.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize, 1);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize, 1);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize), -1);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize, 0);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What `make`'s result holds on the heap once made: (bytes, allocations). Only meaningful when [`Counting`]
/// is the global allocator (as in `aim-bench`); otherwise (0, 0).
pub fn held_by<T>(make: impl FnOnce() -> T) -> (T, isize, isize) {
    let (b0, a0) = NET.with(Cell::get);
    let value = make();
    let (b1, a1) = NET.with(Cell::get);
    (value, b1 - b0, a1 - a0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static COUNTING: Counting = Counting;

    #[test]
    fn what_a_value_holds_is_counted_and_what_was_freed_on_the_way_is_not() {
        let (v, bytes, allocations) = held_by(|| {
            let scratch = vec![0u8; 4096];
            drop(scratch);
            vec![0u64; 100]
        });
        assert_eq!((bytes, allocations), (800, 1));
        drop(v);
        let (_, bytes, allocations) = held_by(|| ());
        assert_eq!((bytes, allocations), (0, 0));
    }
}
