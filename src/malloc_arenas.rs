//! glibc gives each thread that allocates its own malloc arena (up to 8 per core), and memory
//! freed into one arena is not reused by another. The collector allocates a page on one tokio
//! worker and often frees it on another, so arenas multiply peak RSS for no speed: measured on
//! a 100k-event run, 21 MB with the default against 17 MB with two arenas, same CPU
//! (BENCHMARKS.md, memory). Two keep the runtime's threads from contending on a single lock.
const ARENAS: i32 = 2;

/// Call first thing in `main`, before the runtime starts any thread.
#[allow(unsafe_code)] // the one call into libc: mallopt
pub fn limit() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread
    // exists, and M_ARENA_MAX is a documented parameter taking a positive count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
