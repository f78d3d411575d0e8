"""Training files: the local check (streamed, line by line) and the files endpoints."""

import json
from decimal import Decimal

import pytest

from conversations.finetune import jsonl
from conversations.finetune.hyper import OptionInvalid, clean_options
from conversations.llm import LLMClient, ProviderSettings
from conversations.llm.errors import InvalidFile, ResourceNotFound
from conversations.llm.training import TrainingClient, job_body

GOOD = {"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
]}  # fmt: skip


def write(tmp_path, lines: list, name: str = "train.jsonl"):
    path = tmp_path / name
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text)
    return path


def check(path, **options):
    limits = {"model": "gpt-4o-mini", "max_bytes": 10_000_000, "min_examples": 2, **options}
    return jsonl.check_file(path, **limits)


def reasons(report) -> dict:
    return {problem["line"]: problem["reason"] for problem in report.problems}


def test_it_accepts_chat_examples_and_counts_their_tokens(tmp_path):
    report = check(write(tmp_path, [GOOD] * 3))
    assert report.valid
    assert report.examples == 3
    assert report.total_tokens == 3 * report.line_tokens[0][1] > 0
    assert [line for line, _count in report.line_tokens] == [1, 2, 3]
    assert report.exact and report.encoding == "o200k_base"
    assert report.cost(Decimal("25")) == Decimal(25) * report.total_tokens / 1_000_000


def test_it_lists_bad_lines_by_number_and_reason(tmp_path):
    wrong_role = {"messages": [{"role": "robot", "content": "x"}, GOOD["messages"][2]]}
    no_content = {"messages": [{"role": "user"}, GOOD["messages"][2]]}
    no_answer = {"messages": [{"role": "user", "content": "Hi"}]}
    lines = [GOOD, wrong_role, "{not json", no_content, no_answer, [1, 2], GOOD, ""]
    report = check(write(tmp_path, lines))
    assert not report.valid
    found = reasons(report)
    assert "robot" in found[2] and "Message 1" in found[2]
    assert found[3] == "Not valid JSON."
    assert "content is missing" in found[4]
    assert found[5] == "No assistant message to learn from."
    assert found[6] == "No “messages” list."
    assert found[8] == "Empty line."
    assert report.bad_lines == 6
    assert report.examples == 2


def test_it_refuses_an_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    report = check(path)
    assert not report.valid
    assert reasons(report) == {None: "The file is empty."}


def test_it_refuses_a_file_over_the_size_limit_without_reading_it(tmp_path):
    report = check(write(tmp_path, [GOOD] * 50), max_bytes=100)
    assert not report.valid
    assert "larger than the limit" in reasons(report)[None]
    assert report.examples == 0


def test_it_wants_a_minimum_number_of_examples(tmp_path):
    report = check(write(tmp_path, [GOOD]), min_examples=10)
    assert reasons(report) == {None: "1 examples: at least 10 are needed."}


def test_text_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"messages": "caf\xe9"}\n')
    assert reasons(check(path))[1] == "Not UTF-8 text."


def test_an_unknown_model_counts_with_an_estimate_flagged(tmp_path):
    report = check(write(tmp_path, [GOOD] * 2), model="llama-3-8b")
    assert report.valid and not report.exact


# --- The seeds' rules for a job ---------------------------------------------------------


def test_the_suffix_has_at_most_40_characters():
    assert clean_options({"suffix": "x" * 40}, legacy=False) == {"suffix": "x" * 40}
    with pytest.raises(OptionInvalid) as refused:
        clean_options({"suffix": "x" * 41}, legacy=False)
    assert refused.value.name == "suffix"


@pytest.mark.parametrize(
    "options",
    [{"n_epochs": 0}, {"n_epochs": 2.5}, {"batch_size": 300}, {"learning_rate_multiplier": 0},
     {"learning_rate_multiplier": float("nan")}],
)  # fmt: skip
def test_hyperparameters_out_of_range_are_refused(options):
    with pytest.raises(OptionInvalid):
        clean_options(options, legacy=False)


def test_legacy_options_need_the_legacy_endpoint():
    with pytest.raises(OptionInvalid) as refused:
        clean_options({"prompt_loss_weight": 0.1}, legacy=False)
    assert refused.value.name == "prompt_loss_weight"
    assert clean_options({"prompt_loss_weight": 0.1}, legacy=True) == {"prompt_loss_weight": 0.1}


def test_classification_metrics_need_a_validation_file():
    with pytest.raises(OptionInvalid):
        clean_options({"compute_classification_metrics": True}, legacy=True)
    options = {"compute_classification_metrics": True, "validation_file": "file-1",
               "classification_n_classes": 2, "classification_positive_class": "yes"}  # fmt: skip
    assert clean_options(options, legacy=True) == options
    with pytest.raises(OptionInvalid):
        clean_options({**options, "classification_n_classes": 3}, legacy=True)


def test_the_two_endpoints_take_the_hyperparameters_differently():
    options = {"n_epochs": 3, "suffix": "support", "prompt_loss_weight": 0.1}
    current = job_body(training_file="file-1", model="m", options=options, legacy=False)
    assert current["hyperparameters"] == {"n_epochs": 3}
    assert current["suffix"] == "support" and "prompt_loss_weight" not in current
    legacy = job_body(training_file="file-1", model="m", options=options, legacy=True)
    assert legacy["n_epochs"] == 3 and legacy["prompt_loss_weight"] == 0.1


# --- The files endpoints, against the fake upstream -------------------------------------


@pytest.fixture
async def files(fake):
    settings = ProviderSettings(base_url=fake.base_url, allow_local_network=True,
                                transport="httpcore", max_retries=0)  # fmt: skip
    client = LLMClient(settings)
    yield TrainingClient(client)
    await client.aclose()


async def test_a_file_is_uploaded_as_multipart_listed_read_and_deleted(files, fake, tmp_path):
    path = write(tmp_path, [GOOD] * 2000)
    uploaded = await files.upload_file(path, filename="train.jsonl")
    assert uploaded["purpose"] == "fine-tune"
    assert uploaded["bytes"] == path.stat().st_size
    [request] = [r for r in fake.requests if r.path == "/v1/files"]
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert int(request.headers["content-length"]) > path.stat().st_size
    listed = await files.list_files()
    assert [item["filename"] for item in listed] == ["train.jsonl"]
    assert (await files.retrieve_file(uploaded["id"]))["bytes"] == uploaded["bytes"]
    assert await files.file_content(uploaded["id"]) == path.read_bytes()
    assert (await files.delete_file(uploaded["id"]))["deleted"] is True
    assert await files.list_files() == []


async def test_a_file_the_provider_refuses_is_an_invalid_file_error(files, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")
    with pytest.raises(InvalidFile) as refused:
        await files.upload_file(path, filename="notes.txt")
    assert refused.value.status == 400
    assert refused.value.upstream_code == "invalid_file"
    assert "notes.txt" in refused.value.detail


async def test_an_unknown_file_or_job_is_not_found(files):
    with pytest.raises(ResourceNotFound):
        await files.retrieve_file("file-nope")
    with pytest.raises(ResourceNotFound) as missing:
        await files.retrieve_job("ftjob-nope")
    assert missing.value.upstream_code == "fine_tune_not_found"
    with pytest.raises(InvalidFile) as refused:
        await files.create_job(training_file="file-nope", model="gpt-4o-mini", options={})
    assert refused.value.upstream_param == "training_file"
