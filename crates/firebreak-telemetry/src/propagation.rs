//! W3C trace context across the bus and the APIs: a message's trace follows it from the
//! webhook that brought it in to the reply or case it ends as.

use std::collections::HashMap;

use opentelemetry::global;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Installs the W3C `traceparent`/`tracestate` propagator. Called by [`crate::init`].
pub(crate) fn install() {
    global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
}

struct HeaderSink<'a>(&'a mut Vec<(String, String)>);

impl Injector for HeaderSink<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

struct HeaderSource<'a>(HashMap<String, &'a str>);

impl Extractor for HeaderSource<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(&key.to_ascii_lowercase()).copied()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The current span's context as headers to attach to an outgoing message.
pub fn current_trace_headers() -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderSink(&mut headers));
    });
    headers
}

/// Makes `span` a child of the trace carried in `headers`, when there is one.
pub fn continue_trace<'a>(
    span: &tracing::Span,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let source = HeaderSource(
        headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
    );
    if source.0.contains_key("traceparent") {
        let parent = global::get_text_map_propagator(|propagator| propagator.extract(&source));
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn a_trace_crosses_the_bus_in_headers() {
        install();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let ingest = tracing::info_span!("ingest");
            let headers = ingest.in_scope(current_trace_headers);
            let traceparent = headers
                .iter()
                .find(|(k, _)| k == "traceparent")
                .map(|(_, v)| v.clone())
                .expect("traceparent injected");

            let stage = tracing::info_span!("classify");
            continue_trace(&stage, [("Traceparent", traceparent.as_str())]);
            let sent = ingest.context().span().span_context().trace_id();
            let received = stage.context().span().span_context().trace_id();
            assert_eq!(sent, received, "the stage continues the ingest trace");
        });
    }
}
