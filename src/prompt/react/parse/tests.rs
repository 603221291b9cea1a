//! Table-driven tests for the ReAct output parser, fed in every chunking.

use super::*;

const OFFERED: &[&str] = &["issue_reader", "epic_reader", "merge_request_reader", "gitlab_documentation"];

/// What one complete output should parse to.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Answer(&'static str),
    Action(&'static str, &'static str, &'static str),
    Unknown(&'static str),
    NotAvailable,
}

/// The events for one chunking, reduced to a comparable outcome; checks the event-stream invariants.
fn run(chunks: &[&str], finish_reason: &str) -> Want {
    let mut parser = ReactParser::new(OFFERED.iter().map(|s| s.to_string()).collect());
    let mut answer = String::new();
    let mut streamed = false;
    for chunk in chunks {
        for event in parser.push(chunk) {
            match event {
                ParsedEvent::FinalAnswerDelta { text, finish_reason: None } => {
                    assert!(!text.is_empty(), "push emitted an empty delta for {chunks:?}");
                    answer.push_str(&text);
                    streamed = true;
                }
                other => panic!("push emitted {other:?} for {chunks:?}"),
            }
        }
    }
    let mut last = parser.finish(finish_reason);
    assert_eq!(last.len(), 1, "finish must return one event: {last:?}");
    match last.pop().unwrap() {
        ParsedEvent::FinalAnswerDelta { text, finish_reason: Some(reason) } => {
            assert_eq!(reason, finish_reason);
            answer.push_str(&text);
            Want::Answer(leak(answer))
        }
        event => {
            assert!(!streamed, "answer text was streamed but the output ended as {event:?}");
            match event {
                ParsedEvent::Action { tool, tool_input, thought } => {
                    Want::Action(leak(tool), leak(tool_input), leak(thought))
                }
                ParsedEvent::Unknown { text } => Want::Unknown(leak(text)),
                ParsedEvent::Error { message, retryable: false } if message == "tool not available" => {
                    Want::NotAvailable
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn table() -> Vec<(&'static str, &'static str, Want)> {
    use Want::*;
    vec![
        (
            "direct answer",
            " This is plain Git.\nAction: DirectAnswer\nFinal Answer: Use `git rebase -i`.",
            Answer("Use `git rebase -i`."),
        ),
        ("whitespace around answer", " ok\nFinal Answer:   \n  Hello world \n\n  ", Answer("Hello world")),
        ("multi-line answer", " ok\nFinal Answer: Line one.\n\n  Line two.\n", Answer("Line one.\n\n  Line two.")),
        ("lower-case marker is not a marker", " fine\nfinal answer: ok", Unknown("fine\nfinal answer: ok")),
        ("empty answer", " done\nFinal Answer:", Answer("")),
        ("empty answer with spaces", "Final Answer:  \n ", Answer("")),
        ("unicode answer", " é\nFinal Answer: Grüße — ✓ fertig ", Answer("Grüße — ✓ fertig")),
        (
            "answer mentioning Action later",
            " easy\nFinal Answer: Run it.\nAction: issue_reader\nAction Input: #1",
            Answer("Run it.\nAction: issue_reader\nAction Input: #1"),
        ),
        ("answer containing </think>", "Final Answer: a </think> b", Answer("a </think> b")),
        (
            "think block then answer",
            "<think>\nMaybe Final Answer: no\n</think>\nThought: easy\nAction: DirectAnswer\nFinal Answer: yes",
            Answer("yes"),
        ),
        ("think block after whitespace", "\n <think>x</think>Final Answer: y", Answer("y")),
        ("leaked </think>", " I should answer directly.</think>\nFinal Answer: Hi there", Answer("Hi there")),
        ("leaked </think> after a near-marker", "Final Answer x </think> Final Answer: z", Answer("z")),
        ("not a think tag", "<b>hi</b> Final Answer: x", Answer("x")),
        (
            "tool action",
            " I need the issue.\nAction: issue_reader\nAction Input: Read issue #12",
            Action("issue_reader", "Read issue #12", "I need the issue."),
        ),
        (
            "camel case tool",
            " Need the MR.\nAction: MergeRequestReader\nAction Input: !15",
            Action("merge_request_reader", "!15", "Need the MR."),
        ),
        ("camel case issue", "\nAction: IssueReader\nAction Input: #4", Action("issue_reader", "#4", "")),
        (
            "camel case docs",
            " docs\nAction: GitlabDocumentation\nAction Input: runners",
            Action("gitlab_documentation", "runners", "docs"),
        ),
        (
            "GitLab spelling",
            " docs\nAction: GitLabDocumentation\nAction Input: runners",
            Action("gitlab_documentation", "runners", "docs"),
        ),
        (
            "escaped underscores",
            " look at issue\\_x\nAction: issue\\_reader\nAction Input: what is in issue\\_x",
            Action("issue_reader", "what is in issue_x", "look at issue_x"),
        ),
        ("decorated tool", " t\nAction: **`epic_reader`**\nAction Input: &7", Action("epic_reader", "&7", "t")),
        ("spaced tool", " t\nAction: Issue Reader\nAction Input: #1", Action("issue_reader", "#1", "t")),
        ("same-line input", " t Action: issue_reader Action Input: #1", Action("issue_reader", "#1", "t")),
        ("no input", " t\nAction: issue_reader", Action("issue_reader", "", "t")),
        (
            "invented observation",
            " t\nAction: issue_reader\nAction Input: #1\nObservation: {\"title\": \"x\"}\nThought: done",
            Action("issue_reader", "#1", "t"),
        ),
        (
            "repeated Thought label",
            " Thought: need issue\nAction: issue_reader\nAction Input: #3",
            Action("issue_reader", "#3", "need issue"),
        ),
        (
            "think then action",
            "<think>plan</think> Need it.\nAction: epic_reader\nAction Input: &7",
            Action("epic_reader", "&7", "Need it."),
        ),
        ("tool not offered", " t\nAction: commit_reader\nAction Input: abc", NotAvailable),
        ("made-up tool", " t\nAction: WebSearch\nAction Input: abc", NotAvailable),
        ("neither", " The answer is 42. ", Unknown("The answer is 42.")),
        (
            "direct answer without final answer",
            " hm\nAction: DirectAnswer\nIt is 42.",
            Unknown("hm\nAction: DirectAnswer\nIt is 42."),
        ),
        ("empty action", " hm\nAction:\n", Unknown("hm\nAction:")),
        ("empty output", "", Unknown("")),
        ("whitespace output", "  \n ", Unknown("")),
        ("partial think tag", "<thin", Unknown("<thin")),
        ("unfinished think", "<think> hmm\nAction: issue_reader", Unknown("<think> hmm\nAction: issue_reader")),
        ("think then nothing", "<think>hmm</think>  Just text. ", Unknown("Just text.")),
    ]
}

fn boundaries(text: &str) -> Vec<usize> {
    (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect()
}

#[test]
fn one_chunk() {
    for (name, output, want) in table() {
        assert_eq!(run(&[output], "stop"), want, "{name}");
    }
}

#[test]
fn every_two_chunk_split() {
    for (name, output, want) in table() {
        for at in boundaries(output) {
            let (a, b) = output.split_at(at);
            assert_eq!(run(&[a, b], "stop"), want, "{name} split at {at}");
        }
    }
}

#[test]
fn every_three_chunk_split() {
    for (name, output, want) in table() {
        let cuts = boundaries(output);
        for (i, &x) in cuts.iter().enumerate() {
            for &y in &cuts[i..] {
                let chunks = [&output[..x], &output[x..y], &output[y..]];
                assert_eq!(run(&chunks, "stop"), want, "{name} split at {x},{y}");
            }
        }
    }
}

#[test]
fn one_character_per_chunk() {
    for (name, output, want) in table() {
        let chars: Vec<String> = output.chars().map(String::from).collect();
        let chunks: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(run(&chunks, "stop"), want, "{name}");
    }
}

#[test]
fn answer_streams_as_it_grows_and_holds_back_trailing_whitespace() {
    let mut parser = ReactParser::new(vec![]);
    let delta = |text: &str| vec![ParsedEvent::FinalAnswerDelta { text: text.to_string(), finish_reason: None }];
    assert_eq!(parser.push(" easy\nAction: DirectAnswer\nFinal Ans"), vec![]);
    assert_eq!(parser.push("wer:"), vec![]);
    assert_eq!(parser.push(" "), vec![]);
    assert_eq!(parser.push("Hel"), delta("Hel"));
    assert_eq!(parser.push("lo "), delta("lo"));
    assert_eq!(parser.push("\n"), vec![]);
    assert_eq!(parser.push("world"), delta(" \nworld"));
    assert_eq!(parser.push("\n\n"), vec![]);
    assert_eq!(
        parser.finish("length"),
        vec![ParsedEvent::FinalAnswerDelta { text: String::new(), finish_reason: Some("length".into()) }]
    );
}

#[test]
fn nothing_is_emitted_inside_an_unfinished_think_block() {
    let mut parser = ReactParser::new(vec![]);
    assert_eq!(parser.push("<think>Final Answer: not yet"), vec![]);
    assert_eq!(parser.push(" still thinking"), vec![]);
    assert_eq!(
        parser.push("</think>Final Answer: now"),
        vec![ParsedEvent::FinalAnswerDelta { text: "now".into(), finish_reason: None }]
    );
}

#[test]
fn finish_reason_is_passed_through() {
    for reason in ["stop", "length", "content_filter"] {
        assert_eq!(run(&["Final Answer: x"], reason), Want::Answer("x"));
    }
}

#[test]
fn tool_names_are_normalised() {
    let table = [
        ("issue_reader", "issue_reader"),
        (" `issue_reader` ", "issue_reader"),
        ("\"issue_reader\"", "issue_reader"),
        ("**IssueReader**", "issue_reader"),
        ("issue\\_reader", "issue_reader"),
        ("MergeRequestReader", "merge_request_reader"),
        ("Merge Request Reader", "merge_request_reader"),
        ("merge-request-reader", "merge_request_reader"),
        ("GitlabDocumentation", "gitlab_documentation"),
        ("GitLabDocumentation", "gitlab_documentation"),
        ("gitlab\\_documentation", "gitlab_documentation"),
        ("DirectAnswer", "direct_answer"),
        ("[work_item_reader].", "work_item_reader"),
        ("<epic_reader>", "epic_reader"),
        ("CIJobReader", "ci_job_reader"),
        ("", ""),
    ];
    for (raw, want) in table {
        assert_eq!(normalise_tool(raw), want, "{raw:?}");
    }
}
