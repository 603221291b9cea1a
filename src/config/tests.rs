//! Tests of the boot configuration: layer precedence, bad values naming their key, model specs, secrets never printed.

use super::*;
use clap::Parser;
use std::collections::HashMap;

const KEY_A: &str = "secret-key-aaaaaaaaaaaa";
const KEY_B: &str = "secret-key-bbbbbbbbbbbb";
const FILE: &str = "/etc/airgate/test.toml";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

/// `argv`: whitespace-separated flags; `file`: TOML text ("" = no file); `env`: "K=V;K=V".
fn run(argv: &str, file: &str, env: &str) -> Result<Config, ConfigError> {
    let args = Cli::try_parse_from(std::iter::once("airgate").chain(argv.split_whitespace())).unwrap();
    let env: HashMap<&str, &str> = env.split(';').filter_map(|kv| kv.split_once('=')).collect();
    let file = (!file.is_empty()).then_some((Path::new(FILE), file));
    Config::resolve(&args.config, file, &|k| env.get(k).map(|v| v.to_string()))
}

fn err(argv: &str, file: &str, env: &str) -> String {
    run(argv, file, env).unwrap_err().to_string()
}

fn names(c: &Config) -> Vec<String> {
    c.models.iter().map(|m| format!("{}={}", m.name, m.path.display())).collect()
}

#[test]
fn defaults() {
    let c = run("", "", "").unwrap();
    assert_eq!(c.listen, "0.0.0.0:5052".parse().unwrap());
    assert_eq!((c.data_dir.to_str(), c.data_dir_fallback), (Some("/var/lib/airgate"), false));
    assert!(c.models.is_empty() && c.api_keys.is_empty() && c.threads >= 1);
    assert_eq!([c.ctx_size, c.parallel, c.batch_size], [4096, 4, 512]);
    assert_eq!((c.queue_depth, c.max_body_bytes, c.shutdown_timeout_secs), (64, 16 << 20, 30));
    assert_eq!(c.queue_wait_secs, 60);
    assert_eq!((c.tls, c.gitlab_url, c.config_file), (None, None, None));
    assert_eq!((c.log_format, c.log_level.as_str()), (LogFormat::Auto, "info"));
    assert_eq!((c.auth_bypass, c.logging_expanded, c.log_file), (false, false, None));
}

