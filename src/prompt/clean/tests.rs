//! Table-driven tests for each completion post-processing step and the whole chain.

use super::*;

#[test]
fn strip_markers_drops_leading_markers_and_ends_at_later_ones() {
    let table = [
        ("return x", "return x"),
        ("", ""),
        ("<|fim_middle|>return x", "return x"),
        ("[MIDDLE]return x", "return x"),
        ("<s></s>x", "x"),
        ("return x<|file_separator|>import os", "return x"),
        ("return x<EOT>", "return x"),
        ("return x<end_of_turn>\n<eos>", "return x"),
        ("return x<eos>", "return x"),
        ("a <MID> b", "a "),
        ("return x[SUFFIX]print(1)", "return x"),
        ("x = 1<｜fim▁end｜>", "x = 1"),
        ("x = 1<|endoftext|>garbage", "x = 1"),
        ("<PRE> only", " only"),
        ("x <= y and a[0] < b", "x <= y and a[0] < b"),
    ];
    for (input, want) in table {
        assert_eq!(strip_markers(input), want, "{input:?}");
    }
}

#[test]
fn strip_markers_unwraps_a_fenced_output() {
    let table = [
        ("```python\nreturn x\n```", "return x"),
        ("```python\nreturn x\n```\n", "return x"),
        ("  ```\nreturn x\n```", "return x"),
        ("```c++\nint x;\n", "int x;\n"),
        ("```rust\nlet a = 1;", "let a = 1;"),
        ("```python", ""),
        ("x = 1\n```", "x = 1\n```"),
        ("``` not a fence\nx", "``` not a fence\nx"),
        ("<|fim_middle|>```js\nfoo()\n```<|endoftext|>", "foo()"),
    ];
    for (input, want) in table {
        assert_eq!(strip_markers(input), want, "{input:?}");
    }
}

#[test]
fn trim_prefix_echo_drops_repeated_prefix_lines() {
    // (output, prefix, want)
    let table = [
        // The model repeats the cursor line it was asked to continue.
        ("def fib(n):\n    return n", "def fib(", "n):\n    return n"),
        ("    return fib(n - 1)", "    return fib(", "n - 1)"),
        // It repeats the last full line after the cursor moved to a new line.
        ("    x = 1\n    y = 2", "def f():\n    x = 1\n", "    y = 2"),
        // Cursor after typed indentation: the echo and the repeated indentation go.
        ("x = 1\n    y = 2", "def f():\n    x = 1\n    ", "y = 2"),
        ("    x = 1\n    y = 2", "def f():\n    x = 1\n    ", "y = 2"),
        // Several lines, including a blank one.
        ("def f():\n\n    x = 1\n    y = 2", "def f():\n\n    x = 1\n", "    y = 2"),
        ("a = 1\nb = 2\nc = 3", "a = 1\nb = 2\n", "c = 3"),
        // Previous line plus the partial cursor line.
        ("x = 1\ny = 2", "x = 1\ny = ", "2"),
        // No echo: unchanged.
        ("n):\n    return n", "def fib(", "n):\n    return n"),
        ("y = 2", "x = 1\n", "y = 2"),
        // Echoes of fewer than 3 visible characters are kept (a second `}` can be real).
        ("}\n}", "  }\n", "}\n}"),
        ("", "x = 1\n", ""),
        ("x = 1", "", "x = 1"),
    ];
    for (output, prefix, want) in table {
        assert_eq!(trim_prefix_echo(output, prefix), want, "{output:?} after {prefix:?}");
    }
}

#[test]
fn cut_at_suffix_stops_before_the_suffix_repeats() {
    // (output, prefix, suffix, want)
    let table = [
        // The block end already follows the cursor.
        ("let x = 1;\n    x\n}\n", "fn f() {\n    ", "\n}\n", "let x = 1;\n    x"),
        // Cursor at a line start: the kept newline is needed.
        ("    x\n}\n", "fn f() {\n", "}\n", "    x\n"),
        // An inner `}` at another indentation is not the suffix's line.
        ("if a {\n        b\n    }\n    c\n}\n", "fn f() {\n    ", "\n}", "if a {\n        b\n    }\n    c"),
        // Ruby `end` and the next def.
        ("  x + 1\nend\n\ndef g\n", "def f\n", "end\n\ndef g\n", "  x + 1\n"),
        ("return 1\n\ndef g():\n    pass", "def f():\n    ", "\n\ndef g():\n    pass\n", "return 1"),
        // Rest of the cursor line compared trimmed.
        ("\n    a,\n    b,\n)", "foo(", ")", "\n    a,\n    b,\n"),
        (")", "foo(", ")", ""),
        // The output's first line completed by the cursor line equals the suffix line.
        ("}\n", "fn f() {\n    x\n", "\n}\n", ""),
        // Nothing to compare: unchanged.
        ("x = 1", "", "", "x = 1"),
        ("x = 1", "", "\n\n  \n", "x = 1"),
        ("x = 1\ny = 2", "", "\nz = 3", "x = 1\ny = 2"),
    ];
    for (output, prefix, suffix, want) in table {
        assert_eq!(cut_at_suffix(output, prefix, suffix), want, "{output:?} | {suffix:?}");
    }
}

#[test]
fn mixtral_underscores_are_unescaped_only_for_mixtral() {
    let table = [
        ("my\\_var = 1", Some(Family::Mixtral), "my_var = 1"),
        ("my\\_var = 1", Some(Family::Mistral), "my\\_var = 1"),
        ("my\\_var = 1", None, "my\\_var = 1"),
        ("a\\\\_b", Some(Family::Mixtral), "a\\_b"),
    ];
    for (input, family, want) in table {
        assert_eq!(unescape_mixtral(input, family), want, "{input:?} {family:?}");
    }
}

#[test]
fn whitespace_only_becomes_empty() {
    for (input, want) in [("", ""), ("  \n\t", ""), (" x ", " x "), ("\n}", "\n}")] {
        assert_eq!(blank_if_whitespace(input), want, "{input:?}");
    }
}

#[test]
fn clean_completion_runs_the_chain() {
    // (output, prefix, suffix, family, want)
    let table = [
        (
            "return n if n < 2 else fib(n - 1) + fib(n - 2)",
            "def fib(n):\n    ",
            "\n",
            None,
            "return n if n < 2 else fib(n - 1) + fib(n - 2)",
        ),
        ("```python\n    return a\n```", "def f(a):\n", "", None, "    return a"),
        ("def f(a):\n    return a\n<|file_separator|>", "def f(a):\n", "", Some(Family::Codegemma), "    return a\n"),
        ("a\\_b\n}\n", "{\n", "}\n", Some(Family::Mixtral), "a_b\n"),
        ("<EOT>", "x", "", Some(Family::Codellama), ""),
        ("   \n", "x", "", None, ""),
        ("}", "fn f() {\n", "}\n", None, ""),
    ];
    for (output, prefix, suffix, family, want) in table {
        assert_eq!(clean_completion(output, prefix, suffix, family), want, "{output:?}");
    }
}
