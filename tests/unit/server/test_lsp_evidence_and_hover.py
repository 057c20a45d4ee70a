"""Evidence page and hover text say what the refuters said and who produced it."""

from refute.server.lsp.evidence import render, write
from refute.server.lsp.findings_index import FindingIndex
from refute.server.lsp.hover import hover_markdown
from refute.server.lsp.approval import over_threshold, planned_calls
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


def test_approval_threshold():
    s = EngineSettings(approval_threshold_calls=100, approval_threshold_usd=1.0)
    assert over_threshold({"calls": 50, "usd": 0.5}, s) is None
    assert "150 agent calls" in over_threshold({"calls": 150, "usd": 0.5}, s)
    assert "$2.00" in over_threshold({"calls": 5, "usd": 2.0}, s)
    assert planned_calls({"calls": True}) is None
