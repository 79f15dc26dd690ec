//! Deployments as rules: environments and their protection rules, approvals, deploy freezes,
//! rollback rules, deployment states, notifications and DORA metrics. Pure decisions over
//! values the caller passes in (the time included): no HTTP, no SQL, no clock, no processes,
//! so that the server, the CLI, `gantry run` and the web UI decide alike.
