//! Free-port discovery.

use std::net::{Ipv4Addr, TcpListener};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The OS picks the port (bind to port 0) and the listener is dropped at once,
/// so another process may grab it before the server binds. Callers that spawn
/// servers therefore retry with a fresh port when the server reports
/// "address already in use".
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
