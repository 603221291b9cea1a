#!/usr/bin/env python3
"""Smoke test of airgate's OpenAI-compatible API with the official openai client.

Usage:
    openai_smoke.py --base-url http://127.0.0.1:PORT/v1 --model NAME [--api-key KEY]

Checks:
  1. non-streaming chat completion: non-empty choices[0].message.content and
     usage.completion_tokens > 0;
  2. streamed text completion: at least 2 chunks, non-empty concatenated text;
  3. models.list() contains the model.

On success prints one JSON line ({"ok": true, ...}) on stdout and exits 0.
On failure prints a clear message on stderr (and a JSON line with "ok": false
on stdout) and exits 1; exits 2 when the openai package is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


class SmokeFailure(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise SmokeFailure(msg)


def run(args: argparse.Namespace) -> dict:
    import openai

    client = openai.OpenAI(
        base_url=args.base_url,
        api_key=args.api_key or "none",
        timeout=args.timeout,
        max_retries=0,
    )
    summary: dict = {"base_url": args.base_url, "model": args.model}

    # 1. Non-streaming chat completion.
    t0 = time.monotonic()
    chat = client.chat.completions.create(
        model=args.model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=16,
        temperature=0,
    )
    check(bool(chat.choices), "chat completion: response has no choices")
    content = chat.choices[0].message.content
    check(
        isinstance(content, str) and content.strip() != "",
        f"chat completion: empty choices[0].message.content ({content!r})",
    )
    check(chat.usage is not None, "chat completion: response has no usage")
    check(
        (chat.usage.completion_tokens or 0) > 0,
        f"chat completion: usage.completion_tokens={chat.usage.completion_tokens!r}, expected > 0",
    )
    summary["chat"] = {
        "content": content,
        "finish_reason": chat.choices[0].finish_reason,
        "prompt_tokens": chat.usage.prompt_tokens,
        "completion_tokens": chat.usage.completion_tokens,
        "seconds": round(time.monotonic() - t0, 3),
    }

    # 2. Streamed text completion.
    t0 = time.monotonic()
    stream = client.completions.create(
        model=args.model,
        prompt="The capital of France is",
        max_tokens=8,
        temperature=0,
        stream=True,
    )
    chunks = 0
    parts: list[str] = []
    finish_reason = None
    for chunk in stream:
        chunks += 1
        for choice in chunk.choices or []:
            if choice.text:
                parts.append(choice.text)
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    text = "".join(parts)
    check(chunks >= 2, f"streamed completion: got {chunks} chunk(s), expected at least 2")
    check(text.strip() != "", f"streamed completion: empty text ({text!r})")
    summary["stream"] = {
        "chunks": chunks,
        "text": text,
        "finish_reason": finish_reason,
        "seconds": round(time.monotonic() - t0, 3),
    }

    # 3. Model listing.
    ids = [m.id for m in client.models.list()]
    check(args.model in ids, f"models.list(): {args.model!r} not in {ids!r}")
    summary["models"] = ids

    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:5052/v1")
    p.add_argument("--model", required=True, help="model name as served by airgate")
    p.add_argument("--api-key", default=None, help='bearer token (default "none")')
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, seconds")
    args = p.parse_args(argv)

    try:
        import openai  # noqa: F401
    except ImportError:
        print("openai_smoke: the 'openai' package is not installed "
              "(pip install -r tests/python/requirements.txt)", file=sys.stderr)
        return 2

    try:
        summary = run(args)
    except SmokeFailure as e:
        print(f"openai_smoke: FAIL: {e}", file=sys.stderr)
        print(json.dumps({"ok": False, "error": str(e)}))
        return 1
    except Exception as e:  # openai.APIError, connection errors, ...
        msg = f"{type(e).__name__}: {e}"
        print(f"openai_smoke: FAIL: {msg}", file=sys.stderr)
        print(json.dumps({"ok": False, "error": msg}))
        return 1

    print(json.dumps({"ok": True, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
