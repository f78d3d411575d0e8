"""manage.py check_encodings: which tiktoken encodings load from the cache folder."""

import hashlib
import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from conversations import encoding_files
from conversations.encoding_files import State
from conversations.models import ModelConfig

SHARED = Path(os.environ.get("TIKTOKEN_CACHE_DIR", "/work/shared/tiktoken"))
# File names tiktoken's cache uses: the SHA-1 of each file's address.
CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
O200K_FILE = "fb374d419588a4632f3f557e76b4b70aebbca790"
P50K_FILE = "ec7223a39ce59f226a68acc30dc1af2788490e15"
# The SHA-256 values tiktoken_ext/openai_public.py publishes.
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def run(*args) -> str:
    out = StringIO()
    call_command("check_encodings", *args, stdout=out, no_color=True)
    return out.getvalue()


def lines_for(output: str) -> dict[str, str]:
    rows = [line.split() for line in output.splitlines()[1:]]
    return {row[0]: row[1] for row in rows}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_it_knows_the_file_names_and_hashes_tiktoken_uses():
    (cl100k,) = encoding_files.encoding_files("cl100k_base")
    (o200k,) = encoding_files.encoding_files("o200k_base")

    assert (cl100k.cache_name, cl100k.sha256) == (CL100K_FILE, CL100K_SHA256)
    assert (o200k.cache_name, o200k.sha256) == (O200K_FILE, O200K_SHA256)
    assert cl100k.cache_name == hashlib.sha1(cl100k.url.encode()).hexdigest()
    assert encoding_files.encoding_files("o200k_harmony") == [o200k]
    assert len(encoding_files.encoding_files("gpt2")) == 2  # vocab.bpe and encoder.json


def test_the_shared_files_have_the_published_hashes():
    for name, sha256 in ((CL100K_FILE, CL100K_SHA256), (O200K_FILE, O200K_SHA256)):
        assert hashlib.sha256((SHARED / name).read_bytes()).hexdigest() == sha256


def test_it_reports_encodings_that_load(folder):
    (folder / CL100K_FILE).symlink_to(SHARED / CL100K_FILE)
    (folder / O200K_FILE).symlink_to(SHARED / O200K_FILE)

    output = run("cl100k_base", "o200k_base")

    assert output.splitlines()[0] == f"Cache folder: {folder}"
    assert lines_for(output) == {"cl100k_base": "ok", "o200k_base": "ok"}
    assert CL100K_FILE in output and O200K_FILE in output


@pytest.mark.django_db
def test_without_names_it_checks_what_the_enabled_models_need(folder, provider):
    (folder / CL100K_FILE).symlink_to(SHARED / CL100K_FILE)
    ModelConfig.objects.create(provider=provider, model_id="gpt-4o", context_window=128_000)
    ModelConfig.objects.create(provider=provider, model_id="llama3.1", context_window=8192)
    ModelConfig.objects.create(
        provider=provider, model_id="text-davinci-003", context_window=4096, enabled=False
    )

    with pytest.raises(CommandError) as failure:
        run()

    assert "o200k_base" in str(failure.value)
    assert "p50k_base" not in str(failure.value)  # its model is disabled


def test_a_missing_file_is_reported_and_never_downloaded(folder):
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("check_encodings", "p50k_base", stdout=out, no_color=True)

    assert "Not usable: p50k_base" in str(failure.value)
    assert lines_for(out.getvalue()) == {"p50k_base": "missing"}
    assert P50K_FILE in out.getvalue()
    assert list(folder.iterdir()) == []


def test_a_file_with_the_wrong_hash_is_corrupt_and_left_in_place(folder):
    (folder / CL100K_FILE).write_bytes(b"IQ== 0\n")

    check = encoding_files.check("cl100k_base")

    assert check.state is State.CORRUPT
    assert "published SHA-256" in check.detail
    assert (folder / CL100K_FILE).read_bytes() == b"IQ== 0\n"


def test_it_says_when_caching_is_turned_off(monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")

    check = encoding_files.check("cl100k_base")

    assert (check.state, check.detail) == (State.MISSING, "caching is turned off")


def test_it_refuses_an_unknown_encoding_by_name():
    with pytest.raises(CommandError, match="Unknown encoding"):
        run("cl200k_base")
