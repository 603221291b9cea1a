//! The language of the file being edited: the editor's language id, else a table of file names and extensions.

/// Language name (lower case) from the editor's language id, else the file extension, else None
/// (GitLab then returns no completion).
///
/// A few VS Code ids are folded into the plain language name (`typescriptreact` → `typescript`,
/// `cpp` → `c++`, `csharp` → `c#`, `shellscript` → `shell`…) so prompts read naturally; any other
/// id is used as given, lower-cased.
pub fn language(file_name: &str, language_identifier: Option<&str>) -> Option<String> {
    if let Some(id) = language_identifier.map(str::trim).filter(|id| !id.is_empty()) {
        let id = id.to_lowercase();
        return Some(vscode_alias(&id).map_or(id, str::to_string));
    }
    from_file_name(file_name).map(str::to_string)
}

fn vscode_alias(id: &str) -> Option<&'static str> {
    Some(match id {
        "typescriptreact" => "typescript",
        "javascriptreact" => "javascript",
        "shellscript" => "shell",
        "cpp" => "c++",
        "csharp" => "c#",
        "fsharp" => "f#",
        "objective-cpp" => "objective-c++",
        "terraform" | "tf" => "terraform",
        "py" => "python",
        "rb" => "ruby",
        "rs" => "rust",
        "golang" => "go",
        _ => return None,
    })
}

fn from_file_name(file_name: &str) -> Option<&'static str> {
    let base = file_name.trim().rsplit(['/', '\\']).next().unwrap_or("");
    if let Some(lang) = by_whole_name(base) {
        return Some(lang);
    }
    let (stem, ext) = base.rsplit_once('.')?;
    if stem.is_empty() && ext.is_empty() {
        return None;
    }
    by_extension(&ext.to_ascii_lowercase())
}

fn by_whole_name(base: &str) -> Option<&'static str> {
    let lower = base.to_ascii_lowercase();
    Some(match lower.as_str() {
        "dockerfile" | "containerfile" => "dockerfile",
        "makefile" | "gnumakefile" => "makefile",
        "gemfile" | "rakefile" | "vagrantfile" | "podfile" | "brewfile" | "guardfile" => "ruby",
        "jenkinsfile" => "groovy",
        "cmakelists.txt" => "cmake",
        _ if lower.starts_with("dockerfile.") || lower.ends_with(".dockerfile") => "dockerfile",
        _ => return None,
    })
}

