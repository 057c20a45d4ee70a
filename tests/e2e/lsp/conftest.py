"""Fixtures: a fresh copy of the fixture workspace and a `refute lsp` server driven by
pytest-lsp's client with the Neovim or the VS Code capability profile."""

import pytest
import pytest_asyncio

import lsp_harness as h


@pytest.fixture
def workspace(tmp_path):
    return h.make_workspace(tmp_path)


@pytest.fixture(params=h.PROFILES)
def profile(request):
    return request.param


@pytest_asyncio.fixture
async def client(workspace, profile):
    lsp_client = await h.start(workspace, profile)
    yield lsp_client
    await h.stop(lsp_client)
