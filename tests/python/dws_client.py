#!/usr/bin/env python3
"""airgate's GitLab Duo Agent Platform service (gRPC), driven the way GitLab's Workhorse and the IDE drive it.

The script plays both sides of the client: Workhorse runs the GitLab requests the service sends
(`runHTTPRequest`: the workflow query, status changes, checkpoints) against a small in-memory
GitLab, and the IDE answers the file actions. Python stubs are generated at start from airgate's
own proto/duo_workflow.proto with grpcio-tools.

Every check prints one line; the last line is "N passed, M failed". Exit status 0 only when
nothing failed.
"""

import argparse
import importlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

MARKER = "airgate-tool-marker-4711"
FILES = {"app/main.py": f"def handler():\n    return '{MARKER}'\n"}
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}{'' if ok else ': ' + str(detail)}", flush=True)
    return ok


def build_stubs(proto):
    out = tempfile.mkdtemp(prefix="dws-stubs-")
    from grpc_tools import protoc  # noqa: PLC0415 (grpcio-tools is only needed here)

    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{os.path.dirname(proto)}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", proto]
    if protoc.main(args) != 0:
        sys.exit(f"protoc failed on {proto}")
    sys.path.insert(0, out)
    return importlib.import_module("duo_workflow_pb2"), importlib.import_module("duo_workflow_pb2_grpc")


class Gitlab:
    """One workflow as GitLab Rails keeps it, and the IDE's working copy."""

    TRANSITIONS = {
        "start": ({"created"}, "running"),
        "resume": ({"input_required", "plan_approval_required", "tool_call_approval_required"}, "running"),
        "retry": ({"running", "stopped", "failed"}, "running"),
        "require_input": (None, "input_required"),
        "require_tool_call_approval": (None, "tool_call_approval_required"),
        "stop": (None, "stopped"),
        "drop": (None, "failed"),
        "finish": (None, "finished"),
    }

    def __init__(self, workflow_id, privileges, preapproved, missing=False):
        self.id = workflow_id
        self.privileges = privileges
        self.preapproved = preapproved
        self.missing = missing
        self.status = "created"
        self.checkpoints = []
        self.events = []
        self.queries = []

    def http(self, method, path, body):
        base = f"/api/v4/ai/duo_workflows/workflows/{self.id}"
        if method == "POST" and path == "/api/graphql":
            self.queries.append(json.loads(body))
            if self.missing:
                return 200, {"errors": [{"message": "Workflow not found"}]}
            latest = None
            if self.checkpoints:
                c = self.checkpoints[-1]
                latest = {"threadTs": c["thread_ts"], "parentTs": c["parent_ts"], "metadata": c["metadata"], "checkpoint": c["checkpoint"]}
            node = {
                "statusName": self.status,
                "projectId": "gid://gitlab/Project/12",
                "project": {
                    "id": "gid://gitlab/Project/12", "name": "shop", "description": "A shop", "httpUrlToRepo": "https://gitlab.example.com/acme/shop.git",
                    "webUrl": "https://gitlab.example.com/acme/shop", "languages": [{"name": "Python", "share": 100.0}],
                    "statisticsDetailsPaths": {"repository": "/acme/shop/-/tree/main"},
                    "duoContextExclusionSettings": {"exclusionRules": []},
                },
                "namespaceId": "gid://gitlab/Group/3",
                "namespace": {"id": "gid://gitlab/Group/3", "name": "acme", "description": "", "webUrl": "https://gitlab.example.com/acme"},
                "agentPrivilegesNames": self.privileges,
                "preApprovedAgentPrivilegesNames": self.preapproved,
                "mcpEnabled": False,
                "allowAgentToRequestUser": True,
                "latestCheckpoint": latest,
                "archived": False,
                "stalled": False,
            }
            return 200, {"data": {"duoWorkflowWorkflows": {"nodes": [node]}}}
        if method == "PATCH" and path == base:
            event = json.loads(body)["status_event"]
            self.events.append(event)
            allowed, to = self.TRANSITIONS.get(event, (set(), None))
            if to is None or (allowed is not None and self.status not in allowed):
                return 400, {"message": f"cannot {event} from {self.status}"}
            self.status = to
            return 200, {"id": int(self.id), "status": self.status}
        if method == "POST" and path == base + "/checkpoints":
            data = json.loads(body)
            for key in ("thread_ts", "metadata"):
                if not data.get(key):
                    return 400, {"message": f"{key} is missing"}
            if "checkpoint" not in data:
                return 400, {"message": "checkpoint is missing"}
            self.checkpoints.append(data)
            return 201, {"id": len(self.checkpoints), "thread_ts": data["thread_ts"], "parent_ts": data["parent_ts"]}
        return 404, {"message": "404 Not Found"}

    def latest(self):
        return self.checkpoints[-1]["checkpoint"] if self.checkpoints else None


