"""The run's time breakdown: exclusive phases that add up to the wall time, compilation apart."""

import time

import jax
import jax.numpy as jnp
import pytest

from smat import timing


def test_phases_are_exclusive_and_compilation_is_moved_out_of_them():
    t = timing.Timings()
    f = jax.jit(lambda x: jnp.tanh(x) @ x.T + 17.0)  # a function no other test has compiled
    start = time.perf_counter()
    with t.phase("outer"):
        time.sleep(0.05)
        with t.phase("inner"):
            f(jnp.ones((32, 32))).block_until_ready()  # traced, lowered and compiled here
            time.sleep(0.05)
    wall = time.perf_counter() - start
    s = dict(t.seconds)
    assert set(s) == {"outer", "inner", "compile"} and s["compile"] > 0
    assert s["outer"] >= 0.05 and s["inner"] >= 0.05
    assert sum(s.values()) == pytest.approx(wall, abs=0.01)
    with t.phase("inner"):
        f(jnp.ones((32, 32))).block_until_ready()  # cached: nothing more to compile
    assert t.seconds["compile"] == s["compile"]


def test_compilation_goes_to_the_innermost_run():
    student, teacher = timing.Timings(), timing.Timings()
    with student.phase("setup"):
        with teacher.phase("train"):  # a student training its teacher first
            jax.jit(lambda x: x * 3.0 - 5.0)(jnp.ones(7)).block_until_ready()
    assert teacher.seconds["compile"] > 0 and "compile" not in student.seconds


def test_a_resumed_run_adds_its_earlier_phases_and_the_summary_prints_shares():
    t = timing.Timings()
    t.load({"train": 30.0, "evaluation": 10.0})
    t.load({"train": 30.0})
    assert t.rounded() == {"train": 60.0, "evaluation": 10.0}
    assert list(t.rounded()) == ["train", "evaluation"]  # largest first
    assert timing.format_phases(t.rounded()) == "train 60s (86%) · evaluation 10s (14%)"
