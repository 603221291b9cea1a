#!/usr/bin/env python3
"""Tool calling, structured output and their errors, driven by the official openai client.

Usage:
    openai_tools.py --base-url http://127.0.0.1:PORT/v1 --model NAME [--api-key KEY]

Checks (each a named step; the first failure stops the run):
  tools          a plain call (tool_choice required): message.tool_calls with an id, type
                 "function", a known name, arguments that parse and follow the schema,
                 finish_reason "tool_calls";
  named          tool_choice naming one of two tools: that tool is called;
  stream         the same, streamed: the first delta of a call carries index, id, type and name with
                 empty arguments, later deltas only argument fragments, which add up to valid JSON;
                 finish_reason "tool_calls";
  round_trip     an assistant message with tool_calls and the tool's result go back in; the model
                 answers in text (tool_choice none);
  parse          client.chat.completions.parse with a Pydantic model: message.parsed is an instance;
  json_object    response_format json_object: the content is a JSON object;
  errors         a schema feature the grammar cannot enforce, an unknown named tool and a tool message
                 without its call are 400s in OpenAI's error shape, naming the problem.

Prints one JSON line ({"ok": true, ...}) on success and exits 0; on failure a message on stderr,
{"ok": false, ...} on stdout and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Literal

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "maxLength": 40}},
            "required": ["timezone"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


class Failure(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise Failure(msg)


def valid_weather(args: dict) -> bool:
    return (
        set(args) <= {"city", "unit"}
        and isinstance(args.get("city"), str)
        and len(args["city"]) <= 40
        and args.get("unit") in ("celsius", "fahrenheit")
    )


def step_tools(client, model) -> dict:
    r = client.chat.completions.create(
        model=model, messages=ASK, tools=[WEATHER], tool_choice="required", temperature=0, max_tokens=120
    )
    choice = r.choices[0]
    check(choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason!r}")
    calls = choice.message.tool_calls or []
    check(len(calls) >= 1, f"no tool_calls in {choice.message}")
    call = calls[0]
    check(call.type == "function" and call.id.startswith("call_"), f"call shape {call}")
    check(call.function.name == "get_weather", f"name {call.function.name!r}")
    args = json.loads(call.function.arguments)
    check(valid_weather(args), f"arguments break the schema: {args}")
    return {"id": call.id, "arguments": args}


def step_named(client, model) -> dict:
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What time is it in Tokyo?"}],
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        temperature=0,
        max_tokens=120,
    )
    calls = r.choices[0].message.tool_calls or []
    check([c.function.name for c in calls] == ["get_time"], f"calls {calls}")
    return {"arguments": json.loads(calls[0].function.arguments)}


def step_stream(client, model) -> dict:
    stream = client.chat.completions.create(
        model=model, messages=ASK, tools=[WEATHER], tool_choice="required", temperature=0, max_tokens=120, stream=True
    )
    calls: dict[int, dict] = {}
    fragments = 0
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        c = chunk.choices[0]
        finish = c.finish_reason or finish
        for d in c.delta.tool_calls or []:
            if d.index not in calls:
                check(d.id is not None and d.id.startswith("call_"), f"first delta without an id: {d}")
                check(d.type == "function", f"first delta type {d.type!r}")
                check(d.function.name == "get_weather", f"first delta name {d.function.name!r}")
                check(d.function.arguments == "", f"first delta arguments {d.function.arguments!r}")
                calls[d.index] = {"id": d.id, "arguments": ""}
            else:
                check(d.id is None and (d.function.name is None), f"a later delta repeats id or name: {d}")
                calls[d.index]["arguments"] += d.function.arguments or ""
                fragments += 1
    check(finish == "tool_calls", f"finish_reason {finish!r}")
    check(calls, "no tool call streamed")
    check(fragments >= 2, f"arguments came in {fragments} fragment(s)")
    args = json.loads(calls[0]["arguments"])
    check(valid_weather(args), f"streamed arguments break the schema: {args}")
    return {"fragments": fragments, "arguments": args}


def step_round_trip(client, model, call_id: str, args: dict) -> dict:
    messages = ASK + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": json.dumps(args)}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": '{"temperature": 21, "sky": "clear"}'},
    ]
    r = client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER], tool_choice="none", temperature=0, max_tokens=24
    )
    choice = r.choices[0]
    check(not choice.message.tool_calls, "tool_choice none still called a tool")
    check(choice.finish_reason in ("stop", "length"), f"finish_reason {choice.finish_reason!r}")
    return {"content": choice.message.content}


def step_parse(client, model) -> dict:
    from pydantic import BaseModel, Field

    class Weather(BaseModel):
        city: str = Field(max_length=24)
        temperature_c: int
        sky: Literal["sunny", "cloudy", "rainy"]

    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    r = parse(
        model=model,
        messages=[{"role": "user", "content": "Describe the weather in Oslo as JSON."}],
        response_format=Weather,
        temperature=0,
        max_tokens=80,
    )
    parsed = r.choices[0].message.parsed
    check(isinstance(parsed, Weather), f"parsed is {parsed!r}")
    return {"parsed": parsed.model_dump()}


def step_json_object(client, model) -> dict:
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Give me a JSON object describing a cat."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=60,
    )
    choice = r.choices[0]
    if choice.finish_reason == "length":
        return {"cut": True}
    check(isinstance(json.loads(choice.message.content), dict), f"content {choice.message.content!r}")
    return {"content": choice.message.content}


def step_errors(client, model) -> dict:
    import openai

    bad_schema = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "not": {}}}}
    cases = [
        ("unsupported schema", dict(tools=[bad_schema]), "`not`"),
        (
            "unknown named tool",
            dict(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}),
            "nope",
        ),
    ]
    seen = {}
    for name, extra, needle in cases:
        try:
            client.chat.completions.create(model=model, messages=ASK, max_tokens=4, **extra)
        except openai.BadRequestError as e:
            message = e.body.get("message", "") if isinstance(e.body, dict) else str(e)
            check(needle in message, f"{name}: the message does not name the problem: {message!r}")
            seen[name] = message
        else:
            raise Failure(f"{name}: accepted")
    try:
        client.chat.completions.create(
            model=model, messages=ASK + [{"role": "tool", "tool_call_id": "call_x", "content": "r"}], max_tokens=4
        )
    except openai.BadRequestError as e:
        seen["orphan tool message"] = str(e)
    else:
        raise Failure("a tool message without its call was accepted")
    return seen


def run(args: argparse.Namespace) -> dict:
    import openai

    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key or "none", timeout=args.timeout, max_retries=0)
    summary: dict = {}
    summary["tools"] = step_tools(client, args.model)
    summary["named"] = step_named(client, args.model)
    summary["stream"] = step_stream(client, args.model)
    summary["round_trip"] = step_round_trip(client, args.model, summary["tools"]["id"], summary["tools"]["arguments"])
    summary["parse"] = step_parse(client, args.model)
    summary["json_object"] = step_json_object(client, args.model)
    summary["errors"] = step_errors(client, args.model)
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--api-key", default="")
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args()
    try:
        import openai  # noqa: F401
    except ImportError:
        print("openai is not installed (pip install -r tests/python/requirements.txt)", file=sys.stderr)
        return 2
    try:
        summary = run(args)
    except Failure as e:
        print(f"openai_tools: {e}", file=sys.stderr)
        print(json.dumps({"ok": False, "error": str(e)}))
        return 1
    print(json.dumps({"ok": True, **summary}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
