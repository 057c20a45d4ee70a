"""Agent tools read only inside the workspace, never secrets, with bounded output; the
tool-use loop sends results back as tool_result blocks and ends in bounded turns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from refute.orchestration.model import CallRequest
from refute.orchestration.providers import tools
from refute.orchestration.providers.anthropic import AnthropicProvider
from refute.orchestration.providers.base import ProviderError
from refute.orchestration.providers.tools import ToolError, resolve_path, run_tool, run_tool_turn, tool_definitions
from tests.fakes.messages_api import json_reply, text_reply, tool_use_reply

MODEL = "claude-haiku-4-5"


@pytest.fixture
def tree(workspace: Path, tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.txt").write_text("TOP SECRET outside the workspace\n")
    (workspace / ".env").write_text("DB_PASSWORD=hunter2\n")
    (workspace / "config").mkdir()
    (workspace / "config" / "settings.py").write_text('API_TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ012345"\n')
    (workspace / "link_out.txt").symlink_to(outside / "private.txt")
    (workspace / "dir_out").symlink_to(outside, target_is_directory=True)
    (workspace / "innocent.txt").symlink_to(workspace / ".env")
    (workspace / "big.py").write_text("".join(f"line_{n} = {n}\n" for n in range(1, 2001)))
    return workspace


@pytest.mark.parametrize("path, reason", [
    ("../outside/private.txt", "'..' is not allowed"),
    ("src/../../outside/private.txt", "'..' is not allowed"),
    ("/etc/passwd", "absolute paths are not allowed"),
    ("C:\\Windows\\win.ini", "absolute paths are not allowed"),
    ("~/.ssh/id_rsa", "absolute paths are not allowed"),
    ("link_out.txt", "resolves outside the workspace"),
    ("dir_out/private.txt", "resolves outside the workspace"),
    (".env", "secret"),
    ("innocent.txt", "secret"),
    (".git/config", "version-control folders"),
    ("missing.py", "no such file"),
    ("", "non-empty"),
])
def test_paths_are_confined(tree: Path, path: str, reason: str) -> None:
    with pytest.raises(ToolError) as info:
        resolve_path(tree, path)
    assert reason in str(info.value)


def test_read_file_numbers_lines_and_bounds_ranges(tree: Path) -> None:
    text, is_error = run_tool(tree, "read_file", {"path": "src/app.py", "start_line": 2, "end_line": 2})
    assert not is_error and text.startswith("2|     return eval(") and "[lines 2-2 of 2]" in text
    text, is_error = run_tool(tree, "read_file", {"path": "big.py"})
    assert not is_error
    assert "line_400 = 400" in text and "line_401 = 401" not in text  # at most MAX_READ_LINES
    assert len(text) <= tools.MAX_RESULT_CHARS + 100
    text, is_error = run_tool(tree, "read_file", {"path": "src/app.py", "start_line": 9})
    assert is_error and "past the end" in text


def test_tool_output_is_redacted(tree: Path) -> None:
    text, is_error = run_tool(tree, "read_file", {"path": "config/settings.py"})
    assert not is_error
    assert "ghp_0123" not in text and "[REDACTED" in text


def test_search_text_is_bounded_and_skips_secrets(tree: Path) -> None:
    text, is_error = run_tool(tree, "search_text", {"pattern": "hunter2|eval"})
    assert not is_error
    assert "src/app.py:2:" in text and "hunter2" not in text  # .env is never searched
    text, _ = run_tool(tree, "search_text", {"pattern": r"line_\d+", "path_glob": "*.py"})
    assert text.count("\n") == tools.MAX_SEARCH_MATCHES and "stopped at" in text
    text, _ = run_tool(tree, "search_text", {"pattern": "TOP SECRET"})
    assert text == "no matches"  # symlinked folders outside are not followed
    text, is_error = run_tool(tree, "search_text", {"pattern": "("})
    assert is_error and "invalid regular expression" in text


def test_a_parser_problem_in_list_symbols_is_a_tool_error(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text, language):
        raise RecursionError("too deep")

    monkeypatch.setattr(tools, "list_symbols", broken)
    text, is_error = run_tool(tree, "list_symbols", {"path": "src/app.py"})
    assert is_error and "could not list symbols (RecursionError: too deep)" in text


def test_list_symbols_uses_the_analysis_layer(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def list_symbols(text, language):
        seen["args"] = (text, language)
        return [{"name": "handler", "kind": "function", "start_line": 0, "end_line": 1}]

    monkeypatch.setattr(tools, "list_symbols", list_symbols)
    text, is_error = run_tool(tree, "list_symbols", {"path": "src/app.py"})
    assert not is_error and text == "function handler lines 1-2"
    assert "def handler" in seen["args"][0] and seen["args"][1] == "python"


def test_a_turn_is_bounded_in_calls_and_characters(tree: Path) -> None:
    calls = [(f"id{i}", "read_file", {"path": "big.py"}) for i in range(tools.MAX_TOOL_CALLS_PER_TURN + 2)]
    blocks = run_tool_turn(tree, calls, ("read_file",))
    assert [b["tool_use_id"] for b in blocks] == [c[0] for c in calls]  # every call gets an answer
    assert sum(len(b["content"]) for b in blocks) <= tools.MAX_TURN_RESULT_CHARS + 2_000
    assert blocks[-1]["is_error"] and "too many tool calls" in blocks[-1]["content"]
    assert any("budget for this turn" in b["content"] for b in blocks)


def test_tools_not_granted_to_the_call_are_refused(tree: Path) -> None:
    blocks = run_tool_turn(tree, [("a", "search_text", {"pattern": "x"})], ("read_file",))
    assert blocks[0]["is_error"] and "not available" in blocks[0]["content"]


def test_unknown_tool_names_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown agent tool.*write_file"):
        tool_definitions(("read_file", "write_file"))


def test_tool_loop_sends_results_back_and_returns_the_answer(fake_messages_api, settings, tree, ctx):
    fake_messages_api.enqueue(
        tool_use_reply(("read_file", {"path": "src/app.py"}), ("read_file", {"path": "../outside/private.txt"})),
        tool_use_reply(("search_text", {"pattern": "eval"})),
        json_reply({"verdict": "confirmed"}),
    )
    provider = AnthropicProvider(settings, tree)
    result = provider.call(CallRequest(prompt="is eval reachable?", model=MODEL, tools=("read_file", "search_text"),
                                       schema={"type": "object", "properties": {"verdict": {"type": "string"}},
                                               "required": ["verdict"]}), ctx)
    provider.close()
    assert result.data == {"verdict": "confirmed"}
    bodies = fake_messages_api.message_bodies()
    assert len(bodies) == 3
    assert [t["name"] for t in bodies[0]["tools"]] == ["read_file", "search_text"]
    results = bodies[1]["messages"][-1]["content"]
    assert results[0]["type"] == "tool_result" and "return eval(" in results[0]["content"]
    assert results[1]["is_error"] is True and "'..' is not allowed" in results[1]["content"]
    assert bodies[1]["messages"][-2]["role"] == "assistant"
    assert bodies[1]["messages"][-2]["content"][0]["type"] == "tool_use"
    # The growing conversation carries one moving cache breakpoint on its last block.
    assert results[-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in bodies[2]["messages"][2]["content"][-1]
    assert "src/app.py:2:" in bodies[2]["messages"][-1]["content"][0]["content"]
    raw = b"".join(r.raw for r in fake_messages_api.requests).decode()
    assert "TOP SECRET" not in raw


def test_tool_loop_is_bounded(fake_messages_api, settings, tree, ctx, monkeypatch):
    monkeypatch.setattr("refute.orchestration.providers.anthropic.RESERVED_TOOL_TURNS", tools.MAX_TOOL_TURNS)
    fake_messages_api.responder = lambda call: tool_use_reply(("read_file", {"path": "README.md"}))
    provider = AnthropicProvider(settings, tree)
    with pytest.raises(ProviderError, match="asked for tools after it was told to answer"):
        provider.call(CallRequest(prompt="loop forever", model=MODEL, tools=("read_file",), max_tokens=200), ctx)
    provider.close()
    bodies = fake_messages_api.message_bodies()
    assert len(bodies) == tools.MAX_TOOL_TURNS + 1
    assert all("tool_choice" not in b for b in bodies[:-1])
    assert bodies[-1]["tool_choice"] == {"type": "none"}


def test_tool_turns_stop_early_to_stay_within_the_reservation(fake_messages_api, settings, tree, ctx):
    fake_messages_api.responder = lambda call: (
        text_reply("final answer") if call.params.get("tool_choice") else
        tool_use_reply(*[("read_file", {"path": "big.py", "start_line": 1 + 400 * i}) for i in range(4)]))
    provider = AnthropicProvider(settings, tree)
    request = CallRequest(prompt="read everything", model=MODEL, tools=("read_file",), max_tokens=500)
    result = provider.call(request, ctx)
    ceiling, _ = provider.full_worst_case(request)  # no scheduler here: the whole worst case is the ceiling
    provider.close()
    bodies = fake_messages_api.message_bodies()
    assert result.text == "final answer"
    assert 1 < len(bodies) <= tools.MAX_TOOL_TURNS  # forced to answer before the turn limit
    assert bodies[-1]["tool_choice"] == {"type": "none"}
    assert result.usage.total_tokens <= ceiling


def test_symlinked_workspace_root_still_confines(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "a").mkdir(parents=True)
    (real / "a" / "f.txt").write_text("ok\n")
    link = tmp_path / "link"
    os.symlink(real, link)
    assert resolve_path(link, "a/f.txt") == (real / "a" / "f.txt").resolve()


def test_list_symbols_with_the_real_analysis_layer(tree: Path) -> None:
    (tree / "src" / "shapes.py").write_text("class Shape:\n    def area(self):\n        return 0\n")
    text, is_error = run_tool(tree, "list_symbols", {"path": "src/shapes.py"})
    assert not is_error
    assert text.splitlines() == ["class Shape lines 1-3", "method Shape.area lines 2-3"]
