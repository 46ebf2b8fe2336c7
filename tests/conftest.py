"""Shared fixtures. Tests use the offline IMDB CSV and MiniLM checkpoint that pip packages ship."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def minilm_folder() -> str:
    from smat.models import hf_checkpoint

    return hf_checkpoint.resolve("minilm")
