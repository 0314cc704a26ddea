#!/usr/bin/env python3
"""Merges an author's part files into core/eval/corpus/batch-<X>.json without printing any text."""
import json, glob, os, sys
x = sys.argv[1]
parts = sorted(glob.glob(f"/work/authoring/batch-{x}/part-*.json"))
sessions = []
for p in parts:
    sessions += json.load(open(p, encoding="utf-8"))["sessions"]
for s in sessions:
    s.pop("batch", None)
out = {"batch": x, "author": f"author-{x}", "brief": "core/eval/corpus/authoring/BRIEF.md", "sessions": sessions}
path = f"/work/main/core/eval/corpus/batch-{x}.json"
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"batch {x}: {len(sessions)} sessions from {len(parts)} files -> {path}")
