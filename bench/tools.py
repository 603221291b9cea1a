#!/usr/bin/env python3
"""Tool calling and constrained decoding, measured (`make bench` runs it after the A/B rounds;
it also runs alone, see main()).

  B7  decoding with a grammar: generation tok/s of a JSON answer held to a schema, against the
      same number of unconstrained tokens on airgate, and against llama-server with the same schema.
  B8  tool-call parser and chat-template rendering overhead per request (p50/p95, in-process:
      `airgate bench-tools`).
  B9  malformed tool calls over the 50 prompts of tests/fixtures/tool_prompts.json, with and
      without the grammar, on the default model and (when given) an instruct model with a chat
      template.

Standard library only, like run.py.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import run as common  # noqa: E402  (bench/run.py: servers, HTTP helpers, statistics)

PROMPTS = ROOT / "tests" / "fixtures" / "tool_prompts.json"

# B7: a JSON answer long enough to time, held to a schema by the grammar.
B7_SCHEMA = {
    "type": "object",
    "properties": {"numbers": {"type": "array", "items": {"type": "integer"}, "minItems": 40, "maxItems": 40}},
    "required": ["numbers"],
}
B7_QUESTION = "Write forty numbers as JSON."
B7_REQUESTS = 3


def gemma_chat(text: str) -> str:
    """The prompt text airgate renders for one user message on a model without its own template
    (llama.cpp's built-in Gemma layout): what llama-server gets, so both decode the same prompt."""
    return f"<start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n"


# ----------------------------------------------------------------------------------------------
# B7


def b7_airgate(port: int, model: str) -> dict:
    """Constrained tok/s (chat + response_format) and unconstrained tok/s of as many tokens."""
    constrained, free, tokens = [], [], []
    for i in range(B7_REQUESTS):
        body = {
            "model": model,
            "messages": [{"role": "user", "content": B7_QUESTION}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "numbers", "schema": B7_SCHEMA}},
            "temperature": 0,
            "max_tokens": 400,
        }
        out, wall = common.post_json(port, "/v1/chat/completions", body)
        n = out["usage"]["completion_tokens"]
        json.loads(out["choices"][0]["message"]["content"])  # it is JSON
        constrained.append(n / wall)
        tokens.append(n)
        body = {"model": model, "prompt": gemma_chat(B7_QUESTION), "max_tokens": n, "temperature": 0, "ignore_eos": True}
        out, wall = common.post_json(port, "/v1/completions", body)
        free.append(out["usage"]["completion_tokens"] / wall)
    return {"grammar_tok_s": constrained, "free_tok_s": free, "tokens": tokens}


def b7_llama(port: int) -> dict:
    rates, tokens = [], []
    for _ in range(B7_REQUESTS):
        body = {
            "prompt": gemma_chat(B7_QUESTION),
            "json_schema": B7_SCHEMA,
            "n_predict": 400,
            "temperature": 0,
            "cache_prompt": False,
        }
        out, wall = common.post_json(port, "/completion", body)
        json.loads(out["content"])
        rates.append(out["tokens_predicted"] / wall)
        tokens.append(out["tokens_predicted"])
    return {"grammar_tok_s": rates, "tokens": tokens}


# ----------------------------------------------------------------------------------------------
# B8


def b8(airgate: str) -> dict | None:
    try:
        out = subprocess.run([airgate, "bench-tools"], check=True, capture_output=True, text=True, timeout=300).stdout
        return json.loads(out)
    except (subprocess.SubprocessError, OSError, ValueError) as e:
        common.log(f"    B8: airgate bench-tools failed: {e}")
        return None


# ----------------------------------------------------------------------------------------------
# B9


def valid_against(schema: dict, value) -> bool:
    """The JSON-schema subset the fixture uses: types, required, enum, pattern, minimum/maximum,
    minLength, items."""
    t = schema.get("type")
    kinds = {
        "object": dict, "array": list, "string": str, "boolean": bool,
        "integer": int, "number": (int, float),
    }  # fmt: skip
    if t and not isinstance(value, kinds[t]) or (t in ("integer", "number") and isinstance(value, bool)):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
        if len(value) < schema.get("minLength", 0):
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return False
        if "maximum" in schema and value > schema["maximum"]:
            return False
    if isinstance(value, dict):
        if any(k not in value for k in schema.get("required", [])):
            return False
        props = schema.get("properties", {})
        return all(valid_against(props[k], v) for k, v in value.items() if k in props)
    if isinstance(value, list) and "items" in schema:
        return all(valid_against(schema["items"], v) for v in value)
    return True


