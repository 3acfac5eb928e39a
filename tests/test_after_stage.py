"""The post-stage measuring sequence (benchmarks/after_stage.py): order, selection of
steps, and stopping at the first failure."""

import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import after_stage  # noqa: E402


@pytest.fixture
def stage(tmp_path):
    p = tmp_path / "drunet_gray_stage9.safetensors"
    p.write_bytes(b"not read by the sequence itself")
    return p


def _ran(monkeypatch, fail_at=None):
    ran = []

    def fake_run(cmd, cwd=None):
        ran.append(cmd)
        failed = fail_at is not None and after_stage.STEPS[len(ran) - 1] == fail_at
        return types.SimpleNamespace(returncode=3 if failed else 0)

    monkeypatch.setattr(after_stage.subprocess, "run", fake_run)
    return ran


def test_runs_every_step_in_order_with_the_stage_and_name(monkeypatch, stage):
    ran = _ran(monkeypatch)
    assert after_stage.main([str(stage), "--name", "drunet_gray", "--recipe", "a b",
                             "--int8", "--replaces", "old1"]) == 0
    scripts = [Path(c[1]).name for c in ran]
    assert scripts == ["heldapart.py", "ship.py", "precision.py", "quality.py", "unseen.py",
                       "quality.py", "update_cards.py", "backends.py"]
    assert ran[0][2:] == ["drunet_gray", str(stage)]            # old shipped against new stage
    assert ran[1][2:] == [str(stage), "--name", "drunet_gray", "--recipe", "a b",
                          "--replaces", "old1", "--int8"]
    assert "drunet_gray@best" in ran[4]
    assert ran[5][ran[5].index("--sets") + 1:][:2] == ["CBSD68", "Kodak24"]


def test_from_skip_and_only_select_steps(monkeypatch, stage):
    ran = _ran(monkeypatch)
    base = [str(stage), "--name", "n", "--recipe", "r"]
    after_stage.main(base + ["--from", "unseen", "--skip", "colour"])
    assert [Path(c[1]).name for c in ran] == ["unseen.py", "update_cards.py", "backends.py"]
    ran.clear()
    after_stage.main(base + ["--only", "heldapart"])
    assert [Path(c[1]).name for c in ran] == ["heldapart.py"]


def test_dry_run_runs_nothing_and_prints_the_commands(monkeypatch, stage, capsys):
    ran = _ran(monkeypatch)
    assert after_stage.main([str(stage), "--name", "n", "--recipe", "r", "--dry-run"]) == 0
    assert ran == []
    out = capsys.readouterr().out
    assert out.count("## ") == len(after_stage.STEPS) and "recipes/ship.py" in out


def test_stops_at_the_first_failure_and_says_where_to_resume(monkeypatch, stage, capsys):
    ran = _ran(monkeypatch, fail_at="precision")
    assert after_stage.main([str(stage), "--name", "n", "--recipe", "r"]) == 3
    assert len(ran) == 3                                       # heldapart, ship, precision
    assert "--from precision" in capsys.readouterr().err


def test_a_missing_stage_file_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        after_stage.main([str(tmp_path / "nope.safetensors"), "--name", "n", "--recipe", "r"])
    assert e.value.code == 2
    assert "no such stage file" in capsys.readouterr().err


def test_the_recipe_is_needed_only_when_shipping(monkeypatch, stage, capsys):
    ran = _ran(monkeypatch)
    assert after_stage.main([str(stage), "--name", "n", "--only", "heldapart"]) == 0
    assert len(ran) == 1
    with pytest.raises(SystemExit):
        after_stage.main([str(stage), "--name", "n", "--from", "ship"])
    assert "--recipe is needed to ship" in capsys.readouterr().err
