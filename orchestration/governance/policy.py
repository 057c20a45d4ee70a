"""The admin policy: a TOML file users cannot override, enforced by the engine.

Where it comes from (first that applies):
1. the file named by REFUTE_POLICY (set by the administrator, e.g. in /etc/environment
   or the service unit). A named file that is missing or invalid is an ERROR, never an
   empty policy: a typo must not silently switch governance off;
2. /etc/refute/policy.toml when it exists (invalid = an error, the same way);
3. otherwise no policy: every rule is open, and `refute policy` says "(no policy file)".

Why the engine: the CLI and the language server both drive `Engine`, so one check in
`Engine.plan` / `Engine.start` / `Engine.apply_edits` binds both front ends. The policy
is read again at every check (90-160 us for a full policy file, bench/governance.py), so a
language server that runs for days sees the administrator's change without a restart.

Every refusal is a `PolicyRefused` whose message names the rule ("workflows.allowed"),
the value that broke it and where the policy came from. The CLI turns it into exit 2,
the language server into an error response.

Schema (every key optional; unknown keys and wrong types are errors):

    [workflows]
    enabled = false                  # dynamic workflows off for everyone
    allowed = ["audit", "ask"]       # only these names (bundled or workspace scripts)
    [providers]
    allowed = ["anthropic"]          # provider names ("anthropic", "scripted")
    endpoints = ["https://gateway.example.com/anthropic"]  # base-URL prefixes / cloud clients
    regions = ["eu"]                 # inference_geo and cloud regions that may be used
    models = ["claude-haiku-4-5"]    # models any role or agent() call may name
    [budget]
    max_usd_per_run = 5.0
    max_tokens_per_run = 2000000
    max_usd_per_user_per_day = 20.0
    ledger_dir = "/var/lib/refute/ledger"   # default: the user's own state folder
    [approval]
    threshold_calls = 100            # ask above this many planned calls ...
    threshold_usd = 2.0              # ... or this many worst-case dollars
    [edits]
    allow_apply = false              # proposed edits are reported, never written
    [data]
    never_send = ["customers/**", "*.sql"]   # extra globs that never reach a model
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from refute.orchestration.errors import NotAllowed

DEFAULT_PATH = Path("/etc/refute/policy.toml")
ENV_VAR = "REFUTE_POLICY"
ANTHROPIC_API = "https://api.anthropic.com"


class PolicyError(NotAllowed, ValueError):
    """The policy file named by the administrator is missing or invalid."""


class PolicyRefused(NotAllowed):
    """An operation the admin policy does not allow; `rule` is the policy key."""

    def __init__(self, rule: str, message: str, source: str):
        self.rule = rule
        self.source = source
        super().__init__(f"refused by the admin policy, rule {rule}: {message} (policy: {source})")


# section -> key -> (python types, description). One table for parsing, `refute policy`
# and docs/governance.md.
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "workflows": {"enabled": ((bool,), "false switches every workflow off"),
                  "allowed": ((list,), "workflow names that may run")},
    "providers": {"allowed": ((list,), "provider names that may be used"),
                  "endpoints": ((list,), "endpoint prefixes (base URLs, or bedrock/vertex/foundry)"),
                  "regions": ((list,), "regions (inference_geo, cloud region) that may be used"),
                  "models": ((list,), "models any call may use")},
    "budget": {"max_usd_per_run": ((int, float), "largest dollar budget of one run"),
               "max_tokens_per_run": ((int,), "largest token budget of one run"),
               "max_usd_per_user_per_day": ((int, float), "what one user may spend per UTC day, all workspaces"),
               "ledger_dir": ((str,), "where the spend ledger lives (an admin-owned folder makes it tamper-proof)")},
    "approval": {"threshold_calls": ((int,), "ask above this many planned agent calls"),
                 "threshold_usd": ((int, float), "ask above this worst-case cost")},
    "edits": {"allow_apply": ((bool,), "false: edits are proposed, never applied")},
    "data": {"never_send": ((list,), "extra path globs that never reach a model")},
}


@dataclass(frozen=True)
class Policy:
    source: str = "(no policy file)"
    sha256: str = ""
    workflows_enabled: bool = True
    workflows_allowed: tuple[str, ...] | None = None  # None: any
    providers_allowed: tuple[str, ...] | None = None
    providers_endpoints: tuple[str, ...] | None = None
    providers_regions: tuple[str, ...] | None = None
    providers_models: tuple[str, ...] | None = None
    budget_max_usd_per_run: float | None = None
    budget_max_tokens_per_run: int | None = None
    budget_max_usd_per_user_per_day: float | None = None
    budget_ledger_dir: str | None = None
    approval_threshold_calls: int | None = None
    approval_threshold_usd: float | None = None
    edits_allow_apply: bool = True
    data_never_send: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def present(self) -> bool:
        return bool(self.sha256)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("raw")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    # --- rules ---------------------------------------------------------------------------

    def refuse(self, rule: str, message: str) -> PolicyRefused:
        return PolicyRefused(rule, message, self.source)

    def check_workflow(self, name: str) -> None:
        if not self.workflows_enabled:
            raise self.refuse("workflows.enabled", f"workflows are switched off; {name!r} may not run")
        if self.workflows_allowed is not None and name not in self.workflows_allowed:
            allowed = ", ".join(self.workflows_allowed) or "none"
            raise self.refuse("workflows.allowed", f"workflow {name!r} is not allowed (allowed: {allowed})")

    def check_model(self, model: str) -> None:
        if self.providers_models is not None and model not in self.providers_models:
            raise self.refuse("providers.models",
                              f"model {model!r} is not allowed (allowed: {', '.join(self.providers_models) or 'none'})")

    def check_settings(self, settings: Any, environ: dict[str, str] | None = None) -> None:
        """Provider, endpoint, region and the models of every role of these settings."""
        env = os.environ if environ is None else environ
        provider = settings.provider
        if self.providers_allowed is not None and provider not in self.providers_allowed:
            raise self.refuse("providers.allowed", f"provider {provider!r} is not allowed "
                                                   f"(allowed: {', '.join(self.providers_allowed) or 'none'})")
        for role in ("default", "finder", "refuter", "editor"):
            self.check_model(settings.model_for(role))
        if provider == "scripted":
            return  # no endpoint, no region: nothing leaves the machine
        endpoint = endpoint_of(settings, env)
        if self.providers_endpoints is not None and not any(_endpoint_matches(endpoint, allowed)
                                                            for allowed in self.providers_endpoints):
            raise self.refuse("providers.endpoints", f"endpoint {endpoint!r} is not allowed "
                                                     f"(allowed: {', '.join(self.providers_endpoints) or 'none'})")
        if self.providers_regions is not None:
            regions = regions_of(settings, env)
            if not regions:
                raise self.refuse("providers.regions", "no region is set, so requests may be processed anywhere; "
                                  f"set inference_geo (REFUTE_INFERENCE_GEO) to one of: {', '.join(self.providers_regions)}")
            for region in regions:
                if region not in self.providers_regions:
                    raise self.refuse("providers.regions", f"region {region!r} is not allowed "
                                                           f"(allowed: {', '.join(self.providers_regions)})")

    def check_budget(self, tokens: int | None, usd: float | None) -> None:
        if self.budget_max_usd_per_run is not None and usd is not None and usd > self.budget_max_usd_per_run:
            raise self.refuse("budget.max_usd_per_run",
                              f"a budget of ${usd:g} is above the per-run maximum ${self.budget_max_usd_per_run:g}")
        if self.budget_max_tokens_per_run is not None and tokens is not None and tokens > self.budget_max_tokens_per_run:
            raise self.refuse("budget.max_tokens_per_run", f"a budget of {tokens:,} tokens is above the per-run "
                                                           f"maximum {self.budget_max_tokens_per_run:,}")

    def check_apply(self) -> None:
        if not self.edits_allow_apply:
            raise self.refuse("edits.allow_apply", "edits may not be applied; they stay proposed in the run's report")


def endpoint_of(settings: Any, environ: dict[str, str]) -> str:
    """Where an Anthropic provider's requests go: a base URL, or the cloud client's name."""
    if settings.anthropic_client != "api":
        base = settings.anthropic_base_url
        return base or settings.anthropic_client
    return (settings.anthropic_base_url or environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_API).rstrip("/")


def regions_of(settings: Any, environ: dict[str, str]) -> list[str]:
    """The regions a run's data is processed in, as far as refute decides them."""
    regions = []
    if settings.inference_geo:
        regions.append(settings.inference_geo)
    if settings.anthropic_client == "bedrock":
        region = settings.anthropic_region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    elif settings.anthropic_client == "vertex":
        region = settings.anthropic_region or environ.get("CLOUD_ML_REGION")
    else:
        region = settings.anthropic_region
    if region:
        regions.append(region)
    return regions


