//! Locking shared by the in-process adapters, the test doubles and the local server.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, also after another holder panicked. Every user of this function only
/// ever replaces whole values under the lock, so a panic cannot leave half-written data
/// behind, and refusing the lock forever would turn one failed test or request into many.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
