"""Shared fixtures. Tests use the offline IMDB CSV and MiniLM checkpoint that pip packages ship."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def minilm_folder() -> str:
    from smat.models import hf_checkpoint

    return hf_checkpoint.resolve("minilm")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    """One tokenisation cache for the whole session (tokenising IMDB once takes ~10 s)."""
    return str(tmp_path_factory.mktemp("token_cache"))


@pytest.fixture
def smoke_config(cache_dir):
    """The CLI's smoke config (configs/imdb_teacher.py:smoke), quiet, with the session cache."""
    from smat import config as config_lib

    c = config_lib.from_file(os.path.join(REPO, "configs", "imdb_teacher.py:smoke"))
    c.data.cache_dir = cache_dir
    c.progress = False
    return c
