"""The annotation web app (Flask): annotators rank each example's explanations, answers go to
the study's SQLite file.

Pages: `/` (enter a name) -> `/a/<annotator>` (continue at the first example not yet answered)
-> `/a/<annotator>/<position>` (one example: its explanations in an order shuffled per annotator
and example, without method names; submit a ranking, skip, go back) -> `/a/<annotator>/done`.
Bad requests get a 4xx page saying what was wrong; nothing a client sends can crash the server.
"""

from __future__ import annotations

import dataclasses
import string

import flask
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from smat.annotate import rankings
from smat.annotate.store import SKIPPED, StaleAnswer
from smat.annotate.study import IMAGE, load_study

MAX_NAME = 60
LETTERS = string.ascii_uppercase


@dataclasses.dataclass(frozen=True)
class Slot:
    index: int
    letter: str
    fragment: Markup | None
    rank: int | None


def create_app(folder: str) -> flask.Flask:
    """The WSGI app of a study folder (also servable by any WSGI server)."""
    study = load_study(folder)
    store = study.store()
    n, k = len(study.examples), len(study.explainers)
    app = flask.Flask(__name__)

    def render(template: str, status: int = 200, **context):
        html = flask.render_template(template, n=n, k=k, kind=study.kind, **context)
        return html, status

    def annotator_name(aid: int) -> str:
        name = store.annotator_name(aid)
        if name is None:
            flask.abort(404, f"no annotator {aid}: start from the first page and enter your name")
        return name

    def example_at(pos: int):
        if not 1 <= pos <= n:
            flask.abort(404, f"no example {pos}: this study has examples 1 to {n}")
        return study.examples[pos - 1]

    def example_page(aid: int, pos: int, status: int = 200, **extra):
        name, example = annotator_name(aid), example_at(pos)
        answers = {a.example_id: a for a in store.answers(aid)}
        answer = answers.get(example.id)
        order = study.order(aid, example.id)
        chosen = extra.pop("chosen", None)
        slots = []
        for i, explainer in enumerate(order):
            fragment = None if study.kind == IMAGE else Markup(study.fragment(example, explainer))
            rank = chosen[i] if chosen else None
            if chosen is None and answer and answer.ranking:
                rank = answer.ranking[explainer]
            slots.append(Slot(i, LETTERS[i], fragment, rank))
        return render(
            "example.html",
            status,
            annotator=name,
            aid=aid,
            pos=pos,
            example=example,
            slots=slots,
            answer=answer,
            revision=answer.revision if answer else 0,
            done=len(answers),
            **extra,
        )

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return render(
            "message.html", e.code or 500, title=f"{e.code} {e.name}", message=e.description
        )

    @app.get("/")
    def start():
        return render("start.html", max_name=MAX_NAME)

    @app.post("/start")
    def begin():
        name = flask.request.form.get("name", "").strip()
        error = None
        if not name:
            error = "Enter your name to start."
        elif len(name) > MAX_NAME or not name.isprintable():
            error = f"Use a name of at most {MAX_NAME} printable characters."
        if error:
            return render("start.html", 400, max_name=MAX_NAME, error=error, name=name)
        return flask.redirect(flask.url_for("resume", aid=store.annotator(name)), 303)

    @app.get("/a/<int:aid>")
    def resume(aid: int):
        annotator_name(aid)
        seen = {a.example_id for a in store.answers(aid)}
        for pos, example in enumerate(study.examples, start=1):
            if example.id not in seen:
                return flask.redirect(flask.url_for("example", aid=aid, pos=pos))
        return flask.redirect(flask.url_for("done", aid=aid))

    @app.route("/a/<int:aid>/<int:pos>", methods=["GET", "POST"])
    def example(aid: int, pos: int):
        if flask.request.method == "GET":
            return example_page(aid, pos)
        annotator_name(aid)
        example = example_at(pos)
        form = flask.request.form
        action = form.get("action")
        revision = form.get("revision", "")
        if action not in ("rank", "skip") or not revision.isdigit():
            flask.abort(400, "malformed submission: it needs action=rank|skip and a revision")
        order = study.order(aid, example.id)
        ranking = None
        if action == "rank":
            submitted = [form.get(f"rank{i}", "") for i in range(k)]
            try:
                ranks = rankings.validate(submitted, k)
            except rankings.RankingError as e:
                chosen = [int(r) if r.isdigit() else None for r in submitted]
                return example_page(aid, pos, 400, error=_lettered(str(e)), chosen=chosen)
            ranking = dict(zip(order, ranks, strict=True))
        try:
            store.submit(aid, example.id, ranking, order, int(revision))
        except StaleAnswer:
            message = (
                "This example's answer changed after this page was loaded (a second submit, "
                "or another tab): the saved answer is shown below; change it and submit again."
            )
            return example_page(aid, pos, 409, error=message)
        if pos < n:
            return flask.redirect(flask.url_for("example", aid=aid, pos=pos + 1), 303)
        return flask.redirect(flask.url_for("done", aid=aid), 303)

    @app.get("/a/<int:aid>/<int:pos>/image.png")
    def image(aid: int, pos: int):
        annotator_name(aid)
        example = example_at(pos)
        if example.image is None:
            flask.abort(404, "a text example has no image")
        return flask.send_file(study.file(example.image), mimetype="image/png")

    @app.get("/a/<int:aid>/<int:pos>/heatmap/<int:slot>.png")
    def heatmap(aid: int, pos: int, slot: int):
        annotator_name(aid)
        example = example_at(pos)
        if study.kind != IMAGE or not 0 <= slot < k:
            flask.abort(404, f"no image heatmap {slot} for example {pos}")
        explainer = study.order(aid, example.id)[slot]
        return flask.send_file(study.file(example.heatmaps[explainer]), mimetype="image/png")

    @app.get("/a/<int:aid>/done")
    def done(aid: int):
        name = annotator_name(aid)
        answers = {a.example_id: a for a in store.answers(aid)}
        status = [answers[e.id].status if e.id in answers else None for e in study.examples]
        return render(
            "done.html",
            annotator=name,
            aid=aid,
            ranked=sum(s not in (None, SKIPPED) for s in status),
            skipped=status.count(SKIPPED),
            open=[(i, "not answered") for i, s in enumerate(status, 1) if s is None],
            skipped_list=[(i, "skipped") for i, s in enumerate(status, 1) if s == SKIPPED],
        )

    return app


def _lettered(message: str) -> str:
    """'explanation 2: ...' -> 'explanation B: ...' (annotators see letters)."""
    for i in range(len(LETTERS)):
        message = message.replace(f"explanation {i + 1}:", f"explanation {LETTERS[i]}:")
    return message


def serve(folder: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serves the study until interrupted (a threaded server: annotators work concurrently)."""
    from werkzeug.serving import make_server

    # A busy port: werkzeug prints the problem and the fix and exits with status 1.
    server = make_server(host, port, create_app(folder), threaded=True)
    print(f"study {folder}: open http://{host}:{server.server_port}/ (Ctrl-C stops)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"listening on {host}: anyone who can reach it can annotate (no login)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
