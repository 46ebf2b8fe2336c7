"""Sweeps: a grid of student runs sharing one teacher (`spec`), its record on disk
(`manifest`), and the `runner`. The command line is `python -m smat.sweep`, which re-exports
what sweep files import (`from smat.sweep import Cell, Sweep, explainer_grid`)."""
