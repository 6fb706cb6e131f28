"""Tests of t2i_tf.training.checkpoint: model folders, training checkpoints and their errors."""

import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from t2i_tf.models.draw import Draw
from t2i_tf.training import checkpoint
from t2i_tf.training.checkpoint import CheckpointError

CONFIG = dict(image_shape=(12, 10), steps=3, enc_units=16, dec_units=16, z_dim=4, read_n=2,
              write_n=3, attention=True, seed=0)


def make_model(weights_seed=0, **overrides):
    model = Draw(**{**CONFIG, **overrides})
    model.build()
    rng = np.random.default_rng(weights_seed)
    for v in model.weights:
        v.assign(rng.normal(0, 0.3, v.shape).astype(np.float32))
    return model


def by_key(model):
    return {v.path.split("/", 1)[1]: np.array(v) for v in model.weights}


def trained_optimizer(model, steps=2):
    """An Adam that has taken `steps` steps on random gradients (non-zero moments)."""
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        grads = [ops.convert_to_tensor(rng.normal(0, 1, v.shape).astype(np.float32))
                 for v in model.trainable_variables]
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return optimizer


def check_error(excinfo, *fragments):
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message, message


def tmp_files(folder):
    return [name for name in os.listdir(folder) if name.startswith(".tmp-")]


# ---------------------------------------------------------------- model folders


def test_save_and_load_round_trip(tmp_path):
    model = make_model()
    folder = tmp_path / "model"
    checkpoint.save_model(str(folder), model)
    assert sorted(os.listdir(folder)) == ["config.json", "weights.npz"]
    with open(folder / "config.json") as f:
        config = json.load(f)
    assert config["model"] == "draw"
    assert config["config"] == {**CONFIG, "image_shape": [12, 10]}
    with np.load(folder / "weights.npz") as data:
        assert sorted(data.files) == sorted(f"model/{k}" for k in by_key(model))

    loaded = checkpoint.load_model(str(folder))
    assert isinstance(loaded, Draw)
    assert loaded.name != model.name  # another instance, matched by path under the model
    assert loaded.get_config() | {"name": None} == model.get_config() | {"name": None}
    original, restored = by_key(model), by_key(loaded)
    assert original.keys() == restored.keys()
    for key in original:
        np.testing.assert_array_equal(restored[key], original[key], err_msg=key)
    # Same function, too.
    rng = np.random.default_rng(2)
    x = (rng.random((3, 12, 10)) < 0.5).astype(np.float32)
    eps = rng.standard_normal((3, 3, 4)).astype(np.float32)
    for key, value in model.loss_terms(x, eps).items():
        np.testing.assert_array_equal(ops.convert_to_numpy(loaded.loss_terms(x, eps)[key]),
                                      ops.convert_to_numpy(value))


