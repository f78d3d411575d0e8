from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from conversations import encoding_files, tokens
from conversations.encoding_files import State
from conversations.models import ModelConfig


class Command(BaseCommand):
    help = (
        "Report which tiktoken encodings load from the cache folder (TIKTOKEN_CACHE_DIR) "
        "and whether their files have the hashes tiktoken publishes. Never goes online. "
        "Without names: the encodings the enabled models need, and cl100k_base."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("encodings", nargs="*", help="e.g. cl100k_base o200k_base")
        parser.add_argument(
            "--all", action="store_true", help="Every encoding tiktoken knows, needed or not."
        )

    def handle(self, *args, encodings: list[str], all: bool, **options) -> None:
        names = self._chosen(encodings, all)
        folder = encoding_files.cache_dir()
        self.stdout.write(f"Cache folder: {folder if folder else '(caching turned off)'}")
        checks = [encoding_files.check(name, folder) for name in names]
        for result in checks:
            self._report(result)
        bad = [result.encoding for result in checks if result.state is not State.OK]
        if bad:
            raise CommandError(
                f"Not usable: {', '.join(bad)}. Counts for their models are estimates; "
                "see docs/configuration.md, 'Token counting and air-gapped installs'."
            )

    def _chosen(self, encodings: list[str], all: bool) -> list[str]:
        known = encoding_files.known_encodings()
        unknown = sorted(set(encodings) - set(known))
        if unknown:
            raise CommandError(f"Unknown encoding(s): {', '.join(unknown)}. Known: {known}")
        if all:
            return known
        return encodings or _needed_encodings()

    def _report(self, result: encoding_files.EncodingCheck) -> None:
        style = self.style.SUCCESS if result.state is State.OK else self.style.ERROR
        files = " ".join(file.cache_name for file in result.files)
        line = f"{result.encoding:<14} {style(result.state.value):<10} {files}"
        self.stdout.write(line + (f"  ({result.detail})" if result.detail else ""))


def _needed_encodings() -> list[str]:
    model_ids = ModelConfig.objects.filter(enabled=True).values_list("model_id", flat=True)
    try:
        needed = {tokens.own_encoding_name(model_id) for model_id in model_ids}
    except DatabaseError as exc:
        raise CommandError(
            f"Cannot read the configured models ({exc}): run migrate, or name the encodings."
        ) from exc
    return sorted((needed - {None}) | {tokens.FALLBACK_ENCODING})
