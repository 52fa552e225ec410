//! Message and creative behind the handle in a click ID (see `affnet_core::clickid::labels`),
//! with an in-process cache both ways, so that the hot paths read nothing:
//!
//! - **Click**: a pair in the cache costs nothing; the click is its usual one atomic batch. A pair
//!   this process has not seen costs one read by key (its first candidate handle): stored with
//!   this pair, it is cached; absent, the handle item is created in the click's own batch (still
//!   one write). A concurrent click creating the same handle first makes our batch fail as a
//!   whole; we read again and write the click alone.
//! - **Postback** (and anything else that verifies a click ID): the handle is resolved from the
//!   cache, or by one read on a miss, then cached. Mappings never change, so entries never go
//!   stale; the cache is cleared when full (handles come from user-chosen `msg`/`cr` values).

use crate::state::AppState;
use affnet_core::clickid::{ClickClaims, LabelHandle, Labels};
use affnet_core::postback::{ClickCheck, Decision};
use affnet_store::RepoError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept at most in each direction before the cache is cleared.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct LabelCache {
    maps: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    by_labels: HashMap<Labels, LabelHandle>,
    by_handle: HashMap<LabelHandle, Labels>,
}

impl LabelCache {
    fn handle_of(&self, labels: &Labels) -> Option<LabelHandle> {
        self.maps.lock().ok()?.by_labels.get(labels).copied()
    }

    fn labels_of(&self, handle: LabelHandle) -> Option<Labels> {
        self.maps.lock().ok()?.by_handle.get(&handle).cloned()
    }

    /// Records a stored mapping.
    fn put(&self, handle: LabelHandle, labels: &Labels) {
        let Ok(mut maps) = self.maps.lock() else {
            return;
        };
        if maps.by_handle.len() >= MAX_ENTRIES || maps.by_labels.len() >= MAX_ENTRIES {
            *maps = Maps::default();
        }
        maps.by_labels.insert(labels.clone(), handle);
        maps.by_handle.insert(handle, labels.clone());
    }

    /// Entries in each direction (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.maps.lock().map(|m| m.by_handle.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The handle a click carries for its labels, and whether the click's batch must create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub handle: LabelHandle,
    pub create: bool,
}

impl Assignment {
    /// No message nor creative: nothing to store or read.
    pub const NONE: Assignment = Assignment {
        handle: LabelHandle::NONE,
        create: false,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("every candidate handle of these labels holds other labels")]
    NoFreeHandle,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// The handle for `labels`: cached, else the first candidate that is stored with them or free.
/// Costs one read by key for a pair this process has not cached (more only after a collision).
pub async fn assign(state: &AppState, labels: &Labels) -> Result<Assignment, LabelError> {
    if labels.is_empty() {
        return Ok(Assignment::NONE);
    }
    if let Some(handle) = state.label_cache.handle_of(labels) {
        return Ok(Assignment {
            handle,
            create: false,
        });
    }
    for handle in LabelHandle::candidates(labels) {
        match state.repo.get_labels(handle).await? {
            Some(stored) => {
                state.label_cache.put(handle, &stored);
                if &stored == labels {
                    return Ok(Assignment {
                        handle,
                        create: false,
                    });
                }
            }
            None => {
                return Ok(Assignment {
                    handle,
                    create: true,
                });
            }
        }
    }
    Err(LabelError::NoFreeHandle)
}

/// Caches a mapping the caller has just stored (the click's batch created it).
pub fn created(state: &AppState, handle: LabelHandle, labels: &Labels) {
    state.label_cache.put(handle, labels);
}

/// The handle of `labels`, stored on its own if new: for click IDs minted outside the click
/// route (tests, tools). A concurrent creation of the same handle is read again.
pub async fn register(state: &AppState, labels: &Labels) -> Result<LabelHandle, LabelError> {
    for _ in 0..=affnet_core::clickid::MAX_PROBES {
        let assignment = assign(state, labels).await?;
        if !assignment.create {
            return Ok(assignment.handle);
        }
        match state.repo.create_labels(assignment.handle, labels).await {
            Ok(()) => {
                created(state, assignment.handle, labels);
                return Ok(assignment.handle);
            }
            Err(RepoError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LabelError::NoFreeHandle)
}

/// Fills in message and creative of verified claims that carry a handle: from the cache, else
/// with one read (then cached). A handle that is not stored (its click's write failed) leaves
/// them unknown, so the conversion counts for its offer and click only; it is logged.
pub async fn resolve(state: &AppState, claims: &mut ClickClaims) -> Result<(), RepoError> {
    let Some(handle) = claims.unresolved() else {
        return Ok(());
    };
    if let Some(labels) = state.label_cache.labels_of(handle) {
        claims.resolve(labels);
        return Ok(());
    }
    match state.repo.get_labels(handle).await? {
        Some(labels) => {
            state.label_cache.put(handle, &labels);
            claims.resolve(labels);
        }
        None => tracing::warn!(
            %handle,
            offer = %claims.offer_id,
            "click labels not stored: attributing to the offer and click only"
        ),
    }
    Ok(())
}

/// [`resolve`] for the click of a postback's decision, when it verified.
pub async fn resolve_decision(state: &AppState, decision: &mut Decision) -> Result<(), RepoError> {
    match &mut decision.click {
        ClickCheck::Verified(claims) => resolve(state, claims).await,
        _ => Ok(()),
    }
}
