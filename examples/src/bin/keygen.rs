//! Prints a fresh secret key as 64 hex digits (32 random bytes from the
//! operating system), like the tutorial's `openssl rand -hex 32`.
//!
//! ```text
//! export SESSION_SECRET=$(cargo run -q -p examples --bin keygen)
//! cargo run -p examples --bin axum-counter
//! ```
#![forbid(unsafe_code)]

fn main() {
    println!("{}", session_core::Key::generate().to_hex());
}
