use super::*;
/// Every combination of where a session is and what the handler did,
/// under a fixed, a rolling and an idle-timeout configuration.
fn every_case() -> Vec<(State, bool, SessionConfig)> {
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
    let stored = |rekey| Stored {
        created_at: now - time::Duration::hours(1),
        expires_at: now + time::Duration::hours(1),
        rekey,
    };
    let lives = [
        Life::Unread,
        Life::Unreadable,
        Life::New,
        Life::Gone { revoked: false },
        Life::Gone { revoked: true },
        Life::Live(stored(false)),
        Life::Live(stored(true)),
        Life::Cycling(stored(false)),
        Life::Destroyed,
    ];
    let configs = [
        SessionConfig::new(),
        SessionConfig::new().with_rolling(true),
        SessionConfig::new().with_idle_timeout(Some(Duration::from_secs(600))),
    ];
    let mut cases = Vec::new();
    for life in lives {
        for bits in 0..64u32 {
            let bit = |n: u32| bits & (1 << n) != 0;
            let mut body = Body::default();
            if bit(0) {
                body.data.insert("k".into(), serde_json::json!(1));
            }
            if bit(1) {
                body.dirty.push("k".into());
            }
            if bit(2) {
                body.user = Some("u".into());
            }
            body.user_changed = bit(3);
            body.accessed = bit(4);
            let resign = bit(5);
            for config in &configs {
                let state = State {
                    life,
                    body: body.clone(),
                    next_id: None,
                };
                cases.push((state, resign, config.clone()));
            }
        }
    }
    cases
}

#[test]
fn the_decision_keeps_the_rules_in_every_case() {
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
    for (state, resign, config) in every_case() {
        let write = decide(&state, resign, &config, now);
        let what = format!(
            "{:?} {:?} resign={resign} -> {write:?}",
            state.life, state.body
        );
        let holds = !state.body.holds_nothing();
        match state.life {
            // Nothing read, or the read failed: nothing is ever written.
            Life::Unread | Life::Unreadable => assert_eq!(write, Write::Nothing, "{what}"),
            _ => {}
        }
        // A session is created only to hold something.
        if matches!(write, Write::Create { .. }) {
            assert!(holds, "{what}");
        }
        // A live session that holds something and was used is never
        // removed, replaced or forgotten.
        if state.life.stored().is_some() && holds && state.body.accessed {
            assert!(
                !matches!(
                    write,
                    Write::Remove { .. } | Write::Create { .. } | Write::Forget
                ),
                "{what}"
            );
        }
        // Cycling only when asked, and always when asked for a session
        // that holds something.
        assert_eq!(
            write == Write::Cycle,
            matches!(state.life, Life::Cycling(_)) && state.body.accessed && holds,
            "{what}"
        );
        // What the handler changed in a live session is saved.
        if matches!(state.life, Life::Live(_))
            && holds
            && state.body.accessed
            && state.body.changed()
        {
            assert!(matches!(write, Write::Save { .. }), "{what}");
        }
        // A destroyed or revoked session's stored copy is ended.
        if matches!(state.life, Life::Destroyed | Life::Gone { revoked: true }) {
            assert!(
                matches!(
                    write,
                    Write::Remove { end: true } | Write::Create { end: true }
                ),
                "{what}"
            );
        }
        // Nothing stored is ended otherwise, except a live session
        // emptied by the handler.
        if let Write::Remove { end: true } | Write::Create { end: true } = write {
            assert!(
                matches!(state.life, Life::Destroyed | Life::Gone { revoked: true })
                    || (state.life.stored().is_some() && !holds),
                "{what}"
            );
        }
        // A cookie signed by an older key, of a live session kept as it
        // is, is sent again.
        if resign && matches!(state.life, Life::Live(_)) && (holds || !state.body.accessed) {
            assert!(
                matches!(
                    write,
                    Write::Resend
                        | Write::Save { resign: true }
                        | Write::Touch { resend: true, .. }
                ),
                "{what}"
            );
        }
    }
}

use crate::store::unix_millis;

#[test]
fn the_system_clock_reads_the_same_milliseconds_both_ways() {
    for _ in 0..1000 {
        let before = SystemClock.now_unix_millis();
        let middle = unix_millis(SystemClock.now());
        let after = SystemClock.now_unix_millis();
        assert!(
            before <= middle && middle <= after,
            "{before} {middle} {after}"
        );
    }
}
