//! The `firebreak` binary's library: command line, configuration, and the wiring of
//! adapters and roles. Integration tests start servers through [`app::start`].

pub mod app;
pub mod cli;
pub mod client;
pub mod config;
mod control;
mod escalation;
pub mod ingest_args;
pub mod out;
pub mod reply_args;
pub mod reply_role;
pub mod sampler;
pub mod server_args;
mod shutdown;
pub mod startup;
mod token_file;
pub mod tools;
