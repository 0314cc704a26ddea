#!/usr/bin/env python3
"""Cohen's kappa per signal between the corpus authors' labels and a blind second annotator's
(annotator-labels.json: session id -> labels, written from the session text and the label
definitions only). Run from the repository root: python3 core/eval/corpus/agreement/kappa.py"""
import glob, json, os

here = os.path.dirname(os.path.abspath(__file__))
second = json.load(open(os.path.join(here, "annotator-labels.json"), encoding="utf-8"))
gold = {}
for path in glob.glob(os.path.join(here, "..", "batch-*.json")):
    for s in json.load(open(path, encoding="utf-8"))["sessions"]:
        gold[s["id"]] = set(s.get("labels", s.get("signals", [])))
SIGNALS = ["circular_reasoning", "distractor_fixation", "quality_degradation", "confirmation",
           "anchoring", "availability", "over_generalization", "false_dichotomy",
           "hasty_conclusion", "circular_justification", "sunk_cost"]
ids = [i for i in second if i in gold]

def kappa(pairs):
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    p1 = sum(a for a, _ in pairs) / n
    p2 = sum(b for _, b in pairs) / n
    expected = p1 * p2 + (1 - p1) * (1 - p2)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0, observed

print(f"{len(ids)} sessions labelled twice")
pooled = []
for signal in SIGNALS:
    pairs = [(signal in gold[i], signal in second[i]) for i in ids]
    pooled += pairs
    k, agree = kappa(pairs)
    print(f"{signal:24} kappa {k:.2f}  agreement {agree:.2f}  author {sum(a for a, _ in pairs):2d}  annotator {sum(b for _, b in pairs):2d}")
k, agree = kappa(pooled)
print(f"{'pooled':24} kappa {k:.2f}  agreement {agree:.2f}")
