"""Say where the context windows of existing rows came from.

Migration 0007 marked every existing row "set by staff", which would keep
sync from ever replacing a window the old sync invented. A row whose limits
are still exactly what the old sync took from its table of well-known names is
"known"; one still at the old sync's blind default of 8,192 for a name it did
not know is "guessed", and the next sync that reads a real value replaces it.
Anything else may be staff's and stays theirs.
"""

from django.db import migrations

# Frozen copy of the table conversations.catalog held before this migration.
OLD_KNOWN_PREFIXES = {
    "gpt-5": (400_000, 128_000),
    "gpt-4.1": (1_047_576, 32_768),
    "gpt-4o": (128_000, 16_384),
    "gpt-4-turbo": (128_000, 4_096),
    "gpt-4-32k": (32_768, None),
    "gpt-4": (8_192, None),
    "gpt-3.5-turbo-16k": (16_385, 4_096),
    "gpt-3.5-turbo-0301": (4_096, None),
    "gpt-3.5-turbo-0613": (4_096, None),
    "gpt-3.5-turbo": (16_385, 4_096),
    "o1": (200_000, 100_000),
    "o3": (200_000, 100_000),
    "o4-mini": (200_000, 100_000),
}
OLD_DEFAULT = (8_192, None)


def old_limits(model_id: str) -> tuple[tuple[int, int | None], str]:
    name = model_id.rsplit("/", 1)[-1].lower()
    for prefix in sorted(OLD_KNOWN_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix):
            return OLD_KNOWN_PREFIXES[prefix], "known"
    return OLD_DEFAULT, "guessed"


def mark_sources(apps, schema_editor):
    ModelConfig = apps.get_model("conversations", "ModelConfig")
    for row in ModelConfig.objects.filter(context_window_source="staff"):
        limits, source = old_limits(row.model_id)
        if (row.context_window, row.max_output_tokens) == limits:
            row.context_window_source = source
            row.save(update_fields=["context_window_source"])


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0007_reasoning_models_and_server_quirks"),
    ]

    operations = [
        migrations.RunPython(mark_sources, migrations.RunPython.noop),
    ]
