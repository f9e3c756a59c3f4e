//! The binary as an operator runs it: a bad configuration exits 64 with a message
//! naming the option, and SIGTERM drains and exits cleanly within the grace period.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn firebreak() -> Command {
    Command::new(env!("CARGO_BIN_EXE_firebreak"))
}

#[test]
fn a_bad_option_exits_64_and_names_it() {
    let output = firebreak()
        .args(["run", "--http-addr", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--http-addr"));

    let output = firebreak()
        .args(["run", "--redis-url", "http://nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--redis-url"));
}

#[test]
fn an_environment_variable_configures_its_option() {
    let output = firebreak()
        .args(["run"])
        .env("FIREBREAK_ROLES", "everything")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("everything"));
}

#[test]
fn help_explains_every_contract_option() {
    let output = firebreak().args(["run", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (option, env) in [
        ("--http-addr", "FIREBREAK_HTTP_ADDR"),
        ("--grpc-addr", "FIREBREAK_GRPC_ADDR"),
        ("--nats-url", "FIREBREAK_NATS_URL"),
        ("--redis-url", "FIREBREAK_REDIS_URL"),
        ("--roles", "FIREBREAK_ROLES"),
        ("--playbook", "FIREBREAK_PLAYBOOK"),
        ("--tokens-file", "FIREBREAK_TOKENS_FILE"),
        ("--outbound-webhook-url", "FIREBREAK_OUTBOUND_WEBHOOK_URL"),
    ] {
        assert!(help.contains(option), "help lacks {option}");
        assert!(help.contains(env), "help lacks {env}");
    }
}

#[test]
fn sigterm_drains_and_exits_within_the_grace_period() {
    let port = |_: ()| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let (http, grpc) = (port(()), port(()));
    let mut child = firebreak()
        .args(["run", "--http-addr", &http, "--grpc-addr", &grpc])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(&http).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "firebreak never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let signalled = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "clean exit after SIGTERM, got {status}");
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "did not exit within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
