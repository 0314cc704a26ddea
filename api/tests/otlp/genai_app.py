"""An app instrumented with the official OpenTelemetry Python SDK, as users write them: an agent
turn (invoke_agent) with a chat call and a tool call, spans following the GenAI semantic
conventions, exported over OTLP/HTTP to the endpoint given.

usage: genai_app.py ENDPOINT protobuf|json CONVERSATION_ID [API_KEY]
Prints one JSON line (trace id, export results); exits non-zero unless every export succeeded.
Set OTEL_EXPORTER_OTLP_COMPRESSION=gzip to compress.
"""
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, encoding, conversation = sys.argv[1], sys.argv[2], sys.argv[3]
key = sys.argv[4] if len(sys.argv) > 4 else None
if encoding == "json":
    from opentelemetry.exporter.otlp.json.http import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

headers = {"authorization": f"Bearer {key}"} if key else {}
exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=10)
results = []


class Recording(SpanExporter):
    """The SDK swallows export failures; keep them so the caller can tell."""

    def export(self, spans):
        result = exporter.export(spans)
        results.append(result.name)
        return result

    def shutdown(self):
        exporter.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


provider = TracerProvider(resource=Resource.create({"service.name": "lux-otlp-test"}))
provider.add_span_processor(BatchSpanProcessor(Recording()))
tracer = provider.get_tracer("lux.test.genai_app")

question = "What is the weather in Paris, and should I take an umbrella?"
with tracer.start_as_current_span(
    "invoke_agent travel-assistant",
    kind=SpanKind.INTERNAL,
    attributes={
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "openai",
        "gen_ai.agent.name": "travel-assistant",
        "gen_ai.conversation.id": conversation,
    },
) as agent:
    with tracer.start_as_current_span(
        "chat gpt-4o",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 80,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.conversation.id": conversation,
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": question}]}]
            ),
            # Structured, as SDK 1.45 records extended attribute values.
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [
                        {
                            "type": "text",
                            "content": "Rain is forecast in Paris all afternoon, so an umbrella is worth taking.",
                        }
                    ],
                    "finish_reason": "stop",
                }
            ],
        },
    ):
        pass
    with tracer.start_as_current_span(
        "execute_tool get_weather",
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": json.dumps({"city": "Paris"}),
        },
    ) as tool:
        tool.set_status(Status(StatusCode.ERROR, "weather service timed out"))
        tool.set_attribute("error.type", "timeout")
    trace_id = format(agent.get_span_context().trace_id, "032x")

flushed = provider.force_flush(10_000)
provider.shutdown()
print(json.dumps({"trace_id": trace_id, "flushed": flushed, "results": results}))
sys.exit(0 if flushed and results and all(r == "SUCCESS" for r in results) else 1)
