"""A dry run of a human-evaluation study, end to end, with simulated annotators.

  python experiments/annotation_demo.py --workdir runs/imdb/smat

1. `python -m smat.annotate export` a study of the SMAT run (learned, static attention,
   integrated gradients, gradient x input);
2. serves it on a free local port and, when Chromium is installed, screenshots the first
   example in a headless browser (the README's picture);
3. annotators whose preferences are *simulated* (a known order, noise and ties:
   `smat.annotate.rankings.simulated_rankings`) submit their rankings over HTTP like browsers do;
4. `analyze`: TrueSkill ratings with bootstrap intervals must recover the simulated order.
Writes screenshot.png, analysis.md, ratings.csv and ratings.png to --results.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import threading
import urllib.parse
import urllib.request

from smat.annotate.analysis import analyze
from smat.annotate.app import create_app
from smat.annotate.export import export
from smat.annotate.rankings import simulated_rankings

# The order the simulated annotators prefer (their mean judgement of each explainer).
SKILLS = {
    "learned": 1.0,
    "attention_all": 0.6,
    "integrated_gradients": 0.0,
    "gradient_x_input": -0.4,
}


def screenshot(base: str, path: str) -> bool:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        return False
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=browser,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = b.new_page(viewport={"width": 1100, "height": 900})
        page.goto(base)
        page.fill("#name", "Ana")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/a/[\w-]+/1\?new=1$"))
        for slot, rank in enumerate([2, 1, 4, 2]):
            page.check(f"input[name=rank{slot}][value='{rank}']")
        page.screenshot(path=path, full_page=True)
        b.close()
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/imdb/smat", help="a SMAT student run")
    parser.add_argument("--study", default="runs/annotation_demo/study")
    parser.add_argument("--results", default="experiments/results/annotation_demo")
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--annotators", type=int, default=4)
    args = parser.parse_args()
    shutil.rmtree(args.study, ignore_errors=True)
    study = export(args.workdir, list(SKILLS), args.n, args.study)
    os.makedirs(args.results, exist_ok=True)

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(args.study), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    shot = screenshot(base, os.path.join(args.results, "screenshot.png"))
    # Simulated annotators submit as browsers do; each example's slots are shown shuffled, so
    # the explainer -> rank judgement is sent in the order the server shows it.
    for j in range(args.annotators):
        name = f"simulated-{j}"
        with urllib.request.urlopen(
            f"{base}/start", urllib.parse.urlencode({"name": name}).encode()
        ) as r:
            key = r.url.split("/")[-2]
            aid, _ = study.store().by_token(key)
        judged = simulated_rankings(SKILLS, len(study.examples), seed=100 + j)
        for pos, (example, ranking) in enumerate(zip(study.examples, judged, strict=True), 1):
            form = {"action": "rank", "revision": "0"}
            for slot, explainer in enumerate(study.order(aid, example.id)):
                form[f"rank{slot}"] = str(ranking[explainer])
            urllib.request.urlopen(f"{base}/a/{key}/{pos}", urllib.parse.urlencode(form).encode())
    server.shutdown()
    result = analyze(study, args.results, bootstrap=200)
    with open(os.path.join(args.results, "analysis.md")) as f:
        print(f.read())
    print("simulated order:", " > ".join(SKILLS))
    print("recovered order:", " > ".join(r.explainer for r in result["ratings"]))
    print(
        f"wrote {args.results}/"
        + (" (with screenshot.png)" if shot else " (no chromium: no screenshot)")
    )


if __name__ == "__main__":
    main()
