"""Optimizers and schedules against Keras 3 (torch backend), step by step."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.peers import require
from unrolled.errors import ConfigError, InputShapeError
from unrolled.training import optimizers as O
from unrolled.training import schedules as S

SHAPES = [(4, 3), (3,), (2, 5), (1,)]


def problem(seed, steps):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    # Alternate small and large gradients so that every clipping mode actually clips.
    grads = [[(rng.normal(size=s) * (4.0 if k % 2 else 0.3)).astype(np.float32) for s in SHAPES]
             for k in range(steps)]
    return weights, grads


def build_pair(name, kwargs):
    """(keras optimizer, unrolled optimizer); a ("Schedule", {...}) learning rate is
    built in both libraries."""
    keras = require("keras")
    ours_kw, theirs_kw = dict(kwargs), dict(kwargs)
    if isinstance(kwargs.get("learning_rate"), tuple):
        cls, cfg = kwargs["learning_rate"]
        ours_kw["learning_rate"] = getattr(S, cls)(**cfg)
        theirs_kw["learning_rate"] = getattr(keras.optimizers.schedules, cls)(**cfg)
    return getattr(keras.optimizers, name)(**theirs_kw), getattr(O, name)(**ours_kw)


def run_both(name, kwargs, steps, seed=0):
    keras = require("keras")
    torch = require("torch")
    theirs, ours = build_pair(name, kwargs)
    w0, grads = problem(seed, steps)
    k_vars = [keras.Variable(w) for w in w0]
    u_vars = [w.copy() for w in w0]
    for g in grads:
        theirs.apply_gradients(zip([torch.tensor(x) for x in g], k_vars))
        ours.apply_gradients(zip(g, u_vars))
    return theirs, ours, [np.asarray(v.numpy()) for v in k_vars], u_vars


CASES = [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "learning_rate": 0.01}),
    ("RMSprop", {}), ("RMSprop", {"centered": True, "momentum": 0.5}),
    ("RMSprop", {"momentum": 0.9}), ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.5, "epsilon": 1e-4}),
    ("Adam", {"clipnorm": 1.0}), ("SGD", {"clipvalue": 0.5, "momentum": 0.5}),
    ("RMSprop", {"global_clipnorm": 1.0}), ("SGD", {"weight_decay": 0.05}),
    ("Adam", {"learning_rate": ("ExponentialDecay",
                                dict(initial_learning_rate=0.01, decay_steps=3, decay_rate=0.5))}),
    ("SGD", {"learning_rate": ("PiecewiseConstantDecay",
                               dict(boundaries=[3, 8], values=[0.1, 0.05, 0.01]))}),
    ("AdamW", {"learning_rate": ("CosineDecay", dict(initial_learning_rate=0.001, decay_steps=10,
                                                     warmup_target=0.01, warmup_steps=5))}),
    ("Adam", {"use_ema": True, "ema_overwrite_frequency": 3}),
    ("RMSprop", {"gradient_accumulation_steps": 3, "weight_decay": 0.1}),
    ("SGD", {"loss_scale_factor": 8.0, "momentum": 0.5}),
]
IDS = [f"{n}-{','.join(k for k in kw) or 'defaults'}" for n, kw in CASES]


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
@pytest.mark.parametrize("steps,tol", [(1, 1e-6), (20, 1e-5)])
def test_weights_and_state_match_keras(name, kwargs, steps, tol):
    theirs, ours, k_weights, u_weights = run_both(name, kwargs, steps)
    for k, u in zip(k_weights, u_weights):
        assert u.dtype == np.float32
        np.testing.assert_allclose(u, k, rtol=0, atol=tol)
    assert ours.iterations == int(theirs.iterations.numpy())
    assert ours.learning_rate == pytest.approx(float(theirs.learning_rate), rel=1e-6)
    k_state = [np.asarray(v.numpy()) for v in theirs.variables]
    assert [v.shape for v in ours.variables] == [v.shape for v in k_state]
    for k, u in zip(k_state, ours.variables):
        np.testing.assert_allclose(u, k, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_variables_and_config_match_keras(name, kwargs):
    keras = require("keras")
    theirs, ours = build_pair(name, kwargs)
    w0, _ = problem(0, 0)
    theirs.build([keras.Variable(w) for w in w0])
    ours.build([w.copy() for w in w0])
    assert [v.shape for v in ours.variables] == [tuple(v.shape) for v in theirs.variables]
    k_config, u_config = theirs.get_config(), ours.get_config()
    assert list(u_config) == list(k_config)
    k_config.pop("name")
    assert {k: v for k, v in u_config.items() if k != "name"} == k_config


def test_state_loaded_from_keras_continues_identically():
    """Keras's `optimizer.variables` order is ours: copy mid-run state across and go on."""
    keras = require("keras")
    torch = require("torch")
    theirs, ours = build_pair("RMSprop", {"centered": True, "momentum": 0.5})
    w0, grads = problem(1, 10)
    k_vars = [keras.Variable(w) for w in w0]
    for g in grads[:5]:
        theirs.apply_gradients(zip([torch.tensor(x) for x in g], k_vars))
    u_vars = [np.asarray(v.numpy()).copy() for v in k_vars]
    ours.build(u_vars)
    ours.set_variables([np.asarray(v.numpy()) for v in theirs.variables])
    for g in grads[5:]:
        theirs.apply_gradients(zip([torch.tensor(x) for x in g], k_vars))
        ours.apply_gradients(zip(g, u_vars))
    for k, u in zip(k_vars, u_vars):
        np.testing.assert_allclose(u, np.asarray(k.numpy()), rtol=0, atol=1e-6)
    store: dict = {}
    ours.save_own_variables(store)
    fresh = O.RMSprop(centered=True, momentum=0.5)
    fresh.build(u_vars)
    fresh.load_own_variables(store)
    assert fresh.iterations == 10
    assert all(np.array_equal(a, b) for a, b in zip(fresh.variables, ours.variables))


