//! The `firebreak` binary's library: command line, configuration, and the wiring of
//! adapters and roles. Integration tests start servers through [`app::start`].

pub mod app;
pub mod cli;
pub mod config;
pub mod ingest_args;
mod shutdown;
