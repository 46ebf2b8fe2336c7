"""The annotation study: ranking validation, storage, the web app, analysis, a real browser."""

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smat.annotate import RankingError, StaleAnswer, Store, analysis, load_study, validate
from smat.annotate.app import create_app
from smat.annotate.rankings import simulated_rankings
from smat.annotate.study import Item, write_study
from smat.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPLAINERS = ["learned", "attention_all", "integrated_gradients", "gradient_x_input"]


def _text_study(folder, n=4, explainers=EXPLAINERS):
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        tokens = ["the", "film", "<script>alert(1)</script>", "was", "great", f"#{i}"]
        scores = {e: rng.dirichlet(np.ones(len(tokens))) for e in explainers}
        items.append(Item(f"ex{i}", "positive (90% confident)", "positive", scores, tokens))
    return write_study(str(folder), items, list(explainers), source="synthetic")


def _image_study(folder, n=2):
    rng = np.random.default_rng(0)
    items = [
        Item(
            f"img{i}",
            "Sneaker",
            "Sneaker",
            {e: rng.dirichlet(np.ones(1 + 16)) for e in EXPLAINERS},
            image=rng.integers(0, 256, (28, 28, 1), dtype=np.uint8),
        )
        for i in range(n)
    ]
    return write_study(str(folder), items, EXPLAINERS)


# ----- rankings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ranks", [[1, 2, 3, 4], [1, 1, 3, 4], [1, 2, 2, 4], [1, 1, 1, 1], [4, 1, 3, 1], ["2", "1"]]
)
def test_competition_rankings_with_ties_are_accepted(ranks):
    assert validate(ranks, len(ranks)) == [int(r) for r in ranks]


@pytest.mark.parametrize(
    "ranks, message",
    [
        ([1, 1, 2, 3], "the same order is 1,1,3,4"),
        ([1, 2, 2, 3], "the same order is 1,2,2,4"),
        ([2, 2, 3, 4], "the same order is 1,1,3,4"),
        ([1, 2, 3, 5], "not between 1 and 4"),
        ([1, 2, 3, "x"], "'x' is not a number"),
        ([1, 2, 3, ""], "(empty)"),
        ([1, 2, 3], "each of the 4 explanations"),
    ],
)
def test_invalid_rankings_are_refused_with_the_fix(ranks, message):
    with pytest.raises(RankingError, match=re.escape(message)):
        validate(ranks, 4)


# ----- storage ----------------------------------------------------------------------------


def test_store_keeps_answers_resumes_and_refuses_stale_submissions(tmp_path):
    store = Store(str(tmp_path / "answers.sqlite"))
    ann = store.annotator("ana")
    assert store.annotator("ana") == ann and store.annotator("bo") != ann
    order = ["a", "b", "c"]
    assert store.submit(ann, "ex0", {"a": 1, "b": 1, "c": 3}, order, revision=0) == 1
    with pytest.raises(StaleAnswer):  # the same page submitted twice
        store.submit(ann, "ex0", {"a": 1, "b": 2, "c": 3}, order, revision=0)
    assert store.submit(ann, "ex0", {"a": 3, "b": 1, "c": 2}, order, revision=1) == 2
    store.submit(ann, "ex1", None, order, revision=0)  # a skip
    reopened = Store(store.path)  # a new process sees everything committed
    (first, skipped) = reopened.answers(ann)
    assert (first.example_id, first.ranking, first.revision) == ("ex0", {"a": 3, "b": 1, "c": 2}, 2)
    assert (skipped.status, skipped.ranking) == ("skipped", None)
    assert reopened.answers(store.annotator("bo")) == []


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "answers.sqlite")
    Store(path)
    errors = []

    def annotate(name):
        try:
            store = Store(path)  # own connections, as request threads have
            ann = store.annotator(name)
            for i in range(15):
                store.submit(ann, f"ex{i}", {"a": 1 + i % 2, "b": 2 - i % 2}, ["a", "b"], 0)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=annotate, args=(f"n{j}",)) for j in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    answers = Store(path).answers()
    assert len(answers) == 8 * 15
    for a in answers:
        i = int(a.example_id[2:])
        assert a.ranking == {"a": 1 + i % 2, "b": 2 - i % 2} and a.revision == 1


