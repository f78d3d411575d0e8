"""Importing conversations: ChatGPT's export and chatsite's own, all or nothing,
once only, bounded, and refused with a reason when malformed."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


def node(key, parent, children, role=None, content=None, time=None, **metadata):
    """One entry of a ChatGPT ``mapping``, shaped as their export writes it."""
    message = None
    if role is not None:
        message = {
            "id": key,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": time,
            "update_time": None,
            "content": content,
            "status": "finished_successfully",
            "end_turn": True if role == "assistant" else None,
            "weight": 1.0,
            "metadata": metadata,
            "recipient": "all",
        }
    return {"id": key, "message": message, "parent": parent, "children": children}


def text(*parts):
    return {"content_type": "text", "parts": list(parts)}


def chatgpt_conversation(conversation_id="c-1", title="Trip to Lisbon"):
    """A system message, a question edited once (two branches), each answered;
    the second branch has an image part and a browsing result; the current
    node is the answer on the second branch."""
    t = 1_700_000_000.0
    mapping = {
        "root": node("root", None, ["hidden"]),
        "hidden": node("hidden", "root", ["sys"], "system", text(""), t),
        "sys": node("sys", "hidden", ["q1", "q2"], "system", text("Be brief."), t + 1),
        "q1": node("q1", "sys", ["a1"], "user", text("Where to eat?"), t + 2),
        "a1": node("a1", "q1", [], "assistant", text("Try **Time Out** market."), t + 3,
                   model_slug="gpt-4o"),
        "q2": node(
            "q2", "sys", ["browse"], "user",
            {"content_type": "multimodal_text", "parts": [
                {"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"},
                "Where to eat near here?",
            ]},
            t + 4,
        ),
        "browse": node("browse", "q2", ["a2"], "tool",
                       {"content_type": "tether_browsing_display", "result": "…"}, t + 5),
        "a2": node("a2", "browse", ["code"], "assistant", text("Near the river: Cais."), t + 6,
                   model_slug="gpt-4o"),
        "code": node("code", "a2", ["a3"], "user",
                     {"content_type": "code", "language": "python", "text": "print(1)"}, t + 7),
        "a3": node("a3", "code", [], "assistant",
                   {"content_type": "tether_quote", "url": "x", "text": "quoted"}, t + 8),
    }  # fmt: skip
    return {
        "title": title,
        "create_time": t,
        "update_time": t + 8,
        "mapping": mapping,
        "current_node": "a3",
        "conversation_id": conversation_id,
        "id": conversation_id,
        "moderation_results": [],
    }


def upload(data, name="conversations.json") -> SimpleUploadedFile:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return SimpleUploadedFile(name, raw, content_type="application/json")


def post(client, data, name="conversations.json"):
    return client.post("/import/", {"file": upload(data, name)})


def zipped(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_it_imports_a_chatgpt_export_with_its_branches(client, alice):
    client.force_login(alice)
    response = post(client, [chatgpt_conversation()])
    assert response.status_code == 200, response.content
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.title == "Trip to Lisbon"
    assert (conversation.import_source, conversation.import_id) == ("chatgpt", "c-1")
    by_content = {m.content: m for m in conversation.messages.all()}
    system = by_content["Be brief."]
    assert system.role == "system" and system.parent is None  # the empty one is gone
    questions = Message.objects.filter(parent=system, role="user")
    assert questions.count() == 2  # the edit is a sibling
    a2 = by_content["Near the river: Cais."]
    assert a2.parent.role == "user"  # the browsing result between them is skipped
    assert a2.model_name == "gpt-4o" and a2.status == "complete"


def test_it_keeps_the_current_node_as_the_current_leaf(client, alice):
    client.force_login(alice)
    post(client, [chatgpt_conversation()])
    conversation = Conversation.objects.get(owner=alice)
    branch = [m.content for m in conversation.active_branch()]
    assert branch[0] == "Be brief."
    assert "Near the river: Cais." in branch
    assert "Where to eat?" not in branch
    assert conversation.current_leaf.role == "assistant"


def test_it_skips_non_text_parts_with_a_visible_note(client, alice):
    client.force_login(alice)
    post(client, [chatgpt_conversation()])
    question = Message.objects.get(content__contains="Where to eat near here?")
    assert "Not imported" in question.content and "image_asset_pointer" in question.content
    quote = Conversation.objects.get(owner=alice).current_leaf
    assert "Not imported" in quote.content and "tether_quote" in quote.content
    code = Message.objects.get(content__contains="print(1)")
    assert code.content.startswith("```")


def test_it_leaves_out_what_chatgpt_never_showed(client, alice):
    """A tool call (its recipient is the tool) and hidden custom instructions."""
    conversation = chatgpt_conversation()
    mapping = conversation["mapping"]
    mapping["q1"]["children"] = ["call"]
    mapping["call"] = node("call", "q1", ["a1"], "assistant", text("search(eat)"), 1.7e9)
    mapping["call"]["message"]["recipient"] = "browser"
    mapping["a1"]["parent"] = "call"
    mapping["hidden"]["message"].update(
        content={"content_type": "user_editable_context", "user_profile": "I like fish"},
        metadata={"is_visually_hidden_from_conversation": True},
    )
    client.force_login(alice)
    assert post(client, [conversation]).status_code == 200
    contents = list(Message.objects.values_list("content", flat=True))
    assert "search(eat)" not in contents and not any("user_editable" in c for c in contents)
    answer = Message.objects.get(content__startswith="Try **Time Out**")
    assert answer.parent.content == "Where to eat?"


def test_imported_conversations_are_marked_in_the_page_data(client, alice):
    client.force_login(alice)
    post(client, [chatgpt_conversation()])
    conversation = Conversation.objects.get(owner=alice)
    assert client.get("/api/conversations").json()["items"][0]["imported"] == "chatgpt"
    page = client.get(f"/c/{conversation.pk}/")
    assert b'id="thread-imported"' in page.content


def test_it_imports_chatgpts_zip_archive(client, alice):
    client.force_login(alice)
    archive = zipped({"conversations.json": json.dumps([chatgpt_conversation()]),
                      "chat.html": "<html></html>"})  # fmt: skip
    response = post(client, archive, name="export.zip")
    assert response.status_code == 200
    assert Conversation.objects.filter(owner=alice, import_source="chatgpt").count() == 1


def test_importing_the_same_file_twice_creates_nothing_new(client, alice):
    client.force_login(alice)
    data = [chatgpt_conversation("c-1"), chatgpt_conversation("c-2", "Other")]
    post(client, data)
    messages = Message.objects.count()
    response = post(client, data)
    assert response.status_code == 200
    assert b"imported before" in response.content
    assert Conversation.objects.filter(owner=alice).count() == 2
    assert Message.objects.count() == messages


def test_the_same_file_is_imported_once_per_person(client, alice, bob):
    for person in (alice, bob):
        client.force_login(person)
        post(client, [chatgpt_conversation()])
    assert Conversation.objects.filter(import_id="c-1").count() == 2


def test_a_file_with_one_bad_conversation_imports_nothing(client, alice):
    client.force_login(alice)
    bad = chatgpt_conversation("c-3")
    bad["mapping"]["a1"]["parent"] = "nowhere"
    response = post(client, [chatgpt_conversation("c-1"), chatgpt_conversation("c-2"), bad])
    assert response.status_code == 400
    assert "conversation 3: message a1 has a parent that does not exist" in response.text
    assert not Conversation.objects.exists() and not Message.objects.exists()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c["mapping"]["sys"].update(parent="a1"), "cycle"),
        (lambda c: c.update(current_node="gone"), "the current message gone does not exist"),
        (lambda c: c["mapping"]["q1"]["message"]["author"].update(role="wizard"), "unknown role"),
        (lambda c: c.update(mapping=[]), "“mapping” must be an object"),
        (lambda c: c["mapping"]["q1"]["message"].update(content="hi"), "“content” must be"),
        (lambda c: c["mapping"]["q1"]["message"].update(create_time="noon"), "time in seconds"),
        (lambda c: c["mapping"]["q1"]["message"]["content"].update(parts=[12]), "Not imported"),
    ],
)
def test_it_refuses_malformed_conversations_naming_the_problem(client, alice, change, problem):
    client.force_login(alice)
    conversation = chatgpt_conversation()
    change(conversation)
    response = post(client, [conversation])
    if problem == "Not imported":  # a number where text was: skipped with a note, not refused
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.text
    assert "conversation 1:" in response.text and problem in response.text
    assert not Conversation.objects.exists()


def test_it_refuses_an_answer_without_a_question(client, alice):
    client.force_login(alice)
    conversation = chatgpt_conversation()
    conversation["mapping"]["a1"]["parent"] = None
    response = post(client, [conversation])
    assert response.status_code == 400
    assert "message a1 is an answer with no message before it" in response.text


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\x00\x01not json", "not JSON"),
        (b'"just a string"', "wrong shape"),
        (b'{"hello": 1}', "wrong shape"),
        (b"[]", "no conversation"),
        (b"PK\x03\x04broken", "zip archive cannot be read"),
        (zipped({"other.txt": "x"}), "neither"),
    ],
)
def test_it_refuses_files_that_are_not_exports(client, alice, raw, problem):
    client.force_login(alice)
    response = post(client, raw)
    assert response.status_code == 400
    assert problem in response.text


def test_it_refuses_a_file_over_the_size_limit(client, alice, settings):
    settings.CHATSITE_IMPORT_MAX_BYTES = 2000
    client.force_login(alice)
    response = post(client, [chatgpt_conversation(title="x" * 3000)])
    assert response.status_code == 400
    assert "too large" in response.text
    assert not Conversation.objects.exists()


def test_it_refuses_an_archive_that_unpacks_over_the_limit(client, alice, settings):
    settings.CHATSITE_IMPORT_MAX_BYTES = 5000
    client.force_login(alice)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", "[" + " " * 100_000 + "]")
    assert len(packed.getvalue()) < 5000
    response = post(client, packed.getvalue(), name="bomb.zip")
    assert response.status_code == 400
    assert "too large" in response.text


def test_it_refuses_a_file_over_the_message_limit(client, alice, settings):
    settings.CHATSITE_IMPORT_MAX_MESSAGES = 10
    client.force_login(alice)
    response = post(client, [chatgpt_conversation("c-1"), chatgpt_conversation("c-2")])
    assert response.status_code == 400
    assert "at most 10" in response.text
    assert not Conversation.objects.exists()


def test_it_asks_for_a_file(client, alice):
    client.force_login(alice)
    response = client.post("/import/", {})
    assert response.status_code == 400
    assert "Choose a file" in response.text


def test_an_imported_conversation_can_be_continued_at_once(client, alice, chat_model):
    """The tree satisfies what a turn relies on: a current leaf, valid roles,
    finished answers with a question before them."""
    client.force_login(alice)
    post(client, [chatgpt_conversation()])
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.current_leaf is not None
    for message in conversation.messages.all():
        assert message.role in ("system", "user", "assistant")
        if message.role == "assistant":
            assert message.status == "complete" and message.parent_id is not None
        else:
            assert message.status == "sent"
        message.full_clean()
    page = client.get(f"/c/{conversation.pk}/")
    assert page.status_code == 200


def test_it_strips_characters_a_database_cannot_store(client, alice):
    client.force_login(alice)
    conversation = chatgpt_conversation()
    conversation["mapping"]["q1"]["message"]["content"]["parts"] = ["nul\x00 and \ud800 lone"]
    conversation["title"] = "bad\x00title"
    response = post(client, [conversation])
    assert response.status_code == 200
    assert Message.objects.filter(content="nul and \ufffd lone").exists()


def test_ids_a_database_cannot_store_are_made_safe(client, alice):
    client.force_login(alice)
    response = post(client, [chatgpt_conversation("id\x00with \ud800 nul")])
    assert response.status_code == 200
    assert Conversation.objects.get().import_id == "idwith \ufffd nul"


def test_a_chatsite_export_round_trips(client, alice, bob, persona):
    conversation = Conversation.objects.create(owner=alice, title="Round", persona=persona)
    question = Message.objects.create(conversation=conversation, role="user", content="Q")
    first = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="A1",
        status="complete", prompt_tokens=5, completion_tokens=7, params={"temperature": 0.2},
    )  # fmt: skip
    second = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="A2",
        status="stopped",
    )  # fmt: skip
    conversation.current_leaf = first
    conversation.save()
    client.force_login(alice)
    archive = b"".join(client.post("/export/", {"scope": "all"}).streaming_content)

    client.force_login(bob)
    response = post(client, archive, name="chatsite-export.zip")
    assert response.status_code == 200, response.text
    copy = Conversation.objects.get(owner=bob)
    assert (copy.title, copy.import_source, copy.import_id) == (
        "Round",
        "chatsite",
        str(conversation.pk),
    )
    assert copy.current_leaf.content == "A1"
    answers = {m.content: m for m in copy.messages.filter(role="assistant")}
    assert answers["A1"].prompt_tokens == 5 and answers["A1"].params == {"temperature": 0.2}
    assert answers["A2"].status == "stopped"
    assert answers["A1"].parent_id == answers["A2"].parent_id
    assert copy.persona is None  # alice's private persona is not bob's
    post(client, archive, name="chatsite-export.zip")
    assert Conversation.objects.filter(owner=bob).count() == 1
    assert second.pk != answers["A2"].pk


def test_it_imports_one_chatsite_json_file(client, alice):
    document = {
        "id": "orig-1", "title": "Solo", "created": "2026-01-02T03:04:05+00:00",
        "messages": [
            {"id": "m1", "parent_id": None, "role": "user", "content": "hi", "active_branch": True},
            {"id": "m2", "parent_id": "m1", "role": "assistant", "content": "yo",
             "status": "streaming", "active_branch": True},
        ],
    }  # fmt: skip
    client.force_login(alice)
    assert post(client, document, name="one.json").status_code == 200
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.current_leaf.content == "yo"
    assert conversation.current_leaf.status == "interrupted"  # never left streaming


@pytest.mark.parametrize(
    "created", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "yesterday", 5]
)
def test_it_refuses_impossible_times_in_a_chatsite_file(client, alice, created):
    document = {"id": "t", "messages": [{"id": "m", "role": "user", "created": created}]}
    client.force_login(alice)
    response = post(client, document, name="one.json")
    assert response.status_code == 400
    assert "conversation 1: “created”" in response.text


def test_import_needs_sign_in(client):
    response = client.post("/import/", {"file": upload([chatgpt_conversation()])})
    assert response.status_code == 302
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_a_chat_continues_an_imported_conversation(alice, upstream_model, fake, open_socket):
    from channels.db import database_sync_to_async

    from conversations import imports

    @database_sync_to_async
    def imported() -> Conversation:
        imports.import_file(owner=alice, upload=upload([chatgpt_conversation()]))
        return Conversation.objects.get(owner=alice)

    conversation = await imported()
    socket = await open_socket(alice)
    result = await socket.turn("And for dessert?", conversation_id=conversation.pk)
    assert result.status == "complete"
    sent = fake.chat_requests[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user", "assistant", "user"]
    assert "Near the river: Cais." in [m["content"] for m in sent]
    assert sent[-1]["content"] == "And for dessert?"


def encrypted_zip() -> bytes:
    """A zip whose member says it is encrypted (zipfile cannot write one)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("conversations.json", json.dumps([chatgpt_conversation()]))
    raw = bytearray(buffer.getvalue())
    raw[6] |= 0x01  # the local header's flag bits
    central = raw.index(b"PK\x01\x02")
    raw[central + 8] |= 0x01  # the central directory's
    return bytes(raw)


def test_it_refuses_an_encrypted_zip_archive(client, alice):
    client.force_login(alice)
    response = post(client, encrypted_zip(), name="export.zip")
    assert response.status_code == 400
    assert "The zip archive cannot be read." in response.text


def test_it_refuses_json_nested_deeper_than_any_export(client, alice):
    client.force_login(alice)
    conversation = chatgpt_conversation()
    deep = "[" * 900 + "]" * 900
    raw = json.dumps([conversation])[:-1] + ', {"deep": ' + deep + "}]"
    response = post(client, raw.encode())
    assert response.status_code == 400
    assert "deeper than 64 levels" in response.text
    assert not Conversation.objects.exists()


def test_it_refuses_nan_which_no_database_can_store(client, alice):
    client.force_login(alice)
    raw = json.dumps([chatgpt_conversation()]).replace('"title": "Trip to Lisbon"', '"title": NaN')
    response = post(client, raw.encode())
    assert response.status_code == 400
    assert not Conversation.objects.exists()
