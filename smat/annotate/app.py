"""The annotation web app (Flask): annotators rank each example's explanations, answers go to
the study's SQLite file.

Pages: `/` (enter a name) -> `/a/<key>` (continue at the first example not yet answered)
-> `/a/<key>/<position>` (one example: its explanations in an order shuffled per annotator
and example, without method names; submit a ranking, skip, go back) -> `/a/<key>/done`.
`<key>` is the annotator's secret (128 random bits, made when they start): only whoever holds
an annotator's address can see or change their answers, and a name already taken does not
continue as its owner (`python -m smat.annotate keys STUDY` lists the addresses for the
organiser). Bad requests get a 4xx page saying what was wrong; nothing a client sends can crash
the server.
"""

from __future__ import annotations

import dataclasses
import re
import string

import flask
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from smat.annotate import rankings
from smat.annotate.store import SKIPPED, StaleAnswer
from smat.annotate.study import IMAGE, load_study
from smat.errors import ConfigError

MAX_NAME = 60
NEW_KEY = (
    "Bookmark this page: its address is your personal key, the only way back to your answers "
    "(entering your name again does not continue them)."
)
LETTERS = string.ascii_uppercase


@dataclasses.dataclass(frozen=True)
class Slot:
    index: int
    letter: str
    fragment: Markup | None
    rank: int | None


MAX_REQUEST_BYTES = 64 * 1024


def create_app(folder: str) -> flask.Flask:
    """The WSGI app of a study folder (also servable by any WSGI server)."""
    study = load_study(folder)
    store = study.store()
    n, k = len(study.examples), len(study.explainers)
    app = flask.Flask(__name__)
    # A form here is a name or k ranks: anything larger is refused (413) before it is parsed.
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    def render(template: str, status: int = 200, **context):
        html = flask.render_template(template, n=n, k=k, kind=study.kind, **context)
        return html, status

    def annotator(key: str) -> tuple[int, str]:
        found = store.by_token(key)
        if found is None:
            flask.abort(
                404,
                "no annotator has this address: open the personal link you got when you "
                "started, or start from the first page with a new name",
            )
        return found

    def example_at(pos: int):
        if not 1 <= pos <= n:
            flask.abort(404, f"no example {pos}: this study has examples 1 to {n}")
        return study.examples[pos - 1]

    def example_page(key: str, pos: int, status: int = 200, **extra):
        (aid, name), example = annotator(key), example_at(pos)
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
            key=key,
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
        key = store.register(name)
        if key is None:
            error = (
                f"The name {name!r} is taken. If it is yours, open your personal link (the "
                "address of your pages; the study's organiser can give it to you again) to "
                "continue; otherwise choose another name."
            )
            return render("start.html", 409, max_name=MAX_NAME, error=error, name=name)
        return flask.redirect(flask.url_for("resume", key=key, new=1), 303)

    @app.get("/a/<key>")
    def resume(key: str):
        aid, _ = annotator(key)
        seen = {a.example_id for a in store.answers(aid)}
        for pos, example in enumerate(study.examples, start=1):
            if example.id not in seen:
                new = flask.request.args.get("new")  # first visit: say the address is the key
                return flask.redirect(flask.url_for("example", key=key, pos=pos, new=new))
        return flask.redirect(flask.url_for("done", key=key))

    @app.route("/a/<key>/<int:pos>", methods=["GET", "POST"])
    def example(key: str, pos: int):
        if flask.request.method == "GET":
            new = flask.request.args.get("new") == "1"
            return example_page(key, pos, notice=NEW_KEY if new else None)
        aid, _ = annotator(key)
        example = example_at(pos)
        form = flask.request.form
        action = form.get("action")
        revision = rankings.small_int(form.get("revision", ""))
        if action not in ("rank", "skip") or revision is None or revision < 0:
            flask.abort(400, "malformed submission: it needs action=rank|skip and a revision")
        order = study.order(aid, example.id)
        ranking = None
        if action == "rank":
            submitted = [form.get(f"rank{i}", "") for i in range(k)]
            try:
                ranks = rankings.validate(submitted, k)
            except rankings.RankingError as e:
                chosen = [rankings.small_int(r.strip()) for r in submitted]
                return example_page(key, pos, 400, error=_lettered(str(e)), chosen=chosen)
            ranking = dict(zip(order, ranks, strict=True))
        try:
            store.submit(aid, example.id, ranking, order, revision)
        except StaleAnswer:
            message = (
                "This example's answer changed after this page was loaded (a second submit, "
                "or another tab): the saved answer is shown below; change it and submit again."
            )
            return example_page(key, pos, 409, error=message)
        if pos < n:
            return flask.redirect(flask.url_for("example", key=key, pos=pos + 1), 303)
        return flask.redirect(flask.url_for("done", key=key), 303)

    @app.get("/a/<key>/<int:pos>/image.png")
    def image(key: str, pos: int):
        annotator(key)
        example = example_at(pos)
        if example.image is None:
            flask.abort(404, "a text example has no image")
        return flask.send_file(study.file(example.image), mimetype="image/png")

    @app.get("/a/<key>/<int:pos>/heatmap/<int:slot>.png")
    def heatmap(key: str, pos: int, slot: int):
        aid, _ = annotator(key)
        example = example_at(pos)
        if study.kind != IMAGE or not 0 <= slot < k:
            flask.abort(404, f"no image heatmap {slot} for example {pos}")
        explainer = study.order(aid, example.id)[slot]
        return flask.send_file(study.file(example.heatmaps[explainer]), mimetype="image/png")

    @app.get("/a/<key>/done")
    def done(key: str):
        aid, name = annotator(key)
        answers = {a.example_id: a for a in store.answers(aid)}
        status = [answers[e.id].status if e.id in answers else None for e in study.examples]
        return render(
            "done.html",
            annotator=name,
            key=key,
            ranked=sum(s not in (None, SKIPPED) for s in status),
            skipped=status.count(SKIPPED),
            open=[(i, "not answered") for i, s in enumerate(status, 1) if s is None],
            skipped_list=[(i, "skipped") for i, s in enumerate(status, 1) if s == SKIPPED],
        )

    return app


def hide_keys(text: str) -> str:
    """'/a/<key>/3' -> '/a/***/3' (request lines in logs)."""
    return re.sub(r"/a/[^/\s?]+", "/a/***", text)


def _lettered(message: str) -> str:
    """'explanation 2: ...' -> 'explanation B: ...' (annotators see letters)."""
    for i in range(len(LETTERS)):
        message = message.replace(f"explanation {i + 1}:", f"explanation {LETTERS[i]}:")
    return message


def serve(folder: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serves the study until interrupted (a threaded server: annotators work concurrently)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class KeyHidingHandler(WSGIRequestHandler):
        """The access log without annotators' secret keys (they are the only credential)."""

        def log_request(self, *args, **kwargs):
            self.requestline = hide_keys(self.requestline)
            super().log_request(*args, **kwargs)

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: a TCP port is 0..65535 (0: any free one)")
    app = create_app(folder)
    # A busy port: werkzeug prints the problem and the fix and exits with status 1.
    server = make_server(host, port, app, threaded=True, request_handler=KeyHidingHandler)
    print(f"study {folder}: open http://{host}:{server.server_port}/ (Ctrl-C stops)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"listening on {host}: anyone who can reach it can start as a new annotator; "
            "each annotator's answers are reachable only with their own address",
            flush=True,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
