"""Answers stored before the provider's words were kept from users still hold them in
error_message (internal host names, HTML pages...): replace each with the text chosen
by its error code, as new answers get (conversations/errors.py)."""

from django.db import migrations
from django.utils import translation


def replace_provider_words(apps, schema_editor):
    from conversations.errors import USER_MESSAGES

    Message = apps.get_model("conversations", "Message")
    with translation.override("en"):
        for code, text in USER_MESSAGES.items():
            Message.objects.filter(error_code=code).exclude(error_message=str(text)).update(
                error_message=str(text)
            )


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_provider_last_error_local_network")]

    operations = [migrations.RunPython(replace_provider_words, migrations.RunPython.noop)]
