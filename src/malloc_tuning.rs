//! The process's glibc allocator settings, both for a lower peak RSS at the same CPU
//! (BENCHMARKS.md, memory):
//! - **Two arenas.** glibc gives each thread that allocates its own malloc arena (up to 8 per
//!   core), and memory freed into one arena is not reused by another. The collector allocates a
//!   page on one tokio worker and often frees it on another, so arenas multiply peak RSS for no
//!   speed: measured on a 100k-event run, 21 MB with the default against 17 MB with two arenas.
//!   Two keep the runtime's threads from contending on a single lock.
//! - **A fixed mmap threshold of 512 KiB.** Left alone, glibc raises the threshold each time a
//!   large block is freed (up to 32 MiB), so a page's buffers (a 500-event page is about
//!   700 KB) soon come from the heap, where what is freed between pages and batches stays
//!   fragmented and counted. Fixed, blocks of 512 KiB and more are mapped and unmapped: at 1M
//!   events 53 MB peak against 62 MB, CPU per event within the noise of two interleaved runs;
//!   128 KiB (which maps the 256 KiB compressed segments too) gave 45 MB for 4–8 % more CPU.
const ARENAS: i32 = 2;
const MMAP_THRESHOLD_BYTES: i32 = 512 * 1024;

/// Call first thing in `main`, before the runtime starts any thread.
#[allow(unsafe_code)] // the one call into libc: mallopt
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists, and M_ARENA_MAX and M_MMAP_THRESHOLD are documented parameters taking a positive
    // count and a size within glibc's bounds (at most 32 MiB on 64-bit).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}
