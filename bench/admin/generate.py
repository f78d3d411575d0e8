"""Fill a PostgreSQL database with a big history: users, teams, personas, 50,000
conversations and 1,000,000 messages (with branches), a usage ledger and audit rows.

Conversations, messages and the ledger go in with COPY, inside one transaction
(Django's foreign keys are deferred to the commit); the trigram indexes are
dropped during the load and built afterwards, which is much faster than
updating them row by row. Runs in a few minutes.
"""

import datetime
import json
import random
import time
import uuid

VOCABULARY = (
    "the quick brown fox jumps over a lazy dog while café owners sip crème brûlée under "
    "Tokyo skies budget forecast invoice shipment delayed customer refund policy draft "
    "summary meeting notes python django postgres index query latency review contract "
    "translate email polite tone bullet points quarterly marketing launch onboarding "
    "kubernetes deploy error stack trace retry timeout recipe dinner travel Lisbon Oslo"
)
WORDS = tuple(VOCABULARY.split())
RARE_WORD, RARE_WORD_SHARE = "Zanzibar", 0.001
TRIGRAM_INDEXES = ("message_content_trgm", "conversation_title_trgm")


def say(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high))).capitalize() + "."


def uuid7_at(moment: datetime.datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for a moment in the past, like the app's own ids (time-ordered)."""
    millis = int(moment.timestamp() * 1000)
    value = millis << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62
    return uuid.UUID(int=value | rng.getrandbits(62))


class Copier:
    """COPY rows into a model's table; a column a row leaves out takes the field's
    default, so fields added to the models later do not break the bench."""

    def __init__(self, cursor, model):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.defaults: dict = {}
        columns = ", ".join(f'"{f.column}"' for f in self.fields)
        self.copy = cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN')
        self.writer = self.copy.__enter__()
        self.rows = 0

    def write(self, values: dict) -> None:
        row = [self._value(field, values) for field in self.fields]
        self.writer.write_row(row)
        self.rows += 1

    def _value(self, field, values: dict):
        if field.attname in values:
            value = values[field.attname]
        else:
            if field.attname not in self.defaults:
                self.defaults[field.attname] = _default(self.model, field)
            value = self.defaults[field.attname]
        return json.dumps(value) if isinstance(value, dict | list) else value

    def close(self) -> None:
        self.copy.__exit__(None, None, None)


def _default(model, field):
    value = field.get_default()
    if value is None and not field.null:
        raise SystemExit(f"bench: no value for {model.__name__}.{field.attname}; update the bench")
    return value


def generate(*, conversations: int, messages: int, users: int, seed: int = 7) -> dict:
    from django.db import connection, transaction

    rng = random.Random(seed)
    started = time.monotonic()
    base = _base_rows(rng, users)
    with transaction.atomic(), connection.cursor() as cursor:
        for name in TRIGRAM_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        counts = _history(cursor.cursor, rng, base, conversations, messages)
        counts["usage_rows"] = _ledger(cursor.cursor, rng, base)
    _finish(connection)
    counts["seconds"] = round(time.monotonic() - started, 1)
    return counts


def _base_rows(rng: random.Random, users: int) -> dict:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    from conversations.models import AuditEntry, ModelConfig, Persona, Provider

    password = make_password("bench-user-password")
    teams = Group.objects.bulk_create(Group(name=f"team-{i:02}") for i in range(20))
    people = User.objects.bulk_create(
        User(username=f"user{i:05}", password=password, email=f"user{i}@example.com")
        for i in range(users)
    )
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=user.pk, group_id=rng.choice(teams).pk) for user in people
    )
    provider = Provider.objects.create(
        name="bench", base_url="http://127.0.0.1:9/v1", allow_local_network=True
    )
    models = [
        ModelConfig.objects.create(
            provider=provider,
            model_id=name,
            context_window=128_000,
            max_output_tokens=16_000,
            price_input_per_million=price,
            price_output_per_million=price * 4,
        )
        for name, price in (
            ("gpt-4o", 2.5),
            ("gpt-4o-mini", 0.15),
            ("gpt-4.1", 2),
            ("o3-mini", 1.1),
            ("llama-3.1-70b", 0.5),
        )
    ]
    personas = []
    for i in range(200):
        persona = Persona.objects.create(
            owner=rng.choice(people),
            name=f"Persona {i}",
            visibility=rng.choice(["private", "team", "everyone"]),
            system_prompt=say(rng, 20, 60),
            model=rng.choice(models),
        )
        personas.append((persona.pk, persona.current_version().pk))
    AuditEntry.objects.bulk_create(
        AuditEntry(
            actor_username="auditor",
            action="view_conversation",
            policy="full",
            owner_username=rng.choice(people).username,
            conversation_id=uuid.uuid4(),
        )
        for _ in range(5000)
    )
    return {"users": [u.pk for u in people], "models": models, "personas": personas}


