"""Reference renderings of chat templates with Python's jinja2, set up the way Hugging Face
transformers renders `tokenizer.chat_template` (trim_blocks, lstrip_blocks, loop controls, a
`tojson` that is `json.dumps` without ASCII escaping, `raise_exception`, `strftime_now`).

Reads {"now": <unix seconds>, "jobs": [{"id", "template", "context"}]} on stdin and writes
{"<id>": {"ok": "<text>"} | {"error": "<message>"}} on stdout. airgate's template tests compare
their own rendering of every job with this one.
"""

import json
import sys
from datetime import datetime, timezone

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def main() -> None:
    request = json.load(sys.stdin)
    now = datetime.fromtimestamp(request["now"], tz=timezone.utc)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return now.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now

    results = {}
    for job in request["jobs"]:
        try:
            template = env.from_string(job["template"])
            results[job["id"]] = {"ok": template.render(**job["context"])}
        except Exception as e:  # noqa: BLE001 - every failure is a result to compare
            results[job["id"]] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
