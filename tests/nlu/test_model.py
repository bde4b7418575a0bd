"""Intent model and NLU service: determinism, output format, out-of-scope, hot swap."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nlu.faq_retrieval import DEFAULT_KB_PATH
from nlu.features import prepare
from nlu.model import (
    OUT_OF_SCOPE,
    IntentModel,
    ModelConfig,
    ModelError,
    latest_model_path,
    load_model,
    model_version,
    save_model,
    train_model,
)
from nlu.parser import NLUService
from nlu.training_data import (
    DEFAULT_DATA_DIR,
    Example,
    TrainingData,
    load_training_data,
    load_training_data_from_string,
)

ROOT = Path(__file__).resolve().parents[2]

SMALL_YAML = """\
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
    - [幸福路](location)路灯坏了好几天
    - 路灯一直闪
    - 晚上路灯不亮很黑
    - 这边路灯白天也亮着
    - 路灯杆被撞歪了
- intent: report.manhole
  examples: |
    - 井盖丢了
    - 路中间井盖破了很危险
    - 井盖缺失有人掉下去
    - 窨井盖松动车压过去哐哐响
    - 人行道上井盖翘起来了
    - 井盖塌陷了
- intent: faq.civil.dibao
  examples: |
    - 低保怎么申请
    - 申请低保需要什么条件
    - 最低生活保障去哪里办
    - 低保标准是多少
    - 家里困难能吃低保吗
    - 低保审批要多久
- synonym: 井盖
  examples: |
    - 窨井盖
    - 下水道盖子
- regex: phone
  examples: |
    - 1[3-9]\\d{9}
"""

RASA_KEYS = {"text", "intent", "intent_ranking", "entities"}


def small_data() -> TrainingData:
    return load_training_data_from_string(SMALL_YAML)


@pytest.fixture(scope="module")
def small_model() -> IntentModel:
    return train_model(small_data())


@pytest.fixture(scope="module")
def project_service(tmp_path_factory: pytest.TempPathFactory) -> NLUService:
    """A service on the project's training data and KB; trains on first use (one per run)."""
    if not DEFAULT_DATA_DIR.is_dir() or not any(DEFAULT_DATA_DIR.glob("*.yml")):
        pytest.skip("project training data not present")
    service = NLUService(tmp_path_factory.mktemp("models"))
    service.warm_up()
    return service


# ----------------------------------------------------------------------------- model


def test_training_is_deterministic(small_model: IntentModel, tmp_path: Path) -> None:
    again = train_model(small_data())
    assert again.version == small_model.version
    for text in ["路灯坏了", "谢谢啦", "随便问问", "井盖没了"]:
        p1, _ = small_model.probabilities(prepare(text))
        p2, _ = again.probabilities(prepare(text))
        assert np.array_equal(p1, p2)
    a = save_model(small_model, tmp_path / "a") / "model.pkl"
    b = save_model(again, tmp_path / "b") / "model.pkl"
    assert a.read_bytes() == b.read_bytes()


def test_model_bytes_identical_across_processes(tmp_path: Path) -> None:
    """Two processes with different hash seeds write byte-identical artifacts."""
    data = tmp_path / "small.yml"
    data.write_text(SMALL_YAML, encoding="utf-8")
    procs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [sys.executable, "-m", "nlu.cli", "train", "--data", str(data)]
        cmd += ["--model-dir", str(tmp_path / f"m{seed}")]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    digests = set()
    for seed in ("1", "2"):
        path = latest_model_path(tmp_path / f"m{seed}")
        assert path is not None
        digests.add(hashlib.sha256((path / "model.pkl").read_bytes()).hexdigest())
    assert len(digests) == 1
    assert outputs[0].splitlines()[0] == outputs[1].splitlines()[0]  # "version: ..."


def test_version_tracks_data_and_config() -> None:
    data = small_data()
    base = model_version(data, ModelConfig())
    more = TrainingData(examples=[*data.examples, Example("晚上好", "greet")])
    assert model_version(more, ModelConfig()) != base
    assert model_version(data, ModelConfig(c=0.3)) != base
    assert model_version(small_data(), ModelConfig()) == base


def test_fast_path_matches_sklearn(small_model: IntentModel) -> None:
    for text in ["路灯坏了", "谢谢", "井盖没了怎么办"]:
        prepared = prepare(text)
        fast, _coverage = small_model.decision(prepared)
        matrix = small_model.featurizer.transform([prepared])
        reference = small_model.classifier.decision_function(matrix)[0]
        assert np.allclose(fast, reference, atol=1e-12)


