"""smat's config: the schema (every field, its default and meaning: `schema`), validation,
loading from files and overrides (`files`), and configs as records (`records`). Everything is
re-exported here: `from smat import config as config_lib; config_lib.validate(c)`.

Any field can be overridden on the command line: `--config.optim.learning_rate=1e-4`. The
config is locked: an unknown field or a value of the wrong type is rejected.
"""

from smat.config.files import from_file, override, sibling_module, variant
from smat.config.records import HPARAMS, defaults, diff, hparams, leaves, to_dict
from smat.config.schema import (
    HEAD_NORMS,
    HYPERGRADIENTS,
    SHARED_DATA_FIELDS,
    STUDENT_SEED_STRIDE,
    TOKEN_NORMS,
    base,
    explainer_section,
    num_student_examples,
    optim_section,
    short_run,
    student_base,
    student_of,
    student_seeds,
    teacher_config,
)
from smat.config.validation import validate

__all__ = [
    "HEAD_NORMS",
    "HPARAMS",
    "HYPERGRADIENTS",
    "SHARED_DATA_FIELDS",
    "STUDENT_SEED_STRIDE",
    "TOKEN_NORMS",
    "base",
    "defaults",
    "diff",
    "explainer_section",
    "from_file",
    "hparams",
    "leaves",
    "num_student_examples",
    "optim_section",
    "override",
    "short_run",
    "sibling_module",
    "student_base",
    "student_of",
    "student_seeds",
    "teacher_config",
    "to_dict",
    "validate",
    "variant",
]
