"""Interrupted saves: a process killed mid-save leaves the previous model loadable, and
the temporary file it leaves behind is recognised and removed by the next save."""
from __future__ import annotations

import os
import random
import signal
import time

import pytest

import unrolled
from unrolled.io import atomic
from unrolled.models.saving import load_model, save_model
from unrolled.layers import LSTM, Dense

def _temps(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_killed_saves_leave_a_loadable_model_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "m.keras"
    model = unrolled.Sequential([unrolled.Input((5, 16)), LSTM(256), Dense(4)])  # ~1 MB
    save_model(model, path)
    rng = random.Random(0)
    left = 0
    for _ in range(12):
        pid = os.fork()
        if pid == 0:  # the child saves in a loop until it is killed
            try:
                while True:
                    save_model(model, path)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        left += len(_temps(tmp_path))
        assert load_model(path).layers[0].units == 256   # the last complete save, never a mix
    assert left > 0, "no kill landed during a save: the test proved nothing"
    # Each earlier child's leftovers went at the start of the next child's first save;
    # the last child's are removed by this save.
    save_model(unrolled.Sequential([unrolled.Input((5, 16)), LSTM(2), Dense(1)]), path)
    assert _temps(tmp_path) == []
    assert load_model(path).layers[0].units == 2


def test_temp_files_of_live_processes_and_other_files_are_kept(tmp_path):
    mine = tmp_path / f".m.keras.unrolled-{os.getpid()}-0123456789ab.tmp"
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: no such process
    dead = tmp_path / f".m.keras.unrolled-{dead_pid}-0123456789ab.tmp"
    other = tmp_path / ".notes.tmp"
    for f in (mine, dead, other):
        f.write_bytes(b"x")
    save_model(unrolled.Sequential([unrolled.Input((2, 1)), Dense(1)]), tmp_path / "n.keras")
    assert sorted(os.listdir(tmp_path)) == sorted([mine.name, other.name, "n.keras"])
    assert atomic.remove_stale_temp_files(str(tmp_path)) == []


def test_temp_file_name_is_recognisable(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real(src, dst)
    monkeypatch.setattr(os, "replace", spy)
    atomic.atomic_write_bytes(tmp_path / "f.bin", b"data")
    assert len(seen) == 1 and atomic._TEMP.match(seen[0])
    assert f"-{os.getpid()}-" in seen[0] and seen[0].startswith(".f.bin.unrolled-")
