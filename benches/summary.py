#!/usr/bin/env python3
"""Prints the criterion results of the last `cargo bench -p benches` run as
markdown tables with the ratios BENCHMARKS.md quotes (run by benches/run.sh,
which writes them to benches/criterion-results.md)."""

import json
import pathlib

BASE = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def mean(group, name):
    path = BASE / group / name / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["mean"]["point_estimate"]
    except (OSError, ValueError, KeyError):
        return None


def ns(value):
    if value is None:
        return "–"
    return f"{value / 1000:.2f} µs" if value >= 1000 else f"{value:.0f} ns"


def ratio(a, b):
    return "–" if a is None or b is None else f"{a / b:.2f}"


def main():
    print("### Signed session id (criterion mean)\n")
    print("| op | ours | cookie SignedJar | HMAC floor | SignedJar / ours | ours / floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for op in ("sign", "verify"):
        o, j, f = (mean("signed_id", f"{op}_{n}") for n in ("ours", "cookie_signed_jar", "hmac_floor"))
        print(f"| {op} | {ns(o)} | {ns(j)} | {ns(f)} | {ratio(j, o)} | {ratio(o, f)} |")

    print("\n### Data cookies (criterion mean)\n")
    print("| payload | op | ours signed | SignedJar | SignedJar / ours | ours encrypted | PrivateJar | PrivateJar / ours | ours Starlette | HMAC floor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for payload in ("counter", "login"):
        group = f"data_cookie_{payload}"
        for op in ("encode", "verify"):
            s, sj = mean(group, f"{op}_ours_signed"), mean(group, f"{op}_cookie_signed_jar")
            e, pj = mean(group, f"{op}_ours_encrypted"), mean(group, f"{op}_cookie_private_jar")
            st = mean(group, f"{op}_ours_starlette")
            floor = mean(group, "encode_hmac_floor") if op == "encode" else None
            print(f"| {payload} | {op} | {ns(s)} | {ns(sj)} | {ratio(sj, s)} | {ns(e)} | {ns(pj)} | {ratio(pj, e)} | {ns(st)} | {ns(floor)} |")

    print("\n### Whole request in-process (tower oneshot, counter)\n")
    floor = mean("request", "no_session")
    print("| app | time | overhead over no session |")
    print("|---|---:|---:|")
    for name in ("no_session", "layer_floor", "ours_memory", "ours_cookie_store", "tower_sessions_memory"):
        t = mean("request", name)
        over = None if t is None or floor is None else t - floor
        print(f"| {name} | {ns(t)} | {ns(over)} |")
    ours, peer = mean("request", "ours_memory"), mean("request", "tower_sessions_memory")
    if None not in (ours, peer, floor):
        print(f"\nOur overhead (memory store) is {(ours - floor) / (peer - floor):.2f} of tower-sessions' overhead.")
    cookie, plumbing = mean("request", "ours_cookie_store"), mean("request", "layer_floor")
    if None not in (cookie, peer, floor):
        print(f"Our overhead (signed-cookie store) is {(cookie - floor) / (peer - floor):.2f} of tower-sessions' overhead.")
    if None not in (ours, cookie, peer, plumbing):
        print(
            f"Above `layer_floor` (the session work alone): memory {(ours - plumbing) / (peer - plumbing):.2f}, "
            f"signed cookie {(cookie - plumbing) / (peer - plumbing):.2f} of tower-sessions'."
        )

    print("\n### Store work per counter request (load + save), real servers\n")
    print("| store | ours | raw client floor | ours / floor |")
    print("|---|---:|---:|---:|")
    for store, raw in (("redis", "raw_get_set"), ("postgres", "raw_select_update"), ("sqlite", "raw_select_update")):
        o, r = mean("store_request", f"{store}_ours"), mean("store_request", f"{store}_{raw}")
        print(f"| {store} | {ns(o)} | {ns(r)} ({raw}) | {ratio(o, r)} |")

    print("\n### Memory store: load + save of a random live session\n")
    print("| live sessions | time | vs 1 k | bare HashMap (`hashmap_floor`) | vs 1 k |")
    print("|---:|---:|---:|---:|---:|")
    small = mean("memory_store", "load_save/1000")
    small_floor = mean("memory_store", "hashmap_floor/1000")
    for size in (1000, 100000, 1000000):
        t = mean("memory_store", f"load_save/{size}")
        f = mean("memory_store", f"hashmap_floor/{size}")
        print(f"| {size:,} | {ns(t)} | {ratio(t, small)} | {ns(f)} | {ratio(f, small_floor)} |")


if __name__ == "__main__":
    main()
