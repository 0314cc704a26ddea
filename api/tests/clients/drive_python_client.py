"""Drives a live `lux serve` through the Python client openapi-python-client generated from the
served spec, as an app developer would: create a session, append steps, record a model call,
batch-ingest, read back, page, export. Any wrong shape or status raises.

usage: drive_python_client.py CLIENT_PARENT_DIR BASE_URL API_KEY
"""
import json
import sys
import uuid

sys.path.insert(0, sys.argv[1])
base, key = sys.argv[2], sys.argv[3]

from lux_client import AuthenticatedClient  # noqa: E402
from lux_client.api.export import export_dataset  # noqa: E402
from lux_client.api.ingest import ingest  # noqa: E402
from lux_client.api.sessions import (  # noqa: E402
    append_step,
    create_session,
    get_session,
    list_model_calls,
    list_steps,
    record_model_call,
)
from lux_client.models import (  # noqa: E402
    AppendedStepDto,
    CallStatusDto,
    ErrorBody,
    IngestBody,
    IngestResponseDto,
    NewModelCallBody,
    NewSessionBody,
    NewStepBody,
    SessionDto,
    SessionStatusDto,
    StepPage,
)

client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)


def ok(value, kind):
    assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r}"
    return value


session = ok(
    create_session.sync(
        client=client,
        body=NewSessionBody(tool="generated_client", external_id="gen-run-1", status=SessionStatusDto.ACTIVE),
    ),
    SessionDto,
)
assert session.status == SessionStatusDto.ACTIVE
for number, text in enumerate(["The invoice job is slow.", "The filter runs in memory."], start=1):
    step = ok(
        append_step.sync(str(session.id), client=client, body=NewStepBody(kind="reasoning", content=text)),
        AppendedStepDto,
    )
    assert step.step_number == number, step
call = record_model_call.sync(
    str(session.id),
    client=client,
    body=NewModelCallBody(
        provider="openai", model="gpt-4o-mini", input_tokens=1000, output_tokens=200, status=CallStatusDto.OK
    ),
)
assert call.cost_nusd > 0, call

batch_session = str(uuid.UUID(int=7))
response = ok(
    ingest.sync(
        client=client,
        body=IngestBody.from_dict(
            {
                "items": [
                    {"type": "session", "id": batch_session, "tool": "generated_client"},
                    *[
                        {"type": "step", "session_id": batch_session, "kind": "reasoning", "content": f"step {i}"}
                        for i in range(1, 6)
                    ],
                    {
                        "type": "model_call",
                        "session_id": batch_session,
                        "provider": "openai",
                        "model": "gpt-4o",
                        "input_tokens": 10,
                        "output_tokens": 5,
                        "status": "ok",
                    },
                ]
            }
        ),
    ),
    IngestResponseDto,
)
assert (response.created, response.errors) == (7, 0), response

stored = ok(get_session.sync("gen-run-1", client=client), SessionDto)
assert stored.id == session.id
page = ok(list_steps.sync(batch_session, client=client, limit=2), StepPage)
contents = [step.content for step in page.items]
while page.next_cursor:
    page = ok(list_steps.sync(batch_session, client=client, limit=2, cursor=page.next_cursor), StepPage)
    contents += [step.content for step in page.items]
assert contents == [f"step {i}" for i in range(1, 6)], contents
calls = list_model_calls.sync(batch_session, client=client)
assert [c.model for c in calls.items] == ["gpt-4o"], calls

missing = get_session.sync("no-such-session", client=client)
assert isinstance(missing, ErrorBody) and missing.code == "not_found", missing

exported = export_dataset.sync_detailed("steps", client=client, format_="jsonl")
assert exported.status_code == 200, exported
lines = [json.loads(line) for line in exported.content.decode().splitlines() if line]
assert len(lines) == 7, lines
print(json.dumps({"sessions": 2, "steps": len(lines)}))
