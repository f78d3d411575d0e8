from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.bootstrap import ensure_env_provider


class Command(BaseCommand):
    help = "Make sure the provider and model named by OPENAI_* variables exist (idempotent)."

    def handle(self, *args, **options) -> None:
        result = ensure_env_provider(
            base_url=settings.OPENAI_BASE_URL,
            api_key=settings.OPENAI_API_KEY,
            model_id=settings.OPENAI_MODEL,
        )
        if not result.configured:
            self.stdout.write(
                "OPENAI_MODEL is not set: no provider was configured from the environment. "
                "Set OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL, or add a provider "
                "in the admin."
            )
            return
        what = ", ".join(result.created) or "nothing new"
        self.stdout.write(
            self.style.SUCCESS(
                f"Provider {result.provider.base_url} with model {result.model.model_id}: "
                f"created {what}."
            )
        )
