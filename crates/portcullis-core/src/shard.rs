//! State that every request updates (counters, usage notes), kept in one shard per thread so
//! that request threads do not write the same cache lines.
//!
//! A lock or counter shared by the worker threads is written by one core, then the other: each
//! write first moves the cache line across (measured on a 2-vCPU VM at about 95 ns a move,
//! against a few ns for a line the core holds), and in profiles under load the first atomic
//! instruction on such a lock took most of its function's time. Here each thread takes its own
//! shard (a mutex on cache lines of its own, so uncontended), and readers, which are rare
//! (`/metrics`, the periodic usage flush), visit every shard.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many shards a [`Shards`] has: more than the threads that serve requests (one per CPU);
/// threads beyond that share shards, which is only slower, never wrong.
const SHARDS: usize = 16;

/// One `T` per thread (threads past [`SHARDS`] share), each on cache lines of its own.
pub struct Shards<T> {
    shards: Box<[Padded<Mutex<T>>]>,
}

/// Two cache lines: adjacent-line prefetching pairs lines, so one line is not enough.
#[repr(align(128))]
struct Padded<T>(T);

impl<T: Default> Default for Shards<T> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Padded(Mutex::default())).collect(),
        }
    }
}

impl<T> Shards<T> {
    /// Runs `f` on the calling thread's shard; `None` if a panic while it was held poisoned
    /// it.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let shard = self.shards.get(thread_index() % self.shards.len())?;
        let mut value = shard.0.lock().ok()?;
        Some(f(&mut value))
    }

    /// Runs `f` on every shard in turn (poisoned ones are skipped).
    pub fn each(&self, mut f: impl FnMut(&mut T)) {
        for shard in &self.shards {
            if let Ok(mut value) = shard.0.lock() {
                f(&mut value);
            }
        }
    }
}

/// The calling thread's number: threads are numbered in the order they first ask.
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.try_with(|index| *index).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_threads_updates_are_seen() {
        let shards = Shards::<Vec<u32>>::default();
        std::thread::scope(|scope| {
            for thread in 0..40 {
                let shards = &shards;
                scope.spawn(move || {
                    for n in 0..100 {
                        shards.with(|v| v.push(thread * 100 + n)).unwrap();
                    }
                });
            }
        });
        let mut all = Vec::new();
        shards.each(|v| all.append(v));
        all.sort_unstable();
        assert_eq!(all, (0..4000).collect::<Vec<_>>());
        // `each` took them: nothing is left.
        shards.each(|v| assert!(v.is_empty()));
    }

    #[test]
    fn shards_do_not_share_cache_lines() {
        assert!(std::mem::align_of::<Padded<Mutex<u64>>>() >= 128);
        assert!(std::mem::size_of::<Padded<Mutex<u64>>>() >= 128);
    }
}
