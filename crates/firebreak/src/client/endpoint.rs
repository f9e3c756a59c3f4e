//! One address for the command line. `FIREBREAK_SERVER` may be the server's gRPC port or
//! its HTTP port: the client asks gRPC health first, and when plain HTTP answers
//! instead (tonic reads that as `grpc-status header missing, mapped from HTTP status
//! code 404`), it asks `GET /v1/endpoints` for the gRPC port and goes there. Anything
//! else that answers gets an error saying what was found at that address.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const TIMEOUT: Duration = Duration::from_secs(5);

/// `host:port` or a URL, as an `http://…` URL without a trailing slash.
pub fn normalise(server: &str) -> String {
    let server = server.trim().trim_end_matches('/');
    if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    }
}

/// A gRPC channel to the server at `server`, whichever of its ports that is.
pub async fn connect(server: &str) -> anyhow::Result<Channel> {
    let url = normalise(server);
    match probe(&url).await? {
        Probe::Grpc(channel) => Ok(channel),
        Probe::NotGrpc(why) => {
            let grpc = grpc_url_from_http(&url).await.map_err(|e| {
                anyhow::anyhow!(
                    "{url} does not answer gRPC ({why}), and it is not a Firebreak HTTP port \
                     either ({e}). Set --server or FIREBREAK_SERVER to the server's gRPC \
                     address (--grpc-addr, port 50051 by default) or its HTTP address \
                     (--http-addr, port 8080 by default)"
                )
            })?;
            match probe(&grpc).await? {
                Probe::Grpc(channel) => Ok(channel),
                Probe::NotGrpc(why) => anyhow::bail!(
                    "{url} is Firebreak's HTTP port and names {grpc} for gRPC, but that does \
                     not answer gRPC: {why}"
                ),
            }
        }
    }
}

enum Probe {
    Grpc(Channel),
    NotGrpc(String),
}

async fn probe(url: &str) -> anyhow::Result<Probe> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| anyhow::anyhow!("--server {url:?}: {e}"))?
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT);
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(e) => {
            let why = chain(&e);
            if why.contains("refused") || why.contains("timed out") || why.contains("dns") {
                anyhow::bail!("cannot reach {url}: {why}");
            }
            // Something answered, but not with HTTP/2: not a gRPC port.
            return Ok(Probe::NotGrpc(why));
        }
    };
    let mut health = HealthClient::new(channel.clone());
    match health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
    {
        Ok(_) => Ok(Probe::Grpc(channel)),
        // What a gRPC server answers a health check it cannot serve; anything else (no
        // grpc-status, a transport or protocol error) means something else listens.
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::NotFound
                    | tonic::Code::Unimplemented
                    | tonic::Code::Unauthenticated
                    | tonic::Code::PermissionDenied
            ) && !is_plain_http(&status) =>
        {
            Ok(Probe::Grpc(channel))
        }
        Err(status) => {
            let mut why = status.message().to_string();
            if let Some(cause) = std::error::Error::source(&status) {
                why = format!("{why}: {}", chain(cause));
            }
            Ok(Probe::NotGrpc(why))
        }
    }
}

/// An error with its causes, which tonic's own message ("transport error") leaves out.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn is_plain_http(status: &tonic::Status) -> bool {
    status.message().contains("grpc-status") || status.message().contains("HTTP status code")
}

/// Asks a Firebreak HTTP port where gRPC listens: the same host, the port it names.
async fn grpc_url_from_http(url: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder().timeout(TIMEOUT).build()?;
    let response = client.get(format!("{url}/v1/endpoints")).send().await?;
    if !response.status().is_success() {
        anyhow::bail!("GET /v1/endpoints answered {}", response.status());
    }
    let body: serde_json::Value = response.json().await?;
    let port = body["grpc_port"]
        .as_u64()
        .filter(|p| (1..=65535).contains(p))
        .ok_or_else(|| anyhow::anyhow!("GET /v1/endpoints names no grpc_port"))?;
    let parsed = reqwest::Url::parse(url)?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("{url} has no host"))?;
    Ok(format!("{}://{host}:{port}", parsed.scheme()))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn addresses_become_urls() {
        assert_eq!(normalise("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            normalise("https://fb.example.com/"),
            "https://fb.example.com"
        );
    }
}
