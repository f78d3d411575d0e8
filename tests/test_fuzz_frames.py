"""Generated hostile frames: every answer is a frame or an `error` with a documented
code, never `internal_error`, and nothing is logged as an error.

Each frame type of frames.SCHEMAS is fuzzed, first at the parser (fast, many
examples), then through a signed-in socket against the fake upstream, where a
frame that happens to be valid starts a real turn.
"""

import logging
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations import frames
from conversations.models import Conversation, Message
from conversations.params import PARAM_NAMES
from tests import hostile

CODES = hostile.documented_error_codes() - {"internal_error"}
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


PARAM_VALUES = st.one_of(
    st.sampled_from([0, 0.5, 1, 2, 4, 16, -2, "x", ["END"], {"50256": 5}, {"1": -100}]),
    hostile.json_values(),
)


def right_values(kind: str, ids: list[str], model: int):
    """Values a field of this kind accepts, or nearly: what gets past the parser."""
    return {
        "uuid": st.one_of(st.sampled_from(ids), st.uuids().map(str)),
        "content": st.one_of(st.just("hello"), hostile.text),
        "client_id": st.from_regex(r"\A[a-z0-9]{1,8}\Z"),
        "model": st.one_of(
            st.sampled_from([model, str(model)]), st.sampled_from([0, -1, 2**63, "12abc"])
        ),
        "object": st.dictionaries(st.sampled_from(PARAM_NAMES), PARAM_VALUES, max_size=3),
        "seq": st.one_of(st.integers(min_value=-5, max_value=50), st.sampled_from([2**63, 2**64])),
    }[kind]


def frames_of(frame_type: str, ids: list[str] = (), model: int = 1):
    """Frames of this type: nearly right (to reach the turn), wrong, or not JSON at all."""
    schema = frames.SCHEMAS[frame_type]
    ids = list(ids) or [str(uuid.uuid4())]
    right = {name: right_values(kind, ids, model) for name, (kind, _req) in schema.items()}
    required = {name: right[name] for name, (_kind, req) in schema.items() if req}
    optional = {name: right[name] for name, (_kind, req) in schema.items() if not req}
    nearly = st.fixed_dictionaries({"type": st.just(frame_type), **required}, optional=optional)
    anything = {name: st.one_of(value, hostile.json_values()) for name, value in right.items()}
    wrong = st.fixed_dictionaries({"type": st.just(frame_type)}, optional=anything)
    extra = st.dictionaries(hostile.text, hostile.json_values(), min_size=1, max_size=2)
    unknown = st.tuples(wrong, extra).map(lambda pair: {**pair[1], **pair[0]})
    shaped = st.one_of(nearly, nearly, wrong, unknown).map(hostile.dumps)
    return st.one_of(shaped, shaped, shaped, hostile.raw_texts)


def assert_answer_is_typed(frame: dict) -> None:
    if frame["type"] == "error":
        assert frame["code"] in CODES, frame
        assert isinstance(frame["message"], str) and frame["message"], frame
    if frame["type"] == "done" and frame["error"]:
        assert frame["error"]["code"] != "internal_error", frame


def assert_quiet(caplog) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]
    assert "Traceback" not in caplog.text


# --- The parser -----------------------------------------------------------------------


@pytest.mark.parametrize("frame_type", sorted(frames.SCHEMAS))
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_the_parser_answers_every_generated_frame_with_a_frame_or_a_typed_error(frame_type, data):
    text = data.draw(frames_of(frame_type), label="frame")
    try:
        inbound = frames.parse(text)
    except frames.FrameError as error:
        assert error.code in CODES
        frames.encode(frames.refusal_frame(error)).encode()  # goes out as UTF-8, whatever came in
    else:
        assert inbound.type == frame_type


# --- Through a signed-in socket -----------------------------------------------------------


@pytest.fixture
def alices_ids(transactional_db, alice, upstream_model) -> dict:
    conversation = Conversation.objects.create(owner=alice, title="chat", model=upstream_model)
    question = Message.objects.create(conversation=conversation, role="user", content="q")
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="a",
        status="truncated", model=upstream_model,
    )  # fmt: skip
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=answer)
    ids = [str(conversation.id), str(question.id), str(answer.id)]
    return {"ids": ids, "model": upstream_model.pk}


@pytest.fixture
async def alices_socket(alice, alices_ids, fake, fast_streaming, open_socket):
    # Many frames a second: let the valid ones start turns rather than hit the rate limit.
    fast_streaming.CHATSITE_MESSAGES_PER_MINUTE = 10_000
    return await open_socket(alice)


async def drain(socket, quiet: float) -> list[dict]:
    """Every frame that arrives until the socket has been quiet for ``quiet`` seconds."""
    received = []
    while not await socket.communicator.receive_nothing(timeout=quiet):
        received.append(await socket.receive())
    return received


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frame_type", sorted(frames.SCHEMAS))
@settings(FUZZ, max_examples=25)
@given(data=st.data())
async def test_the_socket_answers_every_generated_frame_with_a_typed_frame(
    alices_socket, alices_ids, caplog, frame_type, data
):
    text = data.draw(frames_of(frame_type, alices_ids["ids"], alices_ids["model"]), label="frame")
    caplog.clear()
    caplog.set_level(logging.WARNING)
    # Straight to the consumer: the test communicator refuses an empty text.
    await alices_socket.communicator.send_input({"type": "websocket.receive", "text": text})
    for frame in await drain(alices_socket, 0.05):
        assert_answer_is_typed(frame)
    assert_quiet(caplog)
