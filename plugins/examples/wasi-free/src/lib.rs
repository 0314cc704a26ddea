//! A detector without the standard library: its component imports nothing, not even WASI. Lux
//! must run it the same way as a WASI-importing one. It flags "TODO" left in a step.

#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

struct WasiFree;

impl Guest for WasiFree {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "wasi-free".to_string(),
            version: "0.1.0".to_string(),
            description: "Flags TODO markers; built without std, so it imports nothing."
                .to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        Ok(context
            .step
            .content
            .match_indices("TODO")
            .map(|(start, marker)| Finding {
                bias_type: "unfinished_reasoning".to_string(),
                severity: Severity::Low,
                confidence: 0.9,
                explanation: "A TODO marks reasoning that was left unfinished.".to_string(),
                evidence: Some(Span {
                    start: start as u32,
                    end: (start + marker.len()) as u32,
                }),
                suggestion: None,
            })
            .collect())
    }
}

export!(WasiFree);

/// A bump allocator over a fixed arena: enough for one call, and every call gets a fresh instance.
mod arena {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    const ARENA_BYTES: usize = 1 << 20;

    struct Bump {
        arena: UnsafeCell<[u8; ARENA_BYTES]>,
        next: UnsafeCell<usize>,
    }

    // SAFETY: a component instance is single-threaded.
    unsafe impl Sync for Bump {}

    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe {
                let next = &mut *self.next.get();
                let base = self.arena.get() as usize;
                let start = (base + *next).next_multiple_of(layout.align()) - base;
                match start.checked_add(layout.size()) {
                    Some(end) if end <= ARENA_BYTES => {
                        *next = end;
                        (base + start) as *mut u8
                    }
                    _ => core::ptr::null_mut(),
                }
            }
        }

        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
    }

    #[global_allocator]
    static ALLOCATOR: Bump = Bump {
        arena: UnsafeCell::new([0; ARENA_BYTES]),
        next: UnsafeCell::new(0),
    };
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Without wasi-libc nothing provides `memcmp` (the other mem* functions come from
/// compiler-builtins); `str::match_indices` needs it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller guarantees both ranges are readable for `n` bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// The canonical ABI's allocator entry point (wit-bindgen's own needs its `realloc` feature,
/// which builds a C shim; this is the same thing over the global allocator).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two alignment and, for a resize, the size and
    // alignment `old` was allocated with.
    unsafe {
        let ptr = if old.is_null() {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        };
        if ptr.is_null() {
            core::arch::wasm32::unreachable();
        }
        ptr
    }
}