# ----- study folder -----------------------------------------------------------------------


def test_study_folder_escapes_tokens_and_round_trips(tmp_path):
    study = _text_study(tmp_path / "s")
    again = load_study(str(tmp_path / "s"))
    assert again == study
    fragment = study.fragment(study.examples[0], "learned")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment and "<script>" not in fragment
    # The order is shuffled per annotator and example, and stable.
    orders = {tuple(study.order(a, e.id)) for a in range(5) for e in study.examples}
    assert len(orders) > 3 and study.order(1, "ex0") == study.order(1, "ex0")
    with pytest.raises(ConfigError, match="not a study"):
        load_study(str(tmp_path))
    with pytest.raises(ConfigError, match="distinct"):
        _text_study(tmp_path / "t", explainers=["a", "a"])
    with pytest.raises(ConfigError, match="letters, digits"):
        _text_study(tmp_path / "u", explainers=["a", "../b"])
    study.store()
    with pytest.raises(ConfigError, match="already holds answers"):
        _text_study(tmp_path / "s")


# ----- web app (Flask test client) --------------------------------------------------------


def _key(location: str) -> str:
    """The annotator key in a redirect to `/a/<key>` (or `/a/<key>?new=1`)."""
    return location.split("?")[0].rstrip("/").split("/")[-1]


def _form(ranks, revision=0, action="rank"):
    data = {"action": action, "revision": str(revision)}
    data.update({f"rank{i}": str(r) for i, r in enumerate(ranks)})
    return data


def test_app_flow_validation_and_resume(tmp_path):
    study = _text_study(tmp_path / "s")
    client = create_app(study.folder).test_client()
    assert b"4 examples" in client.get("/").data or b"each of 4" in client.get("/").data
    assert client.post("/start", data={"name": "  "}).status_code == 400
    r = client.post("/start", data={"name": "<b>ana</b>"})
    assert r.status_code == 303
    key = _key(r.headers["Location"])
    aid, _ = study.store().by_token(key)
    r = client.get(f"/a/{key}")
    assert r.headers["Location"].endswith(f"/a/{key}/1")
    assert "Bookmark this page" in client.get(f"/a/{key}/1?new=1").data.decode()
    page = client.get(f"/a/{key}/1").data.decode()
    assert "&lt;b&gt;ana&lt;/b&gt;" in page and "<b>ana</b>" not in page
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert not any(name in page for name in EXPLAINERS)  # method names are hidden
    assert "Example 1 of 4" in page

    bad = client.post(f"/a/{key}/1", data=_form([1, 1, 2, 3]))
    assert bad.status_code == 400 and b"1,1,3,4" in bad.data
    assert client.post(f"/a/{key}/1", data={"action": "rank"}).status_code == 400
    assert client.post(f"/a/{key}/1", data=_form([1, 2, 3, 4], action="x")).status_code == 400
    assert client.get(f"/a/{key}/9").status_code == 404
    assert client.post(f"/a/{key}/0", data=_form([1, 2, 3, 4])).status_code == 404
    assert client.get("/a/999/1").status_code == 404
    assert client.get(f"/a/{key[:-1]}x/1").status_code == 404

    r = client.post(f"/a/{key}/1", data=_form([2, 1, 4, 2]))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/a/{key}/2")
    again = client.post(f"/a/{key}/1", data=_form([1, 2, 3, 4]))  # double submit
    assert again.status_code == 409
    order = study.order(aid, "ex0")
    (answer,) = study.store().answers(aid)
    assert answer.ranking == dict(zip(order, [2, 1, 4, 2], strict=True))
    assert answer.shown_order == order
    # Going back shows the saved ranks checked; changing them needs the shown revision.
    back = client.get(f"/a/{key}/1").data.decode()
    assert 'name="revision" value="1"' in back and back.count("checked") == 4
    assert client.post(f"/a/{key}/1", data=_form([1, 1, 1, 1], revision=1)).status_code == 303
    assert client.post(f"/a/{key}/2", data=_form([], action="skip")).status_code == 303
    # Resuming with the key continues at the first example not answered; the overview lists
    # the rest. The name alone does not continue as its owner.
    assert client.get(f"/a/{key}").headers["Location"].endswith(f"/a/{key}/3")
    taken = client.post("/start", data={"name": "<b>ana</b>"})
    assert taken.status_code == 409 and b"is taken" in taken.data
    done = client.get(f"/a/{key}/done").data.decode()
    assert "1 ranked, 1 skipped, 2 not answered yet" in done
    stored = {a.example_id: (a.status, a.revision) for a in study.store().answers(aid)}
    assert stored == {"ex0": ("ranked", 2), "ex1": ("skipped", 1)}