def test_prediction_is_a_ranked_distribution(small_model: IntentModel) -> None:
    probs, _ = small_model.probabilities(prepare("小区路灯不亮了"))
    assert probs.shape == (len(small_model.intents),)
    assert abs(float(probs.sum()) - 1.0) < 1e-9
    pred = small_model.predict("小区路灯不亮了")
    assert pred.intent == "report.streetlight"
    confidences = [c for _, c in pred.ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert pred.ranking[0] == (pred.intent, pred.confidence)


def test_threshold_and_margin_are_adjustable(small_model: IntentModel) -> None:
    strict = small_model.with_thresholds(threshold=0.999999)
    pred = strict.predict("路灯好像有点问题")
    assert pred.intent == OUT_OF_SCOPE
    assert pred.fallback == "low_confidence"
    assert pred.predicted == "report.streetlight"
    assert pred.ranking[0][0] == OUT_OF_SCOPE
    assert [n for n, _ in pred.ranking].count(OUT_OF_SCOPE) == 1
    assert small_model.predict("路灯好像有点问题").intent == "report.streetlight"
    assert small_model.with_thresholds(threshold=0.0, margin=1.0).predict("路灯坏了").fallback == (
        "ambiguous"
    )


def test_unknown_script_and_empty_text_are_out_of_scope(small_model: IntentModel) -> None:
    for text in ["", "   ", "zxqvwjk", "？？？", "こんにちは"]:
        pred = small_model.predict(text)
        assert pred.intent == OUT_OF_SCOPE, text
        assert pred.fallback == "unknown_words"


def test_corrupt_artifact_is_rejected(small_model: IntentModel, tmp_path: Path) -> None:
    folder = save_model(small_model, tmp_path)
    assert load_model(folder).version == small_model.version
    blob = (folder / "model.pkl").read_bytes()
    (folder / "model.pkl").write_bytes(blob[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="checksum"):
        load_model(folder)


def test_jieba_is_quiet_offline_and_caches_in_its_own_dir(tmp_path: Path) -> None:
    # (INTAKE_JIEBA_CACHE_DIR reaches set_cache_dir at start-up: tests/bot/test_settings.py)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from nlu.features import set_cache_dir, tokenize\n"
        "set_cache_dir(Path(sys.argv[1]))\n"
        "print(' '.join(tokenize('医保电子凭证怎么激活，楼道里飞线充电')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "jieba")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "prefix dict" not in run.stderr and "Loading model" not in run.stderr
    tokens = run.stdout.split()
    assert "医保电子凭证" in tokens and "飞线充电" in tokens  # the domain dictionary is in use
    assert (tmp_path / "jieba" / "jieba.cache").is_file()


def test_old_artifacts_are_pruned_but_published_one_kept(
    small_model: IntentModel, tmp_path: Path
) -> None:
    published = save_model(small_model, tmp_path)
    for n in range(4):
        clone = small_model.with_thresholds()
        clone.version = f"v{n}"
        save_model(clone, tmp_path, publish=False, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert names == sorted([published.name, "v2", "v3"])
    assert latest_model_path(tmp_path) == published


# ----------------------------------------------------------------------------- service


def test_service_trains_on_first_use_and_parses_rasa_format(tmp_path: Path) -> None:
    data = tmp_path / "small.yml"
    data.write_text(SMALL_YAML, encoding="utf-8")
    service = NLUService(tmp_path / "models", training_data=data, knowledge_base=None)
    assert latest_model_path(tmp_path / "models") is None
    result = service.parse("幸福路的路灯坏了，电话13812345678")
    assert latest_model_path(tmp_path / "models") is not None
    assert not service.is_stale()
    assert set(result) >= RASA_KEYS
    assert result["text"] == "幸福路的路灯坏了，电话13812345678"
    assert set(result["intent"]) == {"name", "confidence"}
    assert result["intent"]["name"] == "report.streetlight"
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    ranking = result["intent_ranking"]
    assert 1 <= len(ranking) <= 10
    assert all(set(r) == {"name", "confidence"} for r in ranking)
    assert ranking[0] == result["intent"]
    assert isinstance(result["entities"], list)
    for ent in result["entities"]:
        assert {"entity", "value", "start", "end"} <= set(ent)


def test_hot_swap_without_recreating_the_service(tmp_path: Path) -> None:
    models = tmp_path / "models"
    data_file = tmp_path / "small.yml"
    data_file.write_text(SMALL_YAML, encoding="utf-8")
    data = small_data()
    first = train_model(data)
    save_model(first, models)
    service = NLUService(models, knowledge_base=None, train_if_missing=False)
    assert service.parse("晚上路灯不亮")["intent"]["name"] == "report.streetlight"
    assert service.version == first.version

    # A second artifact, trained elsewhere (e.g. `intake nlu train`) on changed data.
    relabelled = TrainingData(
        examples=[
            Example(ex.text, "report.lighting" if ex.intent == "report.streetlight" else ex.intent)
            for ex in data.examples
        ]
    )
    second = train_model(relabelled)
    save_model(second, models)

    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                assert service.parse("晚上路灯不亮")["intent"]["name"] in {
                    "report.streetlight",
                    "report.lighting",
                }
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        assert service.reload() == second.version
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert service.version == second.version
    assert service.parse("晚上路灯不亮")["intent"]["name"] == "report.lighting"
    service.training_data = data_file
    assert service.is_stale()  # the files on disk are not what the running model learnt

    # train() swaps in place as well, and publish=False leaves the running model alone.
    unpublished = service.train(data, publish=False)
    assert service.version == second.version
    assert service.train(data) == unpublished == first.version
    assert service.parse("晚上路灯不亮")["intent"]["name"] == "report.streetlight"


def test_missing_model_without_training_is_an_error(tmp_path: Path) -> None:
    service = NLUService(tmp_path / "none", knowledge_base=None, train_if_missing=False)
    with pytest.raises(ModelError):
        service.parse("你好")
    with pytest.raises(ModelError):
        service.reload()


# ----------------------------------------------------------------------------- project model

NONSENSE = [
    "asdkjhqwe zxcmnb",
    "qwertyuiop",
    "？？？？",
    "。。。。。",
    "😂😂😂",
    "啊吧啊吧啊吧",
    "呃呃呃",
]
UNRELATED = [
    "帮我写一首关于春天的诗",
    "明天股市会涨吗",
    "推荐一部好看的电影",
    "今晚吃什么好呢",
    "地球到月球有多远",
    "帮我订一张去上海的机票",
    "你喜欢什么颜色",
    "怎样才能减肥",
]


def _training_texts(service: NLUService) -> set[str]:
    return {ex.text for ex in load_training_data(service.training_data).examples}


def test_nonsense_and_unrelated_messages_are_out_of_scope(project_service: NLUService) -> None:
    seen = _training_texts(project_service)
    for text in NONSENSE + UNRELATED:
        assert text not in seen  # the test must not measure memorisation
        result = project_service.parse(text)
        assert result["intent"]["name"] == OUT_OF_SCOPE, (text, result["intent_ranking"][:3])


def test_clear_messages_are_in_scope(project_service: NLUService) -> None:
    cases = {
        "我们楼下那盏路灯晚上一直不亮": "report.streetlight",
        "马路上有个井盖不见了": "report.manhole",
        "我要转人工服务": "human_handoff",
        "谢谢你们的帮助": "thanks",
    }
    for text, intent in cases.items():
        assert project_service.parse(text)["intent"]["name"] == intent, text


def test_faq_result_carries_topic_and_alternatives(project_service: NLUService) -> None:
    if not DEFAULT_KB_PATH.is_file():
        pytest.skip("knowledge base not present")
    result = project_service.parse("异地就医备案怎么弄")
    assert result["intent"]["name"] == "faq.medical.offsite"
    faq: dict[str, Any] = result["faq"]
    assert faq["topic"] == "faq.medical.offsite"
    assert len(faq["alternatives"]) == 2
    assert all(a["topic"] != faq["topic"] for a in faq["alternatives"])


def test_faq_topic_added_at_run_time_is_recognised(project_service: NLUService) -> None:
    topic = {
        "id": "faq.service.passport",
        "title": "护照办理",
        "category": "便民服务",
        "answer": "携带身份证到出入境管理窗口办理。",
        "questions": ["护照怎么办理", "第一次办护照需要带什么材料", "护照过期了怎么换发"],
        "keywords": ["护照", "出入境"],
    }
    question = "第一次办护照要带什么材料"
    assert project_service.parse(question)["intent"]["name"] != "faq.service.passport"
    before = project_service.faq.topics
    project_service.set_faq_topics([*before, topic])
    try:
        result = project_service.parse(question)
        assert result["intent"]["name"] == "faq.service.passport"
        assert result["faq"]["topic"] == "faq.service.passport"
    finally:
        project_service.set_faq_topics(before)
    assert project_service.parse(question)["intent"]["name"] != "faq.service.passport"
