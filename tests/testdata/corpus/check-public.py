#!/usr/bin/env python3
"""Runs `sluice ir` and `sluice verify` on public policy examples, one file at a
time with the corpus cluster (plus public-overlay/: pods labelled as the public
examples expect), and prints a Markdown table of the outcomes.

The examples themselves are never committed (docs/corpus.md, "Public examples,
checked locally"): fetch them into /tmp, then, as root:

    tests/testdata/corpus/check-public.py --root /tmp/pub /tmp/pub > /tmp/pub-results.md

Each row: the file (relative to --root), the outcome of `sluice verify`
(`verified`, `refused`, or `exit N`), whether the file changes some endpoint's
program (`selects pods`: the IR of the cluster with the file differs from the
IR of the cluster alone, identities, IP cache and provenance comments left
out), and the errors (or, for a verified file, the warnings and notes) that
sluice printed, with their line numbers.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))


def run(sluice, args):
    p = subprocess.run([sluice] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def endpoint_ir(text):
    kept = []
    for line in text.splitlines():
        if line.startswith("identity ") or line.startswith("  ipcache "):
            continue
        cut = line.find("  # ")
        kept.append(line[:cut] if cut >= 0 else line)
    return "\n".join(kept)


DIAG = re.compile(r"^(?P<file>\S+?):(?P<line>\d+):\d+: (?P<kind>error|warning|note): (?P<msg>.*)$")


def diagnostics(stderr, path, kinds):
    out, skipped = [], {}
    for line in stderr.splitlines():
        m = DIAG.match(line)
        k = m and re.match(r"^\S+ \S+: skipped: sluice does not read kind (\S+)", m.group("msg"))
        if k and m.group("kind") in kinds and m.group("file") == path:
            skipped[k.group(1)] = skipped.get(k.group(1), 0) + 1
        elif m and m.group("kind") in kinds and m.group("file") == path:
            out.append(f"{m.group('kind')} L{m.group('line')}: {m.group('msg')}")
        elif line.startswith("error: ") and "error" in kinds:
            out.append(line[:300])
    # the same message at several places of one file (items [0], [1], ...): once, with its lines
    merged, order = {}, []
    for d in out:
        m = re.match(r"^(\w+) L(\d+): (.*)$", d)
        key = (m.group(1), re.sub(r"\[\d+\]", "[]", m.group(3))) if m else (d, "")
        if key not in merged:
            merged[key] = (m.group(3) if m else "", [])
            order.append(key)
        if m:
            merged[key][1].append(m.group(2))
    rows = []
    for key in order:
        text, lines = merged[key]
        if not lines:
            rows.append(key[0])
        elif len(lines) == 1:
            rows.append(f"{key[0]} L{lines[0]}: {text}")
        else:
            rows.append(f"{key[0]} L{','.join(lines)}: {key[1]}")
    if skipped:
        rows.append("notes: skipped (kinds sluice does not read) " +
                    ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items())))
    return rows


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="files or directories (*.yaml, *.yml, *.json, recursively)")
    ap.add_argument("--sluice", default=os.path.join(REPO, "build", "tools", "sluice", "sluice"))
    ap.add_argument("--cluster", action="append",
                    help="cluster manifests, repeatable (default: corpus/cluster and corpus/public-overlay)")
    ap.add_argument("--root", default="", help="printed paths are relative to this directory")
    args = ap.parse_args()
    cluster = args.cluster or [os.path.join(HERE, "cluster"), os.path.join(HERE, "public-overlay")]

    files = []
    for p in args.paths:
        if os.path.isdir(p):
            for d, _, names in os.walk(p):
                files += [os.path.join(d, n) for n in names if n.endswith((".yaml", ".yml", ".json"))]
        else:
            files.append(p)
    files.sort()

    rc, base_out, base_err = run(args.sluice, ["ir"] + cluster)
    if rc != 0:
        sys.exit(f"sluice ir {' '.join(cluster)} failed:\n{base_err}")
    base = endpoint_ir(base_out)

    counts = {}
    print("| file | verify | selects pods | what sluice said |")
    print("|---|---|---|---|")
    for f in files:
        irc, iout, _ = run(args.sluice, ["ir"] + cluster + [f])
        selects = ("yes" if endpoint_ir(iout) != base else "no") if irc == 0 else "–"
        vrc, vout, verr = run(args.sluice, ["verify"] + cluster + [f])
        if vrc == 0 and "all programs loaded" in vout + verr:
            outcome = "verified"
            said = diagnostics(verr, f, ("warning", "note"))
        elif vrc == 1:
            outcome = "refused"
            said = diagnostics(verr, f, ("error",))
        else:
            outcome = f"exit {vrc}"
            said = diagnostics(verr, f, ("error", "warning", "note"))
        counts[outcome] = counts.get(outcome, 0) + 1
        name = os.path.relpath(f, args.root) if args.root else f
        print(f"| `{cell(name)}` | {outcome} | {selects} | {cell('; '.join(said))} |")
        sys.stdout.flush()
    print()
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" ({len(files)} files)")


if __name__ == "__main__":
    main()
