//! WhatsApp Cloud API: `POST {base}/{version}/{phone-number-id}/messages`.
//!
//! Free-form text is only accepted inside the 24 h customer-service window; outside it
//! the Graph API refuses (a permanent error), and the caller escalates to a human.
//! Group messages are answered in the group; users known only by username through
//! their business-scoped user id.

use firebreak_core::Visibility;
use reqwest::{Client, Url};
use serde_json::{Value, json};

use crate::http::{endpoint, post_json};
use crate::meta::{bearer_headers, interpret_graph};
use crate::{
    ConfigError, Connector, OutboundReply, Secret, SendError, SendReceipt, WhatsAppConfig,
};

const NAME: &str = "whatsapp";

/// WhatsApp echoes `biz_opaque_callback_data` (up to 512 bytes) in its status webhooks,
/// which lets a restart reconcile "did this reply go out?" by idempotency key.
const MAX_CALLBACK_DATA_BYTES: usize = 512;

pub struct WhatsAppConnector {
    client: Client,
    messages_url: Url,
    token: Secret,
}

impl WhatsAppConnector {
    pub fn new(client: Client, config: &WhatsAppConfig) -> Result<Self, ConfigError> {
        crate::config::require(config.access_token.expose(), "whatsapp.access_token")?;
        crate::config::require(&config.phone_number_id, "whatsapp.phone_number_id")?;
        crate::config::require(&config.api_version, "whatsapp.api_version")?;
        let base = crate::config::parse_base_url(&config.base_url, "whatsapp.base_url")?;
        let segments = [
            config.api_version.trim(),
            config.phone_number_id.trim(),
            "messages",
        ];
        Ok(WhatsAppConnector {
            client,
            messages_url: endpoint(&base, &segments),
            token: config.access_token.clone(),
        })
    }
}

/// Where a reply goes: a group message is answered in its group (`recipient_type:
/// group`, the group id in `to`); a user is addressed by phone number in `to`, or, for
/// a user known only by username, by business-scoped user id (`US.1234…`) in
/// `recipient`, as the Cloud API documents for usernames.
fn addressing(reply: &OutboundReply) -> Value {
    let recipient = reply.recipient_id.trim();
    let group = reply.thread_id.trim();
    if reply.visibility == Visibility::Public && !group.is_empty() && group != recipient {
        return json!({ "recipient_type": "group", "to": group });
    }
    let is_phone = recipient.chars().all(|c| c.is_ascii_digit() || c == '+');
    if is_phone {
        json!({ "recipient_type": "individual", "to": recipient })
    } else {
        json!({ "recipient_type": "individual", "recipient": recipient })
    }
}

fn request_body(reply: &OutboundReply) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "type": "text",
        // No link previews: a reply is a short answer, not a card fetched from a URL.
        "text": { "body": reply.text, "preview_url": false },
    });
    if let (Some(body), Value::Object(to)) = (body.as_object_mut(), addressing(reply)) {
        body.extend(to);
    }
    let quoted = reply.in_reply_to_external_id.trim();
    if !quoted.is_empty() {
        body["context"] = json!({ "message_id": quoted });
    }
    let key = &reply.idempotency_key;
    if !key.is_empty() && key.len() <= MAX_CALLBACK_DATA_BYTES {
        body["biz_opaque_callback_data"] = json!(key);
    }
    body
}

fn message_id(answer: &Value) -> Option<String> {
    answer["messages"][0]["id"].as_str().map(str::to_owned)
}

#[async_trait::async_trait]
impl Connector for WhatsAppConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        if reply.recipient_id.trim().is_empty() {
            return Err(SendError::Invalid(
                "whatsapp needs the recipient's id".into(),
            ));
        }
        let headers = bearer_headers(&self.token)?;
        let url = self.messages_url.clone();
        let response = post_json(&self.client, NAME, url, headers, &request_body(reply)).await?;
        interpret_graph(NAME, &response, message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_core::Channel;

    fn reply(recipient: &str, thread: &str, visibility: Visibility) -> OutboundReply {
        OutboundReply {
            message_id: "m".into(),
            channel: Channel::Whatsapp,
            thread_id: thread.into(),
            recipient_id: recipient.into(),
            in_reply_to_external_id: "wamid.IN".into(),
            visibility,
            text: "hello".into(),
            idempotency_key: "k".into(),
            reply_token: None,
        }
    }

    #[test]
    fn a_user_is_addressed_by_phone_or_by_business_scoped_id() {
        let body = request_body(&reply("33612345678", "33612345678", Visibility::Private));
        assert_eq!(body["recipient_type"], "individual");
        assert_eq!(body["to"], "33612345678");
        assert!(body.get("recipient").is_none());
        let body = request_body(&reply("FR.778120", "FR.778120", Visibility::Private));
        assert_eq!(body["recipient"], "FR.778120");
        assert!(body.get("to").is_none(), "to would take precedence");
    }

    #[test]
    fn a_group_message_is_answered_in_the_group() {
        let body = request_body(&reply("33612345678", "Y2FwaV9ncm91cA", Visibility::Public));
        assert_eq!(body["recipient_type"], "group");
        assert_eq!(body["to"], "Y2FwaV9ncm91cA");
        assert_eq!(body["context"]["message_id"], "wamid.IN");
    }
}