fn by_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "py" | "pyw" | "pyi" => "python",
        "rb" | "rake" | "gemspec" | "erb" => "ruby",
        "rs" => "rust",
        "go" => "go",
        "js" | "jsx" | "mjs" | "cjs" => "javascript",
        "ts" | "tsx" | "mts" | "cts" => "typescript",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "c" | "h" => "c",
        "cpp" | "cc" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" => "c++",
        "cs" => "c#",
        "php" => "php",
        "swift" => "swift",
        "scala" | "sc" => "scala",
        "sh" | "bash" | "zsh" | "ksh" => "shell",
        "fish" => "fish",
        "ps1" | "psm1" => "powershell",
        "bat" | "cmd" => "batch",
        "sql" => "sql",
        "yaml" | "yml" => "yaml",
        "json" | "jsonc" => "json",
        "toml" => "toml",
        "xml" | "xsd" | "xsl" => "xml",
        "md" | "markdown" => "markdown",
        "html" | "htm" => "html",
        "css" => "css",
        "scss" => "scss",
        "sass" => "sass",
        "less" => "less",
        "vue" => "vue",
        "svelte" => "svelte",
        "ex" | "exs" | "heex" => "elixir",
        "erl" | "hrl" => "erlang",
        "hs" | "lhs" => "haskell",
        "lua" => "lua",
        "pl" | "pm" => "perl",
        "r" => "r",
        "dart" => "dart",
        "tf" | "tfvars" => "terraform",
        "hcl" => "hcl",
        "m" => "objective-c",
        "mm" => "objective-c++",
        "groovy" | "gradle" => "groovy",
        "clj" | "cljs" | "cljc" | "edn" => "clojure",
        "fs" | "fsx" | "fsi" => "f#",
        "ml" | "mli" => "ocaml",
        "jl" => "julia",
        "nim" => "nim",
        "zig" => "zig",
        "vb" => "visual basic",
        "proto" => "protobuf",
        "graphql" | "gql" => "graphql",
        "cmake" => "cmake",
        "coffee" => "coffeescript",
        "elm" => "elm",
        "f" | "f90" | "f95" | "f03" => "fortran",
        "asm" | "s" => "assembly",
        "tex" => "latex",
        "vim" => "vim script",
        "cr" => "crystal",
        "d" => "d",
        "pas" => "pascal",
        "rkt" => "racket",
        "scm" | "ss" => "scheme",
        "lisp" | "el" => "lisp",
        "sol" => "solidity",
        "astro" => "astro",
        "dockerfile" => "dockerfile",
        "mk" => "makefile",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_language_id_wins_over_the_extension() {
        let table = [
            ("a.py", Some("Python"), "python"),
            ("a.txt", Some("ruby"), "ruby"),
            ("a.tsx", Some("typescriptreact"), "typescript"),
            ("a.jsx", Some("javascriptreact"), "javascript"),
            ("a.cpp", Some("cpp"), "c++"),
            ("a.cs", Some("csharp"), "c#"),
            ("run.sh", Some("shellscript"), "shell"),
            ("x", Some("plaintext"), "plaintext"),
            ("x", Some("  GO "), "go"),
        ];
        for (file, id, want) in table {
            assert_eq!(language(file, id).as_deref(), Some(want), "{file} {id:?}");
        }
    }

    #[test]
    fn blank_language_id_falls_back_to_the_file_name() {
        assert_eq!(language("a.rs", Some("")).as_deref(), Some("rust"));
        assert_eq!(language("a.rs", Some("  ")).as_deref(), Some("rust"));
    }

    #[test]
    fn extensions_and_whole_names_map_to_languages() {
        let table = [
            ("app/main.py", "python"),
            ("lib/x.rb", "ruby"),
            ("src/lib.rs", "rust"),
            ("main.go", "go"),
            ("a.js", "javascript"),
            ("a.jsx", "javascript"),
            ("a.mjs", "javascript"),
            ("a.ts", "typescript"),
            ("a.tsx", "typescript"),
            ("A.java", "java"),
            ("a.kt", "kotlin"),
            ("a.c", "c"),
            ("a.h", "c"),
            ("a.cpp", "c++"),
            ("a.cc", "c++"),
            ("a.hpp", "c++"),
            ("a.cs", "c#"),
            ("a.php", "php"),
            ("a.swift", "swift"),
            ("a.scala", "scala"),
            ("a.sh", "shell"),
            ("a.bash", "shell"),
            ("a.sql", "sql"),
            ("a.yaml", "yaml"),
            (".gitlab-ci.yml", "yaml"),
            ("a.json", "json"),
            ("README.md", "markdown"),
            ("a.html", "html"),
            ("a.css", "css"),
            ("a.vue", "vue"),
            ("a.svelte", "svelte"),
            ("a.ex", "elixir"),
            ("a.exs", "elixir"),
            ("a.erl", "erlang"),
            ("a.hs", "haskell"),
            ("a.lua", "lua"),
            ("a.pl", "perl"),
            ("a.R", "r"),
            ("a.dart", "dart"),
            ("main.tf", "terraform"),
            ("Dockerfile", "dockerfile"),
            ("build/Dockerfile.prod", "dockerfile"),
            ("api.dockerfile", "dockerfile"),
            ("Makefile", "makefile"),
            ("Gemfile", "ruby"),
            ("Jenkinsfile", "groovy"),
            ("CMakeLists.txt", "cmake"),
            ("C:\\src\\Main.PY", "python"),
        ];
        for (file, want) in table {
            assert_eq!(language(file, None).as_deref(), Some(want), "{file}");
        }
    }

    #[test]
    fn unknown_or_missing_extensions_give_none() {
        for file in ["", "README", "notes.txt", "a.unknownext", "dir.py/file", ".", "archive.tar.gz"] {
            assert_eq!(language(file, None), None, "{file}");
        }
    }
}
