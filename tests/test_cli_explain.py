"""`unrolled explain` and `unrolled demo` print the seed's numbers."""
import subprocess
import sys

import pytest

from unrolled.cli import main


@pytest.mark.parametrize("features, params, kernel_c", [(1, 12, "(1, 1)"), (2, 16, "(2, 1)")])
def test_explain_reproduces_the_seed(capsys, features, params, kernel_c):
    assert main(["explain", "--units", "1", "--timesteps", "1", "--features", str(features)]) == 0
    out = capsys.readouterr().out
    assert f"Total params: {params} " in out
    assert "│ lstm (LSTM)" in out and f" {params} │" in out  # the table row
    assert f"kernel_c {kernel_c}" in out
    assert "bias_c (1,)" in out
    assert f"= {params}  [kernel {4 * features}, recurrent_kernel 4, bias 4]" in out
    assert "one number per unit per sample" in out


def test_explain_shapes_for_a_larger_configuration(capsys):
    main(["explain", "--units", "8", "--timesteps", "20", "--features", "5"])
    out = capsys.readouterr().out
    assert "kernel_c (5, 8)" in out and "recurrent_kernel_c (8, 8)" in out and "bias_c (8,)" in out
    assert f"Total params: {4 * (5 * 8 + 8 * 8 + 8):,} " in out
    assert "(B, 5)·(5, 8)" in out


def test_explain_rejects_non_positive_units(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["explain", "--units", "0"])
    assert exc.value.code == 2
    assert "expected a positive integer, got 0" in capsys.readouterr().err


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "unrolled", "explain", "--features", "2"],
                         capture_output=True, text=True, check=True).stdout
    assert "Total params: 16 " in out
