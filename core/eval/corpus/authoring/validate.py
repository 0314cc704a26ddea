#!/usr/bin/env python3
"""Checks an author's batch folder: every part-*.json parses and each session has the required shape.
Usage: python3 /work/authoring/validate.py /work/authoring/batch-X
Prints counts per label, language, style and hard negatives, and every problem found."""
import json, sys, glob, collections, os

LABELS = {"circular_reasoning", "distractor_fixation", "quality_degradation", "confirmation", "anchoring",
          "availability", "over_generalization", "false_dichotomy", "hasty_conclusion",
          "circular_justification", "sunk_cost"}
LANGS = {"en", "zh", "ja", "de", "fr", "es", "pt", "ru", "ko", "it"}
STYLES = {"terse", "verbose", "bulleted", "code", "maths", "numbers", "mixed"}

folder = sys.argv[1]
problems, ids = [], set()
labels, langs, styles = collections.Counter(), collections.Counter(), collections.Counter()
hard, clean, total = 0, 0, 0
for path in sorted(glob.glob(os.path.join(folder, "part-*.json"))):
    try:
        doc = json.load(open(path, encoding="utf-8"))
    except Exception as e:
        problems.append(f"{path}: not JSON: {e}"); continue
    for s in doc.get("sessions", []):
        total += 1
        sid = s.get("id")
        where = f"{os.path.basename(path)}:{sid}"
        if not sid or sid in ids: problems.append(f"{where}: missing or repeated id")
        ids.add(sid)
        steps = s.get("steps")
        if not isinstance(steps, list) or not (4 <= len(steps) <= 10) or not all(isinstance(x, str) and x.strip() for x in steps):
            problems.append(f"{where}: steps must be 4-10 non-empty strings")
            steps = steps if isinstance(steps, list) else []
        if s.get("language") not in LANGS: problems.append(f"{where}: language {s.get('language')!r}")
        if s.get("style") not in STYLES: problems.append(f"{where}: style {s.get('style')!r}")
        ls = s.get("labels")
        if not isinstance(ls, list) or any(l not in LABELS for l in ls): problems.append(f"{where}: labels {ls!r}"); ls = []
        ev = s.get("evidence", {})
        for l in ls:
            idx = ev.get(l)
            if not isinstance(idx, list) or not idx or any(not isinstance(i, int) or i < 1 or i >= len(steps) for i in idx):
                problems.append(f"{where}: evidence for {l} must list step indexes 1..{len(steps)-1}")
        for l in ev:
            if l not in ls: problems.append(f"{where}: evidence names {l} which is not a label")
        nm = s.get("near_miss")
        if ls and nm: problems.append(f"{where}: a labelled session is not a hard negative; drop near_miss")
        if nm is not None and nm not in LABELS: problems.append(f"{where}: near_miss {nm!r}")
        if not s.get("note"): problems.append(f"{where}: note missing")
        labels.update(ls); langs[s.get("language")] += 1; styles[s.get("style")] += 1
        if nm: hard += 1
        elif not ls: clean += 1
print(f"sessions {total}, hard negatives {hard} ({100*hard/max(total,1):.0f}%), clean {clean}")
print("labels:", dict(sorted(labels.items())))
print("languages:", dict(sorted(langs.items())))
print("styles:", dict(sorted(styles.items())))
print(f"{len(problems)} problems")
for p in problems: print("  ", p)
sys.exit(1 if problems else 0)
