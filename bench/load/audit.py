"""After the run: the database against what the simulated people sent and saw.

Every turn a person sent and the server did not refuse must be stored exactly
once (its client id once), with exactly one answer, complete, whose text is
the text the person assembled from the frames.
"""

from collections import Counter, defaultdict

from bench.load.users import User

EXPECTED_SEQ = 100


def audit(users: list[User]) -> dict:
    from conversations.models import Message

    turns = [turn for user in users for turn in user.turns]
    conversations = {user.conversation_id for user in users if user.conversation_id}
    rows = list(
        Message.objects.filter(conversation_id__in=conversations).values(
            "id", "parent_id", "role", "client_id", "status", "content", "stream_seq"
        )
    )
    questions = Counter(row["client_id"] for row in rows if row["role"] == "user")
    answers = defaultdict(list)
    for row in rows:
        if row["role"] == "assistant":
            answers[row["parent_id"]].append(row)
    by_client = {row["client_id"]: row for row in rows if row["role"] == "user"}
    sent = {turn.client_id for turn in turns}
    problems: dict[str, list[str]] = defaultdict(list)
    for turn in turns:
        refused = turn.error and not turn.question_id and turn.error != "timeout"
        if questions[turn.client_id] == 0 and not refused:
            problems["lost"].append(turn.client_id)
        if questions[turn.client_id] > 1:
            problems["duplicated"].append(turn.client_id)
        question = by_client.get(turn.client_id)
        if question is not None:
            _check_answer(turn, answers[question["id"]], problems)
    for client_id in questions:
        if client_id not in sent:
            problems["unknown"].append(client_id)
    return {
        "messages_in_database": len(rows),
        "questions_stored": sum(questions.values()),
        "problems": {kind: len(found) for kind, found in problems.items()},
        "examples": {kind: found[:5] for kind, found in problems.items()},
    }


def _check_answer(turn, replies: list[dict], problems: dict) -> None:
    if len(replies) != 1:
        problems["answers_not_exactly_one"].append(turn.client_id)
        return
    [reply] = replies
    if reply["status"] != "complete" or reply["stream_seq"] != EXPECTED_SEQ:
        problems["answer_not_complete"].append(f"{turn.client_id}: {reply['status']}")
    if turn.status and reply["content"] != turn.answer.text:
        problems["text_differs"].append(turn.client_id)
    if turn.answer.problems:
        problems["gaps_or_duplicates_seen"].append(turn.client_id)
