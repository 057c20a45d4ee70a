"""analysis/syntax.py: new error nodes after an edit, not old ones."""

from refute.analysis.syntax import can_check, new_syntax_errors, syntax_errors


def test_a_clean_file_has_no_errors_and_a_broken_edit_is_named_with_its_line():
    before = "def f(x):\n    return g(x)\n"
    after = "def f(x):\n    return g(x\n"
    assert syntax_errors(before, "python") == []
    [problem] = new_syntax_errors(before, after, "python")
    assert problem.line == 2 and "line 2" in problem.describe()


def test_errors_the_file_already_had_are_not_blamed_on_the_edit():
    before = "def f(:\n    pass\n\n\ndef g():\n    return 1\n"  # already broken (a grammar gap, a template)
    after = "def f(:\n    pass\n\n\ndef g():\n    return 2\n"
    assert syntax_errors(before, "python")
    assert new_syntax_errors(before, after, "python") == [], "the old error moved nowhere and is not blamed"
    moved = "# a comment above moves every position\n" + after
    assert new_syntax_errors(before, moved, "python") == [], "errors compare by text, not position"
    worse = after + "\n\ndef h(x:\n    pass\n"
    assert new_syntax_errors(before, worse, "python"), "a second error is new"


def test_other_languages_and_text():
    assert new_syntax_errors("function f() { return 1; }\n", "function f() { return 1;\n", "javascript")
    assert new_syntax_errors("fn main() {}\n", "fn main() {\n", "rust")
    assert not can_check("text") and new_syntax_errors("a", "(((", "text") == []
