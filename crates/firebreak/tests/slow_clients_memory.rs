//! What stalled bodies cost a server process, measured on the binary itself (its own
//! process, so no other test's memory is counted): 400 clients that each send 200 KiB
//! of a 250 KiB body and stop. The bodies in flight stay within the process's budget
//! (the rest are refused at once with 503), every connection is closed (408 at the body
//! timeout, or with the 503), and resident memory stays under a bound afterwards.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firebreak_testkit::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Resident memory the server may keep after the stalled bodies are dropped: at most
/// the in-flight body budget (32 MiB) and the connections' buffers, not the 80 MB the
/// clients sent.
const BOUND_KIB: u64 = 96 * 1024;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .expect("VmRSS of the server")
}

async fn stalled_body(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let head = "POST /webhooks/meta HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                x-hub-signature-256: sha256=00\r\ncontent-length: 256000\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err()
        || stream.write_all(&vec![b' '; 200 * 1024]).await.is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    buf.starts_with(b"HTTP/1.1 408") || buf.starts_with(b"HTTP/1.1 503")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_do_not_stay_in_the_servers_memory() {
    let (http, grpc) = (free_port().unwrap(), free_port().unwrap());
    let http_addr = format!("127.0.0.1:{http}");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_firebreak"))
            .args(["run", "--roles", "ingest", "--http-body-timeout-secs", "1"])
            .args(["--http-addr", &http_addr])
            .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
            .args(["--meta-app-secret", "meta-app-secret-for-tests"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("http://{http_addr}/readyz"))
        .send()
        .await
        .map_or(true, |r| r.status() != 200)
    {
        assert!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = server.0.id();
    let before = resident_kib(pid);
    let stalled: Vec<_> = (0..400)
        .map(|_| {
            tokio::spawn({
                let addr = http_addr.clone();
                async move { stalled_body(&addr).await }
            })
        })
        .collect();
    let mut dropped = 0;
    for task in stalled {
        dropped += usize::from(task.await.unwrap());
    }
    assert_eq!(
        dropped, 400,
        "every stalled body gets 408 (or 503 past the budget) and loses its connection"
    );
    // The allocator gives pages back shortly after they are freed.
    let mut after = resident_kib(pid);
    let settle = Instant::now() + Duration::from_secs(6);
    while after >= before + BOUND_KIB && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = resident_kib(pid);
    }
    eprintln!("server resident memory: {before} KiB before, {after} KiB after");
    assert!(
        after < before + BOUND_KIB,
        "resident memory grew from {before} KiB to {after} KiB"
    );
}
