"""Errors that reach the user as one clear message (no traceback) from `smat.main`."""


class ConfigError(ValueError):
    """A config, data file or checkpoint that cannot work; the message says how to fix it."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message names the folder and what to do
    (the newest intact checkpoint is never removed)."""