class Run:
    """One ExecuteWorkflow call: answers actions until the stream ends; `hook(action)` may take over one."""

    def __init__(self, pb, stub, metadata, start, gitlab, hook=None):
        self.pb, self.stub, self.metadata, self.start, self.gitlab, self.hook = pb, stub, metadata, start, gitlab, hook
        self.actions, self.checkpoints = [], []
        self.code, self.details = None, None
        self.outbox = queue.Queue()

    def send(self, event):
        self.outbox.put(event)

    def events(self):
        yield self.start
        while True:
            event = self.outbox.get()
            if event is None:
                return
            yield event

    def answer(self, action):
        pb = self.pb
        kind = action.WhichOneof("action")
        if kind == "runHTTPRequest":
            r = action.runHTTPRequest
            status, body = self.gitlab.http(r.method, r.path, r.body if r.HasField("body") else None)
            reply = pb.ActionResponse(requestID=action.requestID, httpResponse=pb.HttpResponse(statusCode=status, body=json.dumps(body)))
        elif kind == "runReadFile":
            # The IDE's working copy: the 270M test model does not always name app/main.py, so every
            # path that stays inside the project reads as that file (the content is what is checked).
            path = action.runReadFile.filepath
            if path.startswith("/") or ".." in path:
                reply = pb.ActionResponse(requestID=action.requestID, plainTextResponse=pb.PlainTextResponse(error=f"open {path}: no such file or directory"))
            else:
                reply = pb.ActionResponse(requestID=action.requestID, plainTextResponse=pb.PlainTextResponse(response=FILES.get(path, FILES["app/main.py"])))
        else:
            reply = pb.ActionResponse(requestID=action.requestID, plainTextResponse=pb.PlainTextResponse(response=f"ran {kind}"))
        self.send(pb.ClientEvent(actionResponse=reply))

    def run(self, timeout=240):
        call = self.stub.ExecuteWorkflow(self.events(), metadata=self.metadata, timeout=timeout)
        try:
            for action in call:
                self.actions.append(action)
                kind = action.WhichOneof("action")
                if kind == "newCheckpoint":
                    self.checkpoints.append(action.newCheckpoint)
                    continue
                if self.hook and self.hook(self, action):
                    continue
                self.answer(action)
            self.code, self.details = call.code(), call.details()
        except grpc.RpcError as e:
            self.code, self.details = e.code(), e.details()
        finally:
            self.send(None)
        return self

    def kinds(self):
        return [a.WhichOneof("action") for a in self.actions]

    def last_log(self):
        if not self.checkpoints:
            return []
        return json.loads(self.checkpoints[-1].checkpoint)["channel_values"]["ui_chat_log"]


def metadata(tokens, token=None, **overrides):
    md = {
        "authorization": f"Bearer {tokens['valid'] if token is None else token}",
        "x-gitlab-authentication-type": "oidc",
        "x-gitlab-realm": tokens["realm"],
        "x-gitlab-instance-id": tokens["instance_id"],
        "x-gitlab-global-user-id": tokens["user_id"],
        "x-gitlab-user-id": "42",
        "x-gitlab-host-name": "gitlab.example.com",
        "x-gitlab-version": "18.9.1",
        "x-gitlab-oauth-token": "oauth-token-not-for-airgate",
        "x-gitlab-client-type": "browser",
        "x-request-id": "corr-test-1",
    }
    md.update(overrides)
    return [(k, v) for k, v in md.items() if v is not None]


def start_event(pb, workflow_id, definition="chat", goal="Hello", **fields):
    return pb.ClientEvent(startRequest=pb.StartWorkflowRequest(
        clientVersion="1.0", workflowID=workflow_id, workflowDefinition=definition, goal=goal,
        workflowMetadata=json.dumps({"extended_logging": False}), clientCapabilities=["incremental_streaming"], **fields))


