//! Concurrency groups (`concurrency:` at workflow and job level), shared by every run of a
//! process so that groups work across runs.
//!
//! GitHub's rule: a group has at most one running and one pending holder. A newcomer with
//! `cancel-in-progress: true` cancels the running holder (and any pending one) and waits for it to
//! finish; otherwise it waits as the pending holder, and a newer pending holder replaces (cancels)
//! an older pending one. Group names compare case-insensitively.
//!
//! Invariant: the lock is never held across an await; a permit releases its group when dropped,
//! promoting the pending holder. Tests: concurrency scenarios in `tests/scenarios/` and the unit
//! tests below.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct ConcurrencyGroups {
    groups: Mutex<HashMap<String, Group>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct Group {
    running: Option<(u64, CancellationToken)>,
    pending: Option<Pending>,
}

struct Pending {
    id: u64,
    cancel: CancellationToken,
    /// `true`: you run now; `false` (or dropped): you were replaced.
    wake: oneshot::Sender<bool>,
}

/// Why a holder did not get its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("canceling since a higher priority waiting request for this concurrency group exists")]
    Replaced,
    #[error("cancelled while waiting for the concurrency group")]
    Cancelled,
}

/// Holding the group: released (and the pending holder promoted) on drop.
pub struct GroupPermit {
    groups: Arc<ConcurrencyGroups>,
    key: String,
    id: u64,
}

impl std::fmt::Debug for GroupPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupPermit")
            .field("key", &self.key)
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for GroupPermit {
    fn drop(&mut self) {
        self.groups.release(&self.key, self.id);
    }
}

impl ConcurrencyGroups {
    pub fn new() -> Arc<ConcurrencyGroups> {
        Arc::new(ConcurrencyGroups::default())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        // A poisoned lock only means another holder panicked; the map itself stays consistent
        // because every critical section is a few assignments.
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self, key: &str, id: u64) {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(key) else {
            return;
        };
        if group.running.as_ref().map(|(running, _)| *running) != Some(id) {
            return;
        }
        group.running = None;
        while let Some(pending) = group.pending.take() {
            if pending.wake.send(true).is_ok() {
                group.running = Some((pending.id, pending.cancel));
                break;
            }
        }
        if group.running.is_none() && group.pending.is_none() {
            groups.remove(key);
        }
    }

    /// Waits for the group. `token` is the holder's own cancellation: cancelling it while waiting
    /// gives up, and a later `cancel-in-progress` newcomer cancels it while running.
    pub async fn acquire(
        self: &Arc<Self>,
        group: &str,
        cancel_in_progress: bool,
        token: &CancellationToken,
    ) -> Result<GroupPermit, GroupError> {
        let key = group.to_lowercase();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let permit = || GroupPermit {
            groups: Arc::clone(self),
            key: key.clone(),
            id,
        };
        let wake = {
            let mut groups = self.lock();
            let entry = groups.entry(key.clone()).or_default();
            if cancel_in_progress {
                if let Some((_, running)) = &entry.running {
                    running.cancel();
                }
            }
            if let Some(older) = entry.pending.take() {
                let _ = older.wake.send(false);
            }
            if entry.running.is_none() {
                entry.running = Some((id, token.clone()));
                drop(groups);
                return Ok(permit());
            }
            let (tx, rx) = oneshot::channel();
            entry.pending = Some(Pending {
                id,
                cancel: token.clone(),
                wake: tx,
            });
            rx
        };
        tokio::select! {
            woken = wake => match woken {
                Ok(true) => Ok(permit()),
                _ => Err(GroupError::Replaced),
            },
            _ = token.cancelled() => {
                let promoted = {
                    let mut groups = self.lock();
                    match groups.get_mut(&key) {
                        Some(group) if group.pending.as_ref().is_some_and(|p| p.id == id) => {
                            group.pending = None;
                            false
                        }
                        Some(group) => group.running.as_ref().is_some_and(|(r, _)| *r == id),
                        None => false,
                    }
                };
                if promoted {
                    self.release(&key, id);
                }
                Err(GroupError::Cancelled)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_waits_third_replaces_second() {
        let groups = ConcurrencyGroups::new();
        let t1 = CancellationToken::new();
        let first = groups.acquire("G", false, &t1).await.unwrap();
        let g2 = Arc::clone(&groups);
        let second = tokio::spawn(async move {
            let t2 = CancellationToken::new();
            g2.acquire("g", false, &t2).await.map(drop)
        });
        tokio::task::yield_now().await;
        let g3 = Arc::clone(&groups);
        let third = tokio::spawn(async move {
            let t3 = CancellationToken::new();
            g3.acquire("g", false, &t3).await.map(drop)
        });
        assert_eq!(second.await.unwrap(), Err(GroupError::Replaced));
        drop(first);
        assert_eq!(third.await.unwrap(), Ok(()));
        assert!(!t1.is_cancelled());
        assert!(groups.lock().is_empty());
    }

    #[tokio::test]
    async fn cancel_in_progress_cancels_running() {
        let groups = ConcurrencyGroups::new();
        let t1 = CancellationToken::new();
        let first = groups.acquire("g", false, &t1).await.unwrap();
        let g2 = Arc::clone(&groups);
        let second = tokio::spawn(async move {
            let t2 = CancellationToken::new();
            g2.acquire("g", true, &t2).await.map(drop)
        });
        t1.cancelled().await;
        drop(first);
        assert_eq!(second.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn cancelled_waiter_leaves_the_group() {
        let groups = ConcurrencyGroups::new();
        let t1 = CancellationToken::new();
        let first = groups.acquire("g", false, &t1).await.unwrap();
        let t2 = CancellationToken::new();
        t2.cancel();
        assert_eq!(
            groups.acquire("g", false, &t2).await.map(drop),
            Err(GroupError::Cancelled)
        );
        drop(first);
        assert!(groups.lock().is_empty());
    }
}
