"""Recorded model streams: the SSE bodies of OpenAI-style servers, as they are sent.

Chat Completions chunks carry the fields OpenAI sends (``system_fingerprint``,
``service_tier``, ``logprobs: null``, ``obfuscation``) and the variants of other servers
(vLLM's ``reasoning_content``, Ollama's ``reasoning``, a stream without ``finish_reason``).
"""

import json
from typing import Any

CHAT_ID = "chatcmpl-rec1"


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": CHAT_ID,
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": "gpt-test",
        "service_tier": "default",
        "system_fingerprint": "fp_rec",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    chunk.update(extra)
    return chunk


USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


def sse(*payloads: dict[str, Any] | str, event_names: bool = False) -> bytes:
    """An SSE body: ``data: <json>`` per payload (a str is sent as is), then a blank line."""
    out = b""
    for payload in payloads:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        if event_names and isinstance(payload, dict):
            out += f"event: {payload['type']}\n".encode()
        out += b"data: " + data.encode() + b"\n\n"
    return out


LONG_TEXT = [
    "A",
    " reply",
    " of",
    " twelve",
    " words",
    " read",
    " in",
    " few",
    " network",
    " reads",
    ",",
    " done.",
]


def _text(words: list[str], finish: str = "stop", usage: bool = True) -> list[dict[str, Any] | str]:
    chunks: list[dict[str, Any] | str] = [
        _chunk({"role": "assistant", "content": "", "refusal": None})
    ]
    chunks += [_chunk({"content": word}, obfuscation="xy") for word in words]
    chunks.append(_chunk({}, finish))
    if usage:
        chunks.append(_chunk(None, usage=USAGE))
    chunks.append("[DONE]")
    return chunks


def _tool_call_chunks() -> list[dict[str, Any] | str]:
    return [
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": ""},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}),
    ]


CHAT_STREAMS: dict[str, bytes] = {
    "text": sse(*_text(["Hello", " there", ",", " friend", "."])),
    "text without usage": sse(*_text(["One", " two"], usage=False)),
    "long text": sse(*_text(LONG_TEXT)),
    "empty reply": sse(*_text([])),
    "tool call": sse(
        _chunk({"role": "assistant", "content": None}),
        *_tool_call_chunks(),
        _chunk({}, "tool_calls"),
        _chunk(None, usage=USAGE),
        "[DONE]",
    ),
    "text then tool call": sse(
        _chunk({"role": "assistant", "content": "Let me look"}),
        _chunk({"content": " that up."}),
        *_tool_call_chunks(),
        _chunk({}, "tool_calls"),
        "[DONE]",
    ),
    "reasoning (vLLM)": sse(
        _chunk({"role": "assistant", "content": None, "reasoning_content": "Think"}),
        _chunk({"reasoning_content": "ing."}),
        _chunk({"content": "Answer."}),
        _chunk({}, "stop"),
        "[DONE]",
    ),
    "reasoning (Ollama)": sse(
        _chunk({"role": "assistant", "content": "", "reasoning": "Hmm"}),
        _chunk({"content": "Yes."}),
        _chunk({}, "stop"),
        "[DONE]",
    ),
    "refusal": sse(
        _chunk({"role": "assistant", "content": None, "refusal": "I can't"}),
        _chunk({"refusal": " help with that."}),
        _chunk({}, "stop"),
        "[DONE]",
    ),
    "text then refusal": sse(
        _chunk({"role": "assistant", "content": "Well"}),
        _chunk({"refusal": "No."}),
        _chunk({}, "stop"),
        "[DONE]",
    ),
    "logprobs": sse(
        _chunk({"role": "assistant", "content": "Hi"}),
        {
            **_chunk({"content": "!"}),
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "!"},
                    "finish_reason": None,
                    "logprobs": {
                        "content": [
                            {"token": "!", "logprob": -0.1, "bytes": [33], "top_logprobs": []}
                        ]
                    },
                }
            ],
        },
        _chunk({}, "stop"),
        "[DONE]",
    ),
    "annotations": sse(
        _chunk({"role": "assistant", "content": "See docs"}),
        _chunk(
            {
                "annotations": [
                    {
                        "type": "url_citation",
                        "url_citation": {
                            "url": "https://example.com",
                            "title": "Ex",
                            "start_index": 4,
                            "end_index": 8,
                        },
                    }
                ]
            }
        ),
        _chunk({}, "stop"),
        "[DONE]",
    ),
    "content filter": sse(
        _chunk({"role": "assistant", "content": ""}), _chunk({}, "content_filter"), "[DONE]"
    ),
    "length, no output": sse(
        _chunk({"role": "assistant", "content": ""}), _chunk({}, "length"), "[DONE]"
    ),
    "length after text": sse(
        _chunk({"role": "assistant", "content": "Cut"}), _chunk({}, "length"), "[DONE]"
    ),
    "no finish reason": sse(_chunk({"role": "assistant", "content": "Hi"}), "[DONE]"),
    "second choice": sse(
        {
            **_chunk({"content": "A"}),
            "choices": [
                {"index": 0, "delta": {"content": "A"}, "finish_reason": None},
                {"index": 1, "delta": {"content": "B"}, "finish_reason": None},
            ],
        },
        _chunk({}, "stop"),
        "[DONE]",
    ),
    "usage before text": sse(_chunk(None, usage=USAGE), *_text(["Late"], usage=False)),
    "error payload": sse(
        _chunk({"role": "assistant", "content": "Par"}),
        {"error": {"message": "overloaded", "type": "server_error"}},
    ),
    "malformed chunk": sse(_chunk({"role": "assistant", "content": "Par"}), "{not json"),
    "no [DONE]": sse(*_text(["Just", " this"])[:-1]),
}