def tool_round(port: int, model: str, fixture: dict, grammar: bool, choice: str, seed: int) -> dict:
    """Every fixture prompt once. A prompt counts as well-formed when the answer holds at least one
    call and every call names an offered tool with arguments that parse and follow its schema."""
    tools = fixture["tools"]
    counts = {
        "prompts": 0, "well_formed": 0, "calls": 0, "expected_tool": 0, "no_call": 0,
        "cut": 0, "malformed_text": 0, "seconds": 0.0,
    }  # fmt: skip
    for p in fixture["prompts"]:
        offered = [{"type": "function", "function": {"name": n, **tools[n]}} for n in p["tools"]]
        body = {
            "model": model,
            "messages": [{"role": "user", "content": p["message"]}],
            "tools": offered,
            "tool_choice": choice,
            "temperature": 0.7,
            "seed": seed + p["id"],
            "max_tokens": 200,
            "tool_grammar": grammar,
        }
        out, wall = common.post_json(port, "/v1/chat/completions", body)
        counts["prompts"] += 1
        counts["seconds"] += wall
        answer = out["choices"][0]
        calls = answer["message"].get("tool_calls") or []
        content = answer["message"].get("content") or ""
        ok = bool(calls)
        for c in calls:
            f = c["function"]
            try:
                args = json.loads(f["arguments"])
            except ValueError:
                ok = False
                continue
            if f["name"] not in p["tools"] or not valid_against(tools[f["name"]]["parameters"], args):
                ok = False
        counts["calls"] += len(calls)
        counts["well_formed"] += ok
        counts["no_call"] += not calls
        # Why an answer has no call: the output ran out inside one (max_tokens), or the model wrote
        # something call-like that does not parse or validate (returned as text), or plain text.
        counts["cut"] += not calls and answer["finish_reason"] == "length"
        counts["malformed_text"] += not calls and '"name"' in content
        counts["expected_tool"] += ok and calls[0]["function"]["name"] == p["expect"]
    return counts


def b9(launch, model_name: str, label: str, rounds: int = 1) -> dict:
    fixture = json.loads(PROMPTS.read_text())
    results = {}
    srv = launch(f"b9-{label}")
    try:
        for grammar in (True, False):
            for choice in ("required", "auto"):
                total = None
                for r in range(rounds):
                    c = tool_round(srv.port, model_name, fixture, grammar, choice, 1000 * r)
                    total = c if total is None else {k: total[k] + c[k] for k in c}
                results[f"{'grammar' if grammar else 'free'}/{choice}"] = total
                common.log(f"    B9 {label} grammar={grammar} tool_choice={choice}: {total}")
    finally:
        srv.stop()
    return results


# ----------------------------------------------------------------------------------------------
# report


def rate(n, d):
    return "n/a" if not d else f"{100 * n / d:.0f} % ({n}/{d})"


