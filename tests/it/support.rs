//! Test harness: boots the real `airgate` binary on 127.0.0.1:0 with a temp data dir and the real default model.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub fn model_path() -> PathBuf {
    let path = std::env::var_os("AIRGATE_TEST_MODEL").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate/models/gemma-3-270m-q4_k_m.gguf")
    });
    assert!(path.is_file(), "the default model is missing at {}: run `make test` (it installs it)", path.display());
    path
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

/// A running airgate process, killed on drop.
pub struct TestServer {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    /// The Agent Platform (gRPC) listener's address, once it logged it.
    dws: Arc<Mutex<Option<String>>>,
}

pub struct Builder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    config_toml: String,
    wait_ready: bool,
    scheme: &'static str,
    with_default_model: bool,
    data_dir: Option<PathBuf>,
}

impl Builder {
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<const N: usize>(mut self, args: [&str; N]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn config(mut self, toml: &str) -> Self {
        self.config_toml = toml.to_string();
        self
    }
    pub fn no_wait(mut self) -> Self {
        self.wait_ready = false;
        self
    }
    pub fn tls(mut self) -> Self {
        self.scheme = "https";
        self
    }
    pub fn without_default_model(mut self) -> Self {
        self.with_default_model = false;
        self
    }
    /// Uses `dir` as the data dir (it outlives the server: restart tests).
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    pub fn start(self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("airgate.toml");
        std::fs::write(&config, &self.config_toml).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airgate"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("RUST_LOG", "info,airgate=debug")
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--log-format", "json", "--threads", "1"])
            .arg("--data-dir")
            .arg(self.data_dir.clone().unwrap_or_else(|| dir.path().join("data")));
        if self.with_default_model {
            cmd.arg("--model").arg(model_path());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        // Small defaults keep many servers cheap, and no two servers fight over a port; a test's own flags win.
        for (flag, value) in [("--ctx-size", "1024"), ("--parallel", "2"), ("--dws-listen", "127.0.0.1:0")] {
            if !self.args.iter().any(|a| a == flag) {
                cmd.args([flag, value]);
            }
        }
        cmd.args(&self.args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn airgate");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let dws = Arc::new(Mutex::new(None));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (sink, dws_sink) = (log.clone(), dws.clone());
        std::thread::spawn(move || {
            let mut addr_tx = Some(addr_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "listening"
                        && let Some(tx) = addr_tx.take()
                    {
                        let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                    }
                    if v["message"] == "agent platform listening" {
                        *dws_sink.lock().unwrap() = v["addr"].as_str().map(str::to_string);
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr: SocketAddr = match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("airgate did not start; log:\n{}", log.lock().unwrap().join("\n"));
            }
        };
        let base = format!("{}://{}", self.scheme, addr);
        let data_dir = self.data_dir.unwrap_or_else(|| dir.path().join("data"));
        let server = TestServer { child, base, _dir: dir, data_dir, log, dws };
        if self.wait_ready {
            server.wait_ready();
        }
        server
    }
}

impl TestServer {
    pub fn builder() -> Builder {
        Builder {
            args: Vec::new(),
            env: Vec::new(),
            config_toml: String::new(),
            wait_ready: true,
            scheme: "http",
            with_default_model: true,
            data_dir: None,
        }
    }

    /// A server with the default model, ready to answer.
    pub fn start() -> TestServer {
        Self::builder().start()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `host:port` of the Agent Platform (gRPC) service, waiting up to a minute for it to listen.
    pub fn dws_addr(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(addr) = self.dws.lock().unwrap().clone() {
                return addr;
            }
            assert!(Instant::now() < deadline, "the Agent Platform service never listened; log:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits up to `timeout` for a log line containing `needle`: the server writes a request's
    /// access line after the response is sent, and the log reaches the test through a pipe.
    pub fn log_appears(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.logs().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `generated` count of the first "client went away; generation cancelled" log line (the
    /// model thread writes it when it drops a request whose client left), waiting up to `timeout`.
    pub fn cancelled_after(&self, timeout: Duration) -> Option<(u64, serde_json::Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.logs().lines().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "client went away; generation cancelled")
                    .then(|| (v["generated"].as_u64().unwrap(), v))
            });
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `/monitoring/ready` until it answers 200 (on a thread of its own, so async tests may call it).
    pub fn wait_ready(&self) {
        let url = self.url("/monitoring/ready");
        let tls = self.base.starts_with("https");
        let ready = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let client = if tls {
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap()
            } else {
                client()
            };
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                let ok = rt.block_on(async {
                    client.get(&url).send().await.map(|r| r.status().is_success()).unwrap_or(false)
                });
                if ok {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        })
        .join()
        .unwrap();
        assert!(ready, "airgate never became ready; log:\n{}", self.logs());
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "airgate did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a file into the server's temp dir.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Reads an SSE body into its `data:` payloads.
pub fn sse_payloads(body: &str) -> Vec<String> {
    body.split("\n\n").filter_map(|frame| frame.strip_prefix("data: ")).map(str::to_string).collect()
}

/// Runs `attempt` until `done` holds for its result, at most three times; returns the last result.
/// For requests the model answers by sampling (temperature > 0, a fresh seed per request) through an
/// API that offers no greedy mode: the 270m model now and then ends at once (measured: one
/// deepseekcoder generation in 40) or writes something else, which is a correct answer to that
/// sample; only three misses in a row fail the test.
pub async fn retry_sampled<T, F: Future<Output = T>>(done: impl Fn(&T) -> bool, attempt: impl Fn() -> F) -> T {
    let mut answer = attempt().await;
    for _ in 1..3 {
        if done(&answer) {
            break;
        }
        answer = attempt().await;
    }
    answer
}
