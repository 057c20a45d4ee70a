"""Test doubles shared by unit and end-to-end tests (the loopback Messages API server)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.fakes.messages_api import FakeMessagesAPI


@pytest.fixture
def fake_messages_api() -> Iterator[FakeMessagesAPI]:
    """A started loopback Messages API; stopped after the test."""
    with FakeMessagesAPI() as api:
        yield api
