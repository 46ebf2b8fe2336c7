"""The jitted, sharded train step on several (fake CPU) devices equals the one-device step."""

import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np
    from smat import config as config_lib, sharding
    from smat.errors import ConfigError
    from smat.trainers import NoTeacherTrainer

    def trainer(mesh_data, workdir):
        c = config_lib.from_file("configs/imdb_teacher.py:smoke")
        c.data.cache_dir = sys.argv[1]
        c.mesh.data = mesh_data
        t = NoTeacherTrainer(c, workdir)
        t.setup()
        return t

    out = {"devices": len(jax.devices())}
    runs = {}
    for n in (1, 4):
        t = trainer(n, os.path.join(sys.argv[2], str(n)))
        losses = []
        with t.mesh:
            for step in range(3):
                batch = sharding.put_batch(t.next_batch(step), t.mesh)
                t.state, m = t.train_step(t.state, batch)
                losses.append(float(m.compute()["loss"]))
        runs[n] = (losses, jax.tree.leaves(t.state.params))
        out[f"batch_shards_{n}"] = len(batch["input_ids"].sharding.device_set)
        out[f"param_devices_{n}"] = len(runs[n][1][0].sharding.device_set)
    out["loss_diff"] = max(abs(a - b) for a, b in zip(runs[1][0], runs[4][0]))
    out["param_diff"] = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                            for a, b in zip(runs[1][1], runs[4][1]))
    c = config_lib.from_file("configs/imdb_teacher.py:smoke")
    c.train.batch_size = 6
    try:
        NoTeacherTrainer(c, "unused")
    except ConfigError as e:
        out["indivisible"] = str(e)
    print(json.dumps(out))
    """
)


def test_sharded_step_matches_single_device(tmp_path, cache_dir, run_json_script):
    out = run_json_script(SCRIPT, cache_dir, str(tmp_path))
    assert out["devices"] == 4
    assert out["batch_shards_4"] == 4 and out["param_devices_4"] == 4  # data-parallel, replicated
    assert out["batch_shards_1"] == 1
    assert out["loss_diff"] < 1e-5
    assert out["param_diff"] < 1e-5
    assert "train.batch_size=6 is not divisible by the 4 devices" in out["indivisible"]
