#!/usr/bin/env python3
"""tools/bench-report end to end at its tiny size: it runs the benches, exits 0,
and writes a report.md with the expected sections and tables whose SVG charts
exist and are well-formed XML. Needs root (the benches load BPF programs) and the
benches built in --build-dir; fails, never skips, when either is missing."""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def fail(msg):
    print(f"bench_report_test: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", required=True)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-report-test-") as tmp:
        out = Path(tmp) / "report"
        start = time.monotonic()
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "bench-report"), "--size", "tiny", "--no-build",
                            "--build-dir", a.build_dir, "--out", str(out)], capture_output=True, text=True)
        took = time.monotonic() - start
        if r.returncode != 0:
            fail(f"tools/bench-report exited with {r.returncode} after {took:.0f} s:\n{r.stderr[-4000:]}")
        report = out / "report.md"
        if not report.exists():
            fail("no report.md")
        text = report.read_text()
        for heading in ("# sluice benchmark report", "## Goals (issue 7)", "## Compile at scale",
                        "## Where the time goes", "## Datapath", "## Per-packet cost against cluster size", "## Services"):
            if heading not in text:
                fail(f"report.md lacks the section '{heading}'")
        if "FAILED" in text or "**failed**" in text:
            fail("report.md says a bench failed:\n" + text)
        for row in ("| Compile every node of 10,000 pods", "| Established-flow packet", "| … and from 100 to 100,000 pods"):
            if row not in text:
                fail(f"the goals table lacks the row '{row}'")
        # The tiny size measures two cluster sizes (100 and 1,000 pods): the pods goal has a figure and a verdict.
        if not re.search(r"^\| … and from 100 to 100,000 pods \| × empty, max/min over 100–1,000 pods: .*\| \*\*(met|missed)",
                         text, re.M):
            fail("the pods goal has no measured figure:\n" + "\n".join(l for l in text.splitlines() if "pods" in l))
        # Tables: a header line followed by a |---| rule, at least one per bench section.
        tables = re.findall(r"^\|.*\|\n\|[-:|]+\|\n(?:\|.*\|\n)+", text, re.M)
        if len(tables) < 6:
            fail(f"expected at least 6 Markdown tables, found {len(tables)}")
        if re.search(r"\|\s*compile every node.*\| not measured \|", text, re.I):
            fail("the compile goal has no figure")
        charts = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", text)
        if len(charts) < 3:
            fail(f"expected at least 3 charts linked from report.md, found {charts}")
        for name in charts:
            path = out / name
            if not path.exists():
                fail(f"report.md links {name}, which does not exist")
            try:
                root = ET.parse(path).getroot()
            except ET.ParseError as e:
                fail(f"{name} is not well-formed XML: {e}")
            if root.tag != "{http://www.w3.org/2000/svg}svg" or not root.get("viewBox"):
                fail(f"{name} is not an SVG document with a viewBox")
            drawn = [e for e in root.iter() if e.tag.endswith("}path") or e.tag.endswith("}circle")]
            if not drawn:
                fail(f"{name} draws no data")
        for data in (out / "data").glob("*.json"):
            json.loads(data.read_text())
        print(f"bench_report_test: ok ({took:.0f} s, {len(tables)} tables, {len(charts)} charts)")


if __name__ == "__main__":
    main()
