"""Messages form a tree: edits and regenerations are siblings; the thread is one branch."""

import pytest

from conversations.models import Conversation, Message


def say(conversation, parent, content, role="user"):
    status = "sent" if role == "user" else "complete"
    return Message.objects.create(
        conversation=conversation, parent=parent, role=role, content=content, status=status
    )


@pytest.fixture
def thread(alice):
    """hello → hi! → how are you? → fine; with a regenerated answer and an edited question."""
    conversation = Conversation.objects.create(owner=alice)
    hello = say(conversation, None, "hello")
    hi = say(conversation, hello, "hi!", "assistant")
    hi_again = say(conversation, hello, "hello there!", "assistant")
    how = say(conversation, hi, "how are you?")
    fine = say(conversation, how, "fine", "assistant")
    edited = say(conversation, hi, "what is new?")
    conversation.current_leaf = fine
    conversation.save()
    return conversation, locals()


def test_the_active_branch_runs_from_the_root_to_the_current_leaf(thread):
    conversation, _ = thread
    assert [x.content for x in conversation.active_branch()] == [
        "hello",
        "hi!",
        "how are you?",
        "fine",
    ]


def test_a_regenerated_answer_is_a_sibling_of_the_first(thread):
    _, m = thread
    assert list(m["hi"].siblings()) == [m["hi"], m["hi_again"]]


def test_an_edited_question_starts_a_new_branch(thread):
    conversation, m = thread
    conversation.current_leaf = m["edited"]
    assert [x.content for x in conversation.active_branch()] == ["hello", "hi!", "what is new?"]
    assert list(m["how"].siblings()) == [m["how"], m["edited"]]


def test_an_empty_conversation_has_an_empty_branch(alice):
    assert Conversation.objects.create(owner=alice).active_branch() == []


def test_deleting_a_conversation_deletes_its_messages(thread):
    conversation, _ = thread
    conversation.delete()
    assert Message.objects.count() == 0