def test_saved_files_are_world_readable_and_no_temporaries(tmp_path):
    model = make_model()
    folder = tmp_path / "run"
    checkpoint.save_model(str(folder), model, trained_optimizer(model))
    assert sorted(os.listdir(folder)) == ["checkpoint.npz", "config.json", "weights.npz"]
    assert tmp_files(folder) == []
    umask = os.umask(0)
    os.umask(umask)
    for name in os.listdir(folder):
        assert os.stat(folder / name).st_mode & 0o777 == 0o666 & ~umask, name
    # Saving again over the old files leaves no temporaries either.
    checkpoint.save_model(str(folder), model, trained_optimizer(model))
    assert tmp_files(folder) == []


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"half of the new")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        checkpoint._atomic_write(str(path), broken)
    assert path.read_bytes() == b"old"
    assert tmp_files(tmp_path) == []
    checkpoint._atomic_write(str(path), lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
    assert tmp_files(tmp_path) == []


def test_unwritable_folder(tmp_path):
    (tmp_path / "file").write_text("a regular file")
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.save_model(str(tmp_path / "file" / "x"), make_model())
    check_error(excinfo, "cannot write to", str(tmp_path / "file" / "x"))
    assert (tmp_path / "file").read_text() == "a regular file"


@pytest.mark.parametrize("cut", ["half", "tail", "empty"])
def test_truncated_weights(tmp_path, cut):
    folder = tmp_path / "model"
    checkpoint.save_model(str(folder), make_model())
    data = (folder / "weights.npz").read_bytes()
    keep = {"half": len(data) // 2, "tail": len(data) - 10, "empty": 0}[cut]
    (folder / "weights.npz").write_bytes(data[:keep])
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.load_model(str(folder))
    check_error(excinfo, "weights.npz")


def test_garbage_weights(tmp_path):
    folder = tmp_path / "model"
    checkpoint.save_model(str(folder), make_model())
    (folder / "weights.npz").write_bytes(b"this is not an npz file at all")
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.load_model(str(folder))
    check_error(excinfo, "weights.npz", "unreadable")


def test_missing_and_invalid_model_folders(tmp_path):
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.load_model(str(tmp_path / "nowhere"))
    check_error(excinfo, "neither a folder nor a shipped model")

    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.load_model(str(tmp_path))
    check_error(excinfo, "config.json", "not a model folder")

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.load_model(str(tmp_path))
    check_error(excinfo, "not a valid model config")

    (tmp_path / "config.json").write_text(json.dumps({"model": "draw",
                                                      "config": {"no_such_arg": 1}}))
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.load_model(str(tmp_path))
    check_error(excinfo, "cannot build a model")


def test_weights_of_another_shape(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    checkpoint.save_model(str(small), make_model(z_dim=4))
    checkpoint.save_model(str(big), make_model(z_dim=5))
    os.replace(big / "weights.npz", small / "weights.npz")  # config says z_dim 4
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.load_model(str(small))
    check_error(excinfo, "does not fit this model", "shape")


def test_load_model_falls_back_to_checkpoint(tmp_path):
    model = make_model()
    checkpoint.save_model(str(tmp_path), model, trained_optimizer(model))
    os.remove(tmp_path / "weights.npz")
    loaded = checkpoint.load_model(str(tmp_path))
    for key, value in by_key(model).items():
        np.testing.assert_array_equal(by_key(loaded)[key], value)


# ---------------------------------------------------------------- training checkpoints


def test_restore_training_without_checkpoint(tmp_path):
    model = make_model()
    assert checkpoint.restore_training(str(tmp_path), model, keras.optimizers.Adam()) is False
    checkpoint.save_model(str(tmp_path), model)  # weights only: still nothing to resume
    assert checkpoint.restore_training(str(tmp_path), model, keras.optimizers.Adam()) is False


@pytest.mark.parametrize("other", [dict(z_dim=5), dict(attention=False), dict(steps=4),
                                   dict(seed=1)])
def test_restore_training_of_another_model(tmp_path, other):
    model = make_model()
    checkpoint.save_model(str(tmp_path), model, trained_optimizer(model))
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.restore_training(str(tmp_path), make_model(**other),
                                    keras.optimizers.Adam())
    check_error(excinfo, "another model", str(tmp_path))


def test_restore_training_round_trip(tmp_path):
    """A fresh model and optimizer resume the saved weights, moments and step count.

    The fresh instances are named draw_N / adam_N in this process (as any second model
    would be); weights are keyed without the model's name, so the optimizer's should be too.
    """
    model = make_model()
    optimizer = trained_optimizer(model, steps=2)
    checkpoint.save_model(str(tmp_path), model, optimizer)

    fresh = make_model(weights_seed=5)
    fresh_optimizer = keras.optimizers.Adam(1e-3)
    assert checkpoint.restore_training(str(tmp_path), fresh, fresh_optimizer) is True
    for key, value in by_key(model).items():
        np.testing.assert_array_equal(by_key(fresh)[key], value, err_msg=key)
    assert int(ops.convert_to_numpy(fresh_optimizer.iterations)) == 2
    saved = [np.array(v) for v in optimizer.variables]
    restored = [np.array(v) for v in fresh_optimizer.variables]
    assert len(saved) == len(restored)
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(b, a)


def optimizer_state(optimizer):
    """Step count and slots in order (the learning rate left out)."""
    return [np.array(v) for v in optimizer.variables if not v.path.endswith("/learning_rate")]


@pytest.mark.parametrize("before,after", [(0, 7), (7, 0)], ids=["to_schedule", "to_constant"])
def test_restore_training_with_another_rate_schedule(tmp_path, before, after):
    """A constant rate is an optimizer variable and a schedule is not: a run resumes with
    either whatever it started with, its moments intact and the rate the one asked for."""
    from t2i_tf.training import loop

    model = make_model()
    optimizer = loop.make_optimizer("rmsprop", 1e-3, 1.0, 1e-4, before)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(2)
    grads = [ops.convert_to_tensor(rng.normal(0, 1, v.shape).astype(np.float32))
             for v in model.trainable_variables]
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    checkpoint.save_model(str(tmp_path), model, optimizer)

    fresh = loop.make_optimizer("rmsprop", 5e-4, 1.0, 1e-4, after)
    assert checkpoint.restore_training(str(tmp_path), make_model(weights_seed=5), fresh)
    saved, restored = optimizer_state(optimizer), optimizer_state(fresh)
    assert len(saved) == len(restored) and int(restored[0]) == 1  # the step count
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(b, a)
    # The rate asked for now: 5e-4 (the constant, or the schedule's at step 1 < 7).
    np.testing.assert_allclose(float(ops.convert_to_numpy(fresh.learning_rate)), 5e-4)


def test_restore_training_of_a_checkpoint_that_holds_the_rate(tmp_path):
    """Checkpoints written before the rate was left out hold it at index 1; they load."""
    model = make_model()
    optimizer = trained_optimizer(model, steps=2)
    arrays = {f"model/{k}": v for k, v in by_key(model).items()}
    arrays.update({f"optimizer/{i:05d}": np.array(v) for i, v in enumerate(optimizer.variables)})
    assert optimizer.variables[1].path.endswith("/learning_rate")  # the old layout
    checkpoint.save_model(str(tmp_path), model)  # config.json
    np.savez(tmp_path / "checkpoint.npz", **arrays)
    fresh = keras.optimizers.Adam(5e-4)
    assert checkpoint.restore_training(str(tmp_path), make_model(weights_seed=5), fresh)
    saved, restored = optimizer_state(optimizer), optimizer_state(fresh)
    assert len(saved) == len(restored) and int(restored[0]) == 2
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(b, a)
    np.testing.assert_allclose(float(ops.convert_to_numpy(fresh.learning_rate)), 5e-4)


def test_truncated_training_checkpoint(tmp_path):
    model = make_model()
    checkpoint.save_model(str(tmp_path), model, trained_optimizer(model))
    data = (tmp_path / "checkpoint.npz").read_bytes()
    (tmp_path / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as excinfo:
        checkpoint.restore_training(str(tmp_path), make_model(), keras.optimizers.Adam())
    check_error(excinfo, "checkpoint.npz")


# ---------------------------------------------------------------- training workdirs


def checksums(folder):
    import hashlib

    return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest()
            for n in sorted(os.listdir(folder))}


def test_prepare_workdir_refuses_a_model_without_checkpoint(tmp_path):
    checkpoint.save_model(str(tmp_path), make_model())
    before = checksums(tmp_path)
    with pytest.raises(checkpoint.UsageError) as e:
        checkpoint.prepare_workdir(str(tmp_path))
    check_error(e, "holds a model but no training checkpoint", "--init_from=")
    assert checksums(tmp_path) == before
    assert checkpoint.prepare_workdir(str(tmp_path), overwrite=True) == (None, None)


def test_prepare_workdir_refuses_shipped_models_even_with_a_checkpoint(tmp_path, monkeypatch):
    shipped = tmp_path / "models"
    monkeypatch.setattr(checkpoint, "SHIPPED_MODELS_DIR", str(shipped))
    model = make_model()
    checkpoint.save_model(str(shipped / "m"), model, trained_optimizer(model))
    with pytest.raises(checkpoint.UsageError) as e:
        checkpoint.prepare_workdir(str(shipped / "m"))
    check_error(e, "is a shipped model", "--init_from=m")
    # A new folder, a folder with a checkpoint: trained in.
    assert checkpoint.prepare_workdir(str(tmp_path / "new")) == (None, None)
    assert checkpoint.prepare_workdir(str(shipped / "m"), overwrite=True) == (None, None)


def test_prepare_workdir_init_from_weights_or_training_state(tmp_path):
    model = make_model()
    weights_only, full = str(tmp_path / "weights_only"), str(tmp_path / "full")
    checkpoint.save_model(weights_only, model)
    checkpoint.save_model(full, model, trained_optimizer(model), record={"step": 2})
    with open(os.path.join(full, checkpoint.TRAINING_CURVE), "w") as f:
        f.write(json.dumps({"step": 2}) + "\n")
    note, init = checkpoint.prepare_workdir(str(tmp_path / "a"), init_from=weights_only)
    assert init == weights_only and "fresh optimizer" in note
    assert not os.path.exists(tmp_path / "a")  # nothing written until training starts
    note, init = checkpoint.prepare_workdir(str(tmp_path / "b"), init_from=full)
    assert init is None and "training state" in note
    assert checksums(tmp_path / "b")["checkpoint.npz"] == checksums(full)["checkpoint.npz"]
    assert checkpoint.checkpoint_record(str(tmp_path / "b")) == {"step": 2}
    assert os.path.exists(tmp_path / "b" / checkpoint.METRICS)
    # The second time, the workdir's own checkpoint wins.
    note, init = checkpoint.prepare_workdir(str(tmp_path / "b"), init_from=weights_only)
    assert init is None and "not used" in note


def test_load_weights_of_another_model(tmp_path):
    checkpoint.save_model(str(tmp_path), make_model(z_dim=5))
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_weights(str(tmp_path), make_model())
    check_error(e, "holds another model")


def test_init_from_carries_the_curve_of_every_earlier_run(tmp_path):
    def write_lines(path, records):
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)

    def read_lines(path):
        with open(path) as f:
            return [json.loads(line) for line in f]

    model = make_model()
    first = str(tmp_path / "first")  # a model shipped without its optimizer state
    checkpoint.save_model(first, model)
    write_lines(os.path.join(first, checkpoint.TRAINING_CURVE),
                [{"step": 5, "wall_s": 10.0, "valid/loss": 3.0},
                 {"step": 9, "wall_s": 20.0, "valid/loss": 2.0}])
    second = str(tmp_path / "second")
    note, init = checkpoint.prepare_workdir(second, init_from=first)
    assert init == first and "fresh optimizer" in note
    earlier = read_lines(os.path.join(second, checkpoint.EARLIER_CURVE))
    assert earlier == [{"step": 5, "wall_s": 10.0, "valid/loss": 3.0, "run": 0},
                       {"step": 9, "wall_s": 20.0, "valid/loss": 2.0, "run": 0}]
    # The second run counts its own steps from 0; its full curve goes on from the first's.
    write_lines(os.path.join(second, checkpoint.METRICS),
                [{"step": 4, "wall_s": 6.0, "valid/loss": 1.5}])
    assert checkpoint.full_curve(second)[2:] == [
        {"step": 13, "wall_s": 26.0, "valid/loss": 1.5, "run": 1}]
    # Shipped with its training state, the earlier runs travel with it.
    checkpoint.save_model(second, model, trained_optimizer(model), record={"step": 4})
    shipped = str(tmp_path / "shipped")
    os.makedirs(shipped)
    for name in (checkpoint.CONFIG, checkpoint.WEIGHTS, checkpoint.CHECKPOINT,
                 checkpoint.EARLIER_CURVE):
        with open(os.path.join(second, name), "rb") as f, \
                open(os.path.join(shipped, name), "wb") as g:
            g.write(f.read())
    write_lines(os.path.join(shipped, checkpoint.TRAINING_CURVE),
                read_lines(os.path.join(second, checkpoint.METRICS)))
    third = str(tmp_path / "third")
    note, init = checkpoint.prepare_workdir(third, init_from=shipped)
    assert init is None and "training state" in note
    assert checkpoint.full_curve(third) == checkpoint.full_curve(second)
    # Started from a workdir (its curve is metrics.jsonl), with or without its state.
    fourth, fifth = str(tmp_path / "fourth"), str(tmp_path / "fifth")
    checkpoint.prepare_workdir(fourth, init_from=second)
    assert checkpoint.full_curve(fourth) == checkpoint.full_curve(second)
    os.remove(os.path.join(second, checkpoint.CHECKPOINT))
    checkpoint.prepare_workdir(fifth, init_from=second)
    assert checkpoint.full_curve(fifth) == checkpoint.full_curve(second)


def test_compact_checkpoint_restores_a_close_training_state(tmp_path):
    """Shipped compact: weights, step, noise state and record exact; Adam's second moments
    within bfloat16's rounding (relative 2^-8); its first moments zero; the file smaller;
    and a workdir started from it (--init_from) resumes."""
    model = make_model()
    optimizer = trained_optimizer(model, steps=3)
    model.seed_generator.state.assign(np.array([7, 9], dtype="uint32"))
    full = str(tmp_path / "full")
    checkpoint.save_model(full, model, optimizer, record={"step": 3})
    shipped = str(tmp_path / "shipped")
    os.makedirs(shipped)
    for name in (checkpoint.CONFIG, checkpoint.WEIGHTS):
        with open(os.path.join(full, name), "rb") as f, \
                open(os.path.join(shipped, name), "wb") as g:
            g.write(f.read())
    checkpoint.compact_checkpoint(full, os.path.join(shipped, checkpoint.CHECKPOINT))
    size = lambda folder: os.path.getsize(os.path.join(folder, checkpoint.CHECKPOINT))
    assert size(shipped) < 0.3 * size(full)
    assert checkpoint.checkpoint_record(shipped) == {"step": 3}

    def restored(folder):
        other = make_model(weights_seed=5)
        fresh = keras.optimizers.Adam(1e-3)
        assert checkpoint.restore_training(folder, other, fresh)
        return other, fresh

    workdir = str(tmp_path / "workdir")
    checkpoint.prepare_workdir(workdir, init_from=shipped)
    for folder in (shipped, workdir):
        other, fresh = restored(folder)
        for a, b in zip(by_key(other).values(), by_key(model).values()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.array(other.seed_generator.state), [7, 9])
        assert int(np.array(fresh.iterations)) == 3
        for v_full, v_back in zip(optimizer.variables, fresh.variables):
            if v_full.path.endswith("_momentum"):
                assert not np.array(v_back).any()
            elif v_full.path.endswith("_velocity"):
                np.testing.assert_allclose(np.array(v_back), np.array(v_full), rtol=2**-8)
                assert np.array(v_full).any()


def test_resume_records_drop_a_torn_line_and_records_after_the_checkpoint(tmp_path):
    """A kill mid-write leaves a torn last line, and one after the metrics append but before
    the next checkpoint leaves records the checkpoint does not hold: resuming keeps exactly
    the records up to the checkpoint's step, and adds the checkpoint's own if it is missing."""
    from t2i_tf.training import loop

    def write(records, tail=""):
        with open(tmp_path / checkpoint.METRICS, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
            f.write(tail)

    def save_checkpoint_record(record):
        np.savez(tmp_path / checkpoint.CHECKPOINT,
                 **{checkpoint._RECORD_KEY: np.array(json.dumps(record))})

    save_checkpoint_record({"step": 20, "valid/loss": 2.0})
    write([{"step": 10}, {"step": 20, "valid/loss": 2.0}, {"step": 30}], tail='{"step": 4')
    assert loop._resume_records(str(tmp_path), 20) == {"step": 20, "valid/loss": 2.0}
    with open(tmp_path / checkpoint.METRICS) as f:
        assert [json.loads(line) for line in f] == [{"step": 10},
                                                    {"step": 20, "valid/loss": 2.0}]
    # Killed after the checkpoint but before its metrics line: the line is restored.
    save_checkpoint_record({"step": 40, "valid/loss": 1.0})
    assert loop._resume_records(str(tmp_path), 40) == {"step": 40, "valid/loss": 1.0}
    with open(tmp_path / checkpoint.METRICS) as f:
        assert [json.loads(line)["step"] for line in f] == [10, 20, 40]
