//! Read-only work split across the machine's cores.
//!
//! A batch of schedules or cancels looks up every id that is not resident
//! in the id index, and such a lookup reads an index chunk from sled (a
//! page pull when the chunk is not cached): about 10 µs each, 90 % of a
//! batched cancel. sled serves reads concurrently, so the writer, which
//! holds the scheduler's state lock for the whole batch, lends the lookups
//! to scoped threads. Small batches stay on the calling thread: spawning
//! costs about as much as a few lookups.

use std::sync::OnceLock;

/// Items per batch below which the work stays on the calling thread.
pub(crate) const PARALLEL_FROM: usize = 128;

/// Threads used at most (the calling thread included).
const MAX_THREADS: usize = 4;

/// Threads to use: the cores available, at most [`MAX_THREADS`].
fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS)
    })
}

/// `f` applied to every item, in order, on up to [`threads`] threads when
/// there are at least [`PARALLEL_FROM`] items. The first error is returned
/// (the other threads finish their share first); a panic in a helper thread
/// is resumed on the caller's.
pub(crate) fn try_map<T, R, E, F>(items: &[T], f: F) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync,
{
    let threads = threads();
    if threads < 2 || items.len() < PARALLEL_FROM {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    let run = move |part: &[T]| part.iter().map(f).collect::<Result<Vec<R>, E>>();
    std::thread::scope(|s| {
        // A share whose thread cannot be created (thread limit, memory) is
        // done on this thread instead.
        let helpers: Vec<_> = items
            .chunks(per)
            .skip(1)
            .map(|part| {
                std::thread::Builder::new()
                    .spawn_scoped(s, move || run(part))
                    .map_err(|_| part)
            })
            .collect();
        let mut out: Vec<R> = Vec::with_capacity(items.len());
        let mut first_error = run(&items[..per]).map(|v| out.extend(v)).err();
        for helper in helpers {
            let share = match helper {
                Ok(thread) => match thread.join() {
                    Ok(share) => share,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(part) => run(part),
            };
            match share {
                Ok(part) => out.extend(part),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_at_every_size() {
        for n in [0, 1, PARALLEL_FROM - 1, PARALLEL_FROM, 1_000, 1_001] {
            let items: Vec<u64> = (0..n as u64).collect();
            let out: Vec<u64> = try_map(&items, |x| Ok::<_, ()>(x * 2)).expect("no error");
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_error_in_any_share_is_returned() {
        let items: Vec<u64> = (0..1_000).collect();
        for bad in [0, 499, 999] {
            let r = try_map(&items, |&x| if x == bad { Err(x) } else { Ok(x) });
            assert_eq!(r, Err(bad));
        }
    }
}
