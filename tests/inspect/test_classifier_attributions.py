"""Per-class attributions of classifiers: completeness for every class (softmax and
sigmoid outputs, Dense activation or a Softmax layer, Sequential and Functional), the
predicted class explained by default, the classes of a softmax cancelling, and one table
per class in the report; `unrolled inspect --class`."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unrolled
from unrolled.errors import ConfigError
from unrolled.inspect.attributions import attributions, class_attributions, predicted_class
from unrolled.layers import GRU, LSTM, Dense, Softmax
from tests.reference import random_weights

ROOT = Path(__file__).resolve().parents[2]
T, F, C = 6, 3, 4


def _randomize(model, seed=2):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            random_weights(layer, rng, low=0.2, high=0.9)
    return model


def _softmax_model():
    unrolled.set_random_seed(1)
    return _randomize(unrolled.Sequential([unrolled.Input((T, F)), LSTM(5), Dense(C, activation="softmax")]))


def _x(batch=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, T, F)).astype(np.float32) * 1.5


def _functional_softmax_layer():
    inp = unrolled.Input((T, F))
    out = Softmax()(Dense(C)(GRU(4)(inp)))
    return _randomize(unrolled.Model(inp, out), seed=5)


def _sigmoid_labels():
    unrolled.set_random_seed(1)
    return _randomize(unrolled.Sequential([unrolled.Input((T, F)), GRU(4), Dense(3, activation="sigmoid")]), seed=7)


@pytest.mark.parametrize("make", [_softmax_model, _functional_softmax_layer, _sigmoid_labels],
                         ids=["softmax-dense", "functional-softmax-layer", "sigmoid-multilabel"])
def test_every_class_is_complete(make):
    model, x = make(), _x()
    probs = model.predict(x, verbose=0)
    per_class = class_attributions(model, x, sample=1)
    assert sorted(per_class) == list(range(probs.shape[1]))
    for c, att in per_class.items():
        assert att.output == pytest.approx(float(probs[1, c]), rel=1e-5)
        assert att.completeness_error <= 1e-4, (c, att.completeness_error)
        assert np.abs(att.values).max() > 0
        assert ("class" in att.output_name or "label" in att.output_name) and "probability" in att.output_name


def test_softmax_classes_cancel_and_the_predicted_class_is_the_default():
    model, x = _softmax_model(), _x()
    probs = model.predict(x, verbose=0)
    per_class = class_attributions(model, x, sample=2)
    total = sum(a.values for a in per_class.values())
    scale = max(np.abs(a.values).max() for a in per_class.values())
    assert np.abs(total).max() <= 1e-4 * scale                       # Σ_c p_c = 1 everywhere
    winner = int(np.argmax(probs[2]))
    assert predicted_class(model, x, sample=2) == winner
    default = attributions(model, x, sample=2)
    assert default.output_name == f"class {winner} (probability), the predicted class"
    np.testing.assert_allclose(default.values, per_class[winner].values, rtol=1e-6, atol=1e-9)


def test_not_a_classifier_is_refused_with_a_hint():
    unrolled.set_random_seed(1)
    model = unrolled.Sequential([unrolled.Input((T, F)), LSTM(2), Dense(2)])
    with pytest.raises(ConfigError, match="needs a classifier.*attributions\\(model, x, output=k\\)"):
        class_attributions(model, _x())
    assert predicted_class(model, _x()) is None


def test_report_has_a_table_per_class():
    pytest.importorskip("matplotlib")
    from unrolled.inspect.report import report

    model, x = _softmax_model(), _x()
    html = report(model, x, feature_names=["a", "b", "c"])
    text = re.sub(r"<[^>]+>", " ", html)
    winner = int(np.argmax(model.predict(x, verbose=0)[-1]))
    assert "Per class: what drove each class" in text
    for c in range(C):
        assert f"class {c}" in text
    assert re.search(rf"class {winner}\s+\(predicted\)", text)
    assert f"class {winner} (probability), the predicted class" in text
    assert text.count("relative error") >= C + 1


def test_cli_inspect_class_option(tmp_path):
    pytest.importorskip("matplotlib")
    model = _softmax_model()
    model.save(tmp_path / "c.keras")
    np.save(tmp_path / "x.npy", _x())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-m", "unrolled", "inspect", "c.keras", "x.npy", "--class", "2",
                          "-o", "c.html"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "Integrated gradients of class 2 (probability) from" in html
