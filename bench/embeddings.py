#!/usr/bin/env python3
"""B10: embeddings per second, airgate `POST /v1/embeddings` vs `llama-server --embedding`, same model.

Part of `make bench` (bench/run.py calls `round()` and `rows()`), or alone:

  python3 bench/embeddings.py --airgate BIN --llama-server BIN --model GGUF [--rounds 2]

The model is a generation model (the default Gemma 3 270M), so both servers mean-pool its token
vectors: airgate with `embeddings = true` on the model (its embeddings thread, inputs in 128-token
chunks), llama-server with `--embedding --pooling mean`. Each request carries a batch of code
chunks, the way GitLab's code indexing sends them; several clients send at once. The figure is
inputs embedded per second (client wall clock); the report also gives the cosine between the two
servers' vectors for the same inputs (both must compute the same thing).
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser, env_int) -> None:
    p.add_argument("--b10-requests", type=int, default=env_int("BENCH_B10_REQUESTS", 6), help="B10 requests per client")
    p.add_argument("--b10-batch", type=int, default=env_int("BENCH_B10_BATCH", 8), help="B10 inputs per request")
    p.add_argument("--b10-clients", type=int, default=env_int("BENCH_B10_CLIENTS", 2), help="B10 concurrent clients")
    p.add_argument("--b10-chars", type=int, default=env_int("BENCH_B10_CHARS", 500), help="B10 characters per input")


def chunks(R, rnd: int, n: int, chars: int) -> list[str]:
    """`n` distinct pieces of Python of about `chars` characters (code-search chunks)."""
    out = []
    for i in range(n):
        text = R.make_python(random.Random(f"b10-{rnd}-{i}"), chars + 400)
        start = text.find("\ndef ") + 1
        out.append(text[start : start + chars])
    return out


def airgate_server(b, R, label: str):
    """airgate with the bench model allowed to embed (its table in a config file)."""
    port = R.free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=b.logdir))
    config = b.logdir / f"{label}.toml"
    config.write_text(f'models = [{{ path = "{b.model}", name = "{b.model_name}", embeddings = true }}]\n')
    argv = [
        b.args.airgate, "serve",
        "--config", str(config),
        "--listen", f"127.0.0.1:{port}",
        "--dws-listen", "127.0.0.1:0",
        "--threads", str(b.args.threads),
        "--ctx-size", "1024",
        "--parallel", "1",
        "--data-dir", str(data_dir),
        "--auth-bypass",
        "--log-format", "json",
    ]  # fmt: skip
    return R.Server("airgate", argv, port, "/monitoring/ready", b.logdir, label).start()


def llama_server(b, R, label: str):
    """llama-server's embeddings mode: mean pooling, 8 slots sharing one KV buffer, 512-token batches."""
    port = R.free_port()
    argv = [
        b.args.llama_server,
        "--host", "127.0.0.1", "--port", str(port),
        "-m", str(b.model),
        "-t", str(b.args.threads), "-tb", str(b.args.threads),
        "--embedding", "--pooling", "mean",
        "-c", "4096", "-np", "8", "-kvu",
        "-b", "512", "-ub", "512",
        "--cache-ram", "0",
        "--fit", "off",
        "--no-webui",
        "-a", b.model_name,
    ] + b.args.llama_extra  # fmt: skip
    return R.Server("llama", argv, port, "/health", b.logdir, label).start()


def embed(R, port: int, model: str, inputs: list[str]):
    out, wall = R.post_json(port, "/v1/embeddings", {"model": model, "input": inputs})
    vectors = [d["embedding"] for d in sorted(out["data"], key=lambda d: d["index"])]
    if len(vectors) != len(inputs):
        raise R.HttpError(f"asked for {len(inputs)} embeddings, got {len(vectors)}")
    return vectors, wall, out.get("usage", {}).get("prompt_tokens")


