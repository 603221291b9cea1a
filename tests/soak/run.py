#!/usr/bin/env python3
"""airgate's standing reliability suites (`make soak`): load, crash safety, soak, secrets scan.

Standard library plus the openssl command. Every server runs from the binary under test on
127.0.0.1 with a fresh data directory; nothing leaves loopback; every loop is bounded in time.

  load     200 concurrent clients for 2 minutes against the default model: GitLab code completions
           and Duo Chat steps, /v1 chat and text completions. Every answer is 200, 429 or 503 with
           Retry-After; the server never dies; its RSS stays bounded; /monitoring/healthz answers
           within 100 ms throughout (polled every 200 ms by its own connection).
  crash    100 rounds of kill -9 in the middle of admin writes (API keys, feature routes, remote
           endpoints, model registrations) on a server without a model. After each restart the
           database opens, every acknowledged write is there, and every record reads back whole.
  soak     10 minutes of mixed traffic within the server's capacity: 0 errors, RSS drift under 5 %
           after the warm-up, no growth of open file descriptors.
  secrets  after all the suites: no API key, token, password or endpoint key the suites used
           appears in any log line the servers wrote.

Prints one line per check with its figures and ends with `soak: N passed, M failed` (exit 1 when
any check failed). Knobs: SOAK_SUITES="load crash soak secrets", SOAK_LOAD_SECONDS=120,
SOAK_CLIENTS=200, SOAK_CRASH_ROUNDS=100, SOAK_SECONDS=600, SOAK_KEEP=1 keeps the work directory.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

MiB = 1024 * 1024
PASSWORD = "soak-admin-password-" + uuid.uuid4().hex[:12]
SECRETS: dict[str, str] = {"admin password": PASSWORD}
RESULTS: list[tuple[str, bool, str]] = []


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check(name: str, ok: bool, figures: str) -> None:
    RESULTS.append((name, ok, figures))
    print(f"soak {name:<34} {'ok    ' if ok else 'FAILED'}  {figures}", flush=True)


# ----------------------------------------------------------------------------------------------
# the server


class Server:
    """One airgate process with its own data directory and JSON log file."""

    started: list["Server"] = []

    def __init__(self, binary: Path, work: Path, name: str, args: list[str], data: Path | None = None):
        self.binary, self.name, self.args = binary, name, args
        self.data = data or work / f"{name}-data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs: list[Path] = []
        self.work = work
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 120.0, ready: bool = False) -> "Server":
        log_path = self.work / f"{self.name}-{len(self.logs)}.log"
        self.logs.append(log_path)
        # Both listeners on free loopback ports (the Agent Platform one defaults to 0.0.0.0:50052).
        argv = [str(self.binary), "serve", "--config", str(self.work / "empty.toml"), "--listen", "127.0.0.1:0",
                "--dws-listen", "127.0.0.1:0", "--data-dir", str(self.data), "--log-format", "json", *self.args]
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.work), "RUST_LOG": "info"}
        with open(log_path, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        Server.started.append(self)
        deadline = time.time() + timeout
        while time.time() < deadline and not self.port:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            for entry in self.entries():
                if entry.get("message") == "listening":
                    self.port = int(entry["addr"].rsplit(":", 1)[1])
            time.sleep(0.05)
        if not self.port:
            raise RuntimeError(f"{self.name} did not listen within {timeout:.0f} s:\n{self.tail()}")
        while ready and get(self.port, "/monitoring/ready")[0] != 200:
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.25)
        return self

    def entries(self) -> list[dict]:
        out = []
        for line in self.logs[-1].read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.logs[-1].read_text(errors="replace").splitlines()[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.port = 0

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.port = 0


# ----------------------------------------------------------------------------------------------
# HTTP


class Http:
    """One keep-alive connection to the server (reopened after an error)."""

    def __init__(self, port: int, timeout: float = 300.0):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), payload
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # A kept-alive connection the server closed while idle: one retry on a new one.
                self.close()
                if attempt:
                    raise e
            except Exception:
                # A stream cut mid-body or a timeout leaves the connection unusable: a new one next time.
                self.close()
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def get(port: int, path: str, timeout: float = 5.0):
    try:
        return Http(port, timeout).request("GET", path)
    except OSError:
        return 0, {}, b""


class Admin:
    """A signed-in admin session (cookie + CSRF header)."""

    def __init__(self, port: int):
        self.http, self.cookie, self.csrf = Http(port, 60), "", ""

    def call(self, method: str, path: str, body=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        status, h, payload = self.http.request(method, path, body, headers)
        if "set-cookie" in h:
            self.cookie = h["set-cookie"].split(";", 1)[0]
        try:
            value = json.loads(payload) if payload else None
        except ValueError:
            value = payload
        if isinstance(value, dict) and "csrf" in value:
            self.csrf = value["csrf"]
            SECRETS["admin CSRF token"] = value["csrf"]
        if self.cookie:
            SECRETS["admin session cookie"] = self.cookie.split("=", 1)[1]
        return status, value


def set_up_admin(server: Server) -> Admin:
    deadline = time.time() + 10
    token = None
    while token is None and time.time() < deadline:
        token = next((e["setup_token"] for e in server.entries() if "setup_token" in e), None)
        time.sleep(0.05)
    admin = Admin(server.port)
    if token is None:
        raise RuntimeError(f"no setup token in the log:\n{server.tail()}")
    status, v = admin.call("POST", "/api/admin/setup", {"setup_token": token, "username": "soak", "password": PASSWORD})
    if status != 201:
        raise RuntimeError(f"setup: {status} {v}")
    return admin


def sign_in(port: int) -> Admin:
    admin = Admin(port)
    status, v = admin.call("POST", "/api/admin/login", {"username": "soak", "password": PASSWORD})
    if status != 200:
        raise RuntimeError(f"login: {status} {v}")
    return admin


# ----------------------------------------------------------------------------------------------
# GitLab tokens, signed with airgate's own key (the key `airgate doctor` signs with)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def gitlab_token(data_dir: Path, scopes: list[str]) -> str:
    key = data_dir / "jwt_signing_key.pem"
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-RSAPublicKey_out", "-outform", "DER"],
                            capture_output=True, check=True).stdout
    kid = "airgate-" + hashlib.sha256(public).hexdigest()[:16]
    now = int(time.time())
    claims = {"iss": "airgate-doctor", "aud": "gitlab-ai-gateway", "sub": "soak-instance", "iat": now, "nbf": now,
              "exp": now + 4 * 3600, "jti": str(uuid.uuid4()), "gitlab_realm": "self-managed",
              "gitlab_instance_id": "soak-instance", "scopes": scopes}
    signing_input = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode()) + "." + \
        b64url(json.dumps(claims).encode())
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signing_input.encode(),
                               capture_output=True, check=True).stdout
    token = signing_input + "." + b64url(signature)
    SECRETS["GitLab token"] = token
    return token


def gitlab_headers(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "X-Gitlab-Authentication-Type": "oidc",
            "X-Gitlab-Realm": "self-managed", "X-Gitlab-Instance-Id": "soak-instance",
            "X-Gitlab-Global-User-Id": "soak-user", "X-Gitlab-Version": "18.9.0"}


# ----------------------------------------------------------------------------------------------
# traffic


PYTHON_FILE = "import os\nimport sys\n\n\ndef read_config(path):\n    with open(path) as f:\n        return f.read()\n\n"


def traffic(kind: str, gl: dict, api_key: str, n: int) -> tuple[str, str, dict, dict]:
    """(method path, JSON body, headers) for request number n of a kind."""
    if kind == "completion":
        body = {"current_file": {"file_name": "app.py", "content_above_cursor": PYTHON_FILE + f"def f{n}(x):\n    ",
                                 "content_below_cursor": "\n"}, "model_provider": "litellm",
                "model_name": "codegemma", "prompt_version": 2, "stream": n % 2 == 0}
        return "POST", "/v2/code/completions", body, gl
    if kind == "chat":
        body = {"messages": [{"role": "user", "content": f"How do I revert commit {n:x}?"}]}
        return "POST", "/v2/chat/agent", body, gl
    auth = {"Authorization": f"Bearer {api_key}"}
    if kind == "v1chat":
        body = {"messages": [{"role": "user", "content": f"Say hello number {n}."}], "max_tokens": 12,
                "stream": n % 3 == 0}
        return "POST", "/v1/chat/completions", body, auth
    body = {"prompt": f"Item {n}: the quick brown fox", "max_tokens": 12}
    return "POST", "/v1/completions", body, auth


KINDS = ["completion", "chat", "v1chat", "v1text"]

# Polls /monitoring/healthz every 200 ms on one kept-alive connection until argv[2] (a time);
# prints the latencies in ms as JSON (-1: no 200 within 5 s).
HEALTH_PROBE = r"""
import http.client, json, sys, time
port, stop, out, conn = int(sys.argv[1]), float(sys.argv[2]), [], None
while time.time() < stop:
    t = time.perf_counter()
    try:
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/monitoring/healthz")
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - t) * 1000 if response.status == 200 else -1)
    except (OSError, http.client.HTTPException):
        out.append(-1)
        conn = None
    time.sleep(0.2)
