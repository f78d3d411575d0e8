"""`manage.py demo_provider --base-url URL`: the provider `make demo` points at its fake model.

Idempotent: every `make demo` calls it. The demo has its own provider, apart
from the one the OPENAI_* variables configure, so a later `make run` against a
real API never inherits the fake's address. Its model becomes the default only
while no other model is.
"""

from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator
from django.db import transaction

from conversations.catalog import facts_for
from conversations.models import ModelConfig, Provider

DEMO_PROVIDER_NAME = "Demo (local fake model)"
DEMO_MODEL_ID = "gpt-4o-mini"  # one of the fake's ids; its tokenizer is known
DEMO_DISPLAY_NAME = "Demo model (canned answers)"


class Command(BaseCommand):
    help = "Create or update the provider that points at the demo's local fake model."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:9100/v1")

    def handle(self, *args, base_url: str, **options) -> None:
        try:
            URLValidator(schemes=["http", "https"])(base_url)
        except Exception as error:
            raise CommandError(f"--base-url is not an http(s) URL: {base_url!r}") from error
        model, created = ensure_demo_provider(base_url)
        what = "created" if created else "up to date"
        default = " (the default model)" if model.is_default else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Provider {DEMO_PROVIDER_NAME!r} at {base_url}, model {model.model_id}"
                f"{default}: {what}."
            )
        )


@transaction.atomic
def ensure_demo_provider(base_url: str) -> tuple[ModelConfig, bool]:
    provider, created = Provider.objects.update_or_create(
        name=DEMO_PROVIDER_NAME,
        # The fake listens on this machine; no key is needed.
        defaults={"base_url": base_url, "api_key_env": "", "allow_local_network": True},
    )
    model = ModelConfig.objects.filter(provider=provider, model_id=DEMO_MODEL_ID).first()
    if model is None:
        facts = facts_for(DEMO_MODEL_ID)
        model = ModelConfig.objects.create(
            provider=provider,
            model_id=DEMO_MODEL_ID,
            display_name=DEMO_DISPLAY_NAME,
            context_window=facts.context_window,
            max_output_tokens=facts.max_output_tokens,
        )
        created = True
    if not ModelConfig.objects.filter(is_default=True).exists():
        model.is_default = True
        model.save(update_fields=["is_default"])
    ensure_demo_images(provider)
    ensure_demo_completions(provider)
    return model, created


DEMO_IMAGE_MODEL_ID = "dall-e-2"  # the fake's images endpoint makes small PNGs for any id
DEMO_IMAGE_DISPLAY_NAME = "Demo images (small PNGs)"


def ensure_demo_images(provider: Provider) -> ModelConfig:
    """The demo's image model (kind image), so image generation works from the picker."""
    model, _created = ModelConfig.objects.get_or_create(
        provider=provider,
        model_id=DEMO_IMAGE_MODEL_ID,
        defaults={"display_name": DEMO_IMAGE_DISPLAY_NAME, "kind": ModelConfig.Kind.IMAGE},
    )
    return model


DEMO_COMPLETION_MODEL_ID = "gpt-3.5-turbo-instruct"  # the fake's /v1/completions answers any id
DEMO_COMPLETION_DISPLAY_NAME = "Demo completions (canned text)"


def ensure_demo_completions(provider: Provider) -> ModelConfig:
    """The demo's completion model, so a completion document opens from the picker."""
    facts = facts_for(DEMO_COMPLETION_MODEL_ID)
    model, _created = ModelConfig.objects.get_or_create(
        provider=provider,
        model_id=DEMO_COMPLETION_MODEL_ID,
        defaults={
            "display_name": DEMO_COMPLETION_DISPLAY_NAME,
            "kind": ModelConfig.Kind.COMPLETION,
            "context_window": facts.context_window or 4096,
        },
    )
    return model
