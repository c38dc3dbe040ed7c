//! Shared bits of the peer apps: the port, the startup line, and the
//! routes of the actix-session apps.

pub mod actix_routes;

use std::net::SocketAddr;

/// `127.0.0.1:$PORT` (`PORT` unset: 8000; `0` picks a free port).
pub fn addr() -> SocketAddr {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Prints `listening on http://ADDR` (the load script waits for it).
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
}
