"""Suite-wide settings. These 2-core machines are noisy (editors, workers and the test
client share them), so property tests get no per-example deadline: a slow example is
not a failing one. Their assertions stay as strict as written."""

from hypothesis import HealthCheck, settings

settings.register_profile("refute", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("refute")


import importlib.util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def load_bench():
    """`load_bench("scale")` imports bench/scale.py (benchmarks are scripts, not a package);
    the modules are forgotten after the test module."""
    names: list[str] = []

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"refute_bench_{name}", BENCH_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        names.append(spec.name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def _private_spend_ledger(tmp_path_factory, monkeypatch):
    """Runs record their spend in the per-user ledger (orchestration/governance/ledger.py);
    tests keep it out of the home folder, and start with no admin policy named."""
    monkeypatch.setenv("REFUTE_LEDGER_DIR", str(tmp_path_factory.mktemp("ledger")))
    monkeypatch.delenv("REFUTE_POLICY", raising=False)
