//! Conformance checks of the user index
//! ([`UserIndex`](crate::store::UserIndex)): its
//! [`list_user`](crate::store::UserIndex::list_user),
//! [`delete_user`](crate::store::UserIndex::delete_user) and
//! [`end_user_session`](crate::store::UserIndex::end_user_session), and the binding
//! carried by [`Record::user`] and
//! [`ChangeSet::user`](crate::store::ChangeSet::user). Cycles go the way
//! the layer takes them ([`cycle`](crate::store::cycle): the store's
//! [`CycleStore`](crate::store::CycleStore), or steps).

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use serde_json::json;
use time::Duration;

use super::{changes, create, load, now, record_with, user_index, DynStore};
use crate::store::{cycle, Cycled, Id, Record, Saved, SessionStore};

/// A user name no other check (or concurrent run) uses.
fn fresh_user(label: &str) -> String {
    format!("{label}-{}", Id::random().short_hash())
}

fn bound(user: &str) -> Record {
    let mut record = record_with(json!({"who": user}));
    record.user = Some(user.to_owned());
    record
}

async fn listed(store: &DynStore, user: &str) -> Vec<Id> {
    user_index(store)
        .list_user(user)
        .await
        .expect("list_user failed")
        .into_iter()
        .map(|session| session.id)
        .collect()
}

fn set(ids: &[Id]) -> BTreeSet<Id> {
    ids.iter().copied().collect()
}

/// Sessions created bound to a user are listed for that user only, oldest
/// first, with their times; a bound record loads back with its user.
pub async fn user_index_lists_created_sessions(store: DynStore) {
    let hong = fresh_user("hong");
    let kim = fresh_user("kim");
    let mut first = bound(&hong);
    first.created_at = now() - Duration::minutes(5);
    let second = bound(&hong);
    let other = bound(&kim);
    let unbound = record_with(json!({"a": 1}));
    for record in [&first, &second, &other, &unbound] {
        create(&store, record).await;
    }
    let sessions = user_index(&store)
        .list_user(&hong)
        .await
        .expect("list_user failed");
    let ids: Vec<Id> = sessions.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        [first.id, second.id],
        "the user's sessions, oldest first"
    );
    let listed_first = &sessions[0];
    assert!((listed_first.created_at - first.created_at).abs() < Duration::milliseconds(1));
    assert!((listed_first.expires_at - first.expires_at).abs() < Duration::milliseconds(1));
    assert_eq!(listed(&store, &kim).await, [other.id]);
    let loaded = load(&store, &first.id)
        .await
        .expect("created record must load");
    assert_eq!(
        loaded.user.as_deref(),
        Some(hong.as_str()),
        "the binding must load back"
    );
    assert_eq!(load(&store, &unbound.id).await.unwrap().user, None);
}

/// A user nobody bound has no sessions, and ending them ends none.
pub async fn unknown_user_has_no_sessions(store: DynStore) {
    let nobody = fresh_user("nobody");
    assert!(listed(&store, &nobody).await.is_empty());
    assert_eq!(
        user_index(&store)
            .delete_user(&nobody, None)
            .await
            .expect("delete_user failed"),
        0
    );
}

