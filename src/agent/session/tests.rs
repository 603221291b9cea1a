//! Table tests of the session state machine: start requests, response matching, stops, end statuses.

use super::*;
use crate::agent::proto::{self, ActionResponse, ClientEvent, StartWorkflowRequest};

fn start(definition: &str) -> StartWorkflowRequest {
    StartWorkflowRequest {
        workflow_id: "4711".into(),
        workflow_definition: definition.into(),
        goal: "What does app/main.py do?".into(),
        ..Default::default()
    }
}

fn info(version: &str) -> ClientInfo {
    ClientInfo { gitlab_version: GitlabVersion::parse(version), ..Default::default() }
}

fn partial_config() -> prost_types::Struct {
    json_to_struct(&json!({
        "version": "v1", "environment": "chat-partial",
        "components": [{"name": "helper", "type": "AgentComponent", "prompt_id": "p", "toolset": ["get_issue"]}],
        "prompts": [{"prompt_id": "p", "prompt_template": {"system": "You help."}}]
    }))
}

#[test]
fn flows_are_resolved_like_gitlab() {
    let ok = |req: StartWorkflowRequest| parse_start(req, &info("18.9.0")).unwrap().unwrap().flow;
    let err = |req: StartWorkflowRequest| parse_start(req, &info("18.9.0")).unwrap_err();
    assert_eq!(ok(start("chat")), Flow::Chat { custom: None });
    assert_eq!(ok(start("software_development")), Flow::SoftwareDevelopment);
    assert_eq!(ok(start("")), Flow::SoftwareDevelopment, "nothing named runs software_development");

    let table: &[(&str, &str)] = &[
        ("fix_pipeline/v1", "not available"),
        ("convert_to_gitlab_ci", "not available"),
        ("frobnicate", "unknown workflow definition `frobnicate`"),
    ];
    for (definition, message) in table {
        let e = err(start(definition));
        assert_eq!(e.code, Code::InvalidArgument, "{definition}");
        assert!(e.message.contains(message), "{definition}: {}", e.message);
    }

    let mut registry = start("chat");
    registry.flow_config_id = Some("developer".into());
    assert!(err(registry.clone()).message.contains("needs flowConfigSchemaVersion"));
    registry.flow_config_schema_version = Some("v1".into());
    registry.flow_version = Some("^1.0.0".into());
    assert!(err(registry.clone()).message.contains("Flow Registry"));
    registry.flow_config = Some(partial_config());
    assert!(err(registry).message.contains("cannot be sent together"));
    let mut orphan = start("chat");
    orphan.flow_version = Some("1.0.0".into());
    assert!(err(orphan).message.contains("flowVersion needs flowConfigId"));

    let mut custom = start("helper/v1");
    custom.flow_config = Some(partial_config());
    custom.flow_config_schema_version = Some("v1".into());
    match ok(custom.clone()) {
        Flow::Chat { custom: Some(agent) } => {
            assert_eq!(agent.name, "helper");
            assert_eq!(agent.toolset, vec!["get_issue".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(needs(&custom), Needs::AgentPlatform);
    assert_eq!(needs(&start("chat")), Needs::Chat);
    assert_eq!(needs(&start("software_development")), Needs::AgentPlatform);
}

#[test]
fn start_fields_are_read() {
    let mut req = start("chat");
    req.approval = Some(proto::Approval {
        user_decision: Some(approval::UserDecision::Approval(approval::Approved {
            remember_approval: Some(true),
            ..Default::default()
        })),
    });
    req.client_capabilities = vec!["shell_command".into(), "read_file_chunked".into()];
    req.preapproved_tools = vec!["read_file".into()];
    req.additional_context = vec![proto::AdditionalContext {
        category: "file".into(),
        id: Some("a.py".into()),
        content: Some("x = 1".into()),
        metadata: Some(String::new()),
    }];
    let input = parse_start(req.clone(), &info("18.9.0")).unwrap().unwrap();
    assert_eq!(input.decision, Decision::Approve { remember: true });
    assert!(input.capabilities.shell_command && input.capabilities.read_file_chunked);
    assert_eq!(input.preapproved_tools, vec!["read_file".to_string()]);
    assert_eq!(input.context[0].id.as_deref(), Some("a.py"));
    assert_eq!(input.context_json.as_ref().unwrap()[0]["metadata"], json!({}), "empty metadata is tolerated");
    // Capabilities mean nothing before GitLab 18.7.
    let old = parse_start(req.clone(), &info("18.6.2")).unwrap().unwrap();
    assert!(!old.capabilities.shell_command);

    req.approval = Some(proto::Approval {
        user_decision: Some(approval::UserDecision::Rejection(approval::Rejected { message: Some("no".into()) })),
    });
    assert_eq!(
        parse_start(req.clone(), &info("18.9.0")).unwrap().unwrap().decision,
        Decision::Reject { message: Some("no".into()) }
    );
    req.approval = Some(proto::Approval { user_decision: None });
    assert_eq!(parse_start(req, &info("18.9.0")).unwrap().unwrap().decision, Decision::None, "{{}} is no decision");

    let mut empty = start("chat");
    empty.workflow_id = String::new();
    assert!(matches!(parse_start(empty, &info("18.9.0")), Ok(None)), "no workflow id: the session just ends");
    let mut bad = start("chat");
    bad.workflow_id = "12; drop".into();
    assert_eq!(parse_start(bad, &info("18.9.0")).unwrap_err().code, Code::InvalidArgument);

    let flags = ClientInfo {
        feature_flags: vec!["duo_workflow_compress_checkpoint".into()],
        mcp_search: true,
        language_server: GitlabVersion::parse("7.40.0"),
        ..info("18.9.0")
    };
    let input = parse_start(start("chat"), &flags).unwrap().unwrap();
    assert!(input.compress_checkpoints && input.without_search && input.client_too_old);
}

fn http_action(id: &str) -> proto::Action {
    proto::Action {
        request_id: id.into(),
        action: Some(proto::action::Action::RunHttpRequest(proto::RunHttpRequest {
            method: "GET".into(),
            path: "/".into(),
            body: None,
        })),
    }
}

fn read_action(id: &str) -> proto::Action {
    proto::Action {
        request_id: id.into(),
        action: Some(proto::action::Action::RunReadFile(proto::ReadFile {
            filepath: "a".into(),
            ..Default::default()
        })),
    }
}

fn http_reply(id: &str, status: i32) -> ClientEvent {
    ClientEvent {
        response: Some(client_event::Response::ActionResponse(ActionResponse {
            request_id: id.into(),
            response: None,
            response_type: Some(action_response::ResponseType::HttpResponse(proto::HttpResponse {
                status_code: status,
                body: "{}".into(),
                ..Default::default()
            })),
        })),
    }
}

fn text_reply(id: &str, text: &str) -> ClientEvent {
    ClientEvent {
        response: Some(client_event::Response::ActionResponse(ActionResponse {
            request_id: id.into(),
            response: None,
            response_type: Some(action_response::ResponseType::PlainTextResponse(proto::PlainTextResponse {
                response: text.into(),
                error: String::new(),
            })),
        })),
    }
}

#[test]
fn responses_are_matched_by_id_or_guessed() {
    let mut s = Session::new();
    s.outgoing(&http_action("h1"), true).unwrap();
    s.outgoing(&read_action("r1"), true).unwrap();
    s.outgoing(&http_action("h2"), true).unwrap();
    s.outgoing(&read_action("ui"), false).unwrap();

    // By id, in any order.
    assert!(
        matches!(s.on_event(Some(http_reply("h2", 201))), Inbound::Deliver { id, reply: Reply::Http { status: 201, .. } } if id == "h2")
    );
    // Empty ids: HTTP answers go to the oldest HTTP request, text to the oldest other action.
    assert!(matches!(s.on_event(Some(text_reply("", "file"))), Inbound::Deliver { id, .. } if id == "r1"));
    assert!(matches!(s.on_event(Some(http_reply("", 200))), Inbound::Deliver { id, .. } if id == "h1"));
    // Nothing left: unknown and repeated answers are ignored; newCheckpoint expects none.
    assert!(matches!(s.on_event(Some(http_reply("h1", 200))), Inbound::Ignore(_)));
    assert!(matches!(s.on_event(Some(text_reply("ui", "x"))), Inbound::Ignore(_)));

    // The retired plain-text field still answers.
    s.outgoing(&read_action("r2"), true).unwrap();
    let legacy = ClientEvent {
        response: Some(client_event::Response::ActionResponse(ActionResponse {
            request_id: "r2".into(),
            response: Some("old".into()),
            response_type: None,
        })),
    };
    assert_eq!(
        s.on_event(Some(legacy)),
        Inbound::Deliver { id: "r2".into(), reply: Reply::Text { response: "old".into(), error: String::new() } }
    );
    s.outgoing(&read_action("r3"), true).unwrap();
    s.forget("r3");
    assert!(matches!(s.on_event(Some(text_reply("r3", "late"))), Inbound::Ignore(_)));
}

#[test]
fn other_events() {
    let mut s = Session::new();
    let heartbeat =
        ClientEvent { response: Some(client_event::Response::Heartbeat(proto::HeartbeatRequest { timestamp: 1 })) };
    assert!(matches!(s.on_event(Some(heartbeat)), Inbound::Ignore(_)));
    let again = ClientEvent { response: Some(client_event::Response::StartRequest(start("chat"))) };
    assert!(matches!(s.on_event(Some(again)), Inbound::Ignore(_)));
    assert!(matches!(s.on_event(Some(ClientEvent { response: None })), Inbound::Ignore(_)));
    assert_eq!(s.on_event(None), Inbound::Closed);
}

fn stop_event(reason: &str) -> ClientEvent {
    ClientEvent {
        response: Some(client_event::Response::StopWorkflow(proto::StopWorkflowRequest { reason: reason.into() })),
    }
}

fn outcome(last: Option<StatusEvent>, end: RunEnd) -> RunOutcome {
    RunOutcome { last_event: last, end }
}

#[test]
fn end_statuses_follow_the_table() {
    use StatusEvent::*;
    let table: Vec<(Option<&str>, Option<RunOutcome>, Code, &str)> = vec![
        (None, Some(outcome(Some(RequireInput), RunEnd::Done)), Code::Ok, "workflow execution success"),
        (None, Some(outcome(Some(RequireToolCallApproval), RunEnd::Done)), Code::Ok, "workflow execution success"),
        (None, Some(outcome(Some(Finish), RunEnd::Done)), Code::Ok, "workflow execution success"),
        (None, Some(outcome(Some(Start), RunEnd::Done)), Code::Unknown, "unknown workflow state: start"),
        (None, Some(outcome(Some(Stop), RunEnd::Stopped)), Code::Ok, "workflow execution stopped"),
        (
            None,
            Some(outcome(None, RunEnd::InvalidWorkflow("Invalid workflow ID: 9".into()))),
            Code::InvalidArgument,
            "Invalid workflow ID: 9",
        ),
        (None, Some(outcome(None, RunEnd::Forbidden("no".into()))), Code::PermissionDenied, "no"),
        (None, Some(outcome(Some(Start), RunEnd::TooLarge)), Code::ResourceExhausted, "Outgoing message too large."),
        (None, Some(outcome(Some(Start), RunEnd::ClientGone)), Code::Cancelled, "RPC cancelled by client"),
        (
            None,
            Some(outcome(Some(Drop), RunEnd::Failed { kind: "ModelError", message: "down".into() })),
            Code::Internal,
            "workflow execution failure: ModelError: down",
        ),
        (None, None, Code::Cancelled, "RPC cancelled by client"),
        (Some("ABORTED"), Some(outcome(Some(Stop), RunEnd::Stopped)), Code::Ok, "workflow execution stopped"),
        (Some("WORKHORSE_WEBSOCKET_CLOSE_1000"), None, Code::Ok, "workflow execution stopped"),
        (Some("WORKHORSE_WEBSOCKET_PING_FAILED"), None, Code::Ok, "workflow execution stopped"),
        (Some("WORKHORSE_SERVER_SHUTDOWN"), None, Code::Unavailable, "workflow execution interrupted: none"),
    ];
    for (stop, outcome, code, message) in table {
        let mut s = Session::new();
        if let Some(reason) = stop {
            let expected = super::Stop::from_reason(reason);
            assert_eq!(s.on_event(Some(stop_event(reason))), Inbound::Stop(expected));
        }
        let status = s.end_status(outcome.as_ref());
        assert_eq!(status.code, code, "{stop:?} {outcome:?}");
        assert!(status.message.contains(message), "{stop:?} {outcome:?}: {}", status.message);
    }
}

#[test]
fn the_first_stop_decides_and_big_actions_are_refused() {
    let mut s = Session::new();
    s.on_event(Some(stop_event("ABORTED")));
    s.on_event(Some(stop_event("WORKHORSE_SERVER_SHUTDOWN")));
    assert_eq!(s.stop(), Some(&Stop::User("ABORTED".into())));

    let big = proto::Action {
        request_id: "big".into(),
        action: Some(proto::action::Action::RunWriteFile(proto::WriteFile {
            filepath: "a".into(),
            contents: "x".repeat(MAX_MESSAGE),
        })),
    };
    assert_eq!(s.outgoing(&big, true).unwrap_err().code, Code::ResourceExhausted);
    assert!(
        matches!(s.on_event(Some(text_reply("big", "x"))), Inbound::Ignore(_)),
        "a refused action is not waited for"
    );
}

#[test]
fn structs_round_trip() {
    let v = json!({"a": 1, "b": [true, null, "x", 1.5], "c": {"d": "e"}});
    assert_eq!(struct_to_json(&json_to_struct(&v)), v);
}