def measure(b, R, kind: str, port: int, rnd: int) -> None:
    a = b.args
    for i in range(2):
        embed(R, port, b.model_name, [f"warm-up {i}", "def f(x):\n    return x + 1\n"])
    per_client = a.b10_requests * a.b10_batch
    texts = chunks(R, rnd, per_client * a.b10_clients, a.b10_chars)

    def client(c: int):
        mine = texts[c * per_client : (c + 1) * per_client]
        got, tokens = [], 0
        for r in range(a.b10_requests):
            vectors, _, n = embed(R, port, b.model_name, mine[r * a.b10_batch : (r + 1) * a.b10_batch])
            got.extend(vectors)
            tokens += n or 0
        return got, tokens

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=a.b10_clients) as pool:
        results = list(pool.map(client, range(a.b10_clients)))
    wall = time.perf_counter() - start
    b.add(kind, "b10_inputs_s", len(texts) / wall)
    b.add(kind, "b10_tokens_s", sum(t for _, t in results) / wall)
    b.add(kind, "b10_prompt_tokens", [t / per_client for _, t in results])
    # the first client's vectors of this round, to compare the two servers
    b.b10_vectors.setdefault(rnd, {})[kind] = results[0][0][:a.b10_batch]
    # the same inputs one per request (untimed): what each server answers with no neighbours
    alone = [embed(R, port, b.model_name, [t])[0][0] for t in texts[:a.b10_batch]]
    b.b10_alone.setdefault(rnd, {})[kind] = alone


def run_round(b, rnd: int, R) -> None:
    """One A/B pass: airgate, then llama-server, each started afresh."""
    if not hasattr(b, "b10_vectors"):
        b.b10_vectors, b.b10_alone = {}, {}
    for kind, launch in (("airgate", airgate_server), ("llama", llama_server)):
        b.wait_quiet()
        t0 = time.time()
        srv = launch(b, R, f"{kind}-b10-r{rnd + 1}")
        try:
            measure(b, R, kind, srv.port, rnd)
            b.add(kind, "b10_rss", srv.rss().get("VmRSS"))
        finally:
            srv.stop()
        R.log(f"    {kind:8s} B10 embeddings done in {time.time() - t0:5.1f} s")


def cos(x, y) -> float:
    dot = sum(p * q for p, q in zip(x, y))
    norm = math.sqrt(sum(p * p for p in x)) * math.sqrt(sum(q * q for q in y))
    return dot / norm if norm else 0.0


def cosines(b, left=("b10_vectors", "airgate"), right=("b10_vectors", "llama")) -> list[float]:
    """Cosines between two sets of vectors of the same inputs, every round."""
    out = []
    for rnd, pair in getattr(b, left[0], {}).items():
        other = getattr(b, right[0], {}).get(rnd, {})
        if left[1] in pair and right[1] in other:
            out.extend(cos(x, y) for x, y in zip(pair[left[1]], other[right[1]]))
    return out


