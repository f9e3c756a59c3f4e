//! The Redis harness gives each test a private Redis whose acknowledged writes
//! survive a SIGKILL (AOF with `appendfsync always`).

use firebreak_testkit::RedisServer;
use redis::AsyncCommands as _;

#[tokio::test]
async fn acknowledged_write_survives_kill_and_restart() -> anyhow::Result<()> {
    let mut redis_server = RedisServer::start().await?;
    assert_ne!(
        redis_server.port(),
        6379,
        "must never use the machine's shared redis"
    );
    assert_eq!(
        redis_server.url(),
        format!("redis://127.0.0.1:{}", redis_server.port())
    );

    let client = redis::Client::open(redis_server.url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let () = connection.set("firebreak:key", "kept").await?;
    drop(connection);

    redis_server.kill().await?;
    assert!(!redis_server.is_running(), "kill leaves the server down");
    redis_server.restart().await?;

    let client = redis::Client::open(redis_server.url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let value: Option<String> = connection.get("firebreak:key").await?;
    assert_eq!(value.as_deref(), Some("kept"));
    Ok(())
}

#[tokio::test]
async fn graceful_stop_then_restart_keeps_data() -> anyhow::Result<()> {
    let mut redis_server = RedisServer::start().await?;
    let client = redis::Client::open(redis_server.url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let () = connection.set("firebreak:key", "kept").await?;
    drop(connection);

    redis_server.stop().await?;
    assert!(!redis_server.is_running());
    redis_server.restart().await?;

    let mut connection = client.get_multiplexed_async_connection().await?;
    let value: Option<String> = connection.get("firebreak:key").await?;
    assert_eq!(value.as_deref(), Some("kept"));
    Ok(())
}

#[tokio::test]
async fn drop_kills_the_server_and_removes_its_temp_dir() -> anyhow::Result<()> {
    let redis_server = RedisServer::start().await?;
    let (port, data_dir) = (redis_server.port(), redis_server.data_dir());
    assert!(data_dir.exists());

    drop(redis_server);

    assert!(!data_dir.exists(), "temp dir is removed");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "server no longer listens"
    );
    Ok(())
}
