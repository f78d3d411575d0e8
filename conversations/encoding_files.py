"""tiktoken's encoding files on disk: where they are, and whether they are the real ones.

For air-gapped installs (docs/configuration.md, "Token counting and air-gapped
installs"). tiktoken names each cached file by the SHA-1 of the address it
downloads it from and checks it against a SHA-256 written in its own source
(``tiktoken_ext/openai_public.py``). Both are read from that source here,
without calling it: calling an encoding's constructor would go online for a
missing file, and would delete a cached file whose hash does not match.

No network, no Django; nothing here writes or deletes a file.
"""

import ast
import hashlib
import inspect
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import tiktoken
import tiktoken_ext.openai_public as openai_public

# The loaders in openai_public.py: which of their arguments name a file, and its hash.
_LOADERS = {
    "load_tiktoken_bpe": (("tiktoken_bpe_file", "expected_hash"),),
    "data_gym_to_mergeable_bpe_ranks": (
        ("vocab_bpe_file", "vocab_bpe_hash"),
        ("encoder_json_file", "encoder_json_hash"),
    ),
}


class State(StrEnum):
    OK = "ok"  # present, the published hash, and tiktoken loads it
    MISSING = "missing"
    CORRUPT = "corrupt"  # present with another hash: tiktoken would discard it
    UNLOADABLE = "unloadable"  # right hash, yet tiktoken fails to load it


@dataclass(frozen=True)
class EncodingFile:
    url: str
    sha256: str | None

    @property
    def cache_name(self) -> str:
        """The file name tiktoken's cache uses (tiktoken/load.py)."""
        return hashlib.sha1(self.url.encode()).hexdigest()


@dataclass(frozen=True)
class EncodingCheck:
    encoding: str
    state: State
    files: list[EncodingFile]
    detail: str = ""


def cache_dir() -> Path | None:
    """The folder tiktoken reads, by its own rule; None when caching is off."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return Path(os.environ[variable]) if os.environ[variable] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def known_encodings() -> list[str]:
    return sorted(openai_public.ENCODING_CONSTRUCTORS)


def encoding_files(encoding: str) -> list[EncodingFile]:
    """The files an encoding is built from (another encoding's, when it is built on one)."""
    function = _constructor_source(encoding)
    files = [file for call in ast.walk(function) for file in _loaded_files(call)]
    for call in ast.walk(function):
        base = _called_name(call)
        if base in openai_public.ENCODING_CONSTRUCTORS and base != encoding:
            files += encoding_files(base)
    return files


def check(encoding: str, folder: Path | None = None) -> EncodingCheck:
    folder = folder if folder is not None else cache_dir()
    files = encoding_files(encoding)
    if folder is None:
        return EncodingCheck(encoding, State.MISSING, files, "caching is turned off")
    for file in files:
        problem = _file_problem(folder / file.cache_name, file)
        if problem:
            state, detail = problem
            return EncodingCheck(encoding, state, files, detail)
    return _load(encoding, files)


def _file_problem(path: Path, file: EncodingFile) -> tuple[State, str] | None:
    if not path.is_file():
        return State.MISSING, f"no file {path}"
    if file.sha256 and _sha256(path) != file.sha256:
        return State.CORRUPT, f"{path} does not have the published SHA-256"
    return None


def _load(encoding: str, files: list[EncodingFile]) -> EncodingCheck:
    try:
        tiktoken.get_encoding(encoding)
    # Broad on purpose: whatever tiktoken raises, the answer is "does not load".
    except Exception as exc:
        return EncodingCheck(encoding, State.UNLOADABLE, files, str(exc))
    return EncodingCheck(encoding, State.OK, files)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _constructor_source(encoding: str) -> ast.FunctionDef:
    if encoding not in openai_public.ENCODING_CONSTRUCTORS:
        raise KeyError(encoding)
    source = inspect.getsource(openai_public.ENCODING_CONSTRUCTORS[encoding])
    return ast.parse(source).body[0]


def _called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _loaded_files(node: ast.AST) -> list[EncodingFile]:
    name = _called_name(node)
    if name not in _LOADERS:
        return []
    arguments = _literal_arguments(node, inspect.signature(getattr(openai_public, name)))
    return [EncodingFile(arguments[url], arguments.get(sha)) for url, sha in _LOADERS[name]]


def _literal_arguments(call: ast.Call, signature: inspect.Signature) -> dict[str, str]:
    names = list(signature.parameters)
    values = {names[i]: arg for i, arg in enumerate(call.args)}
    values |= {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
    return {k: v.value for k, v in values.items() if isinstance(v, ast.Constant)}
