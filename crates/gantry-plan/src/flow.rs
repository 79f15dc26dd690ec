//! The event channels from a step's pipes to the consumers of a run (executor → scheduler →
//! run): bounded by a capacity the reading side waits on, as a pipe is.
//!
//! Invariant: [`Sender::send`] never waits, so the many places that report a step's progress
//! stay plain calls, and a producer of volume (the loop reading a step's stdout and stderr, the
//! scheduler forwarding a job's events) waits on [`Gate::ready`] before producing more: at most
//! `capacity` events plus what one read produced are queued, whatever the step prints and
//! however slow the consumer. A dropped [`Receiver`] opens the gate for good (nothing is
//! queued any more). Tests: the `tests` module below.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Notify;

/// How many events the channels of a run hold before their producers wait.
pub const DEFAULT_CAPACITY: usize = 1024;

struct Shared {
    queued: AtomicUsize,
    capacity: usize,
    closed: AtomicBool,
    room: Notify,
}

impl Shared {
    fn has_room(&self) -> bool {
        self.queued.load(Ordering::Acquire) < self.capacity || self.closed.load(Ordering::Acquire)
    }
}

/// A channel holding about `capacity` values before [`Gate::ready`] waits (at least 1).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = unbounded_channel();
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        capacity: capacity.max(1),
        closed: AtomicBool::new(false),
        room: Notify::new(),
    });
    (
        Sender {
            tx,
            shared: Arc::clone(&shared),
        },
        Receiver { rx, shared },
    )
}

/// The sending side; cheap to clone.
pub struct Sender<T> {
    tx: UnboundedSender<T>,
    shared: Arc<Shared>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.len())
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

/// The sending side's wait for room, without the right to send: for a loop that reads what it
/// hands to a [`Sender`] elsewhere (a step's pipes).
#[derive(Clone)]
pub struct Gate {
    shared: Arc<Shared>,
}

impl Gate {
    /// Whether the channel holds fewer than its capacity (or its receiver is gone).
    pub fn has_room(&self) -> bool {
        self.shared.has_room()
    }

    /// Waits until [`Gate::has_room`].
    pub async fn ready(&self) {
        loop {
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up between the two is not lost.
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }
}

impl<T> Sender<T> {
    /// Queues `value` without waiting; gives it back when the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), T> {
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.send(value).map_err(|error| {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            error.0
        })
    }

    /// Waits for room, then queues `value`: the send of a producer of volume.
    pub async fn send_when_ready(&self, value: T) -> Result<(), T> {
        self.gate().ready().await;
        self.send(value)
    }

    pub fn gate(&self) -> Gate {
        Gate {
            shared: Arc::clone(&self.shared),
        }
    }

    pub fn has_room(&self) -> bool {
        self.shared.has_room()
    }

    /// How many values are queued now.
    pub fn len(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The receiving side.
pub struct Receiver<T> {
    rx: UnboundedReceiver<T>,
    shared: Arc<Shared>,
}

impl<T> Receiver<T> {
    /// The next value; `None` once every sender is gone and nothing is queued.
    pub async fn recv(&mut self) -> Option<T> {
        let value = self.rx.recv().await?;
        self.taken(1);
        Some(value)
    }

    /// Up to `limit` values into `buffer` (at least one unless the channel ended): fewer wake-ups
    /// for a consumer of volume. Returns how many were added.
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        let n = self.rx.recv_many(buffer, limit.max(1)).await;
        self.taken(n);
        n
    }

    pub fn try_recv(&mut self) -> Option<T> {
        let value = self.rx.try_recv().ok()?;
        self.taken(1);
        Some(value)
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    fn taken(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.shared.queued.fetch_sub(n, Ordering::AcqRel);
        if before >= self.shared.capacity && before - n < self.shared.capacity {
            self.shared.room.notify_waiters();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_channel_holds_its_producer_until_the_consumer_takes() {
        let (tx, mut rx) = channel::<u32>(4);
        for n in 0..4 {
            assert!(tx.has_room());
            tx.send(n).unwrap();
        }
        assert!(!tx.has_room());
        assert_eq!(tx.len(), 4);
        let gate = tx.gate();
        let mut waiting = tokio_test_ready(&gate);
        // Nothing was taken: the producer still waits.
        assert!(futures_poll(&mut waiting).is_pending());
        assert_eq!(rx.recv().await, Some(0));
        assert!(futures_poll(&mut waiting).is_ready());
        assert_eq!(tx.len(), 3);
    }

    #[tokio::test]
    async fn a_producer_that_waits_for_room_never_queues_more_than_the_capacity() {
        let (tx, mut rx) = channel::<usize>(8);
        let producer = tokio::spawn(async move {
            let mut most = 0;
            for n in 0..10_000 {
                tx.send_when_ready(n).await.unwrap();
                most = most.max(tx.len());
            }
            most
        });
        let mut got = Vec::new();
        while let Some(n) = rx.recv().await {
            got.push(n);
            // A slow consumer: it yields between values.
            tokio::task::yield_now().await;
        }
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
        assert!(producer.await.unwrap() <= 8);
    }

    #[tokio::test]
    async fn a_dropped_receiver_opens_the_gate() {
        let (tx, rx) = channel::<u8>(1);
        tx.send(1).unwrap();
        assert!(!tx.has_room());
        drop(rx);
        tx.gate().ready().await;
        assert_eq!(tx.send(2), Err(2));
    }

    #[tokio::test]
    async fn recv_many_makes_room_for_all_it_took() {
        let (tx, mut rx) = channel::<u8>(2);
        for n in 0..5 {
            tx.send(n).unwrap();
        }
        let mut buffer = Vec::new();
        assert_eq!(rx.recv_many(&mut buffer, 10).await, 5);
        assert!(tx.is_empty() && tx.has_room());
        assert_eq!(rx.try_recv(), None);
    }

    fn tokio_test_ready(gate: &Gate) -> std::pin::Pin<Box<impl std::future::Future<Output = ()>>> {
        let gate = gate.clone();
        Box::pin(async move { gate.ready().await })
    }

    fn futures_poll<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        std::pin::Pin::new(future).poll(&mut context)
    }
}
