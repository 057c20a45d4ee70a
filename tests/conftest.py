"""Suite-wide settings. These 2-core machines are noisy (editors, workers and the test
client share them), so property tests get no per-example deadline: a slow example is
not a failing one. Their assertions stay as strict as written."""

from hypothesis import HealthCheck, settings

settings.register_profile("refute", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("refute")
