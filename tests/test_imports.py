"""The layering of pyproject.toml's import-linter contracts holds (imports inside functions
count): command lines > API > studies > trainers > steps > parts > infrastructure, no circle
between the modules of any package, and no library module importing a command line."""

import subprocess
import sys

from tests.conftest import REPO


def test_the_import_contracts_hold():
    lint = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"]
    done = subprocess.run(lint, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
