//! Prints a fresh secret key as hex, like the tutorial's `openssl rand -hex 32`:
//! `SESSION_SECRET=$(cargo run -q -p examples --bin keygen)`.

fn main() {
    println!("{}", session_core::Key::generate().to_hex());
}
