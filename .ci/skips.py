#!/usr/bin/env python3
"""Reads `go test -json` on stdin and prints each skipped test with what it logged, one
per line: "pkg TestName: message"."""
import json
import sys

out = {}
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    key = (e.get("Package"), e.get("Test"))
    if not key[1]:
        continue
    if e.get("Action") == "output":
        text = e.get("Output", "").strip()
        if text and not text.startswith(("=== ", "--- ")):
            out.setdefault(key, []).append(text)
    elif e.get("Action") == "skip":
        print(f"{key[0]} {key[1]}: {' '.join(out.get(key, []))}")