print(json.dumps(out))
"""


def set_up_model_server(binary: Path, work: Path, name: str, extra: list[str], model: Path):
    server = Server(binary, work, name, ["--model", str(model), "--threads", "2", *extra]).start(300, ready=True)
    admin = set_up_admin(server)
    status, key = admin.call("POST", "/api/admin/api-keys", {"name": "soak"})
    if status != 201:
        raise RuntimeError(f"api key: {status} {key}")
    SECRETS["/v1 API key"] = key["key"]
    token = gitlab_token(server.data, ["complete_code", "generate_code", "duo_classic_chat", "duo_chat"])
    return server, admin, key["key"], gitlab_headers(token)


# ----------------------------------------------------------------------------------------------
# load


def suite_load(binary: Path, work: Path, model: Path) -> None:
    seconds, clients = env_int("SOAK_LOAD_SECONDS", 120), env_int("SOAK_CLIENTS", 200)
    server, _admin, api_key, gl = set_up_model_server(binary, work, "load", ["--parallel", "4", "--ctx-size", "1024",
                                                                             "--max-output-tokens", "16"], model)
    stop = time.time() + seconds
    counts: dict[str, int] = {}
    bad: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        h = Http(server.port, 120)
        n = i
        while time.time() < stop:
            kind = KINDS[n % len(KINDS)]
            method, path, body, headers = traffic(kind, gl, api_key, n)
            n += clients
            try:
                status, rh, payload = h.request(method, path, body, headers)
            except (OSError, http.client.HTTPException) as e:  # a stream cut mid-body counts too
                with lock:
                    bad.append(f"{path}: {e!r}")
                time.sleep(0.5)
                continue
            ok = status == 200 or (status in (429, 503) and "retry-after" in rh)
            with lock:
                counts[str(status)] = counts.get(str(status), 0) + 1
                if not ok:
                    bad.append(f"{path}: {status} {payload[:200]!r}")
            if status != 200:
                time.sleep(float(rh.get("retry-after", "1")) * random.uniform(0.5, 1.0))

    rss: list[int] = []

    def sample_rss() -> None:
        while time.time() < stop:
            if server.alive():
                rss.append(server.rss())
            time.sleep(1.0)

    # The health probe is a process of its own: in this one it would wait for the GIL behind 200
    # client threads and measure Python, not the server.
    prober = subprocess.Popen([sys.executable, "-c", HEALTH_PROBE, str(server.port), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    threads.append(threading.Thread(target=sample_rss, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    try:
        out, _ = prober.communicate(timeout=60)
        health_ms = [m if m >= 0 else float("inf") for m in json.loads(out or "[]")]
    except (subprocess.TimeoutExpired, ValueError):
        prober.kill()
        health_ms = []
    alive = server.alive()
    total = sum(counts.values())
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(counts.items()))
    check("load: answers", not bad and total > 0, f"{total} answers ({statuses}); {len(bad)} bad{': ' + bad[0] if bad else ''}")
    check("load: no crash", alive, f"server {'alive' if alive else 'DEAD'} after {seconds} s x {clients} clients")
    worst = max(health_ms) if health_ms else float("inf")
    slow = sum(1 for m in health_ms if m > 100)
    inside = sorted(e.get("duration_ms", 0.0) for e in server.entries() if e.get("path") == "/monitoring/healthz")
    median = sorted(health_ms)[len(health_ms) // 2] if health_ms else float("inf")
    check("load: healthz < 100 ms", worst < 100,
          f"{len(health_ms)} probes, median {median:.1f} ms, max {worst:.1f} ms, {slow} over 100 ms "
          f"(inside the server: max {inside[-1] if inside else 0:.1f} ms)")
    peak = max(rss) if rss else 0
    check("load: RSS bounded", 0 < peak < 2048 * MiB, f"peak RSS {peak / MiB:.0f} MiB (bound 2048 MiB)")
    server.stop()


# ----------------------------------------------------------------------------------------------
# crash safety


def tiny_gguf() -> bytes:
    """A valid little GGUF file (airgate validates it; nothing ever loads it here)."""

    def s(x: str) -> bytes:
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    kv = s("general.architecture") + struct.pack("<I", 8) + s("llama")
    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + kv
    header += s("w") + struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<IQ", 0, 0)
    header += b"\0" * ((-len(header)) % 32)
    return header + b"\1" * 16


def suite_crash(binary: Path, work: Path) -> None:
    rounds = env_int("SOAK_CRASH_ROUNDS", 100)
    data = work / "crash-data"
    server = Server(binary, work, "crash", [], data)
    server.start(60)
    admin = set_up_admin(server)
    gguf = work / "tiny.gguf"
    gguf.write_bytes(tiny_gguf())
    acked: dict = {"keys": set(), "endpoints": set(), "routes": {}, "models": set()}
    opened = verified = torn = lost = 0
    rng = random.Random(16)
    writes_total = 0
    for r in range(rounds):
        stop = threading.Event()
        done: list[tuple[str, object]] = []
        # The route PUT last sent: one the kill cut before its answer may or may not have landed.
        in_flight: dict = {}

        def writer(port: int, round_no: int) -> None:
            try:
                a = sign_in(port)
            except Exception:  # noqa: BLE001 - the kill may come before the sign-in
                return
            i = 0
            while not stop.is_set():
                i += 1
                what = i % 4
                tag = f"r{round_no}w{i}"
                try:
                    if what == 0:
                        status, v = a.call("POST", "/api/admin/api-keys", {"name": tag})
                        if status == 201:
                            SECRETS[f"API key {tag}"] = v["key"]
                            done.append(("keys", v["id"]))
                    elif what == 1:
                        key = f"sk-{uuid.uuid4().hex}"
                        SECRETS[f"endpoint key {tag}"] = key
                        status, v = a.call("POST", "/api/admin/endpoints",
                                           {"name": tag, "url": "http://127.0.0.1:9/v1", "model": "m", "api_key": key})
                        if status == 201:
                            done.append(("endpoints", tag))
                    elif what == 2:
                        route = rng.choice([{"kind": "disabled"}, {"kind": "default"}])
                        in_flight["route"] = json.dumps(route, sort_keys=True)
                        status, _ = a.call("PUT", "/api/admin/features/duo_chat", route)
                        if status == 200:
                            done.append(("routes", json.dumps(route, sort_keys=True)))
                    else:
                        status, v = a.call("POST", "/api/admin/models/import", {"path": str(gguf), "name": tag})
                        if status == 202:
                            job = v["job"]
                            while not stop.is_set():
                                s2, j = a.call("GET", f"/api/admin/jobs/{job}")
                                if s2 == 200 and j["state"] == "done":
                                    done.append(("models", tag))
                                    break
                                if s2 != 200 or j["state"] == "failed":
                                    break
                                time.sleep(0.01)
                except OSError:
                    return

        t = threading.Thread(target=writer, args=(server.port, r), daemon=True)
        t.start()
        time.sleep(rng.uniform(0.8, 2.5))
        server.kill9()
        stop.set()
        t.join(timeout=30)
        # Writes acknowledged before the kill must all be there; the last route acknowledged wins.
        for kind, value in done:
            writes_total += 1
            if kind == "routes":
                acked["routes"]["duo_chat"] = value
            else:
                acked[kind].add(value)
        try:
            server.start(60)
            opened += 1
        except RuntimeError as e:
            check("crash: database opens", False, f"round {r}: {e}")
            return
        a = sign_in(server.port)
        missing, broken = check_acked(a, acked, in_flight.get("route"))
        lost += len(missing)
        torn += len(broken)
        if not missing and not broken:
            verified += 1
        else:
            log(f"crash round {r}: missing {missing[:5]}, torn {broken[:5]}")
    server.stop()
    check("crash: database opens", opened == rounds, f"{opened}/{rounds} restarts after kill -9 opened the database")
    check("crash: acknowledged writes kept", lost == 0,
          f"{writes_total} acknowledged writes over {rounds} kills; {lost} missing after restart")
    check("crash: no torn record", torn == 0, f"{verified}/{rounds} rounds fully verified; {torn} records unreadable")


def check_acked(a: Admin, acked: dict, route_in_flight: str | None = None) -> tuple[list[str], list[str]]:
    missing, broken = [], []
    _, keys = a.call("GET", "/api/admin/api-keys")
    have = {k.get("id") for k in keys}
    broken += [f"key {k}" for k in keys if not all(f in k for f in ("id", "name", "prefix", "created_at"))]
    missing += [f"key {k}" for k in acked["keys"] if k not in have]
    _, eps = a.call("GET", "/api/admin/endpoints")
    have = {e.get("name") for e in eps}
    broken += [f"endpoint {e}" for e in eps if not all(f in e for f in ("name", "url", "model", "has_api_key"))]
    missing += [f"endpoint {e}" for e in acked["endpoints"] if e not in have]
    _, models = a.call("GET", "/api/admin/models")
    have = {m.get("name") for m in models["models"]}
    missing += [f"model {m}" for m in acked["models"] if m not in have]
    if "duo_chat" in acked["routes"]:
        _, features = a.call("GET", "/api/admin/features")
        route = next((f["route"] for f in features if f["feature"] == "duo_chat"), None)
        found = json.dumps(route, sort_keys=True)
        if found != acked["routes"]["duo_chat"] and found == route_in_flight:
            acked["routes"]["duo_chat"] = found  # the unanswered last write landed: that is the state now
        elif found != acked["routes"]["duo_chat"]:
            missing.append(f"route duo_chat = {acked['routes']['duo_chat']} (found {route})")
    return missing, broken


# ----------------------------------------------------------------------------------------------
# soak


def suite_soak(binary: Path, work: Path, model: Path) -> None:
    seconds = env_int("SOAK_SECONDS", 600)
    # Within capacity: 4 slots and a deep queue for 6 clients, so every answer should be a 200.
    server, _admin, api_key, gl = set_up_model_server(binary, work, "soak", ["--parallel", "4", "--ctx-size", "1024",
                                                                             "--max-output-tokens", "16"], model)
    clients, warmup = 6, min(120, seconds // 5)
    start = time.time()
    stop = start + seconds
    errors: list[str] = []
    answers = [0]
    lock = threading.Lock()
    samples: list[tuple[float, int, int]] = []

    def client(i: int) -> None:
        h = Http(server.port, 120)
        n = i
        while time.time() < stop:
            method, path, body, headers = traffic(KINDS[n % len(KINDS)], gl, api_key, n)
            n += clients
            try:
                status, _, payload = h.request(method, path, body, headers)
            except OSError as e:
                status, payload = 0, repr(e).encode()
            with lock:
                answers[0] += 1
                if status != 200:
                    errors.append(f"{path}: {status} {payload[:200]!r}")
            # Admin and monitoring pages between requests, as a person would look at them.
            if n % 25 == i:
                get(server.port, "/metrics")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    while time.time() < stop and server.alive():
        samples.append((time.time() - start, server.rss(), server.fds()))
        time.sleep(5)
    for t in threads:
        t.join(timeout=300)
    alive = server.alive()
    check("soak: 0 errors", alive and not errors,
          f"{answers[0]} answers in {seconds} s, {len(errors)} errors{': ' + errors[0] if errors else ''}")
    after = [s for s in samples if s[0] >= warmup]
    if len(after) >= 4:
        quarter = max(1, len(after) // 4)
        first = sum(s[1] for s in after[:quarter]) / quarter
        last = sum(s[1] for s in after[-quarter:]) / quarter
        drift = (last - first) / first * 100
        check("soak: RSS drift < 5 %", drift < 5,
              f"RSS {first / MiB:.0f} -> {last / MiB:.0f} MiB after the {warmup} s warm-up ({drift:+.1f} %)")
        fd_first, fd_last = after[0][2], max(s[2] for s in after[-quarter:])
        check("soak: no fd growth", fd_last <= fd_first + 4, f"open descriptors {fd_first} -> {fd_last}")
    else:
        check("soak: RSS drift < 5 %", False, f"too few samples ({len(after)})")
    server.stop()


# ----------------------------------------------------------------------------------------------
# secrets


def suite_secrets(work: Path) -> None:
    logs = sorted(work.glob("*.log"))
    lines = 0
    found: list[str] = []
    secrets = {k: v for k, v in SECRETS.items() if len(v) >= 8}
    for path in logs:
        text = path.read_text(errors="replace")
        lines += text.count("\n")
        for name, value in secrets.items():
            if value in text:
                found.append(f"{name} in {path.name}")
    check("secrets: none in the logs", not found and lines > 0,
          f"{len(secrets)} secrets searched in {lines} log lines of {len(logs)} files; found: {found[:5] or 'none'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--airgate", required=True, type=Path)
    p.add_argument("--model", required=True, type=Path)
    args = p.parse_args()
    suites = os.environ.get("SOAK_SUITES", "load crash soak secrets").split()
    work = Path(tempfile.mkdtemp(prefix="airgate-soak-"))
    (work / "empty.toml").write_text("")
    started = time.time()
    try:
        for suite in suites:
            t = time.time()
            log(f"== {suite}")
            try:
                if suite == "load":
                    suite_load(args.airgate, work, args.model)
                elif suite == "crash":
                    suite_crash(args.airgate, work)
                elif suite == "soak":
                    suite_soak(args.airgate, work, args.model)
                elif suite == "secrets":
                    suite_secrets(work)
                else:
                    raise RuntimeError(f"unknown suite {suite}")
            except Exception as e:  # noqa: BLE001 - a suite that cannot run is a failed check
                check(f"{suite}: ran", False, f"{type(e).__name__}: {e}")
            log(f"   {suite} took {time.time() - t:.0f} s")
    finally:
        for server in Server.started:
            server.kill9()
        if os.environ.get("SOAK_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work directory kept: {work}")
    passed = sum(1 for _, ok, _ in RESULTS if ok)
    print(f"soak: {len(RESULTS)} checks in {time.time() - started:.0f} s", flush=True)
    print(f"soak: {passed} passed, {len(RESULTS) - passed} failed", flush=True)
    return 0 if passed == len(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
