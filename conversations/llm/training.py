"""Files and fine-tuning jobs: the upstream calls and their JSON shapes.

Two job endpoints exist in the seeds: the current ``/fine_tuning/jobs``
(hyperparameters nested, statuses validating_files → queued → running →
succeeded | failed | cancelled) and the legacy ``/fine-tunes`` (flat
parameters, extra classification options, statuses pending → running →
succeeded | failed | cancelled). ``TrainingClient(client, legacy=...)`` speaks
either and hands back the same ``JobState``.

Uploads stream the file from disk (httpx reads the open file in chunks and
takes the length from its size); nothing here reads a training file whole.
Like the rest of the package: no Django, errors typed (``for_resource`` makes
a 404 a ``ResourceNotFound`` and a 400 about a file an ``InvalidFile``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .client import LLMClient
from .errors import LLMError, ProtocolError, UpstreamTimeout, error_from_response, for_resource
from .transport import TRANSPORT_ERRORS, opening_error, reading_error
from .wire import parse_json

CONTENT_LIMIT = 64 * 1024 * 1024
# The legacy endpoint's words for the current statuses.
LEGACY_STATUSES = {"pending": "queued"}
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
CURRENT_HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
LEGACY_ONLY = (
    "prompt_loss_weight",
    "compute_classification_metrics",
    "classification_n_classes",
    "classification_positive_class",
)


@dataclass(frozen=True)
class JobState:
    """A job as either endpoint describes it, statuses in the current words."""

    id: str
    status: str
    model: str = ""
    fine_tuned_model: str = ""
    trained_tokens: int | None = None
    error: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def job_state(data: Any) -> JobState:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ProtocolError("The model provider sent a job of unknown shape.")
    status = str(data.get("status") or "")
    error = data.get("error") or {}
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    tokens = data.get("trained_tokens")
    return JobState(
        id=data["id"],
        status=LEGACY_STATUSES.get(status, status),
        model=str(data.get("model") or ""),
        fine_tuned_model=str(data.get("fine_tuned_model") or ""),
        trained_tokens=tokens if isinstance(tokens, int) else None,
        error=str(message or ""),
        raw=data,
    )


def job_body(
    *, training_file: str, model: str, options: dict[str, Any], legacy: bool
) -> dict[str, Any]:
    """The create request: hyperparameters nested (current) or flat (legacy)."""
    body: dict[str, Any] = {"training_file": training_file, "model": model}
    for name in ("validation_file", "suffix"):
        if options.get(name):
            body[name] = options[name]
    chosen = {k: v for k, v in options.items() if v is not None and v != ""}
    hyper = {k: chosen[k] for k in CURRENT_HYPERPARAMETERS if k in chosen}
    if legacy:
        body.update(hyper)
        body.update({k: chosen[k] for k in LEGACY_ONLY if k in chosen})
    elif hyper:
        body["hyperparameters"] = hyper
    return body


def listed(data: Any) -> list[dict]:
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ProtocolError("The model provider sent a list of unknown shape.")
    return [item for item in items if isinstance(item, dict)]


class TrainingClient:
    """Files and jobs of one provider, over an ``LLMClient``'s connection pool."""

    def __init__(self, client: LLMClient, *, legacy: bool = False) -> None:
        self.client = client
        self.legacy = legacy

    @property
    def jobs_path(self) -> str:
        return "/fine-tunes" if self.legacy else "/fine_tuning/jobs"

    # --- Files -------------------------------------------------------------------

    async def upload_file(self, path: Path, *, filename: str, purpose: str = "fine-tune") -> dict:
        # httpx streams the open file in 64 KiB reads; the admin calls this on a loop
        # of its own (asyncio.run in the view's thread), so these reads block no socket.
        with open(path, "rb") as handle:  # noqa: ASYNC230
            files = {"file": (filename, handle, "application/jsonl")}
            request = self.client._http.build_request(
                "POST", self._url("/files"), data={"purpose": purpose}, files=files
            )
            return _object(await self._send(request))

    async def list_files(self) -> list[dict]:
        return listed(await self._call("GET", "/files"))

    async def retrieve_file(self, file_id: str) -> dict:
        return _object(await self._call("GET", f"/files/{_id(file_id)}"))

    async def delete_file(self, file_id: str) -> dict:
        return _object(await self._call("DELETE", f"/files/{_id(file_id)}"))

    async def file_content(self, file_id: str) -> bytes:
        request = self.client._http.build_request(
            "GET", self._url(f"/files/{_id(file_id)}/content")
        )
        return await self._send(request, parse=False)

    # --- Jobs ----------------------------------------------------------------------

    async def create_job(
        self, *, training_file: str, model: str, options: dict[str, Any]
    ) -> JobState:
        body = job_body(
            training_file=training_file, model=model, options=options, legacy=self.legacy
        )
        return job_state(await self._call("POST", self.jobs_path, body))

    async def list_jobs(self) -> list[JobState]:
        return [job_state(item) for item in listed(await self._call("GET", self.jobs_path))]

    async def retrieve_job(self, job_id: str) -> JobState:
        return job_state(await self._call("GET", f"{self.jobs_path}/{_id(job_id)}"))

    async def job_events(self, job_id: str) -> list[dict]:
        return listed(await self._call("GET", f"{self.jobs_path}/{_id(job_id)}/events"))

    async def cancel_job(self, job_id: str) -> JobState:
        return job_state(await self._call("POST", f"{self.jobs_path}/{_id(job_id)}/cancel"))

    # --- Plumbing ----------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.client.settings.base_url + path

    async def _call(self, method: str, path: str, payload: dict | None = None) -> Any:
        try:
            return await self.client._json(method, path, payload)
        except LLMError as error:
            raise for_resource(error) from None

    async def _send(self, request, *, parse: bool = True) -> Any:
        """One attempt (an upload is not replayed), bounded by the provider's total timeout."""
        self.client._check_address()
        try:
            async with asyncio.timeout(self.client.settings.total_timeout):
                response = await self.client._http.send(request, stream=True)
                try:
                    content = await self._body(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise UpstreamTimeout("total") from None
        except TRANSPORT_ERRORS as exc:
            raise opening_error(exc) from None
        if not response.is_success:
            error = error_from_response(response.status_code, response.headers, content)
            raise for_resource(error).redact(self.client.settings.api_key)
        if not parse:
            return content
        return parse_json(content, "the response")

    async def _body(self, response) -> bytes:
        parts, size = [], 0
        try:
            async for part in response.aiter_bytes():
                parts.append(part)
                size += len(part)
                if size > CONTENT_LIMIT:
                    raise ProtocolError("The file is larger than this server reads.")
        except TRANSPORT_ERRORS as exc:
            raise reading_error(exc) from None
        return b"".join(parts)


def _id(value: str) -> str:
    return quote(value, safe="")


def _object(data: Any) -> dict:
    if not isinstance(data, dict):
        raise ProtocolError("The model provider sent an object of unknown shape.")
    return data
