"""Generated hostile import files: never a 500, never a traceback; either an
import or a refusal that says why, and a refusal writes nothing."""

import io
import json
import logging
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Conversation, Message
from tests import hostile
from tests.test_import import chatgpt_conversation

pytestmark = pytest.mark.django_db
FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEYS = [
    "mapping", "parent", "children", "message", "author", "role", "content", "content_type",
    "parts", "current_node", "title", "create_time", "id", "conversation_id", "messages",
    "parent_id", "status", "conversations", "params", "current_leaf", "created", "metadata",
]  # fmt: skip
ROLES = st.sampled_from(["user", "assistant", "system", "tool", "critic", None, 3])
KINDS = st.sampled_from(["text", "code", "multimodal_text", "tether_browsing_display", None, []])


def keys():
    return st.one_of(st.sampled_from(KEYS), hostile.text)


def leaves():
    return st.one_of(hostile.scalars, st.sampled_from(["n1", "n2", "n3", "root"]), ROLES, KINDS)


def chatgpt_shaped():
    """Conversations close to the real shape, with any field bent."""
    node_keys = st.sampled_from(["root", "n1", "n2", "n3", "ghost"])
    message = st.fixed_dictionaries(
        {
            "author": st.one_of(st.fixed_dictionaries({"role": ROLES}), leaves()),
            "content": st.one_of(
                st.fixed_dictionaries(
                    {
                        "content_type": KINDS,
                        "parts": st.lists(st.one_of(hostile.text, leaves(), st.dictionaries(
                            keys(), leaves(), max_size=2)), max_size=3),
                        "text": st.one_of(hostile.text, leaves()),
                    }
                ),
                leaves(),
            ),
            "create_time": st.one_of(st.floats(allow_nan=True), leaves()),
        }
    )  # fmt: skip
    node = st.fixed_dictionaries(
        {
            "message": st.one_of(st.none(), message),
            "parent": st.one_of(st.none(), node_keys, leaves()),
            "children": st.lists(node_keys, max_size=2),
        }
    )
    conversation = st.fixed_dictionaries(
        {
            "mapping": st.one_of(st.dictionaries(node_keys, node, max_size=5), leaves()),
            "current_node": st.one_of(st.none(), node_keys, leaves()),
            "title": st.one_of(hostile.text, leaves()),
            "create_time": st.one_of(st.floats(), leaves()),
            "id": st.one_of(st.sampled_from(["c1", "c2"]), leaves()),
        }
    )
    return st.lists(conversation, min_size=0, max_size=3)


def times():
    """ISO times, some at the ends of the calendar."""
    edges = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-14:00", "2026-02-30T00:00:00"]
    return st.one_of(
        st.sampled_from([*hostile.ISO_TIMES, *edges]),
        st.datetimes().map(lambda moment: moment.isoformat()),
    )


def chatsite_shaped():
    row = st.dictionaries(keys(), leaves(), max_size=8) | st.fixed_dictionaries(
        {
            "id": st.sampled_from(["m1", "m2", "m3"]),
            "parent_id": st.one_of(st.none(), st.sampled_from(["m1", "m2", "m3", "x"])),
            "role": ROLES,
            "content": st.one_of(hostile.text, leaves()),
            "status": st.one_of(st.sampled_from(["complete", "streaming", "sent"]), leaves()),
            "created": st.one_of(st.none(), hostile.text, leaves(), times()),
            "params": st.one_of(st.dictionaries(hostile.text, leaves(), max_size=2), leaves()),
        }
    )
    conversation = st.fixed_dictionaries(
        {
            "id": st.one_of(st.just("o1"), leaves()),
            "messages": st.one_of(st.lists(row, max_size=4), leaves()),
        }
    )
    return st.one_of(
        conversation, st.fixed_dictionaries({"conversations": st.lists(conversation, max_size=2)})
    )


def files():
    structured = (
        st.one_of(chatgpt_shaped(), chatsite_shaped(), hostile.json_values(keys(), leaves()))
        .map(hostile.dumps)
        .map(str.encode)
    )
    zipped = structured.map(_zip_of)
    return st.one_of(structured, zipped, hostile.raw_bodies, st.binary(max_size=200))


def _zip_of(raw: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("conversations.json", raw)
    return buffer.getvalue()


def assert_quiet(caplog) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]
    assert "Traceback" not in caplog.text


@FUZZ
@given(raw=files())
def test_generated_files_never_fail_the_import(client, alice, caplog, raw):
    client.force_login(alice)
    caplog.clear()
    before = (Conversation.objects.count(), Message.objects.count())
    response = client.post("/import/", {"file": SimpleUploadedFile("f.json", raw)})
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert b'id="import-error"' in response.content
        assert (Conversation.objects.count(), Message.objects.count()) == before
    for conversation in Conversation.objects.filter(owner=alice):
        _assert_usable(conversation)
    assert_quiet(caplog)


def _assert_usable(conversation: Conversation) -> None:
    messages = list(conversation.messages.all())
    if messages:
        assert conversation.current_leaf_id in {m.id for m in messages}
    for message in messages:
        assert message.role in ("system", "user", "assistant")
        assert message.role != "assistant" or message.parent_id is not None


@FUZZ
@given(data=st.data())
def test_bent_real_exports_never_fail_the_import(client, alice, caplog, data):
    """A real-shaped export with one field replaced by anything."""
    conversation = chatgpt_conversation()
    node = data.draw(st.sampled_from(sorted(conversation["mapping"])), label="node")
    field = data.draw(st.sampled_from(["parent", "message", "children"]), label="field")
    value = data.draw(hostile.json_values(keys(), leaves()), label="value")
    conversation["mapping"][node][field] = value
    client.force_login(alice)
    caplog.clear()
    response = client.post(
        "/import/",
        {"file": SimpleUploadedFile("c.json", json.dumps([conversation]).encode())},
    )
    assert response.status_code in (200, 400)
    assert_quiet(caplog)