def _history(raw_cursor, rng, base, conversations: int, messages: int) -> dict:
    from conversations.models import Conversation, Message

    user_texts = [say(rng, 6, 40) for _ in range(20_000)]
    answer_texts = [say(rng, 30, 160) for _ in range(20_000)]
    titles = [say(rng, 2, 6)[:-1] for _ in range(5_000)]
    now = datetime.datetime.now(datetime.UTC)
    per_conversation = messages // conversations
    leaves = {}
    conversation_rows = []
    writer = Copier(raw_cursor, Message)
    for index in range(conversations):
        started = now - datetime.timedelta(seconds=rng.randint(3600, 180 * 86400))
        conversation_id = uuid7_at(started, rng)
        model = rng.choice(base["models"])
        persona = rng.choice(base["personas"]) if rng.random() < 0.5 else (None, None)
        count = per_conversation + (1 if index < messages - per_conversation * conversations else 0)
        last, moment = _thread(
            writer, rng, conversation_id, started, count, model, persona, user_texts, answer_texts
        )
        leaves[conversation_id] = last
        conversation_rows.append(
            (conversation_id, rng.choice(base["users"]), persona[0], model.pk, started, moment)
        )
    writer.close()
    conversation_writer = Copier(raw_cursor, Conversation)
    for conversation_id, owner, persona_id, model_id, started, updated in conversation_rows:
        flagged = rng.random() < 0.02
        conversation_writer.write(
            {
                "id": conversation_id,
                "owner_id": owner,
                "title": rng.choice(titles),
                "persona_id": persona_id,
                "model_id": model_id,
                "param_overrides": {},
                "pinned": False,
                "archived": rng.random() < 0.05,
                "flagged": flagged,
                "flag_reason": "reported by the user" if flagged else "",
                "current_leaf_id": leaves[conversation_id],
                "client_id": "",
                "created": started,
                "updated": updated,
            }
        )
    conversation_writer.close()
    return {"conversations": conversation_writer.rows, "messages": writer.rows}


def _thread(writer, rng, conversation_id, started, count, model, persona, user_texts, answers):
    """One conversation's messages: a thread, plus a regenerated answer in a fifth of them."""
    branch_at = rng.randrange(1, count - 1, 2) if count > 3 and rng.random() < 0.2 else None
    parent, moment, context = None, started, 0
    for position in range(count - (1 if branch_at else 0)):
        moment += datetime.timedelta(seconds=rng.randint(5, 90))
        role = "user" if position % 2 == 0 else "assistant"
        content = rng.choice(user_texts if role == "user" else answers)
        if rng.random() < RARE_WORD_SHARE:
            content += f" {RARE_WORD}"  # what a search usually looks for: a rare word
        context += len(content) // 4
        message_id = uuid7_at(moment, rng)
        writer.write(
            _message(
                rng,
                message_id,
                conversation_id,
                parent,
                role,
                content,
                moment,
                model,
                persona,
                context,
            )
        )
        if position == branch_at:
            sibling = uuid7_at(moment - datetime.timedelta(seconds=2), rng)
            writer.write(
                _message(
                    rng,
                    sibling,
                    conversation_id,
                    parent,
                    role,
                    rng.choice(answers),
                    moment,
                    model,
                    persona,
                    context,
                )
            )
        parent = message_id
    return parent, moment


def _message(
    rng, message_id, conversation_id, parent, role, content, moment, model, persona, context
) -> dict:
    values = {
        "id": message_id,
        "conversation_id": conversation_id,
        "parent_id": parent,
        "role": role,
        "content": content,
        "status": "sent",
        "finish_reason": "",
        "error_code": "",
        "error_message": "",
        "model_id": None,
        "model_name": "",
        "persona_version_id": None,
        "params": {},
        "prompt_tokens": None,
        "completion_tokens": None,
        "usage_estimated": False,
        "content_tokens": len(content) // 4,
        "content_tokens_encoding": "cl100k_base",
        "ttft_ms": None,
        "client_id": "",
        "stream_seq": 0,
        "worker": "",
        "heartbeat": None,
        "created": moment,
        "updated": moment,
    }
    if role == "assistant":
        roll = rng.random()
        status = "complete" if roll < 0.94 else rng.choice(["error", "stopped", "truncated"])
        values.update(
            {
                "status": status,
                "finish_reason": "stop" if status == "complete" else "",
                "error_code": "upstream_timeout" if status == "error" else "",
                "model_id": model.pk,
                "model_name": model.model_id,
                "persona_version_id": persona[1],
                "params": {"temperature": 0.7, "max_tokens": 1024},
                "prompt_tokens": context,
                "completion_tokens": len(content) // 4,
                "usage_estimated": rng.random() < 0.1,
                "ttft_ms": rng.randint(150, 2500),
                "stream_seq": len(content) // 6,
            }
        )
    return values


def _ledger(raw_cursor, rng, base) -> int:
    from conversations.models import UsageDaily

    today = datetime.date.today()
    writer = Copier(raw_cursor, UsageDaily)
    for user in base["users"]:
        days = rng.sample(range(180), 30)
        for day in days:
            model = rng.choice(base["models"])
            prompt, completion = rng.randint(1000, 90_000), rng.randint(200, 20_000)
            estimated = rng.random() < 0.1
            writer.write(
                {
                    "id": writer.rows + 1,
                    "user_id": user,
                    "day": today - datetime.timedelta(days=day),
                    "model_id": model.pk,
                    "model_name": model.model_id,
                    "requests": rng.randint(1, 40),
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "estimated_prompt_tokens": prompt if estimated else 0,
                    "estimated_completion_tokens": completion if estimated else 0,
                    "cost": round(
                        (
                            prompt * model.price_input_per_million
                            + completion * model.price_output_per_million
                        )
                        / 1_000_000,
                        6,
                    ),
                }
            )
    writer.close()
    return writer.rows


def _finish(connection) -> None:
    """Rebuild the trigram indexes, fix the sequences COPY bypassed, refresh statistics."""
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, table, column in (
            ("message_content_trgm", "conversations_message", "content"),
            ("conversation_title_trgm", "conversations_conversation", "title"),
        ):
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                f"USING gin (UPPER({column}::text) gin_trgm_ops)"
            )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('conversations_usagedaily', 'id'), "
            "(SELECT max(id) FROM conversations_usagedaily))"
        )
    connection.cursor().execute("VACUUM ANALYZE")
