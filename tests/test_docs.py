"""The documentation: it builds strictly (warnings, broken links and references, docstring errors
fail), covers every config field, public name and command, and a built page renders in a real
browser without console errors. The README's links resolve and its test command is CI's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> str:
    """The site built as CI builds it: `sphinx-build -W --keep-going -n -b html` (strict)."""
    out = str(tmp_path_factory.mktemp("site"))
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html", DOCS, out],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert build.returncode == 0, f"the docs do not build strictly:\n{build.stderr[-6000:]}"
    return out


def _page(site: str, name: str) -> str:
    with open(os.path.join(site, f"{name}.html"), encoding="utf-8") as f:
        return f.read()


def _text(html: str) -> str:
    """The page's text, tags dropped (code spans split by markup join up again)."""
    return re.sub(r"<[^>]+>", "", html).replace("&#8220;", '"').replace("&#8221;", '"')


def test_every_page_is_built(site):
    pages = [f[:-3] for f in os.listdir(DOCS) if f.endswith(".md")]
    assert {"index", "installation", "quickstart", "configuration", "api", "cli"} <= set(pages)
    for page in pages:
        assert os.path.isfile(os.path.join(site, f"{page}.html")), page


def test_the_configuration_page_lists_every_config_field(site):
    from smat import config as config_lib

    text = _text(_page(site, "configuration"))
    fields = [
        f for f, _ in config_lib.leaves(config_lib.defaults()) if not f.startswith("teacher.")
    ]
    assert len(fields) > 100
    missing = [f for f in fields if f not in text]
    assert not missing, f"fields missing from docs/configuration.md: {missing}"


def test_the_api_reference_documents_every_public_name(site):
    import smat

    html = _page(site, "api")
    missing = [name for name in smat.__all__ if f'id="smat.{name}"' not in html]
    assert not missing, f"public names (smat._EXPORTS) missing from docs/api.md: {missing}"


def test_the_cli_page_shows_every_command_and_its_options(site):
    text = _text(_page(site, "cli"))
    for command in (
        "main",
        "sweep",
        "report",
        "explain",
        "predict",
        "patch_heatmaps",
        "select_explainer",
        "annotate",
    ):
        assert f"python -m smat.{command}" in text, command
    for option in ("--seeds", "--launcher", "--archive", "--baselines", "--metrics", "--monitor"):
        assert option in text, option


def test_a_built_page_renders_in_headless_chromium(site, tmp_path):
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser_path:
        pytest.skip("no chromium (Debian: apt-get install chromium) to open the site")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"file://{site}/quickstart.html", wait_until="load")
            page.wait_for_load_state("networkidle")
            heading = page.locator("h1").first.inner_text()
            nav = page.locator("nav a", has_text="Configuration").count()
            shot = tmp_path / "quickstart.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert not errors, f"console errors on the built page: {errors}"
    assert "Quick start" in heading
    assert nav >= 1, "the navigation does not link the other pages"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_the_readme_links_resolve_and_its_test_command_is_ci_s():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert os.path.exists(os.path.join(REPO, target)), f"README links to {target}"
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    install = re.search(r"^pip install -e '\.\[test\]'.*$", ci, re.M).group(0)
    assert install in readme, "README's test command and .ci/run install differently"
