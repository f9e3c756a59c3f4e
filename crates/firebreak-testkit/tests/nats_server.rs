//! The NATS harness gives each test a private JetStream whose data survives a crash.

use async_nats::jetstream::{self, stream};
use firebreak_testkit::NatsServer;

#[tokio::test]
async fn jetstream_message_survives_kill_and_restart() -> anyhow::Result<()> {
    let mut nats = NatsServer::start().await?;
    assert_ne!(
        nats.port(),
        4222,
        "must never use the machine's shared nats"
    );
    assert_eq!(nats.url(), format!("nats://127.0.0.1:{}", nats.port()));

    let client = async_nats::connect(nats.url()).await?;
    let js = jetstream::new(client);
    let orders = js
        .get_or_create_stream(stream::Config {
            name: "ORDERS".to_owned(),
            subjects: vec!["orders.>".to_owned()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let ack = js
        .publish("orders.created", "order-1".into())
        .await?
        .await?;
    drop(orders);
    drop(js);

    nats.kill().await?;
    assert!(!nats.is_running(), "kill leaves the server down");
    nats.restart().await?;
    assert!(nats.is_running());

    let client = async_nats::connect(nats.url()).await?;
    let js = jetstream::new(client);
    let orders = js.get_stream("ORDERS").await?;
    let message = orders.get_raw_message(ack.sequence).await?;
    assert_eq!(message.subject.as_str(), "orders.created");
    assert_eq!(&message.payload[..], b"order-1");
    Ok(())
}

#[tokio::test]
async fn graceful_stop_then_restart_keeps_the_same_url() -> anyhow::Result<()> {
    let mut nats = NatsServer::start().await?;
    let url = nats.url();
    nats.stop().await?;
    assert!(!nats.is_running());
    nats.restart().await?;
    assert_eq!(nats.url(), url);
    let client = async_nats::connect(&url).await?;
    client.flush().await?;
    Ok(())
}

#[tokio::test]
async fn parallel_servers_get_distinct_ports() -> anyhow::Result<()> {
    let (a, b, c) = tokio::try_join!(
        NatsServer::start(),
        NatsServer::start(),
        NatsServer::start()
    )?;
    assert_ne!(a.port(), b.port());
    assert_ne!(b.port(), c.port());
    assert_ne!(a.port(), c.port());
    Ok(())
}
