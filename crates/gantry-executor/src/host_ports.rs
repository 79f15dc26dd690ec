//! Fixed host ports claimed by the container jobs of this process.
//!
//! On GitHub every job has a machine of its own, so two jobs (or two legs of a matrix) may both
//! publish `5432:5432`. Here they share one host, where the engine would refuse the second: a job
//! that publishes a fixed host port therefore claims it before its containers start and keeps it
//! until they are removed, and a job that needs a claimed port waits for it (saying so in its
//! log). The host's port space is one per machine, so the claims are one table per process.
//!
//! Invariant: a job claims all its ports in one sorted order, so two jobs never wait for each
//! other; claims are released when the [`PortClaims`] value is dropped. A port held by something
//! outside this process is not known here: the engine reports it when the container starts.
//! Tests: `tests/docker.rs` (two jobs publishing the same port) and the unit tests below.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use gantry_docker::PortSpec;
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

/// A host port and protocol (`5432/tcp`).
pub(crate) type PortKey = (u16, String);

static TABLE: LazyLock<Mutex<HashMap<PortKey, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The ports a job holds; dropping it lets waiting jobs go on.
#[derive(Debug, Default)]
pub(crate) struct PortClaims {
    _held: Vec<OwnedMutexGuard<()>>,
}

/// The fixed host ports among port specifications (those that give no host port cannot clash).
pub(crate) fn fixed_ports<'a>(specs: impl IntoIterator<Item = &'a str>) -> BTreeSet<PortKey> {
    specs
        .into_iter()
        .filter_map(|spec| PortSpec::parse(spec).ok())
        .filter_map(|spec| Some((spec.host_port?, spec.protocol)))
        .collect()
}

/// The ports of `ports` another job holds now (for saying why a job waits; by the time the job
/// claims them they may have been released).
pub(crate) fn busy(ports: &BTreeSet<PortKey>) -> Vec<PortKey> {
    let table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    ports
        .iter()
        .filter(|key| table.get(*key).is_some_and(|lock| lock.try_lock().is_err()))
        .cloned()
        .collect()
}

/// Claims every port of `ports`, waiting for those another job holds. Returns `None` when
/// cancelled while waiting.
pub(crate) async fn claim(
    ports: &BTreeSet<PortKey>,
    cancel: &CancellationToken,
) -> Option<PortClaims> {
    let mut held = Vec::with_capacity(ports.len());
    for key in ports {
        let lock = {
            // A poisoned table only means another thread panicked while inserting; the map is
            // still consistent (an insert is one operation).
            let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
            table.entry(key.clone()).or_default().clone()
        };
        let guard = tokio::select! {
            biased;
            guard = lock.lock_owned() => guard,
            () = cancel.cancelled() => return None,
        };
        held.push(guard);
    }
    Some(PortClaims { _held: held })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_fixed_host_ports_are_claimed() {
        let got = fixed_ports([
            "5432",
            "6379:6379",
            "127.0.0.1:8080:80",
            "53:53/udp",
            "bad:port",
        ]);
        let want: BTreeSet<PortKey> = [
            (53, "udp".to_string()),
            (6379, "tcp".to_string()),
            (8080, "tcp".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_second_claim_waits_for_the_first_to_be_dropped() {
        // Ports no other test claims.
        let ports = fixed_ports(["61001:1", "61002:2"]);
        let cancel = CancellationToken::new();
        assert_eq!(busy(&ports), Vec::<PortKey>::new());
        let first = claim(&ports, &cancel).await.unwrap();
        assert_eq!(busy(&ports).len(), 2);
        let second = {
            let ports = ports.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { claim(&ports, &cancel).await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second claim must wait");
        drop(first);
        assert!(second.await.unwrap());
    }

    #[tokio::test]
    async fn cancelling_a_waiting_claim_returns_none() {
        let ports = fixed_ports(["61003:3"]);
        let cancel = CancellationToken::new();
        let _first = claim(&ports, &cancel).await.unwrap();
        let other = CancellationToken::new();
        let waiter = {
            let ports = ports.clone();
            let other = other.clone();
            tokio::spawn(async move { claim(&ports, &other).await.is_none() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        other.cancel();
        assert!(waiter.await.unwrap());
    }
}
