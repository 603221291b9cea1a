//! Tests for generation post-processing: fences, echoed lines, the full chain and the streaming line cutter.

use super::*;

#[test]
fn strip_fences_removes_openers_closers_and_trailing_backticks() {
    let table = [
        ("def f():\n    pass\n", "def f():\n    pass\n"),
        ("```python\ndef f():\n    pass\n```", "def f():\n    pass\n"),
        ("\n```python\ndef f():\n    pass\n```\nThis defines f.", "def f():\n    pass\n"),
        ("```\nx = 1\n", "x = 1\n"),
        ("```c++\nint x;\n```\n", "int x;\n"),
        ("x = 1\n```", "x = 1\n"),
        ("x = 1```", "x = 1"),
        ("s = `a`", "s = `a`"),
        ("Here:\n```py\nx\n```", "Here:\n```py\nx\n"),
        ("", ""),
    ];
    for (input, want) in table {
        assert_eq!(strip_fences(input), want, "{input:?}");
    }
}

#[test]
fn drop_echoed_lines_removes_repeated_prefix_lines() {
    let prefix = "import json\n\n# fetch json from url and return dict\n";
    // (output, prefix, want)
    let table = [
        ("# fetch json from url and return dict\ndef fetch(url):\n", prefix, "def fetch(url):\n"),
        ("\n  # fetch json from url and return dict\ndef fetch(url):\n", prefix, "def fetch(url):\n"),
        ("import json\n\n# fetch json from url and return dict\ndef f():\n", prefix, "def f():\n"),
        ("def fetch(url):\n", prefix, "def fetch(url):\n"),
        ("# fetch json from url and return dict", prefix, ""),
        // Short lines such as a lone brace are not treated as echoes.
        ("}\nfoo()\n", "bar() {\n}\n", "}\nfoo()\n"),
        ("x\n", "", "x\n"),
    ];
    for (output, prefix, want) in table {
        assert_eq!(drop_echoed_lines(output, prefix), want, "{output:?}");
    }
}

#[test]
fn clean_generation_runs_the_chain() {
    // (output, prefix, want)
    let table = [
        (
            "```python\nimport requests\n\ndef fetch(url):\n    return requests.get(url).json()\n```",
            "# fetch\n",
            "import requests\n\ndef fetch(url):\n    return requests.get(url).json()\n",
        ),
        // Prefix ends mid-line: a newline goes first.
        ("def f():\n    pass", "# make f", "\ndef f():\n    pass"),
        ("\ndef f():\n    pass", "# make f", "\ndef f():\n    pass"),
        // Empty file: no newline in front.
        ("def f():\n    pass", "", "def f():\n    pass"),
        ("# make f\ndef f(): pass", "# make f\n", "def f(): pass"),
        ("```\n   \n```", "x\n", ""),
        ("   ", "x", ""),
    ];
    for (output, prefix, want) in table {
        assert_eq!(clean_generation(output, prefix), want, "{output:?}");
    }
}

const SAMPLE: &str = "```python\nimport requests\r\n\ndef fetch(url):\n    s = `x`\n    return requests.get(url).json()```\n```\nprint(fetch(\"é\"))";
const SAMPLE_CLEAN: &str =
    "import requests\r\n\ndef fetch(url):\n    s = `x`\n    return requests.get(url).json()\nprint(fetch(\"é\"))";

fn run(chunks: &[&str]) -> Vec<String> {
    let mut cutter = LineCutter::new();
    let mut out: Vec<String> = chunks.iter().filter_map(|c| cutter.push(c)).collect();
    out.extend(cutter.finish());
    out
}

#[test]
fn line_cutter_cleans_a_whole_output() {
    assert_eq!(run(&[SAMPLE]).concat(), SAMPLE_CLEAN);
    assert_eq!(run(&[]), Vec::<String>::new());
    assert_eq!(run(&["", ""]), Vec::<String>::new());
    assert_eq!(run(&["```js\n", "```"]), Vec::<String>::new());
}

#[test]
fn line_cutter_gives_the_same_lines_for_every_split() {
    let bounds: Vec<usize> = SAMPLE.char_indices().map(|(i, _)| i).chain([SAMPLE.len()]).collect();
    for &i in &bounds {
        for &j in bounds.iter().filter(|&&j| j >= i) {
            let chunks = [&SAMPLE[..i], &SAMPLE[i..j], &SAMPLE[j..]];
            let out = run(&chunks);
            assert_eq!(out.concat(), SAMPLE_CLEAN, "split at {i},{j}");
            let (last, whole) = out.split_last().unwrap();
            assert!(whole.iter().all(|c| c.ends_with('\n')), "split at {i},{j}: {out:?}");
            assert!(!last.is_empty());
        }
    }
}

#[test]
fn line_cutter_holds_partial_lines_until_a_newline_or_finish() {
    let mut cutter = LineCutter::new();
    assert_eq!(cutter.push("def f"), None);
    assert_eq!(cutter.push("():\n    ret"), Some("def f():\n".to_string()));
    assert_eq!(cutter.push("urn 1\n\n"), Some("    return 1\n\n".to_string()));
    assert_eq!(cutter.push("x```"), None);
    assert_eq!(cutter.finish(), Some("x".to_string()));
    assert_eq!(cutter.finish(), None);
}
