"""The fake upstream's files and fine-tuning endpoints (see ``FakeUpstream``).

- ``/v1/files``: multipart upload (``purpose`` and ``file``), list, retrieve,
  ``/content``, delete. A ``fine-tune`` upload must be JSONL (each line a
  JSON object) or it is refused with OpenAI's 400 ``invalid_file`` body.
- ``/v1/fine_tuning/jobs``: create, list, retrieve, ``/events``, ``/cancel``;
  and the legacy ``/v1/fine-tunes`` with its flat body and words (``pending``).

A job moves validating_files → queued → running → succeeded on a clock of
``step`` seconds per stage (``fake.fine_tuning.step``, short in tests). A job
whose suffix contains ``fail`` ends ``failed`` with an error instead. Its
status is worked out from the clock on each request, so no task runs behind
it. A succeeded job's model joins the fake's ``/v1/models`` and answers chat
like any other.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

STAGES = ("validating_files", "queued", "running")
LEGACY_WORDS = {"validating_files": "pending", "queued": "pending"}
CREATED = 1_700_000_000


def error_body(message: str, code: str | None, param: str | None = None) -> dict:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


@dataclass
class FakeFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def object(self) -> dict:
        return {"id": self.id, "object": "file", "bytes": len(self.content),
                "created_at": self.created_at, "filename": self.filename,
                "purpose": self.purpose, "status": "processed"}  # fmt: skip


@dataclass
class FakeJob:
    id: str
    body: dict
    legacy: bool
    started: float
    step: float
    cancelled: bool = False
    fine_tuned_model: str = ""
    extra_events: list[str] = field(default_factory=list)

    @property
    def fails(self) -> bool:
        return "fail" in str(self.body.get("suffix") or "")

    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        stage = int((time.monotonic() - self.started) / self.step) if self.step else len(STAGES)
        if stage < len(STAGES):
            return STAGES[stage]
        return "failed" if self.fails else "succeeded"

    def model_name(self) -> str:
        base, suffix = self.body.get("model") or "gpt-4o-mini", self.body.get("suffix") or ""
        if self.legacy:
            return f"{base}:ft-fake-org:{suffix or 'model'}-2023-03-01"
        return f"ft:{base}:fake-org:{suffix}:{self.id[-8:]}"

    def object(self) -> dict:
        status = self.status()
        word = LEGACY_WORDS.get(status, status) if self.legacy else status
        done = status == "succeeded"
        error = None
        if status == "failed":
            error = {"code": "invalid_training_file", "param": "training_file",
                     "message": "The job failed: the training data could not be read."}  # fmt: skip
        shape = {
            "id": self.id,
            "object": "fine-tune" if self.legacy else "fine_tuning.job",
            "model": self.body.get("model") or "gpt-4o-mini",
            "created_at": CREATED,
            "fine_tuned_model": self.model_name() if done else None,
            "status": word,
            "training_file": self.body.get("training_file"),
            "validation_file": self.body.get("validation_file"),
            "trained_tokens": 1234 if done else None,
            "error": error,
        }
        if not self.legacy:
            shape["hyperparameters"] = self.body.get("hyperparameters") or {"n_epochs": "auto"}
        return shape

    def events(self) -> list[dict]:
        seen = ["Created fine-tuning job"]
        status = self.status()
        stages = [*STAGES, "failed" if self.fails else "succeeded"]
        reached = stages[: stages.index(status) + 1] if status in stages else stages[:1]
        seen += [f"Job is {stage}" for stage in reached[1:]]
        if status == "cancelled":
            seen.append("Job was cancelled")
        kind = "fine-tune-event" if self.legacy else "fine_tuning.job.event"
        return [
            {"object": kind, "id": f"ftevent-{i}", "created_at": CREATED + i, "level": "info",
             "message": text}
            for i, text in enumerate(seen)
        ][::-1]  # fmt: skip


class FakeFineTuning:
    """Files and jobs; ``models`` is the fake's list, which finished jobs join."""

    def __init__(self, models: list[str]) -> None:
        self.models = models
        self.step = 0.05  # seconds per stage
        self.files: dict[str, FakeFile] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.served: list[str] = []  # models that finished jobs added to ``models``
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.files.clear()
            self.jobs.clear()
            for model in self.served:
                if model in self.models:
                    self.models.remove(model)
            self.served.clear()

    def routes(self, app: web.Application) -> None:
        add = app.router
        add.add_post("/v1/files", self.upload)
        add.add_get("/v1/files", self.list_files)
        add.add_get("/v1/files/{id}", self.retrieve_file)
        add.add_delete("/v1/files/{id}", self.delete_file)
        add.add_get("/v1/files/{id}/content", self.file_content)
        for root, legacy in (("/v1/fine_tuning/jobs", False), ("/v1/fine-tunes", True)):
            add.add_post(root, self._bind(self.create_job, legacy))
            add.add_get(root, self._bind(self.list_jobs, legacy))
            add.add_get(root + "/{id}", self._bind(self.retrieve_job, legacy))
            add.add_get(root + "/{id}/events", self._bind(self.job_events, legacy))
            add.add_post(root + "/{id}/cancel", self._bind(self.cancel_job, legacy))

    @staticmethod
    def _bind(handler, legacy: bool):
        async def bound(request: web.Request) -> web.Response:
            return await handler(request, legacy)

        return bound

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):08d}"

    # --- Files ---------------------------------------------------------------------

    async def upload(self, request: web.Request) -> web.Response:
        fields = parse_multipart(request.headers.get("Content-Type", ""), await request.read())
        purpose, upload = fields.get("purpose"), fields.get("file")
        if not isinstance(purpose, bytes) or upload is None or isinstance(upload, bytes):
            return _json(error_body("Missing 'file' or 'purpose'.", None, "file"), 400)
        filename, content = upload
        if purpose == b"fine-tune" and not _is_jsonl(content):
            message = f"Invalid file format for Fine-Tuning API. Must be .jsonl: {filename}"
            return _json(error_body(message, "invalid_file", "file"), 400)
        item = FakeFile(self._next_id("file"), filename, purpose.decode(), content, CREATED)
        with self._lock:
            self.files[item.id] = item
        return _json(item.object())

    async def list_files(self, request: web.Request) -> web.Response:
        return _json({"object": "list", "data": [f.object() for f in self.files.values()]})

    async def retrieve_file(self, request: web.Request) -> web.Response:
        item = self.files.get(request.match_info["id"])
        return _json(item.object()) if item else _missing_file(request)

    async def file_content(self, request: web.Request) -> web.Response:
        item = self.files.get(request.match_info["id"])
        if item is None:
            return _missing_file(request)
        return web.Response(body=item.content, content_type="application/octet-stream")

    async def delete_file(self, request: web.Request) -> web.Response:
        with self._lock:
            item = self.files.pop(request.match_info["id"], None)
        if item is None:
            return _missing_file(request)
        return _json({"id": item.id, "object": "file", "deleted": True})

    # --- Jobs ----------------------------------------------------------------------

    async def create_job(self, request: web.Request, legacy: bool) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _json(error_body("We could not parse the JSON body.", None), 400)
        training = body.get("training_file") if isinstance(body, dict) else None
        if training not in self.files:
            message = f"invalid training_file: {training}"
            return _json(error_body(message, "invalid_file", "training_file"), 400)
        if len(str(body.get("suffix") or "")) > 40:
            return _json(error_body("suffix is too long", "invalid_value", "suffix"), 400)
        prefix = "ft" if legacy else "ftjob"
        job = FakeJob(self._next_id(prefix), body, legacy, time.monotonic(), self.step)
        with self._lock:
            self.jobs[job.id] = job
        return _json(job.object())

    async def list_jobs(self, request: web.Request, legacy: bool) -> web.Response:
        jobs = [self._seen(j).object() for j in self.jobs.values() if j.legacy == legacy]
        return _json({"object": "list", "data": jobs, "has_more": False})

    async def retrieve_job(self, request: web.Request, legacy: bool) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        return _json(self._seen(job).object()) if job else _missing_job(request)

    async def job_events(self, request: web.Request, legacy: bool) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _missing_job(request)
        return _json({"object": "list", "data": job.events(), "has_more": False})

    async def cancel_job(self, request: web.Request, legacy: bool) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _missing_job(request)
        if job.status() in ("succeeded", "failed", "cancelled"):
            message = f"Job {job.id} has already completed: {job.status()}"
            return _json(error_body(message, "invalid_request", None), 400)
        job.cancelled = True
        return _json(job.object())

    def _seen(self, job: FakeJob) -> FakeJob:
        """A succeeded job's model is now served (listed and answering chat)."""
        if job.status() == "succeeded" and job.model_name() not in self.models:
            self.models.append(job.model_name())
            self.served.append(job.model_name())
        return job


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _missing_file(request: web.Request) -> web.Response:
    message = f"No such File object: {request.match_info['id']}"
    return _json(error_body(message, None, "id"), 404)


def _missing_job(request: web.Request) -> web.Response:
    message = f"Could not find fine-tune: {request.match_info['id']}"
    return _json(error_body(message, "fine_tune_not_found", "id"), 404)


def _is_jsonl(content: bytes) -> bool:
    lines = [line for line in content.splitlines() if line.strip()]
    try:
        return bool(lines) and all(isinstance(json.loads(line), dict) for line in lines)
    except ValueError:
        return False


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes | tuple[str, bytes]]:
    """Fields of a multipart/form-data body: bytes, or (filename, bytes) for files.

    The fake's middleware has already read the body for its records, so
    aiohttp's own reader cannot run over it again.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    fields: dict[str, bytes | tuple[str, bytes]] = {}
    for part in body.split(b"--" + match.group(1).encode())[1:-1]:
        head, _, value = part[2:-2].partition(b"\r\n\r\n")  # CRLF after and before boundaries
        name = re.search(rb'name="([^"]*)"', head)
        if not name:
            continue
        filename = re.search(rb'filename="([^"]*)"', head)
        if filename:
            fields[name.group(1).decode()] = (filename.group(1).decode(), value)
        else:
            fields[name.group(1).decode()] = value
    return fields
