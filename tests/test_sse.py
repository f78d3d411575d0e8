"""The SSE decoder, on its own: bytes in (split anywhere), events out."""

import itertools
import random
import time

import pytest

from conversations.llm.sse import SSEDecodeError, SSEDecoder, SSEEvent

CHUNK = '{"choices":[{"index":0,"delta":{"content":"héllo 👋 日本"}}]}'
STREAM = (
    ": keep-alive\r\n"
    "\r\n"
    f"data: {CHUNK}\r\n"
    "\r\n"
    "event: update\r\n"
    "id: 42\r\n"
    "retry: 1500\r\n"
    "data: first line\r\n"
    "data:second line\r\n"
    "data:  two spaces\r\n"
    "\r\n"
    ": comment between events\r\n"
    "data: [DONE]\r\n"
    "\r\n"
).encode()
EXPECTED = [
    SSEEvent(CHUNK),
    SSEEvent("first line\nsecond line\n two spaces", "update", "42", 1500),
    SSEEvent("[DONE]", "message", "42", 1500),
]


def decode_in_pieces(raw: bytes, cuts: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = []
    bounds = [0, *sorted(cuts), len(raw)]
    for start, end in itertools.pairwise(bounds):
        events.extend(decoder.feed(raw[start:end]))
    return events


def test_it_decodes_a_whole_stream_in_one_chunk():
    assert SSEDecoder().feed(STREAM) == EXPECTED


def test_it_decodes_the_same_events_whatever_the_split_point():
    for cut in range(len(STREAM) + 1):
        assert decode_in_pieces(STREAM, [cut]) == EXPECTED, f"split at byte {cut}"


def test_it_decodes_a_stream_fed_one_byte_at_a_time():
    assert decode_in_pieces(STREAM, list(range(len(STREAM)))) == EXPECTED


def test_it_decodes_streams_split_at_random_places():
    rng = random.Random(1234)
    for _ in range(300):
        cuts = rng.sample(range(len(STREAM)), rng.randint(2, 12))
        assert decode_in_pieces(STREAM, cuts) == EXPECTED, f"cuts {sorted(cuts)}"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_it_understands_every_line_ending(ending):
    raw = ending.join(["data: a", "", "data: b", "data: c", "", ""]).encode()
    expected = [SSEEvent("a"), SSEEvent("b\nc")]
    assert SSEDecoder().feed(raw) == expected
    assert decode_in_pieces(raw, list(range(len(raw)))) == expected


def test_it_treats_a_cr_split_from_its_lf_as_one_line_ending():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [SSEEvent("x")]
    assert decoder.feed(b"\ndata: y\n\n") == [SSEEvent("y")]


def test_it_waits_for_the_blank_line_before_dispatching():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: partial\n") == []
    assert decoder.feed(b"\n") == [SSEEvent("partial")]


def test_it_reassembles_a_multibyte_character_split_across_chunks():
    raw = "data: 👋\n\n".encode()
    emoji_start = raw.index(b"\xf0")
    for cut in range(emoji_start + 1, emoji_start + 4):
        assert decode_in_pieces(raw, [cut]) == [SSEEvent("👋")]


def test_it_ignores_comments_and_keep_alives():
    raw = b": ping\n\n:\n\n: another\ndata: x\n\n"
    assert SSEDecoder().feed(raw) == [SSEEvent("x")]


def test_it_dispatches_nothing_for_an_event_without_data():
    decoder = SSEDecoder()
    assert decoder.feed(b"event: ping\n\n") == []
    assert decoder.feed(b"data: x\n\n") == [SSEEvent("x", "message")]


def test_it_reads_a_field_without_colon_and_an_empty_data_line():
    assert SSEDecoder().feed(b"data\n\n") == [SSEEvent("")]
    assert SSEDecoder().feed(b"data:\ndata:\n\n") == [SSEEvent("\n")]


def test_it_ignores_unknown_fields_and_invalid_retry_and_ids_with_nul():
    raw = b"foo: bar\nretry: soon\nid: a\x00b\ndata: x\n\n"
    assert SSEDecoder().feed(raw) == [SSEEvent("x", "message", None, None)]


def test_it_strips_only_one_space_after_the_colon():
    assert SSEDecoder().feed(b"data:   x \n\n") == [SSEEvent("  x ")]


def test_it_skips_a_leading_byte_order_mark():
    assert SSEDecoder().feed(b"\xef\xbb\xbfdata: x\n\n") == [SSEEvent("x")]


def test_it_reports_an_unfinished_event_at_close():
    decoder = SSEDecoder()
    decoder.feed(b"data: [DONE]\n\ndata: half")
    assert decoder.close() is True
    finished = SSEDecoder()
    finished.feed(b"data: x\n\n")
    assert finished.close() is False


def test_it_refuses_an_endless_line(monkeypatch):
    monkeypatch.setattr("conversations.llm.sse.MAX_LINE_BYTES", 100)
    decoder = SSEDecoder()
    decoder.feed(b"data: " + b"x" * 90)
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"x" * 20)


def test_it_keeps_up_with_a_fast_stream():
    # Guards against per-character work: 20k events must decode in well under a second.
    event = f"data: {CHUNK}\n\n".encode()
    raw = event * 20_000
    decoder = SSEDecoder()
    started = time.perf_counter()
    events = [
        e for start in range(0, len(raw), 1400) for e in decoder.feed(raw[start : start + 1400])
    ]

    assert len(events) == 20_000
    assert time.perf_counter() - started < 0.5