def report(results: dict) -> list[str]:
    lines = ["", "## Tool calling and constrained decoding (issue 14)", ""]
    b7 = results.get("b7")
    if b7:
        a, lf = b7["airgate"], b7.get("llama") or {}
        ag, af, lg = common.median(a["grammar_tok_s"]), common.median(a["free_tok_s"]), common.median(lf.get("grammar_tok_s", []))
        r_free, r_llama = common.ratio(ag, af), common.ratio(ag, lg)
        lines += [
            "| | metric | airgate | llama-server | ratio | target | |",
            "|---|---|---:|---:|---:|---|---|",
            f"| B7 | JSON answer held to a schema, tok/s (~{common.fmt(common.median(a['tokens']), 0)} tokens) | "
            f"{common.fmt(ag)} | {common.fmt(lg)} | {common.fmt_ratio(r_llama)} | ≥ 1.00× llama-server | "
            f"{common.status(common.at_least(r_llama, 1.0))} |",
            f"| B7 | … against airgate unconstrained, same tokens | {common.fmt(ag)} | {common.fmt(af)} (airgate, free) | "
            f"{common.fmt_ratio(r_free)} | ≥ 0.90× | {common.status(common.at_least(r_free, 0.9))} |",
        ]
    b8r = results.get("b8")
    if b8r:
        p50 = max(b8r["render_p50_us"], 0) + max(b8r["parse_p50_us"], 0)
        lines.append(
            f"| B8 | template rendering + tool-call parsing per request, p50 (p95) µs | "
            f"{b8r['render_p50_us']:.0f} + {b8r['parse_p50_us']:.0f} ({b8r['render_p95_us']:.0f} + {b8r['parse_p95_us']:.0f}) | – | – | "
            f"< 1000 µs | {common.status(p50 < 1000)} |"
        )
    for label, res in (results.get("b9") or {}).items():
        for mode, c in res.items():
            missing = c["prompts"] - c["well_formed"]
            lines.append(
                f"| B9 | {label}, {mode}: prompts without a well-formed call (of them: cut by max_tokens / "
                f"call-like text that does not parse or validate) | {rate(missing, c['prompts'])} "
                f"({c['cut']} / {c['malformed_text']}) | – | – | grammar + required: no malformed call | "
                f"{common.status(c['malformed_text'] == 0) if mode == 'grammar/required' else ''} |"
            )
    lines += [
        "",
        "- B7: `POST /v1/chat/completions` with `response_format` json_schema (an array of 40 integers), temperature 0, "
        "against `POST /v1/completions` on the same rendered prompt with `ignore_eos` and as many tokens, and "
        "llama-server `POST /completion` with `json_schema` on that prompt; tok/s = completion tokens ÷ wall time.",
        "- B8: `airgate bench-tools` renders a Qwen 2.5 and a Llama 3.1 template with two tools and a tool round trip, and "
        "parses a streamed Hermes answer with a call, in-process, many times; p50/p95 per request.",
        "- B9: the 50 prompts of `tests/fixtures/tool_prompts.json` (1–3 tools offered each), temperature 0.7 with a "
        "fixed seed per prompt, `tool_choice` required and auto, with the grammar and without it (`tool_grammar: false`). "
        "A prompt counts as well-formed when its answer has at least one call and every call names an offered tool "
        "with arguments that parse and follow the schema; under `auto` an answer without a call counts against.",
    ]
    return lines


def run_all(bench, args) -> dict:
    """Called by run.py after its rounds (servers launched the way it launches them)."""
    results = {}
    common.log("==> B7/B8/B9 (tool calling)")
    srv = bench.airgate(1, "b7-airgate")
    try:
        results["b7"] = {"airgate": b7_airgate(srv.port, bench.model_name)}
    finally:
        srv.stop()
    srv = bench.llama(1, "b7-llama")
    try:
        results["b7"]["llama"] = b7_llama(srv.port)
    except common.HttpError as e:
        bench.notes.append(f"B7: llama-server refused the schema request: {e}")
    finally:
        srv.stop()
    results["b8"] = b8(args.airgate)
    results["b9"] = {bench.model_name: b9(lambda label: bench.airgate(1, label), bench.model_name, bench.model_name)}
    instruct = getattr(args, "instruct_model", "")
    if instruct and Path(instruct).exists():
        name = Path(instruct).stem
        original = bench.model
        bench.model = Path(instruct)
        try:
            results["b9"][name] = b9(lambda label: bench.airgate(1, label), name, name)
        finally:
            bench.model = original
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--airgate", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--llama-server", default="")
    p.add_argument("--instruct-model", default="", help="an instruct GGUF with a chat template (B9 only)")
    p.add_argument("--only", default="b7,b8,b9", help="which parts to run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ctx", type=int, default=2048)
    args = p.parse_args()
    args.llama_extra = []
    bench = common.Bench(
        argparse.Namespace(
            airgate=args.airgate, model=args.model, llama_server=args.llama_server, threads=args.threads,
            ctx=args.ctx, llama_extra=[],
        )
    )  # fmt: skip
    results: dict = {}
    only = set(args.only.split(","))
    try:
        if "b7" in only:
            srv = bench.airgate(1, "b7-airgate")
            try:
                results["b7"] = {"airgate": b7_airgate(srv.port, bench.model_name)}
            finally:
                srv.stop()
            if args.llama_server:
                srv = bench.llama(1, "b7-llama")
                try:
                    results["b7"]["llama"] = b7_llama(srv.port)
                finally:
                    srv.stop()
        if "b8" in only:
            results["b8"] = b8(args.airgate)
        if "b9" in only:
            results["b9"] = {bench.model_name: b9(lambda label: bench.airgate(1, label), bench.model_name, bench.model_name)}
            if args.instruct_model:
                bench.model = Path(args.instruct_model)
                name = bench.model.stem
                results["b9"][name] = b9(lambda label: bench.airgate(1, label), name, name)
    finally:
        common.Server.stop_all()
    print("\n".join(report(results)))
    print(json.dumps(results, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
