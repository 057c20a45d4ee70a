"""A corpus in the generic format (folder + truth.csv with line-level truth) through the
real Engine and the bundled security workflow, answered by the scripted auditor."""

from __future__ import annotations

import json
from pathlib import Path

from refute.server.cli import main

AUDITOR = Path(__file__).with_name("scripted_auditor.py").resolve()


def test_line_level_truth_through_the_engine(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "rnd.py").write_text("import random\n\ndef token():\n    return random.randint(0, 9)\n")
    (corpus / "web.py").write_text(
        "def find(cur, name):\n    cur.execute(\"SELECT * FROM t WHERE n='\" + name + \"'\")\n\n"
        "def find_safe(cur, name):\n    cur.execute('SELECT * FROM t WHERE n = ?', (name,))\n")
    (corpus / "truth.csv").write_text(
        "path,cwe,vulnerable,category,lines\n"
        "rnd.py,CWE-330,true,weakrand,4\n"
        "rnd.py,CWE-330,false,weakrand,1\n"  # line-level: the import alone is no weakness
        "web.py,CWE-89,true,sqli,2\n"
        "web.py,CWE-89,false,sqli,5\n")
    (tmp_path / "ws").mkdir()  # --workspace must exist: refute never creates the folder it is pointed at
    code = main(["eval", str(corpus), "--workspace", str(tmp_path / "ws"), "--provider", "scripted",
                 "--scripted-fixture", f"{AUDITOR}:answer", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    outcomes = {c["id"]: (c["before"], c["after"]) for c in result["cases"]}
    assert outcomes == {
        "rnd.py#CWE-330@4": ("TP", "TP"),
        "rnd.py#CWE-330@1": ("TN", "TN"),
        "web.py#CWE-89@2": ("TP", "FN"),  # the auditor's refuters see the parameterised query and refute both:
        "web.py#CWE-89@5": ("FP", "TN"),  # over-refutation costs recall, which the eval shows
    }
    assert result["before"]["overall"]["recall"] == 1.0 and result["after"]["overall"]["recall"] == 0.5
    assert result["after"]["overall"]["precision"] == 1.0
    assert not (Path(result["workdir"]) / "truth.csv").exists()