def health(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    # What GitLab's troubleshooting script does: an unauthenticated Check of the server's overall health.
    whole = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    check("troubleshooting script: Duo Workflow Service is up and running", whole.status == health_pb2.HealthCheckResponse.SERVING, whole)
    named = stub.Check(health_pb2.HealthCheckRequest(service="DuoWorkflow"), timeout=10)
    check("health: DuoWorkflow is SERVING", named.status == health_pb2.HealthCheckResponse.SERVING, named)
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="Nope"), timeout=10)
        check("health: unknown service is NOT_FOUND", False, "answered")
    except grpc.RpcError as e:
        check("health: unknown service is NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, e.code())


def expect_error(name, fn, code, text=None):
    try:
        fn()
        return check(name, False, "no error")
    except grpc.RpcError as e:
        ok = e.code() == code and (text is None or text in (e.details() or ""))
        return check(name, ok, f"{e.code()} {e.details()!r}")


def auth_failures(pb, stub, tokens):
    list_tools = lambda md: stub.ListTools(pb.ListToolsRequest(), metadata=md, timeout=30)  # noqa: E731
    md = metadata(tokens)
    expect_error("auth: no token", lambda: list_tools([(k, v) for k, v in md if k != "authorization"]),
                 grpc.StatusCode.UNAUTHENTICATED, "No authorization header presented")
    expect_error("auth: bad token", lambda: list_tools(metadata(tokens, token="not-a-jwt")), grpc.StatusCode.UNAUTHENTICATED, "Forbidden by auth provider")
    expect_error("auth: wrong audience", lambda: list_tools(metadata(tokens, token=tokens["wrong_audience"])),
                 grpc.StatusCode.UNAUTHENTICATED, "Forbidden by auth provider")
    expect_error("auth: header mismatch", lambda: list_tools(metadata(tokens, **{"x-gitlab-instance-id": "someone-else"})),
                 grpc.StatusCode.UNAUTHENTICATED, "Header mismatch")
    expect_error("auth: not oidc", lambda: list_tools(metadata(tokens, **{"x-gitlab-authentication-type": "basic"})),
                 grpc.StatusCode.UNAUTHENTICATED, "only OIDC")
    gitlab = Gitlab("901", ["read_only_gitlab"], [])
    run = Run(pb, stub, metadata(tokens, token=tokens["no_scope"]), start_event(pb, "901"), gitlab).run()
    check("auth: missing scope is PERMISSION_DENIED", run.code == grpc.StatusCode.PERMISSION_DENIED and "Unauthorized to execute chat" in run.details,
          f"{run.code} {run.details!r}")
    check("auth: nothing reached GitLab", not gitlab.queries and not run.actions, run.kinds())


def unary(pb, stub, tokens):
    tools = stub.ListTools(pb.ListToolsRequest(), metadata=metadata(tokens), timeout=30)
    names = {t["function"]["name"] for t in tools.tools}
    check("ListTools (GitLab's health probe) lists the tools", {"read_file", "get_merge_request", "gitlab_documentation_search"} <= names, sorted(names))
    # GitLab's feature-flag and model-metadata headers can be large: 20 KiB of metadata is accepted.
    flags = ",".join(f"flag_{i:05d}" for i in range(1800))
    big = stub.ListTools(pb.ListToolsRequest(), metadata=metadata(tokens, **{"x-gitlab-enabled-feature-flags": flags}), timeout=30)
    check(f"{len(flags) // 1024} KiB of metadata is accepted", len(big.tools) == len(tools.tools))
    caps = stub.ListCapabilities(pb.ListCapabilitiesRequest(), metadata=metadata(tokens), timeout=30)
    check("ListCapabilities: only what airgate implements", [c.name for c in caps.capabilities] == ["tool_call_approval"], caps)
    flows = stub.ListFlows(pb.ListFlowsRequest(), metadata=metadata(tokens), timeout=30)
    check("ListFlows: no registry flows", len(flows.configs) == 0, flows)
    bad = stub.ValidateFlowConfig(pb.ValidateFlowConfigRequest(), metadata=metadata(tokens), timeout=30)
    check("ValidateFlowConfig: missing config", not bad.valid and bad.errors == ["Missing required field: flow_config"], bad)
    expect_error("TrackSelfHostedExecuteWorkflow is UNIMPLEMENTED",
                 lambda: list(stub.TrackSelfHostedExecuteWorkflow(iter([]), metadata=metadata(tokens), timeout=30)),
                 grpc.StatusCode.UNIMPLEMENTED)
    minted = stub.GenerateToken(pb.GenerateTokenRequest(), metadata=metadata(tokens, **{"x-gitlab-client-type": "gitlab-rails"}), timeout=30)
    check("GenerateToken returns a token for an hour", minted.token.count(".") == 2 and 3000 < minted.expiresAt - time.time() <= 3600, minted.expiresAt)
    check("GenerateToken advertises capabilities", list(minted.server_capabilities) == ["tool_call_approval"], minted.server_capabilities)
    ok = stub.ListTools(pb.ListToolsRequest(), metadata=metadata(tokens, token=minted.token), timeout=30)
    check("a minted token works for its user", len(ok.tools) > 10)
    expect_error("a minted token is bound to its user", lambda: stub.ListTools(pb.ListToolsRequest(),
                 metadata=metadata(tokens, token=minted.token, **{"x-gitlab-global-user-id": "other-user"}), timeout=30),
                 grpc.StatusCode.UNAUTHENTICATED, "Header mismatch")
    expect_error("a minted token cannot mint another", lambda: stub.GenerateToken(pb.GenerateTokenRequest(),
                 metadata=metadata(tokens, token=minted.token), timeout=30), grpc.StatusCode.PERMISSION_DENIED, "Unauthorized to generate token")


def bad_starts(pb, stub, tokens):
    gitlab = Gitlab("902", ["read_only_gitlab"], [])
    heartbeat = pb.ClientEvent(heartbeat=pb.HeartbeatRequest(timestamp=int(time.time() * 1000)))
    run = Run(pb, stub, metadata(tokens), heartbeat, gitlab).run()
    check("a bad first event is INVALID_ARGUMENT", run.code == grpc.StatusCode.INVALID_ARGUMENT and "startRequest" in run.details, f"{run.code} {run.details!r}")
    run = Run(pb, stub, metadata(tokens), start_event(pb, ""), gitlab).run()
    check("a start without workflow id ends quietly", run.code == grpc.StatusCode.OK and not run.actions, f"{run.code} {run.kinds()}")
    for definition, text in [("frobnicate", "unknown workflow definition"), ("fix_pipeline/v1", "not available")]:
        run = Run(pb, stub, metadata(tokens), start_event(pb, "902", definition=definition), gitlab).run()
        check(f"unknown flow {definition} is INVALID_ARGUMENT", run.code == grpc.StatusCode.INVALID_ARGUMENT and text in run.details, f"{run.code} {run.details!r}")
    missing = Gitlab("903", ["read_only_gitlab"], [], missing=True)
    run = Run(pb, stub, metadata(tokens), start_event(pb, "903"), missing).run()
    check("an unknown workflow is INVALID_ARGUMENT", run.code == grpc.StatusCode.INVALID_ARGUMENT and "Invalid workflow ID: 903" in run.details, f"{run.code} {run.details!r}")


def one_turn(pb, stub, tokens):
    # The web chat: GitLab and docs tools only, GitLab reads pre-approved.
    gitlab = Gitlab("1001", ["read_only_gitlab", "read_write_gitlab"], ["read_only_gitlab"])
    run = Run(pb, stub, metadata(tokens), start_event(pb, "1001", goal="What can you do?"), gitlab).run()
    # (grpc-python hides the message of an OK status; the code is what Workhorse acts on.)
    check("one turn: OK", run.code == grpc.StatusCode.OK, f"{run.code} {run.details!r}")
    query = gitlab.queries[0] if gitlab.queries else {}
    check("one turn: the workflow query has the 18.9 shape", "latestCheckpoint" in query.get("query", "") and
          query.get("variables", {}).get("workflowId") == "gid://gitlab/Ai::DuoWorkflows::Workflow/1001", query)
    check("one turn: status events start, require_input", gitlab.events == ["start", "require_input"] and gitlab.status == "input_required", gitlab.events)
    log = run.last_log()
    check("one turn: final UI status INPUT_REQUIRED", run.checkpoints and run.checkpoints[-1].status == "INPUT_REQUIRED", [c.status for c in run.checkpoints])
    check("one turn: the chat log has the question and an answer",
          len(log) == 2 and log[0]["message_type"] == "user" and log[0]["content"] == "What can you do?" and
          log[1]["message_type"] == "agent" and log[1]["status"] == "success" and log[1]["content"].strip(), log)
    stored = gitlab.checkpoints[0]["checkpoint"] if gitlab.checkpoints else {}
    check("one turn: the first checkpoint names the goal", stored.get("channel_values", {}).get("__start__", {}).get("goal") == "What can you do?", stored)
    check("one turn: only GitLab requests and UI updates went out", set(run.kinds()) <= {"runHTTPRequest", "newCheckpoint"}, run.kinds())


def tool_turn_and_resume(pb, stub, tokens, model):
    # The IDE with file access pre-approved; the model GitLab names is airgate's own.
    gitlab = Gitlab("1002", ["read_write_files", "read_only_gitlab"], ["read_write_files", "read_only_gitlab"])
    model_md = json.dumps({"provider": "openai", "name": "general", "endpoint": "http://airgate.invalid:5052/v1", "api_key": None, "identifier": f"custom_openai/{model}"})
    md = metadata(tokens, **{"x-gitlab-agent-platform-model-metadata": model_md, "x-gitlab-client-type": "vscode", "x-gitlab-language-server-version": "8.60.0"})
    run = Run(pb, stub, md, start_event(pb, "1002", goal="What does app/main.py do?"), gitlab).run()
    check("tool turn: OK", run.code == grpc.StatusCode.OK, f"{run.code} {run.details!r}")
    reads = [a.runReadFile.filepath for a in run.actions if a.WhichOneof("action") == "runReadFile"]
    check("tool turn: the model read a file through the IDE", len(reads) >= 1, run.kinds())
    stored = gitlab.latest() or {}
    history = stored.get("channel_values", {}).get("conversation_history", {}).get("Chat Agent", [])
    tool_messages = [m for m in history if m.get("type") == "ToolMessage"]
    check("tool turn: the file's text went back to the model", any(MARKER in m.get("content", "") for m in tool_messages), tool_messages)
    last_ai = history[-1] if history else {}
    check("tool turn: the model answered after the tool", last_ai.get("type") == "AIMessage" and not last_ai.get("tool_calls"), last_ai)
    log = run.last_log()
    card = next((e for e in log if e["message_type"] == "tool"), None)
    check("tool turn: a tool card with the result", card is not None and card["message_sub_type"] == "read_file" and card["tool_info"]["name"] == "read_file", card)
    check("tool turn: the card shows the file", card is not None and MARKER in card["tool_info"]["tool_response"]["content"], card)
    check("tool turn: the turn ends waiting for the user", gitlab.events == ["start", "require_input"], gitlab.events)

    # The next message: a new RPC; the service loads the stored checkpoint.
    turn_one = len(log)
    run2 = Run(pb, stub, md, start_event(pb, "1002", goal="And what does it return?"), gitlab).run()
    check("second turn: OK", run2.code == grpc.StatusCode.OK, f"{run2.code} {run2.details!r}")
    check("second turn: resumed", gitlab.events[-2:] == ["resume", "require_input"], gitlab.events)
    log2 = run2.last_log()
    check("second turn: the log keeps the first turn", len(log2) >= turn_one + 2 and [e["message_id"] for e in log2[:turn_one]] == [e["message_id"] for e in log], [e["content"][:30] for e in log2])
    history2 = (gitlab.latest() or {}).get("channel_values", {}).get("conversation_history", {}).get("Chat Agent", [])
    humans = [m["content"] for m in history2 if m.get("type") == "HumanMessage"]
    check("second turn: the conversation continues", len(humans) == 2 and humans[0].endswith("What does app/main.py do?") and humans[1].endswith("And what does it return?"), humans)
    check("second turn: checkpoints chain", gitlab.checkpoints[-1]["parent_ts"] == gitlab.checkpoints[-2]["thread_ts"])


def approval(pb, stub, tokens):
    # Files granted but not pre-approved: the read waits for the user.
    gitlab = Gitlab("1003", ["read_write_files"], [])
    run = Run(pb, stub, metadata(tokens), start_event(pb, "1003", goal="Show me app/main.py"), gitlab).run()
    check("approval: the turn ends OK, waiting", run.code == grpc.StatusCode.OK and gitlab.status == "tool_call_approval_required", f"{run.code} {gitlab.events}")
    check("approval: nothing ran yet", "runReadFile" not in run.kinds(), run.kinds())
    request = next((e for e in run.last_log() if e["message_type"] == "request"), None)
    check("approval: the UI asks", run.checkpoints[-1].status == "TOOL_CALL_APPROVAL_REQUIRED" and request and request["tool_info"]["name"] == "read_file", request)
    approve = pb.Approval(approval=pb.Approval.Approved())
    run2 = Run(pb, stub, metadata(tokens), start_event(pb, "1003", goal="", approval=approve), gitlab).run()
    check("approval: approved turn runs the tool", "runReadFile" in run2.kinds() and run2.code == grpc.StatusCode.OK, f"{run2.code} {run2.kinds()}")
    check("approval: then waits for input", gitlab.events[-2:] == ["resume", "require_input"], gitlab.events)
    ids = [e["message_id"] for e in run2.last_log()]
    check("approval: the request became the tool card", request and ids.count(request["message_id"]) == 1 and
          next(e for e in run2.last_log() if e["message_id"] == request["message_id"])["message_type"] == "tool", ids)


def stops(pb, stub, tokens):
    def stop_on_read(reason):
        def hook(run, action):
            if action.WhichOneof("action") == "runReadFile":
                run.send(pb.ClientEvent(stopWorkflow=pb.StopWorkflowRequest(reason=reason)))
                return True
            return False
        return hook

    gitlab = Gitlab("1004", ["read_write_files"], ["read_write_files"])
    run = Run(pb, stub, metadata(tokens), start_event(pb, "1004", goal="Read app/main.py"), gitlab, hook=stop_on_read("ABORTED")).run()
    check("stop: the user's stop ends OK", run.code == grpc.StatusCode.OK, f"{run.code} {run.details!r}")
    check("stop: GitLab and the UI are told", gitlab.events[-1:] == ["stop"] and run.checkpoints[-1].status == "STOPPED", f"{gitlab.events} {[c.status for c in run.checkpoints]}")

    gitlab = Gitlab("1005", ["read_write_files"], ["read_write_files"])
    run = Run(pb, stub, metadata(tokens), start_event(pb, "1005", goal="Read app/main.py"), gitlab, hook=stop_on_read("WORKHORSE_SERVER_SHUTDOWN")).run()
    check("stop: Workhorse shutting down is UNAVAILABLE", run.code == grpc.StatusCode.UNAVAILABLE, f"{run.code} {run.details!r}")
    check("stop: and leaves GitLab's status alone", "stop" not in gitlab.events, gitlab.events)


def admin_hold(pb, stub, tokens):
    # A session that waits for the IDE to read a file until the admin stops it (the Rust side does, through the admin API).
    held = []

    def hold(run, action):
        if action.WhichOneof("action") == "runReadFile":
            held.append(action)
            print("HOLDING", flush=True)
            return True
        return False

    gitlab = Gitlab("3001", ["read_write_files"], ["read_write_files"])
    run = Run(pb, stub, metadata(tokens), start_event(pb, "3001", goal="Read app/main.py"), gitlab, hook=hold).run(timeout=300)
    check("admin stop: the session was holding a file read", len(held) == 1, run.kinds())
    check("admin stop: the stopped session ends OK", run.code == grpc.StatusCode.OK, f"{run.code} {run.details!r}")
    check("admin stop: GitLab and the UI are told", gitlab.events[-1:] == ["stop"] and run.checkpoints[-1].status == "STOPPED",
          f"{gitlab.events} {[c.status for c in run.checkpoints]}")


def remote_model(pb, stub, tokens, upstream):
    # GitLab names an OpenAI-compatible endpoint: airgate calls it, checks its tool calls, asks once more for a bad one.
    gitlab = Gitlab("4001", ["read_write_files"], ["read_write_files"])
    model_md = json.dumps({"provider": "openai", "name": "general", "endpoint": upstream, "api_key": "sk-test-remote", "identifier": "custom_openai/remote-model"})
    md = metadata(tokens, **{"x-gitlab-agent-platform-model-metadata": model_md})
    run = Run(pb, stub, md, start_event(pb, "4001", goal="What does app/main.py do?"), gitlab).run()
    check("remote model: OK", run.code == grpc.StatusCode.OK, f"{run.code} {run.details!r}")
    reads = [a.runReadFile.filepath for a in run.actions if a.WhichOneof("action") == "runReadFile"]
    check("remote model: the repaired call ran", reads == ["app/main.py"], run.kinds())
    log = run.last_log()
    check("remote model: the answer reached the chat", log and log[-1]["message_type"] == "agent" and "handler" in log[-1]["content"], log)


def session_cap(pb, stub, tokens, cap):
    started = []

    def hang(run, action):
        # Never answer: the session waits for GitLab until told to stop.
        started.append(run)
        return True

    holders = []
    for i in range(cap):
        gitlab = Gitlab(str(2000 + i), ["read_only_gitlab"], [])
        holders.append(Run(pb, stub, metadata(tokens), start_event(pb, str(2000 + i)), gitlab, hook=hang))
    threads = [threading.Thread(target=r.run) for r in holders]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while len(started) < cap and time.time() < deadline:
        time.sleep(0.05)
    over = Run(pb, stub, metadata(tokens), start_event(pb, "2999"), Gitlab("2999", ["read_only_gitlab"], [])).run()
    check(f"more than {cap} sessions is RESOURCE_EXHAUSTED", over.code == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{over.code} {over.details!r}")
    for r in holders:
        r.send(pb.ClientEvent(stopWorkflow=pb.StopWorkflowRequest(reason="WORKHORSE_WEBSOCKET_PING_FAILED")))
    for t in threads:
        t.join(60)
    check("held sessions end on an infrastructure stop", all(r.code == grpc.StatusCode.OK for r in holders), [r.code for r in holders])


def keepalive(pb, target, tokens):
    # Clients ping often (Workhorse every 20 s); the server must not answer with GOAWAY.
    options = [("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = importlib.import_module("duo_workflow_pb2_grpc").DuoWorkflowStub(channel)
        stub.ListTools(pb.ListToolsRequest(), metadata=metadata(tokens), timeout=30)
        time.sleep(4)
        tools = stub.ListTools(pb.ListToolsRequest(), metadata=metadata(tokens), timeout=30)
        check("keepalive: frequent client pings are tolerated", len(tools.tools) > 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, help="host:port of the Agent Platform service")
    parser.add_argument("--proto", required=True)
    parser.add_argument("--tokens", required=True, help="JSON file: valid, wrong_audience, no_scope, instance_id, user_id, realm")
    parser.add_argument("--model", required=True)
    parser.add_argument("--cap", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--upstream", default="", help="an OpenAI-compatible endpoint for the remote_model scenario")
    args = parser.parse_args()
    pb, pb_grpc = build_stubs(os.path.abspath(args.proto))
    with open(args.tokens) as f:
        tokens = json.load(f)
    scenarios = {
        "health": lambda: health(channel),
        "auth": lambda: auth_failures(pb, stub, tokens),
        "unary": lambda: unary(pb, stub, tokens),
        "bad_starts": lambda: bad_starts(pb, stub, tokens),
        "one_turn": lambda: one_turn(pb, stub, tokens),
        "tool_turn": lambda: tool_turn_and_resume(pb, stub, tokens, args.model),
        "approval": lambda: approval(pb, stub, tokens),
        "stops": lambda: stops(pb, stub, tokens),
        "cap": lambda: session_cap(pb, stub, tokens, args.cap),
        "admin_hold": lambda: admin_hold(pb, stub, tokens),
        "remote_model": lambda: remote_model(pb, stub, tokens, args.upstream),
        "keepalive": lambda: keepalive(pb, args.target, tokens),
    }
    only = [s for s in args.only.split(",") if s]
    with grpc.insecure_channel(args.target) as channel:
        stub = pb_grpc.DuoWorkflowStub(channel)
        for name, scenario in scenarios.items():
            if only and name not in only:
                continue
            started = time.time()
            try:
                scenario()
            except Exception as e:  # noqa: BLE001 (a crashed scenario is a failed check, the others still run)
                check(f"{name} ran", False, repr(e))
            print(f"-- {name}: {time.time() - started:.1f} s", flush=True)
    passed, failed = RESULTS.count(True), RESULTS.count(False)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