@pytest.mark.parametrize("cls,cfg,steps", [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.3), 40),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.3,
                              staircase=True), 40),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5,
                              staircase=True), 40),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5), 40),
    ("PiecewiseConstantDecay", dict(boundaries=[5, 12.7], values=[1.0, 0.5, 0.1]), 20),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, power=0.5), 30),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, cycle=True), 30),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.1), 30),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=20, warmup_target=0.1,
                         warmup_steps=6), 30),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, t_mul=2.0,
                                 m_mul=0.8, alpha=0.05), 50),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=1.0), 20),
])
def test_schedules_match_keras(cls, cfg, steps):
    keras = require("keras")
    ours, theirs = getattr(S, cls)(**cfg), getattr(keras.optimizers.schedules, cls)(**cfg)
    for step in range(steps):
        value = ours(step)
        assert value.dtype == np.float32
        assert float(value) == pytest.approx(float(theirs(step)), rel=1e-6, abs=1e-9)
    assert ours.get_config() == theirs.get_config()
    blob = json.loads(json.dumps(S.serialize(ours)))
    assert blob == keras.optimizers.schedules.serialize(theirs)
    assert S.get(blob).get_config() == ours.get_config()


def test_serialized_optimizer_loads_in_keras_and_back():
    keras = require("keras")
    schedule = S.ExponentialDecay(0.01, decay_steps=100, decay_rate=0.9)
    ours = O.Adam(learning_rate=schedule, amsgrad=True, clipnorm=2.0)
    blob = json.loads(json.dumps(O.serialize(ours)))
    theirs = keras.optimizers.deserialize(blob)
    assert type(theirs).__name__ == "Adam" and theirs.amsgrad and theirs.clipnorm == 2.0
    assert isinstance(theirs._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    back = O.get(keras.saving.serialize_keras_object(theirs))
    assert type(back) is O.Adam and back.get_config() == ours.get_config()


@pytest.mark.parametrize("identifier,cls", [
    ("adam", O.Adam), ("Adam", O.Adam), ("sgd", O.SGD), ("rmsprop", O.RMSprop),
    ("RMSprop", O.RMSprop), ("adagrad", O.Adagrad), ("adamw", O.AdamW), ("AdamW", O.AdamW)])
def test_get_by_name(identifier, cls):
    keras = require("keras")
    ours = O.get(identifier)
    assert type(ours) is cls
    assert ours.get_config() == {**keras.optimizers.get(identifier).get_config(),
                                 "name": ours.name}


def test_names_follow_keras_snake_case():
    keras = require("keras")
    expected = {"SGD": "sgd", "Adam": "adam", "AdamW": "adam_w", "RMSprop": "rm_sprop",
                "Adagrad": "adagrad"}
    for cls, name in expected.items():
        assert getattr(O, cls)().name == name
        # Keras appends a session-wide counter ("adam_3") to repeated names.
        assert getattr(keras.optimizers, cls)().name.startswith(name)


def test_updates_views_in_place():
    packed = np.ones((3, 8), np.float32)                 # e.g. a kernel packed (in, 4H)
    gates = [packed[:, i * 2:(i + 1) * 2] for i in range(4)]
    opt = O.Adam(learning_rate=0.1)
    opt.apply([np.ones_like(g) for g in gates], gates)
    assert np.allclose(packed, 1 - 0.1, atol=1e-6)
    opt.apply([np.ones_like(g) for g in gates])          # built: variables are remembered
    assert opt.iterations == 2 and np.allclose(packed, 0.8, atol=1e-5)


def test_none_gradient_leaves_its_variable_alone():
    a, b = np.ones(3, np.float32), np.ones(2, np.float32)
    opt = O.SGD(learning_rate=0.5, momentum=0.9)
    opt.apply_gradients([(np.ones(3, np.float32), a), (None, b)])
    assert np.allclose(a, 0.5) and np.allclose(b, 1.0) and opt.iterations == 1


def test_learning_rate_property_and_setter():
    opt = O.SGD(learning_rate=0.1)
    assert opt.learning_rate == float(np.float32(0.1))
    opt.learning_rate = 0.05                              # what ReduceLROnPlateau does
    assert opt.learning_rate == float(np.float32(0.05))
    assert opt.get_config()["learning_rate"] == float(np.float32(0.05))
    with pytest.raises(ConfigError, match="learning_rate"):
        opt.learning_rate = -1.0
    scheduled = O.SGD(learning_rate=S.ExponentialDecay(0.1, 1, 0.5))
    with pytest.raises(ConfigError, match="not settable"):
        scheduled.learning_rate = 0.1
    a = np.zeros(2, np.float32)
    for _ in range(3):
        scheduled.apply([np.ones(2, np.float32)], [a])
    assert scheduled.learning_rate == pytest.approx(0.1 * 0.5 ** 3)
    assert len(scheduled.variables) == 1                  # no learning_rate variable


def test_bad_arguments():
    with pytest.raises(ConfigError, match="Unknown optimizer 'adamm'") as info:
        O.get("adamm")
    for known in ("adam", "adamw", "sgd", "rmsprop", "adagrad"):
        assert known in str(info.value)
    with pytest.raises(ConfigError, match="Only one of"):
        O.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ConfigError, match="learning_rate"):
        O.Adam(learning_rate=-0.001)
    with pytest.raises(ConfigError, match="momentum"):
        O.SGD(momentum=1.5)
    with pytest.raises(ConfigError, match="weight_decay"):
        O.AdamW(weight_decay=None)
    with pytest.raises(ConfigError, match="decay_steps"):
        S.CosineDecay(0.1, decay_steps=0)
    opt = O.Adam()
    opt.build([np.zeros((2, 3), np.float32)])
    with pytest.raises(InputShapeError, match=r"\(2, 3\).*\(3, 2\)"):
        opt.apply([np.zeros((3, 2), np.float32)], [np.zeros((3, 2), np.float32)])
    with pytest.raises(InputShapeError, match=r"shape \(2, 3\).*shape \(4,\)"):
        opt.set_variables([np.zeros(()), np.zeros(()), np.zeros(4), np.zeros((2, 3))])


