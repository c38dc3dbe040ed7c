#!/usr/bin/env bash
# benches/path-files.sh — which of this workspace's library files run on
# every request, with their line counts: how much a reader following one
# request has to open.
#
#   benches/path-files.sh [VARIANT] [N]
#
# VARIANT is a case of `benches/examples/instructions.rs` (default
# `ours_memory`: the tutorial counter on the memory store, in axum). The
# example runs under callgrind twice, with no measured request and with N
# (default 200); a file is on the path when its instruction count grows with
# the requests (so setup code such as building the layer does not count).
# Built in the dev profile, whose debug line tables name the source file of
# every instruction, inlined code included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
variant=${1:-ours_memory}
n=${2:-200}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
cargo build --quiet -p benches --example instructions
bin="${CARGO_TARGET_DIR:-target}/debug/examples/instructions"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for runs in 0 "$n"; do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$runs" "$bin" "$variant" "$runs" >/dev/null 2>&1
done
python3 - "$tmp/cg.0" "$tmp/cg.$n" "$n" "$PWD" <<'PY'
import os, re, sys

def costs(path):
    """Instructions per source file in a callgrind profile."""
    names, per_file = {}, {}
    def name(value):
        m = re.match(r"\((\d+)\)(?: (.*))?", value)
        if not m:
            return value
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "?")
    fl = current = None
    skip_next = False
    at = 0  # the source line of the last cost line (positions: line)
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("fl="):
            fl = current = name(line[3:])
        elif line.startswith(("fi=", "fe=")):
            current = name(line[3:])
        elif line.startswith("fn="):
            current = fl
        elif line.startswith("calls="):
            skip_next = True
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            parts = line.split()
            # A position is absolute, relative to the last one (+n, -n), or
            # the same (*).
            if parts[0][0] in "+-":
                at += int(parts[0])
            elif parts[0] != "*":
                at = int(parts[0])
            if skip_next:
                skip_next = False
                continue
            # Line 0 is code the compiler made up with no line of its own
            # (a jump table, a drop); no reader opens its file for it.
            if len(parts) >= 2 and current and at != 0:
                per_file[current] = per_file.get(current, 0) + int(parts[1])
        elif line.startswith(("cfl=", "cfi=", "cfn=")):
            # Names defined in call lines are defined for later use too.
            name(line.split("=", 1)[1])
    return per_file

before, after, n, root = costs(sys.argv[1]), costs(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = []
for path, cost in after.items():
    grown = (cost - before.get(path, 0)) / n
    rel = os.path.relpath(path, root) if os.path.isabs(path) else path
    if grown <= 0 or not re.match(r"session-(core|store-[a-z]+)/src/", rel):
        continue
    lines = sum(1 for _ in open(os.path.join(root, rel)))
    rows.append((rel, lines, grown))
rows.sort()
for rel, lines, grown in rows:
    print(f"{lines:6} lines  {grown:9.0f} instr/request  {rel}")
print(f"{len(rows)} files, {sum(r[1] for r in rows)} lines")
PY
