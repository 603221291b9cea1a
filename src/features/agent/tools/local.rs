//! File and command tools: the IDE or CLI runs them in the user's working copy (`runReadFile`, `runWriteFile`, `runCommand`, …).

use serde_json::Value;

use super::args::{Args, opt_int, opt_string, string, strings};
use super::{Builtin, Context, Invocation, Privilege, object_schema, path_allowed};
use crate::features::agent::client::ClientAction;

/// Lines `read_file` returns by default when the client reads in chunks.
const DEFAULT_READ_LIMIT: i64 = 2000;
/// Seconds a command may run when the model does not say.
const DEFAULT_COMMAND_TIMEOUT: i64 = 120;

pub static TOOLS: &[Builtin] = &[
    Builtin {
        name: "read_file",
        privilege: Privilege::ReadOnlyFiles,
        description: "Read a text file of the user's project. The path is relative to the project root.",
        schema: read_file_schema,
        plan: read_file,
        caption: |a| format!("Read file {}", opt_string(a, "file_path").unwrap_or_default()),
    },
    Builtin {
        name: "read_files",
        privilege: Privilege::ReadOnlyFiles,
        description: "Read several text files of the user's project at once (paths relative to the project root). \
                      Prefer it to many read_file calls.",
        schema: |_| object_schema(&[("file_paths", "string[]", "the files to read", true)]),
        plan: |a, c| {
            let paths = strings(a, "file_paths");
            if paths.is_empty() {
                return Err("missing required argument `file_paths`".into());
            }
            for p in &paths {
                path_allowed(p, &c.exclusions)?;
            }
            Ok(Invocation::Client(ClientAction::ReadFiles { paths }))
        },
        caption: |a| format!("Read files {}", strings(a, "file_paths").join(", ")),
    },
    Builtin {
        name: "list_dir",
        privilege: Privilege::ReadOnlyFiles,
        description: "List the files and directories in one directory of the project (relative to the project root).",
        schema: |_| object_schema(&[("directory", "string", "the directory to list, e.g. `.` or `src`", true)]),
        plan: |a, c| {
            let directory = opt_string(a, "directory").unwrap_or_else(|| ".".into());
            path_allowed(&directory, &c.exclusions)?;
            Ok(Invocation::Client(ClientAction::ListDir { directory }))
        },
        caption: |a| format!("List directory {}", opt_string(a, "directory").unwrap_or_else(|| ".".into())),
    },
    Builtin {
        name: "find_files",
        privilege: Privilege::ReadOnlyFiles,
        description: "Find files of the project whose path matches a shell glob, searching recursively and \
                      skipping ignored files. Example: `**/*.py`.",
        schema: |_| object_schema(&[("name_pattern", "string", "shell glob to match file paths", true)]),
        plan: |a, _| Ok(Invocation::Client(ClientAction::FindFiles { pattern: string(a, "name_pattern")? })),
        caption: |a| format!("Find files matching {}", opt_string(a, "name_pattern").unwrap_or_default()),
    },
    Builtin {
        name: "grep",
        privilege: Privilege::ReadOnlyFiles,
        description: "Search the project's files for text (plain keywords, not a regular expression), case-insensitive. \
                      Returns the matching lines with their files.",
        schema: |_| {
            object_schema(&[
                ("keywords", "string", "the text to look for", true),
                ("search_directory", "string", "where to search, relative to the project root (default `.`)", false),
            ])
        },
        plan: |a, c| {
            let directory = opt_string(a, "search_directory").unwrap_or_else(|| ".".into());
            path_allowed(&directory, &c.exclusions)?;
            let pattern = string(a, "keywords")?;
            Ok(Invocation::Client(ClientAction::Grep { directory, pattern, case_insensitive: true }))
        },
        caption: |a| format!("Search for {}", opt_string(a, "keywords").unwrap_or_default()),
    },
    Builtin {
        name: "create_file_with_contents",
        privilege: Privilege::ReadWriteFiles,
        description: "Create a new file in the project with the given contents. Use edit_file to change an existing file.",
        schema: |_| {
            object_schema(&[
                ("file_path", "string", "the new file, relative to the project root", true),
                ("contents", "string", "the whole text of the file", true),
            ])
        },
        plan: |a, c| {
            let path = string(a, "file_path")?;
            path_allowed(&path, &c.exclusions)?;
            let contents = a.get("contents").and_then(Value::as_str).unwrap_or_default().to_string();
            Ok(Invocation::Client(ClientAction::WriteFile { path, contents }))
        },
        caption: |a| format!("Create file {}", opt_string(a, "file_path").unwrap_or_default()),
    },
    Builtin {
        name: "edit_file",
        privilege: Privilege::ReadWriteFiles,
        description: "Change an existing file: the first exact occurrence of `old_str` is replaced by `new_str`. \
                      Include enough surrounding lines in `old_str` to make it unique.",
        schema: |_| {
            object_schema(&[
                ("file_path", "string", "the file to change, relative to the project root", true),
                ("old_str", "string", "the exact text to replace", true),
                ("new_str", "string", "the text to put in its place", true),
            ])
        },
        plan: |a, c| {
            let path = string(a, "file_path")?;
            path_allowed(&path, &c.exclusions)?;
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            Ok(Invocation::Client(ClientAction::EditFile { path, old: text("old_str"), new: text("new_str") }))
        },
        caption: |a| format!("Edit file {}", opt_string(a, "file_path").unwrap_or_default()),
    },
    Builtin {
        name: "mkdir",
        privilege: Privilege::ReadWriteFiles,
        description: "Create a directory (and its parents) in the project.",
        schema: |_| object_schema(&[("directory_path", "string", "the directory, relative to the project root", true)]),
        plan: |a, c| {
            let dir = string(a, "directory_path")?;
            path_allowed(&dir, &c.exclusions)?;
            let directory = if dir.starts_with("./") { dir } else { format!("./{dir}") };
            Ok(Invocation::Client(ClientAction::Mkdir { directory }))
        },
        caption: |a| format!("Create directory {}", opt_string(a, "directory_path").unwrap_or_default()),
    },
    Builtin {
        name: "run_command",
        privilege: Privilege::RunCommands,
        description: "Run a command in the project directory on the user's machine and return its output. \
                      Never use it to read secrets or to bypass the file tools' restrictions.",
        schema: run_command_schema,
        plan: run_command,
        caption: |a| {
            let line = opt_string(a, "command").unwrap_or_else(|| {
                let program = opt_string(a, "program").unwrap_or_default();
                match opt_string(a, "args") {
                    Some(args) => format!("{program} {args}"),
                    None => program,
                }
            });
            format!("Run command: {line}")
        },
    },
    Builtin {
        name: "run_git_command",
        privilege: Privilege::UseGit,
        description: "Run a git command (for example `status`, `log`, `diff`) in the project's repository.",
        schema: |_| {
            object_schema(&[
                ("repository_url", "string", "the repository's URL", false),
                ("command", "string", "the git subcommand, e.g. `log`", true),
                ("args", "string", "its arguments as one string, e.g. `--oneline -5`", false),
            ])
        },
        plan: |a, _| {
            let mut arguments = vec![string(a, "command")?];
            arguments.extend(split_words(&opt_string(a, "args").unwrap_or_default())?);
            Ok(Invocation::Client(ClientAction::RunCommand { program: "git".into(), arguments, timeout: None }))
        },
        caption: |a| {
            format!(
                "Run git {} {}",
                opt_string(a, "command").unwrap_or_default(),
                opt_string(a, "args").unwrap_or_default()
            )
            .trim_end()
            .to_string()
        },
    },
];