def rows(b, args, R) -> list[str]:
    """The B10 table rows (same columns as run.py's table)."""
    A, L, g = "airgate", "llama", b.get
    a, l = R.median(g(A, "b10_inputs_s")), R.median(g(L, "b10_inputs_s"))
    r = R.ratio(a, l)
    at, lt = R.median(g(A, "b10_tokens_s")), R.median(g(L, "b10_tokens_s"))
    pt = R.median(g(A, "b10_prompt_tokens"))
    cos = cosines(b)
    alone = cosines(b, ("b10_vectors", "airgate"), ("b10_alone", "llama"))
    self_a = cosines(b, ("b10_vectors", "airgate"), ("b10_alone", "airgate"))
    self_l = cosines(b, ("b10_vectors", "llama"), ("b10_alone", "llama"))
    low = lambda v: R.fmt(min(v) if v else None, 4)  # noqa: E731
    mib = lambda x: None if x is None else x / R.MiB  # noqa: E731
    ar, lr = R.median(g(A, "b10_rss")), R.median(g(L, "b10_rss"))
    return [
        f"| B10 | embeddings/s ({args.b10_clients} clients × {args.b10_batch} inputs of ~{R.fmt(pt, 0)} tokens per request) | "
        f"{R.fmt(a)} | {R.fmt(l)} | {R.fmt_ratio(r)} | ≥ 1.00× | {R.status(R.at_least(r, 1.0))} |",
        f"| B10 | embedded tokens/s | {R.fmt(at, 0)} | {R.fmt(lt, 0)} | {R.fmt_ratio(R.ratio(at, lt))} | – | – |",
        f"| B10 | RSS after the run, MiB | {R.fmt(mib(ar), 0)} | {R.fmt(mib(lr), 0)} | {R.fmt_ratio(R.ratio(ar, lr))} | – | – |",
        f"| B10 | cosine airgate vs llama-server vectors, min / median ({len(cos)} inputs) | "
        f"{R.fmt(min(cos) if cos else None, 4)} / {R.fmt(R.median(cos), 4)} | – | – | ≥ 0.99 | "
        f"{R.status(None if not cos else min(cos) >= 0.99)} |",
        f"| B10 | cosine airgate vs llama-server with each input sent alone, min / median | "
        f"{low(alone)} / {R.fmt(R.median(alone), 4)} | – | – | ≥ 0.99 | {R.status(None if not alone else min(alone) >= 0.99)} |",
        f"| B10 | cosine of a server's batched vectors vs the same input alone, min | {low(self_a)} | {low(self_l)} | – | – | – |",
    ]


HOW = (
    "- B10: `POST /v1/embeddings` on both (OpenAI shape), {clients} clients at once, each {requests} requests of "
    "{batch} Python chunks of ~{chars} characters; inputs/s = all inputs ÷ wall time. airgate: the model's table "
    "has `embeddings = true` (mean pooling in airgate over 64-token chunks, decodes stopped before the logits, its "
    "own embeddings context beside one generation slot, `--ctx-size 1024`); llama-server: `--embedding --pooling "
    "mean -c 4096 -np 8 -kvu -b 512 -ub 512` (without `-kvu` its batched vectors are wrong). The cosines compare "
    "the two servers' vectors of the same inputs, and each with the inputs sent one per request (untimed)."
)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run as R  # noqa: PLC0415 - the driver's helpers; importing it here avoids a cycle

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--airgate", required=True)
    p.add_argument("--llama-server", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=R.env_int("BENCH_THREADS", 2))
    p.add_argument("--rounds", type=int, default=R.env_int("BENCH_ROUNDS", 2))
    p.add_argument("--quiet-wait", type=int, default=R.env_int("BENCH_QUIET_WAIT", 0))
    p.add_argument("--llama-extra", default="")
    add_arguments(p, R.env_int)
    args = p.parse_args()
    args.llama_extra = args.llama_extra.split()
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = R.Bench(args)
    busy0, own0, t0 = R.cpu_busy_seconds(), R.own_cpu_seconds(), time.time()
    try:
        for rnd in range(args.rounds):
            R.log(f"==> B10 round {rnd + 1}/{args.rounds}")
            run_round(b, rnd, R)
    except KeyboardInterrupt:
        R.log("B10: interrupted; servers stopped")
        return 130
    finally:
        R.Server.stop_all()
        shutil.rmtree(b.logdir, ignore_errors=True)
    other = max(0.0, (R.cpu_busy_seconds() - busy0) - (R.own_cpu_seconds() - own0)) / max(1.0, time.time() - t0)
    print("| | metric | airgate | llama-server | airgate / llama-server | target | |")
    print("|---|---|---:|---:|---:|---|---|")
    print("\n".join(rows(b, args, R)))
    print()
    print(HOW.format(clients=args.b10_clients, requests=args.b10_requests, batch=args.b10_batch, chars=args.b10_chars))
    print(f"- Other processes used {other:.2f} CPUs on average during the run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
