"""Example bias detector in Python, built with componentize-py: appeals to an unnamed authority.

"Studies show", "experts agree", "it is well known" lend a claim the weight of evidence without
saying whose; a reasoning step that leans on them cannot be checked. A sentence that names its
source (a link, "(Author, 2021)", "[3]", "et al.", "doi:") is left alone. The evidence span is the
phrase, converted from Python's code-point indexes to the UTF-8 byte offsets the contract wants.

Build (componentize-py from PyPI; no other dependency):

    componentize-py -d ../../wit -w bias-detector componentize app -o unattributed_authority.wasm
"""

import json
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.detector import Finding, StepContext
from wit_world.imports.types import PluginMetadata, Severity, Span

VERSION = "0.1.0"

PHRASES = [
    "studies show",
    "studies have shown",
    "research shows",
    "research suggests",
    "experts agree",
    "experts say",
    "scientists agree",
    "it is well known",
    "it is widely accepted",
    "it is common knowledge",
    "everyone knows",
    "as everybody knows",
    "people say",
    "sources say",
]

# What a named source looks like: a link, an author-year citation, a numbered reference, a DOI.
CITATION = re.compile(
    r"https?://|\bdoi:|\bet al\b|\[\d+\]|\([A-Z][A-Za-z-]+(?: (?:and|&) [A-Z][A-Za-z-]+)?,? \d{4}\)"
)

SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")

CONFIG_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"extra_phrases": {"type": "array", "items": {"type": "string"}}},
        "additionalProperties": False,
    }
)


def sentences(text):
    """(start, end) code-point ranges of the sentences of `text`."""
    start = 0
    for match in SENTENCE_END.finditer(text):
        yield start, match.end()
        start = match.end()
    if start < len(text):
        yield start, len(text)


def phrase_pattern(phrases):
    alternatives = "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))
    return re.compile(r"\b(?:" + alternatives + r")\b", re.IGNORECASE)


DEFAULT_PATTERN = phrase_pattern(PHRASES)


class Detector(exports.Detector):
    def metadata(self) -> PluginMetadata:
        return PluginMetadata(
            name="unattributed-authority",
            version=VERSION,
            description="Flags appeals to unnamed authorities (studies show, experts agree, it is "
            "well known) in sentences that cite no source. Written in Python.",
            config_schema=CONFIG_SCHEMA,
        )

    def detect(self, context: StepContext) -> list[Finding]:
        pattern = DEFAULT_PATTERN
        if context.config.strip():
            try:
                config = json.loads(context.config)
                extra = config.get("extra_phrases", [])
                if not isinstance(extra, list) or not all(isinstance(p, str) for p in extra):
                    raise ValueError("extra_phrases must be a list of strings")
            except (ValueError, AttributeError) as error:
                raise Err(f"bad config: {error}")
            if extra:
                pattern = phrase_pattern(PHRASES + [p.lower() for p in extra])

        text = context.step.content
        findings = []
        for start, end in sentences(text):
            sentence = text[start:end]
            if CITATION.search(sentence):
                continue
            for match in pattern.finditer(sentence):
                phrase = match.group(0)
                # Spans are UTF-8 byte offsets; Python indexes code points.
                byte_start = len(text[: start + match.start()].encode("utf-8"))
                byte_end = byte_start + len(phrase.encode("utf-8"))
                findings.append(
                    Finding(
                        bias_type="unattributed_authority",
                        severity=Severity.MEDIUM,
                        confidence=0.6,
                        explanation=f'"{phrase}" appeals to an authority the step does not name.',
                        evidence=Span(start=byte_start, end=byte_end),
                        suggestion="Name the study, the expert or the data, or drop the appeal "
                        "and argue from the evidence itself.",
                    )
                )
        return findings