def _event(kind: str, number: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "sequence_number": number, **fields}


def _response(status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
    response: dict[str, Any] = {
        "id": "resp_rec",
        "object": "response",
        "created_at": 1764000000,
        "status": status,
        "model": "gpt-test",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "temperature": 1.0,
    }
    if usage:
        response["usage"] = {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 13,
        }
    return response


def _responses_text(words: list[str], *, obfuscation: bool = False, usage: bool = True) -> bytes:
    message = {
        "id": "msg_rec",
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    where = {"item_id": "msg_rec", "output_index": 0, "content_index": 0}
    events = [
        _event("response.created", 0, response=_response("in_progress", [], False)),
        _event("response.in_progress", 1, response=_response("in_progress", [], False)),
        _event("response.output_item.added", 2, output_index=0, item=message),
        _event(
            "response.content_part.added",
            3,
            **where,
            part={"type": "output_text", "text": "", "annotations": []},
        ),
    ]
    for number, word in enumerate(words, 4):
        extra = {"obfuscation": "abc"} if obfuscation else {}
        events.append(
            _event("response.output_text.delta", number, **where, delta=word, logprobs=[], **extra)
        )
    text = "".join(words)
    part = {"type": "output_text", "text": text, "annotations": []}
    done = {**message, "status": "completed", "content": [part]}
    n = 4 + len(words)
    events += [
        _event("response.output_text.done", n, **where, text=text, logprobs=[]),
        _event("response.content_part.done", n + 1, **where, part=part),
        _event("response.output_item.done", n + 2, output_index=0, item=done),
        _event("response.completed", n + 3, response=_response("completed", [done], usage)),
    ]
    return sse(*events, event_names=True)


RESPONSES_STREAMS: dict[str, bytes] = {
    "text": _responses_text(["Hello", " there", "."]),
    "long text": _responses_text(LONG_TEXT),
    "text, obfuscated deltas": _responses_text(["A", "B"], obfuscation=True),
    "text, usage without cache writes": _responses_text(["Old"], usage=False).replace(
        b'"status": "completed", "model"', b'"status": "completed", "model"'
    ),
    # Servers older than the client: payloads its models refuse, built loosely.
    "completed, usage without cache writes": _responses_text(["Old"]).replace(
        b', "cache_write_tokens": 0', b""
    ),
    "item of a wrong shape": _responses_text(["Odd"]).replace(
        b'"role": "assistant", "status": "in_progress"', b'"role": "assistant", "status": 5'
    ),
    "function call": sse(
        _event("response.created", 0, response=_response("in_progress", [], False)),
        _event(
            "response.output_item.added",
            1,
            output_index=0,
            item={
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup",
                "arguments": "",
                "status": "in_progress",
            },
        ),
        _event(
            "response.function_call_arguments.delta",
            2,
            item_id="fc_1",
            output_index=0,
            delta='{"q":"x"}',
        ),
        _event(
            "response.function_call_arguments.done",
            3,
            item_id="fc_1",
            output_index=0,
            arguments='{"q":"x"}',
            name="lookup",
        ),
        _event(
            "response.output_item.done",
            4,
            output_index=0,
            item={
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup",
                "arguments": '{"q":"x"}',
                "status": "completed",
            },
        ),
        _event("response.completed", 5, response=_response("completed", [], True)),
        event_names=True,
    ),
    "reasoning summary": sse(
        _event("response.created", 0, response=_response("in_progress", [], False)),
        _event(
            "response.output_item.added",
            1,
            output_index=0,
            item={"id": "rs_1", "type": "reasoning", "summary": []},
        ),
        _event(
            "response.reasoning_summary_part.added",
            2,
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            part={"type": "summary_text", "text": ""},
        ),
        _event(
            "response.reasoning_summary_text.delta",
            3,
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            delta="Thinking",
        ),
        _event(
            "response.reasoning_summary_text.done",
            4,
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            text="Thinking",
        ),
        _event("response.completed", 5, response=_response("completed", [], True)),
        event_names=True,
    ),
    "refusal": sse(
        _event("response.created", 0, response=_response("in_progress", [], False)),
        _event(
            "response.refusal.delta",
            1,
            item_id="msg_1",
            output_index=0,
            content_index=0,
            delta="No",
        ),
        _event(
            "response.refusal.done",
            2,
            item_id="msg_1",
            output_index=0,
            content_index=0,
            refusal="No",
        ),
        _event("response.completed", 3, response=_response("completed", [], True)),
        event_names=True,
    ),
    "delta with logprobs": sse(
        _event(
            "response.output_text.delta",
            0,
            item_id="m",
            output_index=0,
            content_index=0,
            delta="x",
            logprobs=[{"token": "x", "logprob": -0.5, "top_logprobs": []}],
        ),
        event_names=True,
    ),
    "delta with a string index": sse(
        _event(
            "response.output_text.delta",
            0,
            item_id="m",
            output_index="0",
            content_index=0,
            delta="x",
            logprobs=[],
        ),
        event_names=True,
    ),
    "unknown event": sse(
        {"type": "response.future_thing", "sequence_number": 0, "x": 1}, event_names=True
    ),
    "error event": sse(
        _event("response.created", 0, response=_response("in_progress", [], False)),
        {
            "type": "error",
            "sequence_number": 1,
            "code": "server_error",
            "message": "boom",
            "param": None,
        },
        event_names=True,
    ),
}
