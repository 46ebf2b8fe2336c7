"""Human evaluation: people rank explanation heatmaps; rankings become per-explainer ratings.

  python -m smat.annotate export --workdir runs/imdb/smat --n 50 --out study/
  python -m smat.annotate serve study/ --port 8000
  python -m smat.annotate keys study/      # every annotator's personal address
  python -m smat.annotate analyze study/

Modules: `study` (the folder), `export` (from a student run), `rankings` (valid rankings with
ties), `store` (SQLite answers), `app` (the Flask web app), `analysis` (TrueSkill ratings).
"""

from smat.annotate.rankings import RankingError, validate
from smat.annotate.store import Answer, StaleAnswer, Store
from smat.annotate.study import Item, Study, load_study, write_study

__all__ = [
    "Answer",
    "Item",
    "RankingError",
    "StaleAnswer",
    "Store",
    "Study",
    "load_study",
    "validate",
    "write_study",
]
