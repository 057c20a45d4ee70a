"""Shared test data for the language-server unit tests."""

from refute.orchestration.model import Finding, Span, TextEdit, Verdict

SOURCE = "import os\n\n\ndef run(cmd):\n    os.system(cmd)  # 😀\n    return os.system(cmd)\n"


def make_finding(path="app.py", quote="os.system(cmd)", line=4, fix=True, provider="scripted", fp="fp-1") -> Finding:
    col = SOURCE.split("\n")[line].index(quote) if quote in SOURCE.split("\n")[line] else 0
    return Finding(
        fingerprint=fp, path=path, span=Span(line, col, line, col + len(quote)), severity="error",
        category="security", title="Shell injection", explanation="cmd reaches a shell", quote=quote,
        verdicts=[Verdict("confirmed", "user input flows to os.system"), Verdict("refuted", "cmd is a constant")],
        confidence=0.8, fix=TextEdit(path, "os.system(cmd)", "subprocess.run(cmd, shell=False)") if fix else None,
        run_id="run-1", workflow="audit", provider=provider, cost_usd=0.0123,
    )