def _one_at_a_time(cls):
    """``cls`` without the all-variables update: ``_update`` for each variable in turn."""
    return type(f"OneAtATime{cls.__name__}", (cls,), {"_update_all": lambda self, gs, ws, lr: False})


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("Adam", {"weight_decay": 0.1, "clipnorm": 1.0}),
    ("Adam", {"dtype": "float64"}), ("AdamW", {}), ("RMSprop", {}),
    ("RMSprop", {"centered": True, "momentum": 0.5}), ("RMSprop", {"momentum": 0.9, "dtype": "float64"}),
    ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.5, "clipvalue": 0.5, "dtype": "float64"}),
    ("Adagrad", {}), ("Adagrad", {"initial_accumulator_value": 0.5, "dtype": "float64"})])
def test_all_variables_at_once_is_bit_identical_to_one_at_a_time(name, kwargs):
    """Adam, RMSprop, SGD (momentum) and Adagrad update every variable in one pass over
    flat slots; each number must be the one the per-variable rule gives (the slots stay
    what `variables` lists)."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", "float32")
    w0, grads = problem(3, 12)
    w0 = [w.astype(dtype) for w in w0]
    cls = getattr(O, name)
    fused, single = cls(0.05, **kwargs), _one_at_a_time(cls)(0.05, **kwargs)
    a, b = [w.copy() for w in w0], [w.copy() for w in w0]
    for k, g in enumerate(grads):
        g = [x.astype(dtype) for x in g]
        fused.apply(g, a)
        single.apply(g, b)
        if k == 5:                             # state written from outside lands in the slots
            state = [v * 0.5 if v.ndim else v for v in single.variables]
            single.set_variables(state)
            fused.set_variables(state)
    assert "_grads" in fused._flat and "_grads" not in single._flat     # each path ran
    assert not any(np.shares_memory(v, slot) for v in a for slot in fused._flat.values())
    for p, q in zip(a + fused.variables, b + single.variables):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p, q)


def test_adam_with_a_missing_gradient_updates_the_others_one_at_a_time():
    w0, grads = problem(4, 3)
    fused, single = O.Adam(0.05), _one_at_a_time(O.Adam)(0.05)
    a, b = [w.copy() for w in w0], [w.copy() for w in w0]
    for g in grads:
        g = [None] + g[1:]
        fused.apply(g, a)
        single.apply(g, b)
    for p, q in zip(a + fused.variables, b + single.variables):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(a[0], w0[0])


@pytest.mark.parametrize("copy", ["deepcopy", "pickle"])
def test_a_copied_optimizer_continues_like_the_original(copy):
    """Slot views into the flat arrays do not survive copying; the copy must go on with
    the same numbers (one variable at a time) and report its own state."""
    import copy as copy_module
    import pickle

    w0, grads = problem(5, 6)
    opt, weights = O.Adam(0.05), [w.copy() for w in w0]
    for g in grads[:3]:
        opt.apply(g, weights)
    twin = (copy_module.deepcopy(opt) if copy == "deepcopy" else pickle.loads(pickle.dumps(opt)))
    twin_weights = [w.copy() for w in weights]
    for g in grads[3:]:
        opt.apply(g, weights)
        twin.apply(g, twin_weights)
    for p, q in zip(weights + opt.variables, twin_weights + twin.variables):
        np.testing.assert_array_equal(p, q)
