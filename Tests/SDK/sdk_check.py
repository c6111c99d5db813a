"""The simulated provider as the official OpenAI Python SDK sees it.

Runs the SDK's own client against the simulator (create streamed and not,
retrieve, resume with starting_after, cancel) and validates every object it
serves against the SDK's pydantic types, strictly: `Response` and the
`ResponseStreamEvent` union. Prints one JSON report on stdout:
{"checked": N, "failures": [{"what", "error"}], "sdk": version}.

Usage: python sdk_check.py BASE_URL   (the simulator's URL, without /v1)
"""
import json
import sys

import openai
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
import typing

base = sys.argv[1].rstrip("/") + "/v1"
client = openai.OpenAI(base_url=base, api_key="sk-simulated", max_retries=0, timeout=60)
# The union's members by their `type` literal: each event is validated against
# the one class its type names (the SDK's union has no pydantic discriminator).
members = {}
for member in typing.get_args(typing.get_args(ResponseStreamEvent)[0]) or typing.get_args(ResponseStreamEvent):
    literal = member.model_fields["type"].annotation
    for name in typing.get_args(literal):
        members[name] = member
report = {"checked": 0, "failures": [], "sdk": openai.__version__, "types": {}}


def check(what, adapter_or_model, raw):
    report["checked"] += 1
    try:
        if isinstance(adapter_or_model, TypeAdapter):
            adapter_or_model.validate_python(raw)
        else:
            adapter_or_model.model_validate(raw)
    except Exception as error:  # pydantic.ValidationError, chiefly
        report["failures"].append({"what": what, "error": str(error)[:2000]})


def events(stream, what):
    count = 0
    last = None
    for event in stream:
        raw = event.model_dump(mode="json", exclude_unset=True)
        report["types"][raw.get("type")] = report["types"].get(raw.get("type"), 0) + 1
        member = members.get(raw.get("type"))
        if member is None:
            report["failures"].append({"what": f"{what} event {raw.get('sequence_number')}", "error": f"no SDK event type {raw.get('type')!r}"})
        else:
            check(f"{what} event {raw.get('sequence_number')} {raw.get('type')}", member, raw)
        if "response" in raw:
            check(f"{what} event {raw.get('sequence_number')} response", Response, raw["response"])
        count += 1
        last = raw
    return count, last


# 1. A streamed deep-research run, from its start to its end.
stream = client.responses.create(model="o3-deep-research", input="Tidal energy in Europe", background=True, stream=True,
                                 tools=[{"type": "web_search_preview"}], metadata={"outline_session": "sdk-check-1"})
count, last = events(stream, "create(stream)")
response_id = last["response"]["id"]
report["streamed_events"] = count

# 2. Retrieve the finished response.
retrieved = client.responses.retrieve(response_id)
check("retrieve", Response, retrieved.model_dump(mode="json", exclude_unset=True))
report["retrieved_status"] = retrieved.status

# 3. Resume the stream after an event (starting_after).
resumed = client.responses.retrieve(response_id, stream=True, starting_after=5)
resumed_count, _ = events(resumed, "resume(starting_after=5)")
report["resumed_events"] = resumed_count

# 4. A background run created without streaming, then cancelled. It is held
# before its third event (the simulator's `hold-at:3`, never released here), so
# the cancel finds it running however slowly this machine gets to it.
created = client.responses.create(model="o3-deep-research", input="Grid storage", background=True,
                                  extra_headers={"X-Simulated-Fault": "hold-at:3"},
                                  metadata={"outline_session": "sdk-check-2"})
check("create(background)", Response, created.model_dump(mode="json", exclude_unset=True))
cancelled = client.responses.cancel(created.id)
check("cancel", Response, cancelled.model_dump(mode="json", exclude_unset=True))
report["cancelled_status"] = cancelled.status

# 5. Runs that end otherwise: failed and incomplete, streamed.
for fault in ["fail", "incomplete"]:
    stream = client.responses.create(model="o3-deep-research", input="Heat pumps", background=True, stream=True,
                                     extra_headers={"X-Simulated-Fault": fault}, metadata={"outline_session": "sdk-check-" + fault})
    _, last = events(stream, f"create(stream, {fault})")
    report[fault + "_status"] = last["response"]["status"]

# 6. A fast model's answer (clarification questions).
fast = client.responses.create(model="gpt-4.1-mini", input="Tidal energy", metadata={"purpose": "clarification_questions"})
check("create(fast)", Response, fast.model_dump(mode="json", exclude_unset=True))
report["fast_text"] = fast.output_text[:80]

print(json.dumps(report))