#[test]
fn scalar_layers_override_each_other() {
    // (key, file value, env value, flag value): each layer must beat the one below it.
    let cases = [
        ("listen", r#""127.0.0.1:1""#, "127.0.0.1:2", "[::1]:3"),
        ("data_dir", r#""/file""#, "/env", "/flag"),
        ("threads", "3", "5", "7"),
        ("ctx_size", "1024", "2048", "8192"),
        ("parallel", "1", "2", "64"),
        ("batch_size", "32", "64", "8192"),
        ("queue_depth", "1", "2", "100000"),
        ("queue_wait_secs", "1", "2", "3600"),
        ("gitlab_url", r#""https://f.example""#, "http://e.example", "https://g.example:8443/gl"),
        ("max_body_bytes", "1024", "2048", "4096"),
        ("shutdown_timeout_secs", "0", "1", "86400"),
        ("log_format", r#""json""#, "text", "auto"),
        ("log_level", r#""debug""#, "warn", "airgate=trace"),
    ];
    let get = |c: &Config, key: &str| serde_json::to_value(c).unwrap()[key].to_string().replace('"', "");
    for (key, file_val, env_val, flag_val) in cases {
        let (file, var) = (format!("{key} = {file_val}"), format!("AIRGATE_{}", key.to_uppercase()));
        let (env, flag) = (format!("{var}={env_val}"), format!("--{} {flag_val}", key.replace('_', "-")));
        let file_val = file_val.replace('"', "");
        assert_ne!(get(&run("", "", "").unwrap(), key), file_val, "{key}: default");
        assert_eq!(get(&run("", &file, "").unwrap(), key), file_val, "{key}: file");
        assert_eq!(get(&run("", &file, &env).unwrap(), key), env_val, "{key}: env");
        assert_eq!(get(&run(&flag, &file, &env).unwrap(), key), flag_val, "{key}: flag");
        assert_eq!(get(&run(&flag, "", "").unwrap(), key), flag_val, "{key}: flag only");
        assert_eq!(get(&run("", &file, &format!("{var}= ")).unwrap(), key), file_val, "{key}: empty env");
    }
}

#[test]
fn list_and_table_layers() {
    let file = format!(
        "models = [\"/m/a.gguf\", {{ path = \"/m/b.gguf\", name = \"bee\" }}, \"/m/c.gguf:sea\"]\n\
         api_keys = [\"{KEY_A}\"]\n[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n"
    );
    let c = run("", &file, "").unwrap();
    assert_eq!(names(&c), ["a=/m/a.gguf", "bee=/m/b.gguf", "sea=/m/c.gguf"]);
    assert_eq!((c.api_keys, c.config_file), (vec![Secret::new(KEY_A)], Some(FILE.into())));
    assert_eq!(c.tls, Some(TlsPaths { cert: "/c.pem".into(), key: "/k.pem".into() }));

    let env = format!("AIRGATE_MODELS=/e/x.gguf, /e/y.gguf:why,;AIRGATE_TLS_KEY=/ek;AIRGATE_API_KEYS={KEY_A},{KEY_B}");
    let c = run("", &file, &env).unwrap();
    assert_eq!(names(&c), ["x=/e/x.gguf", "why=/e/y.gguf"]);
    assert_eq!(c.api_keys, [Secret::new(KEY_A), Secret::new(KEY_B)]);
    assert_eq!(c.tls.map(|t| (t.cert, t.key)), Some(("/c.pem".into(), "/ek".into())));

    // Embeddings on a generation model, and the pooling, come from the model's table.
    let c = run("", "models = [{ path = \"/m/g.gguf\", embeddings = true, pooling = \"last\" }, \"/m/h.gguf\"]", "")
        .unwrap();
    let m = &c.models;
    assert_eq!(
        (m[0].embeddings, m[0].pooling.as_deref(), m[1].embeddings, m[1].pooling.as_deref()),
        (true, Some("last"), false, None)
    );
    assert_eq!(run("", &c.to_redacted_toml(), "").unwrap().models, c.models, "config show keeps them");

    let flags = format!("--model /f/1.gguf --model /f/2.gguf:two --tls-cert /fc --api-key {KEY_B}");
    let c = run(&flags, &file, &env).unwrap();
    assert_eq!(names(&c), ["1=/f/1.gguf", "two=/f/2.gguf"]);
    assert_eq!(c.api_keys, [Secret::new(KEY_B)]);
    assert_eq!(c.tls.map(|t| (t.cert, t.key)), Some(("/fc".into(), "/ek".into())));
}

#[test]
fn gitlab_url_env_precedence() {
    let file = r#"gitlab_url = "https://file.example""#;
    let (aigw, airgate) = ("AIGW_GITLAB_URL=http://aigw.example/", "AIRGATE_GITLAB_URL=https://airgate.example");
    let both = format!("{aigw};{airgate}");
    let cases = [
        ("", "", "", None),
        ("", file, "", Some("https://file.example")),
        ("", file, aigw, Some("http://aigw.example")),
        ("", file, both.as_str(), Some("https://airgate.example")),
        ("", "", airgate, Some("https://airgate.example")),
        ("--gitlab-url https://flag.example//", file, both.as_str(), Some("https://flag.example")),
    ];
    for (argv, file, env, want) in cases {
        assert_eq!(run(argv, file, env).unwrap().gitlab_url.as_deref(), want, "{argv} {file} {env}");
    }
}

#[test]
fn switches_and_log_file_layers() {
    // (argv, file, env, (auth_bypass, logging_expanded)); AIRGATE_* beats AIGW_*, which beats the file.
    let file = "[auth]\nbypass = true\n[logging]\nexpanded = false\n";
    let cases = [
        ("", "", "", (false, false)),
        ("", file, "", (true, false)),
        ("", file, "AIGW_AUTH__BYPASS_EXTERNAL=false;AIGW_LOGGING__ENABLE_REQUEST_LOGGING=TRUE", (false, true)),
        ("", file, "AIRGATE_AUTH_BYPASS=no;AIRGATE_LOGGING_EXPANDED=Yes", (false, true)),
        ("", "", "AIRGATE_AUTH_BYPASS=1;AIGW_AUTH__BYPASS_EXTERNAL=false", (true, false)),
        ("", "", "AIRGATE_AUTH_BYPASS=0;AIGW_AUTH__BYPASS_EXTERNAL=true", (false, false)),
        ("", "", "AIRGATE_LOGGING_EXPANDED=false;AIGW_LOGGING__ENABLE_REQUEST_LOGGING=true", (false, false)),
        ("", file, "AIRGATE_AUTH_BYPASS= ;AIGW_AUTH__BYPASS_EXTERNAL=", (true, false)), // empty = unset
        ("--auth-bypass --logging-expanded", "", "AIRGATE_AUTH_BYPASS=false;AIRGATE_LOGGING_EXPANDED=NO", (true, true)),
    ];
    for (argv, file, env, want) in cases {
        let c = run(argv, file, env).unwrap();
        assert_eq!((c.auth_bypass, c.logging_expanded), want, "{argv:?} {file:?} {env:?}");
    }

    let file = "[logging]\nto_file = \"/f.log\"\n";
    let (aigw, airgate) = ("AIGW_LOGGING__TO_FILE=/aigw.log", "AIRGATE_LOGGING_TO_FILE=/airgate.log");
    let both = format!("{aigw};{airgate}");
    let cases = [
        ("", "", "", None),
        ("", file, "", Some("/f.log")),
        ("", file, aigw, Some("/aigw.log")),
        ("", file, both.as_str(), Some("/airgate.log")),
        ("--log-file /flag.log", file, both.as_str(), Some("/flag.log")),
    ];
    for (argv, file, env, want) in cases {
        assert_eq!(run(argv, file, env).unwrap().log_file.as_deref(), want.map(Path::new), "{argv} {file} {env}");
    }
}

#[test]
fn bad_values_name_key_line_and_origin() {
    let cases = [
        ("", "ctx_size = 1024\nbogus = 1", "", "line 2|key `bogus`|unknown field `bogus`"),
        ("", "[tls]\ncert = \"/c\"\nkee = \"/k\"", "", "line 3|key `tls.kee`|unknown field `kee`"),
        ("", "[extra]\nx = 1", "", "line 1|key `extra`"),
        ("", "models = [\n  { pth = \"/a.gguf\" },\n]", "", "line 2|unknown field `pth`"),
        ("", "listen = 5", "", "line 1|key `listen`|invalid type"),
        ("", "\nlisten = \"nope\"", "", "line 2|key `listen`"),
        ("", "ctx_size = \"x\"", "", "key `ctx_size`|invalid type"),
        ("", "parallel = -1", "", "key `parallel`"),
        ("", "[tls]\ncert = 5", "", "key `tls.cert`"),
        ("", "log_format = \"xml\"", "", "key `log_format`"),
        ("", "parallel = 0", "", "invalid parallel (from config file /etc/airgate/test.toml)|1..=64"),
        ("", "ctx_size = 100", "", "ctx_size|config file|256..=1048576"),
        ("", "[tls]\ncert = \"/c\"", "", "tls.cert|tls.key|config file"),
        ("--tls-key /k", "", "", "invalid tls.key (from flag --tls-key)|tls.cert"),
        ("", "", "AIRGATE_TLS_CERT=/c", "tls.cert|AIRGATE_TLS_CERT"),
        ("", "gitlab_url = \"ftp://x\"", "", "gitlab_url|ftp://x"),
        ("", "", "AIGW_GITLAB_URL=https://", "gitlab_url|AIGW_GITLAB_URL"),
        ("--gitlab-url gitlab.com", "", "", "gitlab_url|--gitlab-url"),
        ("", "", "AIRGATE_PARALLEL=abc", "parallel|environment variable AIRGATE_PARALLEL|abc"),
        ("", "", "AIRGATE_LISTEN=x:y", "listen|AIRGATE_LISTEN"),
        ("", "", "AIRGATE_LOG_FORMAT=xml", "log_format|auto, json or text"),
        ("--parallel 65", "", "", "invalid parallel (from flag --parallel)|1..=64"),
        ("--batch-size 16", "", "", "batch_size|flag --batch-size"),
        ("--queue-depth 0", "", "", "queue_depth"),
        ("--threads 5000", "", "", "threads"),
        ("--max-body-bytes 0", "", "", "max_body_bytes"),
        ("--shutdown-timeout-secs 86401", "", "", "shutdown_timeout_secs"),
        ("", "log_level = \"\"", "", "log_level|config file"),
        ("--model /m/x.gguf:bad*name", "", "", "models|flag --model|bad*name"),
        ("", "models = [{ path = \"/m/e.gguf\", pooling = \"max\" }]", "", "models|pooling \"max\"|mean, cls, last"),
        (
            "",
            "models = [{ path = \"/m/e.gguf\", speculation = \"on\" }]",
            "",
            "models|speculation \"on\"|off, exact, fast",
        ),
        ("", "models = [{ path = \"/m/e.gguf\", embeddings = \"on\" }]", "", "line 1|invalid type"),
        ("", "[auth]\nbypass = \"yes\"", "", "line 2|key `auth.bypass`|invalid type"),
        ("", "[auth]\nbypas = true", "", "line 2|key `auth.bypas`|unknown field"),
        ("", "[logging]\nexpanded = 1", "", "key `logging.expanded`|invalid type"),
        ("", "[logging]\nto_file = 5", "", "key `logging.to_file`"),
        (
            "",
            "",
            "AIRGATE_AUTH_BYPASS=maybe",
            "invalid auth.bypass (from environment variable AIRGATE_AUTH_BYPASS)|yes/no",
        ),
        ("", "", "AIGW_AUTH__BYPASS_EXTERNAL=on", "auth.bypass|environment variable AIGW_AUTH__BYPASS_EXTERNAL|\"on\""),
        ("", "", "AIRGATE_LOGGING_EXPANDED=2", "logging.expanded|AIRGATE_LOGGING_EXPANDED"),
        ("", "", "AIGW_LOGGING__ENABLE_REQUEST_LOGGING=y", "logging.expanded|AIGW_LOGGING__ENABLE_REQUEST_LOGGING"),
    ];
    for (argv, file, env, wants) in cases {
        let e = run(argv, file, env).map(|_| ()).expect_err(&format!("{argv:?} {file:?} {env:?}")).to_string();
        if !file.is_empty() {
            assert!(e.contains(FILE), "{e}");
        }
        for w in wants.split('|') {
            assert!(e.contains(w), "{argv:?} {file:?} {env:?}: {e:?} lacks {w:?}");
        }
    }
}

#[test]
fn model_spec_parsing() {
    let long = "n".repeat(65);
    let (max_name, long_file) = (format!("/m/x.gguf:{}", &long[..64]), format!("/m/{long}.gguf"));
    let cases = [
        ("/m/llama.gguf", "llama=/m/llama.gguf"),
        ("  /m/llama.GGUF ", "llama=/m/llama.GGUF"),
        ("/m/llama.gguf:chat", "chat=/m/llama.gguf"),
        ("/m/a:b.gguf", "a_b=/m/a:b.gguf"),
        ("/m/a:b.gguf:ab", "ab=/m/a:b.gguf"),
        ("/m:dir/x.gguf", "x=/m:dir/x.gguf"),
        ("rel/q4_k_m.gguf:Qwen2.5-7B_v1", "Qwen2.5-7B_v1=rel/q4_k_m.gguf"),
        ("/m/My Model (v2).gguf", "My_Model__v2_=/m/My Model (v2).gguf"),
        ("/m/plain", "plain=/m/plain"),
        (&max_name, &format!("{}=/m/x.gguf", &long[..64])),
        (&long_file, &format!("{}={long_file}", &long[..64])),
        ("/m/x.gguf:", "ERR"),
        ("/m/.gguf", "ERR"),
        (":name", "ERR"),
        ("", "ERR"),
        ("/m/x.gguf:bad name", "ERR"),
        ("/m/x.gguf:ü", "ERR"),
        (&format!("/m/x.gguf:{long}"), "ERR"),
    ];
    for (spec, want) in cases {
        let got = parse_model_spec(spec).map_or("ERR".into(), |m| format!("{}={}", m.name, m.path.display()));
        assert_eq!(got, want, "{spec:?}");
    }
}

#[test]
fn duplicate_model_names() {
    let e = err("--model /a/m.gguf --model /b/m.gguf", "", "");
    assert!(e.contains("duplicate model name \"m\"") && e.contains("flag --model"), "{e}");
    let e = err("", r#"models = ["/a/x.gguf:same", { path = "/b/y.gguf", name = "same" }]"#, "");
    assert!(e.contains("duplicate model name \"same\"") && e.contains("config file"), "{e}");
}

#[test]
fn short_api_key_error_hides_the_key() {
    let short = "tooShort-123";
    let cases = [
        run(&format!("--api-key {KEY_A} --api-key {short}"), "", ""),
        run("", "", &format!("AIRGATE_API_KEYS={KEY_A},{short}")),
        run("", &format!("api_keys = [\"{short}\"]"), ""),
    ];
    for r in cases {
        let e = r.unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("api_keys") && text.contains("16 characters"), "{text}");
        assert!(!text.contains(short) && !text.contains(KEY_A), "{text}");
    }
}

#[test]
fn secrets_never_printed() {
    let c = run(&format!("--api-key {KEY_A}"), "", &format!("AIRGATE_API_KEYS={KEY_B}")).unwrap();
    assert_eq!(c.api_keys[0].expose(), KEY_A);
    let json = serde_json::to_string(&c).unwrap();
    let outputs = [format!("{c:?}"), format!("{c:#?}"), c.api_keys[0].to_string(), json, c.to_redacted_toml()];
    for out in outputs {
        assert!(!out.contains("secret-key") && out.contains("***"), "{out}");
    }
}

#[test]
fn redacted_toml_round_trips() {
    let file = format!(
        "listen = \"[::1]:1\"\nmodels = [\"/m/a.gguf\", \"/m/b.gguf:bee\"]\nthreads = 2\ngitlab_url = \"https://g.example\"\n\
         api_keys = [\"{KEY_A}\"]\nlog_format = \"json\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\n\
         [auth]\nbypass = true\n[logging]\nexpanded = true\nto_file = \"/l.log\"\n"
    );
    let mut c = run("", &file, "").unwrap();
    c.data_dir_fallback = true;
    let text = c.to_redacted_toml();
    assert!(text.contains(r#"api_keys = ["***"]"#) && text.contains(FILE) && text.contains("fell back"), "{text}");
    assert!(err("", &text, "").contains("api_keys")); // "***" is not a usable key
    let without_keys: String =
        text.lines().filter(|l| !l.starts_with("api_keys")).map(|l| l.to_owned() + "\n").collect();
    (c.api_keys, c.data_dir_fallback) = (vec![], false);
    assert_eq!(run("", &without_keys, "").unwrap(), c);
    let d = run("", "", "").unwrap();
    assert_eq!(run("", &d.to_redacted_toml(), "").unwrap(), Config { config_file: Some(FILE.into()), ..d });
}

#[test]
fn sample_config_is_valid() {
    let defaults = run("", "", "").unwrap();
    let c = run("", SAMPLE_CONFIG, "").unwrap();
    assert_eq!(Config { config_file: None, ..c }, defaults);
    // Uncomment every setting line ("#key = ..." and "#[tls]"; prose comments start with "# ").
    let uncommented: String = SAMPLE_CONFIG
        .lines()
        .map(|l| l.strip_prefix('#').filter(|r| !r.is_empty() && !r.starts_with(' ')).unwrap_or(l))
        .map(|l| l.to_owned() + "\n")
        .collect();
    let c = run("", &uncommented, "").unwrap();
    assert!(c.tls.is_some() && c.gitlab_url.is_some() && c.log_file.is_some() && c.apply.is_some(), "{uncommented}");
    assert_eq!(Config { config_file: None, tls: None, gitlab_url: None, log_file: None, apply: None, ..c }, defaults);
    // Every key of the file format is documented in the sample.
    let all: FileConfig = toml::from_str(&uncommented).unwrap();
    for line in toml::to_string(&all).unwrap().lines().filter(|l| l.contains(" = ")) {
        let key = line.split(" = ").next().unwrap();
        assert!(SAMPLE_CONFIG.contains(&format!("\n#{key} = ")), "{key} missing from SAMPLE_CONFIG");
    }
}

#[test]
fn data_dir_resolution() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("file"), "").unwrap();
    let bad = tmp.path().join("file/sub"); // parent is a regular file: fails even as root
    let (xdg, home) = (tmp.path().join("xdg"), tmp.path().join("home"));
    let env_xdg = |k: &str| [("XDG_DATA_HOME", &xdg), ("HOME", &home)].iter().find(|e| e.0 == k).map(|e| e.1.clone());
    let env_home = |k: &str| (k == "HOME").then(|| home.clone());
    let mut c = run("", "", "").unwrap();

    c.data_dir = tmp.path().join("ok/nested");
    c.resolve_data_dir_with(&bad, &env_xdg).unwrap();
    assert!(c.data_dir.is_dir() && !c.data_dir_fallback);

    c.data_dir = bad.clone(); // not the default: no fallback
    let e = c.resolve_data_dir_with(Path::new(DEFAULT_DATA_DIR), &env_xdg).unwrap_err().to_string();
    assert!(e.contains("data_dir") && e.contains("file/sub"), "{e}");

    c.resolve_data_dir_with(&bad, &env_xdg).unwrap();
    assert_eq!((c.data_dir.clone(), c.data_dir_fallback), (xdg.join("airgate"), true));
    assert!(c.data_dir.is_dir());

    (c.data_dir, c.data_dir_fallback) = (bad.clone(), false);
    c.resolve_data_dir_with(&bad, &env_home).unwrap();
    assert_eq!((c.data_dir.clone(), c.data_dir_fallback), (home.join(".local/share/airgate"), true));

    c.data_dir = bad.clone();
    assert!(c.resolve_data_dir_with(&bad, &|_| None).is_err());
}

#[test]
fn load_reads_the_given_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = ConfigArgs { config: Some(tmp.path().join("nope.toml")), ..Default::default() };
    let e = Config::load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }) && e.to_string().contains("nope.toml"), "{e}");
    let path = tmp.path().join("airgate.toml");
    std::fs::write(&path, "batch_size = 1024\n").unwrap();
    let c = Config::load(&ConfigArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
    assert_eq!((c.batch_size, c.config_file), (1024, Some(path)));
}

#[test]
fn secret_and_flag_basics() {
    let s = Secret::new(KEY_A);
    assert_eq!((format!("{s}"), format!("{s:?}"), s.expose()), ("***".into(), "***".into(), KEY_A));
    let a = Cli::try_parse_from(["airgate", "--config", "/x.toml", "--log-format", "json"]).unwrap();
    assert_eq!((a.config.config, a.config.log_format), (Some("/x.toml".into()), Some(LogFormat::Json)));
    assert!(Cli::try_parse_from(["airgate", "--log-format", "xml"]).is_err());
    assert!(Cli::try_parse_from(["airgate", "--listen", "nope"]).is_err());
}

#[test]
fn plain_http_gitlab_bypass_and_open_v1_are_warned_about() {
    let safe = run("", "gitlab_url = \"https://gitlab.example.com\"\n", "").unwrap();
    assert!(safe.warnings().is_empty());
    let toml = "gitlab_url = \"http://gitlab.example.com\"\n[auth]\nbypass = true\nv1_open = true\n";
    let risky = run("", toml, "").unwrap();
    let w = risky.warnings();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("http://gitlab.example.com") && w[0].contains("signing keys travel unprotected"));
    assert!(w[1].contains("for 60 minutes"));
    assert!(w[2].contains("v1_open"));
}

#[test]
fn agent_platform_settings() {
    let c = run("", "", "").unwrap();
    assert_eq!(c.dws_listen, "0.0.0.0:50052".parse().unwrap());
    assert_eq!((c.agent.max_sessions, c.agent.idle_timeout_secs, c.agent.max_iterations), (32, 600, 25));
    assert_eq!(
        (c.agent.max_tokens, c.agent.chat_scope, c.agent.first_tool_choice.as_str()),
        (2048, ChatScope::AgentPlatform, "auto")
    );
    let c = run(
        "--agent-chat-scope duo_chat --dws-listen 127.0.0.1:7000",
        "[agent]\nmax_iterations = 5\nmax_sessions = 9\n",
        "AIRGATE_AGENT_MAX_SESSIONS=3;AIRGATE_AGENT_FIRST_TOOL_CHOICE=read_file;AIRGATE_DWS_LISTEN=127.0.0.1:1",
    )
    .unwrap();
    assert_eq!(c.dws_listen, "127.0.0.1:7000".parse().unwrap(), "the flag wins");
    assert_eq!((c.agent.max_sessions, c.agent.max_iterations), (3, 5), "env over file, file over default");
    assert_eq!((c.agent.chat_scope, c.agent.first_tool_choice.as_str()), (ChatScope::DuoChat, "read_file"));
    assert!(err("--agent-first-tool-choice rm;ls", "", "").contains("agent.first_tool_choice"));
    assert!(err("", "[agent]\nmax_sessions = 0\n", "").contains("agent.max_sessions"));
    assert!(err("", "", "AIRGATE_AGENT_CHAT_SCOPE=everyone").contains("AIRGATE_AGENT_CHAT_SCOPE"));
    assert!(err("", "[agent]\nbogus = 1\n", "").contains("bogus"));
    assert!(err("--listen 127.0.0.1:9 --dws-listen 127.0.0.1:9", "", "").contains("dws_listen"));
    // `config show` round-trips the new keys.
    let shown = c.to_redacted_toml();
    assert!(shown.contains("dws_listen = \"127.0.0.1:7000\"") && shown.contains("[agent]"), "{shown}");
}