fn read_file_schema(ctx: &Context) -> Value {
    let mut fields = vec![("file_path", "string", "the file to read, relative to the project root", true)];
    if ctx.chunked_reads {
        fields.push(("offset", "integer", "first line to read, counting from 0 (default 0)", false));
        fields.push(("limit", "integer", "how many lines to read (default 2000)", false));
    }
    object_schema(&fields)
}

fn read_file(args: &Args, ctx: &Context) -> Result<Invocation, String> {
    let path = string(args, "file_path")?;
    path_allowed(&path, &ctx.exclusions)?;
    let (offset, limit) = if ctx.chunked_reads {
        (Some(opt_int(args, "offset").unwrap_or(0).max(0)), Some(opt_int(args, "limit").unwrap_or(DEFAULT_READ_LIMIT)))
    } else {
        (None, None)
    };
    Ok(Invocation::Client(ClientAction::ReadFile { path, offset, limit }))
}

fn run_command_schema(ctx: &Context) -> Value {
    let timeout = ("timeout", "integer", "seconds the command may run (default 120)", false);
    let mut fields = if ctx.shell {
        vec![("command", "string", "the command line, run by the user's shell", true)]
    } else {
        vec![
            ("program", "string", "the program to run, e.g. `ls`", true),
            ("args", "string", "its arguments as one string, e.g. `-la src`", false),
        ]
    };
    if ctx.command_timeout {
        fields.push(timeout);
    }
    object_schema(&fields)
}

fn run_command(args: &Args, ctx: &Context) -> Result<Invocation, String> {
    let timeout = ctx.command_timeout.then(|| opt_int(args, "timeout").unwrap_or(DEFAULT_COMMAND_TIMEOUT));
    if ctx.shell {
        // A model may still send the program/args form: join it into a command line.
        let command = match opt_string(args, "command") {
            Some(c) => c,
            None => {
                let program = string(args, "program")?;
                format!("{program} {}", opt_string(args, "args").unwrap_or_default()).trim_end().to_string()
            }
        };
        return Ok(Invocation::Client(ClientAction::Shell { command, timeout }));
    }
    let (program, arguments) = match opt_string(args, "program") {
        Some(program) => (program, split_words(&opt_string(args, "args").unwrap_or_default())?),
        None => {
            let mut words = split_words(&string(args, "command")?)?;
            if words.is_empty() {
                return Err("missing required argument `program`".into());
            }
            let program = words.remove(0);
            (program, words)
        }
    };
    if program.contains(char::is_whitespace) {
        let mut words = split_words(&program)?;
        let first = words.remove(0);
        words.extend(arguments);
        return Ok(Invocation::Client(ClientAction::RunCommand { program: first, arguments: words, timeout }));
    }
    Ok(Invocation::Client(ClientAction::RunCommand { program, arguments, timeout }))
}

/// Splits a command line into words the way a POSIX shell would (quotes and backslashes), without expanding anything.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n @ ('"' | '\\' | '$' | '`')) => word.push(n),
                Some(n) => {
                    word.push('\\');
                    word.push(n);
                }
                None => word.push('\\'),
            },
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in `{line}`"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Up to two glob patterns an approval may remember for a command: the line without its last
/// word, and its first two words followed by `*`.
pub fn suggested_patterns(command_line: &str) -> Vec<String> {
    let words: Vec<&str> = command_line.split_whitespace().collect();
    let mut out = Vec::new();
    if words.len() > 1 {
        out.push(format!("{} *", words[..words.len() - 1].join(" ")));
    }
    if words.len() > 2 {
        let two = format!("{} *", words[..2].join(" "));
        if !out.contains(&two) {
            out.push(two);
        }
    }
    out
}