def _endpoint_matches(endpoint: str, allowed: str) -> bool:
    allowed = allowed.rstrip("/")
    return endpoint == allowed or endpoint.startswith(allowed + "/")


# --- loading -------------------------------------------------------------------------------


def policy_path(environ: dict[str, str] | None = None) -> tuple[Path | None, bool]:
    """(path, named): the policy file to read and whether REFUTE_POLICY named it."""
    env = os.environ if environ is None else environ
    named = env.get(ENV_VAR)
    if named:
        return Path(named), True
    return (DEFAULT_PATH, False) if DEFAULT_PATH.exists() else (None, False)


def load(environ: dict[str, str] | None = None) -> Policy:
    """The policy in effect now. PolicyError when the file is missing (if named) or invalid."""
    path, named = policy_path(environ)
    if path is None:
        return Policy()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        how = f"{ENV_VAR} names it" if named else "it was found a moment ago"
        raise PolicyError(f"policy file {path} does not exist ({how}); refute will not run without the "
                          "administrator's policy: fix the path or ask your administrator") from None
    except OSError as exc:
        raise PolicyError(f"policy file {path} cannot be read: {exc}") from None
    return parse(data, str(path))


def parse(data: bytes | str, source: str) -> Policy:
    raw_bytes = data.encode("utf-8") if isinstance(data, str) else data
    try:
        doc = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {source} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for section, body in doc.items():
        keys = SCHEMA.get(section)
        if keys is None:
            raise PolicyError(f"policy file {source}: unknown section [{section}] "
                              f"(known: {', '.join(f'[{s}]' for s in SCHEMA)})")
        if not isinstance(body, dict):
            raise PolicyError(f"policy file {source}: {section} must be a [{section}] table")
        for key, value in body.items():
            if key not in keys:
                raise PolicyError(f"policy file {source}: unknown key {section}.{key} (known: {', '.join(keys)})")
            types_, _ = keys[key]
            if isinstance(value, bool) and bool not in types_ or not isinstance(value, types_):
                raise PolicyError(f"policy file {source}: {section}.{key} must be "
                                  f"{' or '.join(t.__name__ for t in types_)}, got {value!r}")
            if isinstance(value, str) and not value.strip():
                raise PolicyError(f"policy file {source}: {section}.{key} must not be empty")
            if isinstance(value, list):
                if not all(isinstance(v, str) and v for v in value):
                    raise PolicyError(f"policy file {source}: {section}.{key} must be a list of non-empty strings")
                value = tuple(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise PolicyError(f"policy file {source}: {section}.{key} must not be negative, got {value!r}")
            if float in types_ and isinstance(value, int):
                value = float(value)
            values[f"{section}_{key}"] = value
    return Policy(source=source, sha256=hashlib.sha256(raw_bytes).hexdigest(), raw=doc, **values)
