"""Validates airgate's /metrics page with the Prometheus project's own Python parser.

Usage: metrics_check.py URL. Exits non-zero when the page does not parse or breaks an exposition
rule (help text on every family, counters named *_total, histogram buckets ending in +Inf, label
names valid). Prints the samples as JSON lines: {"name": ..., "labels": {...}, "value": ...}.
"""

import json
import re
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def main() -> int:
    with urllib.request.urlopen(sys.argv[1], timeout=30) as response:
        content_type = response.headers.get("content-type", "")
        text = response.read().decode("utf-8")
    if not content_type.startswith("text/plain"):
        print(f"content type {content_type!r} is not the text format", file=sys.stderr)
        return 1
    problems = []
    for family in text_string_to_metric_families(text):
        if not family.documentation:
            problems.append(f"{family.name}: no HELP text")
        if family.type not in ("counter", "gauge", "histogram", "summary", "untyped"):
            problems.append(f"{family.name}: type {family.type}")
        buckets = {}
        for sample in family.samples:
            if not NAME.match(sample.name):
                problems.append(f"bad metric name {sample.name!r}")
            for label in sample.labels:
                if not LABEL.match(label):
                    problems.append(f"{sample.name}: bad label name {label!r}")
            if family.type == "counter" and not (sample.name.endswith("_total") or sample.name.endswith("_created")):
                problems.append(f"counter sample {sample.name} does not end in _total")
            if sample.name.endswith("_bucket"):
                key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
                buckets.setdefault(key, []).append(sample.labels.get("le"))
            print(json.dumps({"name": sample.name, "labels": sample.labels, "value": sample.value}))
        for key, les in buckets.items():
            if "+Inf" not in les:
                problems.append(f"{family.name}{dict(key)}: buckets without +Inf")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
