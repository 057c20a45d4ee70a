"""Evidence page and hover text say what the refuters said and who produced it."""

from refute.server.lsp.evidence import render, write
from refute.server.lsp.findings_index import FindingIndex
from refute.server.lsp.hover import hover_markdown
from refute.server.lsp.approval import approval_message, over_threshold
from refute.orchestration.model import PlanEstimate
from refute.orchestration.settings import EngineSettings

from lsp_unit_helpers import SOURCE, make_finding


def test_evidence_page(tmp_path):
    finding = make_finding()
    path = write(tmp_path, finding, current_line=9)
    # Named by the finding's title (editors show it as the tab title), not a bare hash.
    assert path == tmp_path / ".refute" / "evidence" / "shell-injection-fp-1.md"
    text = path.read_text()
    assert text.startswith("# Shell injection")
    assert "line 10" in text and "scripted (deterministic test answers, not a real model)" in text
    assert "1. **confirmed**" in text and "cmd is a constant" in text
    assert "subprocess.run(cmd, shell=False)" in text


def test_evidence_fences_survive_backticks_in_quotes():
    finding = make_finding()
    finding.quote = "x = '```'"
    assert "````python" in render(finding)


def test_hover_text():
    tracked = FindingIndex().add(make_finding(), SOURCE)
    md = hover_markdown(tracked)
    assert "**refute: Shell injection**" in md and "confidence 0.80" in md and "$0.0123" in md
    assert "scripted" in md and "1. *confirmed*: user input flows to os.system" in md


def estimate(calls: int, cost_usd: float, **more) -> PlanEstimate:
    """A PlanEstimate as Engine.plan returns it (the approval gate reads nothing else)."""
    return PlanEstimate(workflow="audit", units=3, calls=calls, input_tokens=9_000, max_output_tokens=3_000,
                        tokens=12_000, cost_usd=cost_usd, by_model={}, findings_reported=0, edits_proposed=0,
                        status="completed", **more)


def test_approval_threshold():
    s = EngineSettings(approval_threshold_calls=100, approval_threshold_usd=1.0)
    assert over_threshold(estimate(50, 0.5), s) is None
    assert "150 agent calls" in over_threshold(estimate(150, 0.5), s)
    assert "$2.00" in over_threshold(estimate(5, 2.0), s)


def test_approval_text_shows_the_estimates_own_calls_and_dollars():
    """The question reads the fields a PlanEstimate has (calls, cost_usd, tokens): a gate
    that guessed other spellings would show nothing, or not ask at all."""
    plan = estimate(250, 3.75)
    s = EngineSettings(approval_threshold_calls=100, approval_threshold_usd=1.0)
    message = approval_message("audit", plan, over_threshold(plan, s))
    assert "250 agent calls (threshold 100)" in message and "up to $3.75 (threshold $1.00)" in message
    assert "about 12,000 tokens" in message


def test_the_progress_total_is_the_forecasts_expected_calls_when_verification_is_counted():
    forecast = {"cases": {"expected": {"calls": 40, "finder_calls": 10}}}
    assert estimate(12, 0.1, forecast=forecast).expected_calls() == 40
    assert estimate(12, 0.1).expected_calls() == 12  # no finders: the dry run's own count
