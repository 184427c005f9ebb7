//! The `achex` binary as an operator uses it: every subcommand on one data directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn shared_data() -> PathBuf {
    std::env::var_os("ACHEX_SHARED_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn achex(data_dir: &Path, config_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_achex"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config-dir")
        .arg(config_dir)
        .env_remove("ACHEX__DATABASE__URL")
        .env("ACHEX__DEMO__DATA_DIR", shared_data())
        .env("ACHEX__DEMO__LISTINGS", "40")
        .env("RUST_LOG", "warn");
    command
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("achex runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{command:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response)
}

#[test]
fn every_subcommand_acts_on_the_same_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();

    let out = run(achex(data.path(), config.path()).arg("migrate"));
    assert!(out.contains("up to date"), "{out}");
    assert!(data.path().join("achex.db").exists());

    let out = run(achex(data.path(), config.path()).args([
        "admin",
        "create",
        "--email",
        "ops@achex.example",
        "--password",
        "a long admin password",
        "--role",
        "admin",
    ]));
    assert!(out.contains("admin ops@achex.example"), "{out}");

    let out = run(achex(data.path(), config.path()).args(["seed", "--demo"]));
    assert!(out.contains("Seeded 40 published demo listings"), "{out}");
    let again = run(achex(data.path(), config.path()).args(["seed", "--demo"]));
    assert!(again.contains("Demo data present: 40"), "seeding twice must not duplicate: {again}");

    let mut server = achex(data.path(), config.path())
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    // What it recovered may come first (the demo's open lots); then its address.
    let banner = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("serving at"))
        .expect("the server prints its address");
    let port: u16 = banner
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    let (status, _) = http_get(port, "/healthz");
    let (list_status, body) = http_get(port, "/api/v1/listings?limit=1");
    server.kill().ok();
    server.wait().ok();
    assert_eq!(status, 200);
    assert_eq!(list_status, 200);
    assert!(body.contains("\"items\""), "{body}");
}

#[test]
fn a_platform_account_needs_a_real_password() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let output = achex(data.path(), config.path())
        .args(["admin", "create", "--email", "ops@achex.example", "--password", "short", "--role", "reviewer"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 10 characters"));
}

#[test]
fn a_configuration_file_with_an_unknown_key_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("local.toml"), "[server]\nprot = 9000\n").unwrap();
    let output = achex(data.path(), config.path()).arg("migrate").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("prot"), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn environment_variables_override_configuration_files() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("local.toml"), "[database]\nmax_connections = 0\n").unwrap();
    // max_connections = 0 cannot open a pool; the environment's value must win over the file's.
    run(achex(data.path(), config.path()).env("ACHEX__DATABASE__MAX_CONNECTIONS", "3").arg("migrate"));
}

#[test]
fn reindex_rebuilds_the_index_and_reports_progress() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let out = run(achex(data.path(), config.path()).args(["seed", "--demo"]));
    assert!(out.contains("Seeded 40 published demo listings"), "{out}");

    let output = achex(data.path(), config.path()).arg("reindex").output().expect("achex runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "reindex failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Indexed 40 public listings."), "{stdout}");
    // Not a terminal: one progress line per tenth of the work, from the start to the end.
    assert!(stderr.contains("reindex: 0/40 listings") && stderr.contains("reindex: 40/40 listings"), "{stderr}");

    // The rebuilt index is what a server started afterwards searches.
    let mut server = achex(data.path(), config.path())
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    // What it recovered may come first (the demo's open lots); then its address.
    let banner = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("serving at"))
        .expect("the server prints its address");
    let port: u16 = banner
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    let (status, body) = http_get(port, "/api/v1/search?per_page=1");
    server.kill().ok();
    server.wait().ok();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"total\":40"), "{body}");
}
