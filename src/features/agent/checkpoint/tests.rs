//! Checkpoint encoding: the fields GitLab reads, round trips plain and compressed, and sessions written by GitLab's Python service.

use serde_json::{Value, json};

use super::*;
use crate::features::agent::model::{Message, ToolCall};
use crate::features::agent::ui::{Status, UiEntry};

fn sample() -> State {
    let mut state = State::new("What does app/main.py do?");
    state.status = Status::InputRequired;
    state.ui_log.push(UiEntry::user("What does app/main.py do?", None));
    state.ui_log.push(UiEntry::agent("msg-1", "It starts the app.", true));
    state.conversation = vec![
        Message::User("What does app/main.py do?".into()),
        Message::Assistant {
            content: String::new(),
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "read_file".into(),
                arguments: r#"{"file_path":"app/main.py"}"#.into(),
            }],
        },
        Message::Tool { call_id: "call_1".into(), name: "read_file".into(), content: "print('hi')".into() },
        Message::Assistant { content: "It starts the app.".into(), tool_calls: vec![] },
    ];
    state.approved_tools = vec!["read_file".into()];
    state
}

#[test]
fn keeps_what_gitlab_reads() {
    let state = sample();
    let ts = new_thread_ts();
    let first = encode(&state, &ts, CHAT_AGENT, true);
    assert_eq!(first["id"], json!(ts));
    let stamp = first["ts"].as_str().unwrap();
    assert!(stamp.ends_with("+00:00") && stamp.contains('T'), "{stamp}");
    assert_eq!(first["channel_values"]["status"], "input_required");
    assert_eq!(first["channel_values"]["__start__"]["goal"], "What does app/main.py do?");
    let log = first["channel_values"]["ui_chat_log"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    for key in [
        "message_type",
        "message_sub_type",
        "content",
        "timestamp",
        "status",
        "correlation_id",
        "tool_info",
        "message_id",
    ] {
        assert!(log[0].get(key).is_some(), "ui entry lacks {key}");
    }
    assert_eq!(log[1]["message_id"], "msg-1");
    // Only the first checkpoint names the session's goal.
    let later = encode(&state, &new_thread_ts(), CHAT_AGENT, false);
    assert!(later["channel_values"].get("__start__").is_none());
}

#[test]
fn round_trips_plain_and_compressed() {
    let state = sample();
    let ts = new_thread_ts();
    let checkpoint = encode(&state, &ts, CHAT_AGENT, true);

    let plain: Value = serde_json::from_str(&post_body(&checkpoint, None, 0, true, false)).unwrap();
    assert_eq!(plain["thread_ts"], json!(ts));
    assert_eq!(plain["parent_ts"], Value::Null);
    assert_eq!(plain["metadata"]["source"], "input");
    assert_eq!(plain["metadata"]["writes"]["__start__"]["goal"], "What does app/main.py do?");
    assert!(plain.get("compressed_checkpoint").is_none());
    let (read, read_ts) = from_record(&plain).unwrap().unwrap();
    assert_eq!(read_ts.as_deref(), Some(ts.as_str()));
    let back = decode(&read, CHAT_AGENT).unwrap();
    assert_eq!(back.conversation, state.conversation);
    assert_eq!(back.ui_log, state.ui_log);
    assert_eq!(back.status, Status::InputRequired);
    assert_eq!(back.approved_tools, state.approved_tools);
    assert_eq!(back.goal, state.goal);

    let packed: Value = serde_json::from_str(&post_body(&checkpoint, Some("parent"), 3, false, true)).unwrap();
    assert_eq!(packed["parent_ts"], "parent");
    assert_eq!(packed["metadata"]["step"], 3);
    assert!(packed.get("checkpoint").is_none());
    let (read, _) = from_record(&packed).unwrap().unwrap();
    assert_eq!(decode(&read, CHAT_AGENT).unwrap().conversation, state.conversation);

    // GraphQL spells the record in camelCase, and may hand the checkpoint over as JSON text.
    let graphql = json!({ "threadTs": ts, "checkpoint": checkpoint.to_string() });
    let (read, read_ts) = from_record(&graphql).unwrap().unwrap();
    assert_eq!(read_ts.as_deref(), Some(ts.as_str()));
    assert_eq!(decode(&read, CHAT_AGENT).unwrap().ui_log.len(), 2);
    let graphql = json!({ "threadTs": ts, "compressedCheckpoint": compress(&checkpoint) });
    assert!(from_record(&graphql).unwrap().is_some());
}

#[test]
fn bad_records_are_errors_or_absent() {
    assert!(from_record(&Value::Null).unwrap().is_none());
    assert!(from_record(&json!({"threadTs": "x"})).unwrap().is_none());
    assert!(from_record(&json!({"checkpoint": "{not json"})).is_err());
    assert!(from_record(&json!({"compressed_checkpoint": "***"})).is_err());
    assert!(from_record(&json!({"compressed_checkpoint": "aGVsbG8="})).is_err());
    assert!(decode(&json!({"v": 1}), CHAT_AGENT).is_err());
}

#[test]
fn thread_ids_sort_by_time() {
    let ids: Vec<String> = (0..50).map(|_| new_thread_ts()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn reads_a_session_of_the_python_service() {
    // The shape GitLab's Python service stores: LangChain messages with content blocks.
    let stored = json!({
        "v": 1, "id": "1f0f5a3c-0b8e-6d2a-bfff-3a1e9c2d0001", "ts": "2026-03-02T10:00:00.100000+00:00",
        "channel_values": {
            "status": "input_required",
            "goal": "hi",
            "ui_chat_log": [{
                "message_type": "user", "message_sub_type": null, "content": "hi",
                "timestamp": "2026-03-02T10:00:00.100000+00:00", "status": "success", "correlation_id": null,
                "tool_info": null, "additional_context": null, "message_id": "user-1"
            }],
            "conversation_history": { "Chat Agent": [
                {"type": "SystemMessage", "content": "You are GitLab Duo."},
                {"type": "HumanMessage", "content": [{"type": "text", "text": "hi"}]},
                {"type": "AIMessage", "content": "", "tool_calls": [{"name": "get_issue", "args": {"issue_iid": 1}, "id": "toolu_1", "type": "tool_call"}]},
                {"type": "ToolMessage", "content": "issue text", "tool_call_id": "toolu_1"},
                {"type": "AIMessage", "content": [{"type": "text", "text": "Hello"}, {"type": "tool_use", "id": "x"}]},
                {"type": "RemoveMessage", "id": "gone"}
            ]}
        }
    });
    let state = decode(&stored, CHAT_AGENT).unwrap();
    assert_eq!(state.ui_log[0].message_id, "user-1");
    assert_eq!(state.thread_ts.as_deref(), Some("1f0f5a3c-0b8e-6d2a-bfff-3a1e9c2d0001"));
    assert_eq!(
        state.conversation,
        vec![
            Message::System("You are GitLab Duo.".into()),
            Message::User("hi".into()),
            Message::Assistant {
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: "toolu_1".into(),
                    name: "get_issue".into(),
                    arguments: r#"{"issue_iid":1}"#.into()
                }],
            },
            Message::Tool { call_id: "toolu_1".into(), name: String::new(), content: "issue text".into() },
            Message::Assistant { content: "Hello".into(), tool_calls: vec![] },
        ]
    );
    assert!(state.pending_calls().is_empty());
}

#[test]
fn pending_calls_are_those_without_results() {
    let mut state = sample();
    assert!(state.pending_calls().is_empty());
    state.conversation.push(Message::Assistant {
        content: String::new(),
        tool_calls: vec![
            ToolCall { id: "a".into(), name: "read_file".into(), arguments: "{}".into() },
            ToolCall { id: "b".into(), name: "list_dir".into(), arguments: "{}".into() },
        ],
    });
    state.conversation.push(Message::Tool { call_id: "a".into(), name: "read_file".into(), content: "x".into() });
    let pending = state.pending_calls();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "b");
}
