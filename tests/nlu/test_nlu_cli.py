"""CLI contracts of ``intake nlu train|evaluate|parse`` (functions and a real subprocess)."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from nlu.cli import (
    add_evaluate_arguments,
    add_parse_arguments,
    add_train_arguments,
    evaluate_main,
    parse_main,
    train_main,
)
from nlu.model import latest_model_path

ROOT = Path(__file__).resolve().parents[2]

DATA = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - 你好
    - 您好
    - 在吗
    - 有人吗
    - 早上好
    - 你好在不在
- intent: thanks
  examples: |
    - 谢谢
    - 谢谢你们
    - 多谢
    - 太感谢了
    - 辛苦了谢谢
    - 感谢帮忙
- intent: out_of_scope
  examples: |
    - 帮我推荐一只股票
    - 今天天气怎么样
    - 讲个笑话
    - 你会唱歌吗
    - 世界杯谁赢了
    - 帮我写作业
- intent: report.streetlight
  examples: |
    - 小区门口的路灯不亮了
    - 幸福路路灯坏了好几天
    - 路灯一直闪
    - 晚上路灯不亮很黑
    - 这边路灯白天也亮着
    - 路灯杆被撞歪了
"""

RASA_KEYS = {"text", "intent", "intent_ranking", "entities"}


class CountingStringIO(io.StringIO):
    """Records how many lines had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[int] = []

    def flush(self) -> None:
        self.flushed_at.append(self.getvalue().count("\n"))
        super().flush()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> argparse.Namespace:
    """Training data file and a model dir with a published model (via train_main)."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "nlu.yml"
    data.write_text(DATA, encoding="utf-8")
    args = argparse.Namespace(data=[str(data)], model_dir=str(root / "models"), no_publish=False)
    assert train_main(args) == 0
    return args


def _parser(add: object) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add(parser)  # type: ignore[operator]
    return parser


def test_argument_helpers_define_the_documented_options() -> None:
    train = _parser(add_train_arguments).parse_args(
        ["--data", "a.yml", "--data", "b", "--no-publish"]
    )
    assert train.data == ["a.yml", "b"] and train.no_publish and train.model_dir is None
    ev = _parser(add_evaluate_arguments).parse_args(
        ["--folds", "3", "--tsv", "x.tsv", "--tsv", "y.tsv", "--out", "r"]
    )
    assert (ev.folds, ev.tsv, ev.out) == (3, ["x.tsv", "y.tsv"], "r")
    assert _parser(add_parse_arguments).parse_args(["--model-dir", "m"]).model_dir == "m"


def test_train_prints_version_and_time(
    trained: argparse.Namespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train_main(trained) == 0
    out = capsys.readouterr().out
    path = latest_model_path(trained.model_dir)
    assert path is not None
    assert f"version: {path.name}" in out
    assert "training time:" in out


def test_parse_one_json_line_per_input_line(trained: argparse.Namespace) -> None:
    stdin = io.StringIO("你好\n小区的路灯坏了\n\n谢谢你们\r\n")
    stdout = CountingStringIO()
    assert parse_main(stdin, stdout, trained) == 0
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 4
    results = [json.loads(line) for line in lines]
    assert [r["text"] for r in results] == ["你好", "小区的路灯坏了", "", "谢谢你们"]
    for result in results:
        assert set(result) >= RASA_KEYS
        assert set(result["intent"]) == {"name", "confidence"}
        assert all(set(r) == {"name", "confidence"} for r in result["intent_ranking"])
        assert len(result["intent_ranking"]) <= 10
    assert results[1]["intent"]["name"] == "report.streetlight"
    assert results[2]["intent"]["name"] == "out_of_scope"
    assert "小区的路灯坏了" in lines[1]  # ensure_ascii=False
    assert stdout.flushed_at[:4] == [1, 2, 3, 4]  # flushed after every line


def test_parse_subprocess_answers_line_by_line(trained: argparse.Namespace) -> None:
    """A real pipe: each answer arrives before the next message is sent."""
    cmd = [sys.executable, "-m", "nlu.cli", "parse", "--model-dir", trained.model_dir]
    cmd += ["--data", trained.data[0]]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)  # EOF: the process ended (or failed) early

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for text, intent in [("你好", "greet"), ("路灯不亮了", "report.streetlight")]:
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
            line = lines.get(timeout=60)
            assert line is not None, "parse process exited before answering"
            result = json.loads(line)
            assert result["text"] == text
            assert result["intent"]["name"] == intent
    finally:
        proc.stdin.close()
        returncode = proc.wait(timeout=60)
        reader.join(timeout=10)
        stdout.close()
    assert returncode == 0


def test_evaluate_writes_markdown_and_png(trained: argparse.Namespace, tmp_path: Path) -> None:
    tsv = tmp_path / "dev.tsv"
    tsv.write_text(
        "# label<TAB>text\ngreet\t您好在吗\nthanks\t非常感谢\nreport.streetlight\t路灯坏掉了\n",
        encoding="utf-8",
    )
    out = tmp_path / "report"
    args = argparse.Namespace(
        data=trained.data, model_dir=trained.model_dir, folds=2, tsv=[str(tsv)], out=str(out)
    )
    assert evaluate_main(args) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## dev.tsv" in report and "## 2-fold cross-validation" in report
    assert "accuracy" in report and "macro-F1" in report and "Most confused pairs" in report
    assert "| report.streetlight |" in report
    if importlib.util.find_spec("matplotlib") is not None:
        for name in ("confusion.png", "confusion-2.png", "reliability.png", "reliability-2.png"):
            assert (out / name).read_bytes().startswith(b"\x89PNG")
