//! Shared by the `faults_*` tests: a multi-process cluster on real nats-server and
//! redis-server, a fake platform that counts posted replies, and the surge with its
//! two checks (0 lost, 0 duplicate replies). See docs/faults.md.

#![allow(dead_code)]

pub mod cluster;
pub mod platform;
pub mod surge;
