"""Suite-wide settings. These 2-core machines are noisy (editors, workers and the test
client share them), so property tests get no per-example deadline: a slow example is
not a failing one. Their assertions stay as strict as written."""

from hypothesis import HealthCheck, settings

settings.register_profile("refute", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("refute")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_spend_ledger(tmp_path_factory, monkeypatch):
    """Runs record their spend in the per-user ledger (orchestration/governance/ledger.py);
    tests keep it out of the home folder, and start with no admin policy named."""
    monkeypatch.setenv("REFUTE_LEDGER_DIR", str(tmp_path_factory.mktemp("ledger")))
    monkeypatch.delenv("REFUTE_POLICY", raising=False)