def test_app_serves_image_heatmaps_by_shuffled_slot(tmp_path):
    study = _image_study(tmp_path / "s")
    client = create_app(study.folder).test_client()
    key = _key(client.post("/start", data={"name": "bo"}).headers["Location"])
    aid, _ = study.store().by_token(key)
    page = client.get(f"/a/{key}/1").data.decode()
    assert page.count("/heatmap/") == len(EXPLAINERS) and "image.png" in page
    order = study.order(aid, "img0")
    for slot, name in enumerate(order):
        png = client.get(f"/a/{key}/1/heatmap/{slot}.png").data
        with open(study.file(study.examples[0].heatmaps[name]), "rb") as f:
            assert png == f.read()
    assert client.get(f"/a/{key}/1/image.png").data[:4] == b"\x89PNG"
    assert client.get(f"/a/{key}/1/heatmap/9.png").status_code == 404


# ----- a real server process: concurrent annotators, killed server -------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(folder, port):
    """`python -m smat.annotate serve` in a subprocess; its request log goes to a file (an
    undrained pipe would fill up and block the server)."""
    log = f"{folder}.serve.log"
    with open(log, "a") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smat.annotate", "serve", folder, "--port", str(port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    line = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}/" in line, open(log).read()
    return proc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post(url, data):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        return opener.open(url, urllib.parse.urlencode(data).encode()).status, None
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location")


