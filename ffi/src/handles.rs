//! Handles are not addresses: each is a fresh number (never reused) looked up in a registry of
//! live objects of its kind. A freed, forged or wrong-kind handle is therefore an error, never
//! a read of freed memory, and a double free is reported instead of crashing. The C side sees
//! them as pointers to incomplete structs and never dereferences them.

use crate::status::{Failure, FfiResult, X2E_ERR_INVALID_ARGUMENT, X2E_ERR_INVALID_HANDLE};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The kinds, in the low bits of every handle, so that a handle of one kind is never found in
/// another kind's registry even if the counters met.
#[derive(Clone, Copy)]
pub enum Kind {
    Context = 1,
    Model = 2,
    Image = 3,
}

const KIND_BITS: u32 = 2;

/// One counter for all kinds. On 32-bit targets it wraps after 2^30 handles; only then could a
/// stale handle name a new object, and only one created a billion handles later.
static NEXT: AtomicUsize = AtomicUsize::new(1);

pub struct Registry<T> {
    kind: Kind,
    name: &'static str,
    live: Mutex<Option<HashMap<usize, Arc<T>>>>,
}

impl<T> Registry<T> {
    pub const fn new(kind: Kind, name: &'static str) -> Registry<T> {
        Registry { kind, name, live: Mutex::new(None) }
    }

    fn map(&self) -> MutexGuard<'_, Option<HashMap<usize, Arc<T>>>> {
        // A panic while the lock was held leaves the map consistent (every operation is a single
        // insert/get/remove), so a poisoned lock is still usable.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `obj` and returns its handle value.
    pub fn insert(&self, obj: T) -> usize {
        let id = (NEXT.fetch_add(1, Ordering::Relaxed) << KIND_BITS) | self.kind as usize;
        self.map().get_or_insert_with(HashMap::new).insert(id, Arc::new(obj));
        id
    }

    /// The live object behind `h`; the Arc keeps it alive while in use even if another thread
    /// frees the handle meanwhile.
    pub fn get(&self, h: usize, arg: &str) -> FfiResult<Arc<T>> {
        if h == 0 {
            return Err(Failure::new(X2E_ERR_INVALID_ARGUMENT, format!("{arg} is NULL")));
        }
        self.map().as_ref().and_then(|m| m.get(&h).cloned()).ok_or_else(|| self.dead(h, arg))
    }

    /// Removes `h`; the object is dropped when its last user lets go.
    pub fn remove(&self, h: usize, arg: &str) -> FfiResult<Arc<T>> {
        self.map().as_mut().and_then(|m| m.remove(&h)).ok_or_else(|| self.dead(h, arg))
    }

    fn dead(&self, h: usize, arg: &str) -> Failure {
        Failure::new(X2E_ERR_INVALID_HANDLE, format!("{arg} ({h:#x}) is not a live {} (already freed, never created, or another kind of handle)", self.name))
    }

    /// Live handles of this kind (tests, leak checks).
    pub fn count(&self) -> usize {
        self.map().as_ref().map_or(0, |m| m.len())
    }
}