/// A save binds, rebinds and unbinds: the session moves between the
/// users' lists, and a save that does not name the user keeps it.
pub async fn save_moves_the_user_binding(store: DynStore) {
    let hong = fresh_user("hong");
    let kim = fresh_user("kim");
    let record = record_with(json!({"a": 1}));
    create(&store, &record).await;

    let mut bind = changes(json!({"b": 2}), &[]);
    bind.user = Some(Some(hong.clone()));
    assert_eq!(store.save(&record.id, &bind).await.unwrap(), Saved::Applied);
    assert_eq!(listed(&store, &hong).await, [record.id]);

    let keep = changes(json!({"c": 3}), &[]);
    assert_eq!(store.save(&record.id, &keep).await.unwrap(), Saved::Applied);
    let touched = store
        .touch(&record.id, now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(touched, Saved::Applied);
    assert_eq!(
        load(&store, &record.id).await.unwrap().user.as_deref(),
        Some(hong.as_str()),
        "a save or touch that does not name the user keeps the binding"
    );
    assert_eq!(listed(&store, &hong).await, [record.id]);

    let mut rebind = changes(json!({}), &[]);
    rebind.user = Some(Some(kim.clone()));
    assert_eq!(
        store.save(&record.id, &rebind).await.unwrap(),
        Saved::Applied
    );
    assert!(
        listed(&store, &hong).await.is_empty(),
        "the old user still lists it"
    );
    assert_eq!(listed(&store, &kim).await, [record.id]);

    let mut unbind = changes(json!({}), &[]);
    unbind.user = Some(None);
    assert_eq!(
        store.save(&record.id, &unbind).await.unwrap(),
        Saved::Applied
    );
    assert!(
        listed(&store, &kim).await.is_empty(),
        "an unbound session is still listed"
    );
    assert_eq!(load(&store, &record.id).await.unwrap().user, None);
}

/// A save that binds a session that is gone writes nothing, index included.
pub async fn binding_a_gone_session_lists_nothing(store: DynStore) {
    let hong = fresh_user("hong");
    let mut bind = changes(json!({"a": 1}), &[]);
    bind.user = Some(Some(hong.clone()));
    assert_eq!(store.save(&Id::random(), &bind).await.unwrap(), Saved::Gone);
    assert!(listed(&store, &hong).await.is_empty());
}

/// `cycle` moves the session in the index too: the new id is listed, the
/// old one is not.
pub async fn cycle_moves_the_index_entry(store: DynStore) {
    let hong = fresh_user("hong");
    let old = bound(&hong);
    create(&store, &old).await;
    let moved = bound(&hong);
    assert_eq!(cycle(&store, &old.id, &moved).await.unwrap(), Cycled::Moved);
    assert_eq!(listed(&store, &hong).await, [moved.id]);

    // Binding at login: an anonymous session cycled into a bound one.
    let anonymous = record_with(json!({"cart": 1}));
    create(&store, &anonymous).await;
    let login = bound(&hong);
    assert_eq!(
        cycle(&store, &anonymous.id, &login).await.unwrap(),
        Cycled::Moved
    );
    assert_eq!(
        set(&listed(&store, &hong).await),
        set(&[moved.id, login.id])
    );
}

/// Deleted and expired sessions are not listed.
pub async fn ended_sessions_leave_the_index(store: DynStore) {
    let hong = fresh_user("hong");
    let deleted = bound(&hong);
    let mut expiring = bound(&hong);
    expiring.expires_at = now() + Duration::milliseconds(1200);
    let live = bound(&hong);
    for record in [&deleted, &expiring, &live] {
        create(&store, record).await;
    }
    store.delete(&deleted.id).await.unwrap();
    assert_eq!(
        set(&listed(&store, &hong).await),
        set(&[expiring.id, live.id])
    );
    tokio::time::sleep(StdDuration::from_millis(2200)).await;
    assert_eq!(
        listed(&store, &hong).await,
        [live.id],
        "an expired session is listed"
    );
    if let Some(cleanup) = store.capabilities().cleanup {
        cleanup
            .delete_expired()
            .await
            .expect("delete_expired failed");
        assert_eq!(listed(&store, &hong).await, [live.id]);
    }
}

/// `delete_user` ends every session of the user and no one else's; what
/// it ended cannot be saved, touched or cycled back.
pub async fn delete_user_ends_every_session(store: DynStore) {
    let hong = fresh_user("hong");
    let kim = fresh_user("kim");
    let hongs: Vec<Record> = (0..3).map(|_| bound(&hong)).collect();
    let kims = bound(&kim);
    for record in hongs.iter().chain([&kims]) {
        create(&store, record).await;
    }
    assert_eq!(
        user_index(&store).delete_user(&hong, None).await.unwrap(),
        3
    );
    assert!(listed(&store, &hong).await.is_empty());
    for record in &hongs {
        assert!(
            load(&store, &record.id).await.is_none(),
            "a session of the user survived"
        );
        let saved = store
            .save(&record.id, &changes(json!({"x": 1}), &[]))
            .await
            .unwrap();
        assert_eq!(saved, Saved::Gone, "save revived an ended session");
        let touched = store
            .touch(&record.id, now() + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(touched, Saved::Gone, "touch revived an ended session");
        let cycled = cycle(&store, &record.id, &bound(&hong)).await.unwrap();
        assert_eq!(cycled, Cycled::Gone, "cycle revived an ended session");
    }
    assert!(
        listed(&store, &hong).await.is_empty(),
        "a revived session was listed"
    );
    assert!(
        load(&store, &kims.id).await.is_some(),
        "another user's session was ended"
    );
    assert_eq!(listed(&store, &kim).await, [kims.id]);
}

/// `delete_user` with `keep` leaves exactly that session.
pub async fn delete_user_keeps_exactly_one(store: DynStore) {
    let hong = fresh_user("hong");
    let hongs: Vec<Record> = (0..3).map(|_| bound(&hong)).collect();
    for record in &hongs {
        create(&store, record).await;
    }
    let keep = hongs[1].id;
    assert_eq!(
        user_index(&store)
            .delete_user(&hong, Some(&keep))
            .await
            .unwrap(),
        2
    );
    assert_eq!(listed(&store, &hong).await, [keep]);
    assert!(load(&store, &keep).await.is_some());
    assert!(load(&store, &hongs[0].id).await.is_none());
    assert!(load(&store, &hongs[2].id).await.is_none());
    // A `keep` that is not one of the user's sessions keeps nothing of theirs.
    assert_eq!(
        user_index(&store)
            .delete_user(&hong, Some(&Id::random()))
            .await
            .unwrap(),
        1
    );
    assert!(listed(&store, &hong).await.is_empty());
}

/// "Log out everywhere" racing saves of the same user's sessions: once
/// both are done, no session of the user is live or listed.
pub async fn delete_user_racing_saves_leaves_nothing(store: DynStore) {
    for _ in 0..5 {
        let hong = fresh_user("hong");
        let hongs: Vec<Record> = (0..4).map(|_| bound(&hong)).collect();
        for record in &hongs {
            create(&store, record).await;
        }
        let mut tasks = Vec::new();
        for record in &hongs {
            for n in 0..3 {
                let store = store.clone();
                let id = record.id;
                tasks.push(tokio::spawn(async move {
                    let change = changes(json!({ format!("k{n}"): n }), &[]);
                    store.save(&id, &change).await.expect("save failed");
                }));
            }
        }
        let ended = user_index(&store)
            .delete_user(&hong, None)
            .await
            .expect("delete_user failed");
        for task in tasks {
            task.await.expect("a save task panicked");
        }
        assert_eq!(ended, 4, "every live session is ended once");
        for record in &hongs {
            assert!(
                load(&store, &record.id).await.is_none(),
                "a save racing delete_user left a live session behind"
            );
        }
        assert!(listed(&store, &hong).await.is_empty());
    }
}

/// "Log out everywhere" racing cycles of the user's sessions (a login or
/// a privilege change giving a session a fresh id at that moment): once
/// both are done, nothing of the user is live or listed, under the old id
/// or the new one. Twenty rounds; [`race_cycles_against_delete_user`]
/// runs as many as asked.
pub async fn cycle_racing_delete_user_leaves_nothing(store: DynStore) {
    race_cycles_against_delete_user(store, 20).await;
}

/// `rounds` rounds of [`cycle_racing_delete_user_leaves_nothing`]: in
/// each, three sessions of a fresh user are cycled by their own tasks
/// (each after a different number of yields, so the cycles land before,
/// during and after the index is read) while `delete_user` runs. Panics
/// on the first round that leaves a session of the user live or listed,
/// naming the round.
pub async fn race_cycles_against_delete_user(store: DynStore, rounds: usize) {
    for round in 0..rounds {
        let user = fresh_user("cycler");
        let sessions: Vec<Record> = (0..3).map(|_| bound(&user)).collect();
        for record in &sessions {
            create(&store, record).await;
        }
        let mut cycles = Vec::new();
        for (n, old) in sessions.iter().enumerate() {
            let store = store.clone();
            let old = old.id;
            let mut moved = bound(&user);
            moved.created_at = sessions[n].created_at;
            let new = moved.id;
            let yields = (round + n) % 4;
            cycles.push((
                old,
                new,
                tokio::spawn(async move {
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    cycle(&store, &old, &moved).await.expect("cycle failed")
                }),
            ));
        }
        user_index(&store)
            .delete_user(&user, None)
            .await
            .expect("delete_user failed");
        for (old, new, task) in cycles {
            let outcome = task.await.expect("a cycle task panicked");
            assert!(
                outcome == Cycled::Moved || outcome == Cycled::Gone,
                "round {round}: a cycle onto a fresh id answered {outcome:?}"
            );
            assert!(
                load(&store, &old).await.is_none(),
                "round {round}: a session ended by delete_user is live under its old id"
            );
            assert!(
                load(&store, &new).await.is_none(),
                "round {round}: a session cycled while delete_user ran survived under its new id \
                 (cycle answered {outcome:?})"
            );
        }
        assert!(
            listed(&store, &user).await.is_empty(),
            "round {round}: the user still lists sessions after delete_user"
        );
    }
}

/// `end_user_session` ends exactly the session it names, and only when
/// that session is live and bound to the user; its answer says whether
/// it did.
pub async fn end_user_session_ends_one_session(store: DynStore) {
    let hong = fresh_user("hong");
    let kim = fresh_user("kim");
    let target = bound(&hong);
    let other = bound(&hong);
    let kims = bound(&kim);
    let unbound = record_with(json!({"a": 1}));
    for record in [&target, &other, &kims, &unbound] {
        create(&store, record).await;
    }
    let end = |user: &str, id: Id| {
        let store = store.clone();
        let user = user.to_owned();
        async move {
            user_index(&store)
                .end_user_session(&user, &id)
                .await
                .expect("end_user_session failed")
        }
    };
    assert!(end(&hong, target.id).await, "a live bound session is ended");
    assert!(load(&store, &target.id).await.is_none());
    assert!(
        !end(&hong, target.id).await,
        "ending it again answers false"
    );
    assert_eq!(listed(&store, &hong).await, [other.id]);
    assert!(
        !end(&hong, kims.id).await,
        "another user's session is not ended"
    );
    assert!(
        !end(&hong, unbound.id).await,
        "an unbound session is not ended"
    );
    assert!(
        !end(&hong, Id::random()).await,
        "an unknown id answers false"
    );
    assert!(load(&store, &kims.id).await.is_some());
    assert!(load(&store, &unbound.id).await.is_some());
    assert_eq!(
        store
            .save(&target.id, &changes(json!({"b": 2}), &[]))
            .await
            .unwrap(),
        Saved::Gone,
        "an ended session cannot be saved back"
    );
}

/// `end_user_session` racing a cycle of the session it names tells the
/// truth: when it answers `true`, the session is live under neither id;
/// when it answers `false`, the old id is gone (the session went on under
/// the new one, which the cycle answered `Moved` for).
pub async fn end_user_session_racing_a_cycle_tells_the_truth(store: DynStore) {
    for round in 0..20 {
        let user = fresh_user("ender");
        let old = bound(&user);
        create(&store, &old).await;
        let mut moved = bound(&user);
        moved.created_at = old.created_at;
        let new = moved.id;
        let cycling = {
            let store = store.clone();
            let old = old.id;
            tokio::spawn(async move {
                for _ in 0..round % 4 {
                    tokio::task::yield_now().await;
                }
                cycle(&store, &old, &moved).await.expect("cycle failed")
            })
        };
        let ended = user_index(&store)
            .end_user_session(&user, &old.id)
            .await
            .expect("end_user_session failed");
        let cycled = cycling.await.expect("the cycle task panicked");
        assert!(load(&store, &old.id).await.is_none(), "round {round}");
        let new_lives = load(&store, &new).await.is_some();
        if ended {
            assert!(
                !new_lives,
                "round {round}: end_user_session answered true but the session lives on under \
                 its new id (cycle answered {cycled:?})"
            );
        } else {
            assert_eq!(
                (cycled, new_lives),
                (Cycled::Moved, true),
                "round {round}: end_user_session answered false although it was not moved away"
            );
        }
    }
}

/// User names are opaque text: characters that key or pattern syntaxes
/// treat specially do not make two users share an index.
pub async fn awkward_user_names_are_distinct(store: DynStore) {
    let base = fresh_user("u");
    let names = [
        base.clone(),
        format!("{base}*"),
        format!("{base}:x"),
        format!("{base}{{tag}}"),
        format!("{base} 日本 🦀"),
        format!("{base}%"),
        format!("{base}'; --"),
    ];
    let mut ids = Vec::new();
    for name in &names {
        let record = bound(name);
        create(&store, &record).await;
        ids.push(record.id);
    }
    for (name, id) in names.iter().zip(&ids) {
        assert_eq!(
            listed(&store, name).await,
            [*id],
            "user {name:?} shares an index"
        );
    }
    assert_eq!(
        user_index(&store)
            .delete_user(&names[1], None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        listed(&store, &names[0]).await,
        [ids[0]],
        "a pattern matched another user"
    );
}

/// A small deterministic generator for [`user_index_matches_a_model`]
/// (xorshift64*; the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// Random sequences of creates, binds, rebinds, unbinds, cycles, deletes
/// and `delete_user` (with and without `keep`) on a few sessions of three
/// users: after every step, `list_user` of each user is exactly what a
/// model of the sessions says, and every session loads with its user.
pub async fn user_index_matches_a_model(store: DynStore) {
    use std::collections::BTreeMap;

    let seed = u64::from_le_bytes(Id::random().as_bytes()[..8].try_into().unwrap()) | 1;
    let mut rng = Rng(seed);
    let users: Vec<String> = (0..3).map(|i| fresh_user(&format!("m{i}"))).collect();
    // The model: live session id -> its user.
    let mut model: BTreeMap<Id, Option<usize>> = BTreeMap::new();
    let pick_user = |rng: &mut Rng| {
        let n = rng.below(users.len() + 1);
        (n < users.len()).then_some(n)
    };
    for step in 0..120 {
        let live: Vec<Id> = model.keys().copied().collect();
        let target = (!live.is_empty()).then(|| live[rng.below(live.len())]);
        let what = rng.below(6);
        let context = format!("seed {seed:#x}, step {step}, op {what}");
        match (what, target) {
            (1, Some(id)) => {
                let user = pick_user(&mut rng);
                let mut change = changes(json!({ "step": step }), &[]);
                change.user = Some(user.map(|u| users[u].clone()));
                assert_eq!(
                    store.save(&id, &change).await.unwrap(),
                    Saved::Applied,
                    "{context}"
                );
                model.insert(id, user);
            }
            (2, Some(id)) => {
                let mut record = record_with(json!({ "step": step }));
                let user = pick_user(&mut rng);
                record.user = user.map(|u| users[u].clone());
                assert_eq!(
                    cycle(&store, &id, &record).await.unwrap(),
                    Cycled::Moved,
                    "{context}"
                );
                model.remove(&id);
                model.insert(record.id, user);
            }
            (3, Some(id)) => {
                store.delete(&id).await.unwrap();
                model.remove(&id);
            }
            (4, _) => {
                let user = rng.below(users.len());
                let keep = target.filter(|_| rng.below(2) == 0);
                let ended = user_index(&store)
                    .delete_user(&users[user], keep.as_ref())
                    .await
                    .unwrap();
                let before = model.len();
                model.retain(|id, owner| *owner != Some(user) || Some(*id) == keep);
                assert_eq!(ended as usize, before - model.len(), "{context}: count");
            }
            _ => {
                let mut record = record_with(json!({ "step": step }));
                let user = pick_user(&mut rng);
                record.user = user.map(|u| users[u].clone());
                create(&store, &record).await;
                model.insert(record.id, user);
            }
        }
        for (index, user) in users.iter().enumerate() {
            let expected: BTreeSet<Id> = model
                .iter()
                .filter(|(_, owner)| **owner == Some(index))
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(
                set(&listed(&store, user).await),
                expected,
                "{context}: user {index}"
            );
        }
        if step % 20 == 19 {
            for (id, owner) in &model {
                let loaded = load(&store, id).await.expect("a live session is gone");
                assert_eq!(loaded.user, owner.map(|u| users[u].clone()), "{context}");
            }
        }
    }
}