def test_served_study_takes_concurrent_annotators_and_survives_a_kill(tmp_path):
    study = _text_study(tmp_path / "s", n=5)
    port = _free_port()
    proc = _serve(study.folder, port)
    base = f"http://127.0.0.1:{port}"
    results, keys = [], {}
    try:

        def annotate(name):
            code, where = _post(f"{base}/start", {"name": name})
            key = _key(where)
            for pos in range(1, 6):
                ranks = [1 + (pos + i) % 4 for i in range(4)]
                results.append(_post(f"{base}/a/{key}/{pos}", _form(ranks))[0])
            keys[name] = key

        threads = [threading.Thread(target=annotate, args=(f"a{j}",)) for j in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        proc.kill()  # SIGKILL: no chance to flush anything
        proc.wait()
    assert results == [303] * 30
    answers = load_study(study.folder).store().answers()
    assert len(answers) == 30 and {a.revision for a in answers} == {1}
    assert {a.annotator for a in answers} == {f"a{j}" for j in range(6)}
    proc = _serve(study.folder, port)  # restarted on the same folder: continues
    try:
        with urllib.request.urlopen(f"{base}/a/{keys['a3']}") as r:
            assert r.url.endswith("/done")
    finally:
        proc.kill()
        proc.wait()


FIELD = st.one_of(
    st.sampled_from(["1", "²", "٣", "1" * 5000, "-1", "0", "9" * 10, " 2 ", "", "1.0", "\x00"]),
    st.text(max_size=30),
)


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    study = _text_study(tmp_path_factory.mktemp("fuzz") / "s", n=2)
    client = create_app(study.folder).test_client()
    key = _key(client.post("/start", data={"name": "fuzz"}).headers["Location"])
    return client, key


@given(
    ranks=st.lists(FIELD, min_size=0, max_size=6),
    revision=FIELD,
    action=st.sampled_from(["rank", "skip", "", "x"]),
    name=FIELD,
)
def test_nothing_a_client_sends_gets_a_server_error(fuzzed_app, ranks, revision, action, name):
    """Ranks, revisions, actions and names as unicode digits (int('²') raises), thousands of
    digits (int refuses > 4,300), signs, spaces, NULs or any text: 4xx with a message, or a
    redirect, never a 5xx."""
    client, key = fuzzed_app
    data = {f"rank{i}": r for i, r in enumerate(ranks)} | {"action": action, "revision": revision}
    for pos in (1, 2):
        r = client.post(f"/a/{key}/{pos}", data=data)
        assert r.status_code < 500, r.data[-500:]
    assert client.post("/start", data={"name": name}).status_code < 500


def test_oversized_requests_ports_read_only_studies_and_keys_in_logs(tmp_path, capsys):
    from smat.annotate.__main__ import main
    from smat.annotate.app import MAX_REQUEST_BYTES, hide_keys

    study = _text_study(tmp_path / "s", n=1)
    client = create_app(study.folder).test_client()
    big = client.post("/start", data={"name": "x" * (3 * 1024 * 1024)})
    assert big.status_code == 413 and MAX_REQUEST_BYTES < 3 * 1024 * 1024
    assert main(["serve", study.folder, "--port", "99999"]) == 2
    assert "a TCP port is 0..65535" in capsys.readouterr().err
    assert hide_keys('"POST /a/Zx9_k-Q/3 HTTP/1.1" 303') == '"POST /a/***/3 HTTP/1.1" 303'
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder needs an ordinary user
        readonly = tmp_path / "ro"
        shutil.copytree(study.folder, readonly)
        os.remove(readonly / "answers.sqlite")
        os.chmod(readonly, 0o555)
        try:
            assert main(["keys", str(readonly)]) == 2
            assert "cannot be opened for writing" in capsys.readouterr().err
        finally:
            os.chmod(readonly, 0o755)


def test_serve_refuses_a_busy_port_with_the_fix(tmp_path, capsys):
    from smat.annotate.__main__ import main

    study = _text_study(tmp_path / "s", n=1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", study.folder, "--port", str(busy.getsockname()[1])])
    assert exit_info.value.code == 1
    assert "start the server with a different port" in capsys.readouterr().err


# ----- analysis ---------------------------------------------------------------------------


def test_analysis_recovers_the_true_order_of_synthetic_annotators(tmp_path):
    skills = {
        "learned": 1.0,
        "attention_all": 0.5,
        "integrated_gradients": 0.0,
        "gradient_x_input": -0.6,
    }
    rankings = simulated_rankings(skills, 90, noise=1.0, seed=3)
    assert any(len(set(r.values())) < 4 for r in rankings)  # ties happen
    ratings = analysis.rate(rankings, list(skills), bootstrap=40)
    assert [r.explainer for r in ratings] == list(skills)
    assert [r.place for r in ratings] == [1, 2, 3, 4]
    assert ratings[0].place_interval[0] == 1 and ratings[-1].place_interval[1] == 4
    for r in ratings:
        assert r.mu_interval[0] <= r.mu <= r.mu_interval[1] + 0.5
    # Equally good explainers are not told apart: their place intervals overlap.
    tied = analysis.rate(simulated_rankings({"a": 0, "b": 0}, 60, seed=1), ["a", "b"], 40)
    assert all(r.place_interval == (1, 2) for r in tied)


def test_analyze_writes_the_table_csv_and_plot_from_stored_answers(tmp_path, capsys):
    from smat.annotate.__main__ import main

    study = _text_study(tmp_path / "s", n=6)
    store = study.store()
    skills = {
        "learned": 1.2,
        "attention_all": 0.4,
        "integrated_gradients": 0.0,
        "gradient_x_input": -0.8,
    }
    for j in range(4):
        aid = store.annotator(f"ann{j}")
        for example, ranking in zip(
            study.examples, simulated_rankings(skills, 6, seed=j), strict=True
        ):
            store.submit(aid, example.id, ranking, study.order(aid, example.id), 0)
    store.submit(store.annotator("late"), "ex0", None, EXPLAINERS, 0)  # a skip
    assert main(["analyze", study.folder, "--bootstrap", "30"]) == 0
    out = capsys.readouterr().out
    assert "24 rankings (1 skipped) of 6 examples by 5 annotators" in out
    assert "| 1 | learned |" in out and "Kendall" in out and "Mean rank by position" in out
    folder = os.path.join(study.folder, "analysis")
    assert sorted(os.listdir(folder)) == [
        "analysis.md",
        "answers.csv",
        "ratings.csv",
        "ratings.png",
    ]
    with open(os.path.join(folder, "answers.csv")) as f:
        assert len(f.read().strip().splitlines()) == 1 + 25 * 4
    empty = _text_study(tmp_path / "e")
    assert main(["analyze", empty.folder]) == 2
    assert "no ranked answers yet" in capsys.readouterr().err


# ----- a real browser ---------------------------------------------------------------------


def test_annotating_in_headless_chromium(tmp_path):
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser_path:
        pytest.skip("no chromium (Debian: apt-get install chromium) to drive the app")
    sync_api = pytest.importorskip("playwright.sync_api")
    study = _text_study(tmp_path / "s", n=3)
    port = _free_port()
    proc = _serve(study.folder, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=browser_path,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base)
            page.fill("#name", "Ana")
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/a/[\w-]+/1\?new=1$"))
            key = page.url.split("/")[-2]
            aid, _ = study.store().by_token(key)
            # The token <script>alert(1)</script> is shown as text, not run.
            assert "<script>alert(1)</script>" in page.inner_text(".card .heat")
            # An invalid ranking (1,1,2,3) is refused with the fix, then corrected.
            for slot, rank in enumerate([1, 1, 2, 3]):
                page.check(f"input[name=rank{slot}][value='{rank}']")
            page.click("#submit")
            assert "1,1,3,4" in page.inner_text(".error")
            page.check("input[name=rank2][value='3']")
            page.check("input[name=rank3][value='4']")
            page.click("#submit")
            page.wait_for_url(re.compile(r"/a/[\w-]+/2$"))
            for slot, rank in enumerate([4, 1, 2, 2]):
                page.check(f"input[name=rank{slot}][value='{rank}']")
            page.screenshot(path=str(tmp_path / "annotate.png"), full_page=True)
            page.click("#submit")
            page.wait_for_url(re.compile(r"/a/[\w-]+/3$"))
            assert "2 of 3 answered" in page.inner_text(".meta")
            page.reload()
            assert "Example 3 of 3" in page.inner_text("#progress")
            # Back to example 2: the saved ranks are shown.
            page.click("#back")
            checked = [
                page.eval_on_selector(f"input[name=rank{s}]:checked", "e => e.value")
                for s in range(4)
            ]
            assert checked == ["4", "1", "2", "2"]
            # A new session with the personal address resumes at example 3.
            page.context.clear_cookies()
            page.goto(f"{base}/a/{key}")
            page.wait_for_url(re.compile(rf"/a/{key}/3$"))
            browser.close()
        assert dialogs == []
    finally:
        proc.kill()
        proc.wait()
    answers = {a.example_id: a for a in load_study(study.folder).store().answers()}
    assert sorted(answers) == ["ex0", "ex1"]
    for example_id, ranks in (("ex0", [1, 1, 3, 4]), ("ex1", [4, 1, 2, 2])):
        order = study.order(aid, example_id)
        assert answers[example_id].ranking == dict(zip(order, ranks, strict=True))
    with open(tmp_path / "annotate.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"
