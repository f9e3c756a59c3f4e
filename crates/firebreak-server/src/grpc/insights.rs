//! `Insights`: `GetInsights`, with the same role and errors as `GET /v1/insights`.

use firebreak_insights::{ChannelInsights, Insights};
use firebreak_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::to_status;
use crate::http::insights::unavailable;

#[derive(Clone, Debug)]
pub struct InsightsService {
    state: AppState,
}

impl InsightsService {
    pub fn new(state: AppState) -> Self {
        InsightsService { state }
    }

    pub fn into_server(self) -> pb::insights_server::InsightsServer<Self> {
        pb::insights_server::InsightsServer::new(self)
    }
}

fn channel_proto(c: &ChannelInsights) -> pb::ChannelInsights {
    pb::ChannelInsights {
        channel: c.channel.clone(),
        volume: c.volume,
        negative: c.negative,
        negative_share: c.negative_share,
        recent: c.recent,
        previous: c.previous,
        handling: c.handling.clone().into_iter().collect(),
        themes: c
            .themes
            .iter()
            .map(|t| pb::Theme {
                count: t.count,
                share: t.share,
                recent: t.recent,
                previous: t.previous,
                trend: t.trend.clone(),
                representative_message_id: t.representative_message_id.clone(),
            })
            .collect(),
        near_misses: c
            .near_misses
            .iter()
            .map(|n| pb::NearMiss {
                key_question: n.key_question.clone(),
                count: n.count,
            })
            .collect(),
    }
}

pub fn insights_proto(i: &Insights) -> pb::GetInsightsResponse {
    pb::GetInsightsResponse {
        window_secs: i.window_secs,
        trend_secs: i.trend_secs,
        at_ms: i.at_ms,
        replicas: u32::try_from(i.replicas).unwrap_or(u32::MAX),
        all: Some(channel_proto(&i.all)),
        channels: i.channels.iter().map(channel_proto).collect(),
    }
}

#[tonic::async_trait]
impl pb::insights_server::Insights for InsightsService {
    async fn get_insights(
        &self,
        request: Request<pb::GetInsightsRequest>,
    ) -> Result<Response<pb::GetInsightsResponse>, Status> {
        require(&self.state, request.metadata(), Role::Viewer)?;
        let insights = firebreak_control::insights::read(self.state.bus.as_ref())
            .await
            .map_err(|_| to_status(unavailable()))?;
        Ok(Response::new(insights_proto(&insights)))
    }
}
