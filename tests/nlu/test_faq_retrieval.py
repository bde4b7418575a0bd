"""FAQ retrieval: paraphrases find their topic, runner-ups come along, topics change live."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.faq_retrieval import (
    DEFAULT_KB_PATH,
    FAQMatch,
    FAQRetriever,
    FAQTopic,
    load_knowledge_base,
)
from nlu.training_data import DEFAULT_DATA_DIR, load_training_data

TOPICS = [
    FAQTopic(
        id="faq.medical.e_voucher",
        title="医保电子凭证激活与使用",
        questions=("医保电子凭证怎么激活", "医保电子凭证在哪里领取", "看病时怎么出示医保码"),
        keywords=("医保电子凭证", "医保码", "激活"),
    ),
    FAQTopic(
        id="faq.medical.offsite",
        title="异地就医备案与直接结算",
        questions=("异地就医怎么备案", "在外地住院能直接结算吗", "跨省看病怎么报销"),
        keywords=("异地就医", "备案", "跨省"),
    ),
    FAQTopic(
        id="faq.civil.dibao",
        title="最低生活保障(低保)申请",
        questions=("低保怎么申请", "申请低保需要什么条件", "低保标准是多少"),
        keywords=("低保", "最低生活保障"),
    ),
    FAQTopic(
        id="faq.service.residence_permit",
        title="居住证办理",
        questions=("居住证怎么办理", "办居住证需要什么材料", "居住证多久能拿到"),
        keywords=("居住证",),
    ),
    FAQTopic(
        id="faq.civil.funeral",
        title="殡葬服务与丧葬补助",
        questions=("丧葬补助怎么申请", "老人去世后要办哪些手续", "殡仪馆怎么联系"),
        keywords=("丧葬", "殡葬", "去世"),
    ),
]

PARAPHRASES = [
    ("手机上的医保码要怎么开通啊", "faq.medical.e_voucher"),
    ("我去外省看病，备案在哪弄", "faq.medical.offsite"),
    ("家里太困难了想吃低保找谁办", "faq.civil.dibao"),
    ("外地人来这里上班要办居住证，带什么东西", "faq.service.residence_permit"),
    ("父亲过世了丧葬费补助去哪领", "faq.civil.funeral"),
    ("醫保電子憑證怎麼激活", "faq.medical.e_voucher"),  # traditional characters
]


@pytest.fixture(scope="module")
def retriever() -> FAQRetriever:
    return FAQRetriever(TOPICS)


@pytest.mark.parametrize(("question", "topic"), PARAPHRASES)
def test_paraphrase_finds_topic(retriever: FAQRetriever, question: str, topic: str) -> None:
    assert retriever.search(question, k=1)[0].topic == topic


def test_match_returns_ranked_alternatives(retriever: FAQRetriever) -> None:
    match = retriever.match("异地就医备案后住院怎么报销", k=3)
    assert isinstance(match, FAQMatch)
    assert match.topic == "faq.medical.offsite"
    assert len(match.alternatives) == 2
    scores = [match.score, *(a.score for a in match.alternatives)]
    assert scores == sorted(scores, reverse=True)
    assert match.topic not in {a.topic for a in match.alternatives}
    as_dict = match.as_dict()
    assert set(as_dict) == {"topic", "title", "score", "alternatives"}
    assert set(as_dict["alternatives"][0]) == {"topic", "title", "score"}


def test_verbatim_question_scores_higher_than_unrelated(retriever: FAQRetriever) -> None:
    verbatim = retriever.search("低保怎么申请", k=1)[0]
    unrelated = retriever.search("今天晚上吃火锅还是烧烤", k=1)[0]
    assert verbatim.topic == "faq.civil.dibao"
    assert verbatim.score > 0.5 > unrelated.score + 0.2


def test_a_new_topic_is_found_by_a_new_index(retriever: FAQRetriever) -> None:
    """An admin's edit builds a new index (``NLUService.set_faq_topics``); readers holding
    the old one keep a consistent view."""
    passport = FAQTopic.from_dict(
        {
            "id": "faq.service.passport",
            "title": "护照办理",
            "questions": ["护照怎么办理", "办护照需要什么材料"],
            "keywords": ["护照", "出入境"],
        }
    )
    assert retriever.search("第一次办护照要带啥", k=1)[0].topic != "faq.service.passport"
    added = FAQRetriever([*retriever.topics, passport])
    assert added.search("第一次办护照要带啥", k=1)[0].topic == "faq.service.passport"
    assert "faq.service.passport" not in retriever.topic_ids
    assert added.get("faq.service.passport") == passport


def test_training_examples_extend_topics() -> None:
    plain = FAQRetriever(TOPICS)
    extended = FAQRetriever(TOPICS, {"faq.civil.funeral": ["白事一条龙找谁"], "faq.unknown": ["x"]})
    query = "白事一条龙服务找哪里"
    assert extended.search(query, k=1)[0].topic == "faq.civil.funeral"
    funeral = plain.topic_ids.index("faq.civil.funeral")
    assert extended.topic_scores(query)[funeral] > plain.topic_scores(query)[funeral]
    # Examples of ids that are not topics are ignored, not turned into topics.
    assert "faq.unknown" not in extended.topic_ids


def test_empty_index() -> None:
    empty = FAQRetriever([])
    assert empty.search("低保怎么申请") == []
    assert empty.match("低保怎么申请") is None


def test_load_knowledge_base_file(tmp_path: Path) -> None:
    kb = tmp_path / "kb.yml"
    kb.write_text(
        "version: 1\ntopics:\n- id: faq.a\n  title: 甲\n  answer: 答\n  questions: [问一]\n"
        "  keywords: [甲]\n",
        encoding="utf-8",
    )
    topics = load_knowledge_base(kb)
    assert topics == [FAQTopic("faq.a", "甲", answer="答", questions=("问一",), keywords=("甲",))]
    assert FAQTopic.from_dict(topics[0].as_dict()) == topics[0]
    with pytest.raises(ValueError):
        FAQTopic.from_dict({"title": "no id"})


def test_project_knowledge_base_retrieves_training_questions() -> None:
    """The shipped KB alone (no training examples indexed) finds the topic of most faq
    training examples: these are phrasings written independently of the KB questions."""
    if not DEFAULT_KB_PATH.is_file() or not DEFAULT_DATA_DIR.is_dir():
        pytest.skip("project FAQ data not present")
    topics = load_knowledge_base()
    retriever = FAQRetriever(topics)
    for topic in topics:
        assert retriever.search(topic.title, k=1)[0].topic == topic.id
    examples = [ex for ex in load_training_data().examples if ex.intent in retriever.topic_ids]
    assert examples
    top1 = sum(retriever.search(ex.text, k=1)[0].topic == ex.intent for ex in examples)
    top3 = sum(ex.intent in {c.topic for c in retriever.search(ex.text, k=3)} for ex in examples)
    assert top1 / len(examples) >= 0.85
    assert top3 / len(examples) >= 0.95


def _reference_scores(retriever: FAQRetriever, text: str) -> list[float]:
    """Topic scores as the plain vectorised formulation computes them (the scoring before
    issue 16's fast path): numpy over every topic, one fuzzy call per promising topic."""
    import numpy as np
    from rapidfuzz import fuzz, process

    from nlu.faq_retrieval import _cosines
    from nlu.features import char_ngrams, compact
    from nlu.normalize import normalize

    r = retriever
    n_topics = len(r.topic_ids)
    query = compact(normalize(text))
    if not r._variants or not query:
        return [0.0] * n_topics
    grams = char_ngrams(query)
    topic_cosine = _cosines(r._topic_tfidf, r._topic_matrix, grams)
    variant_cosine = r.LEXICAL_WEIGHT * _cosines(r._variant_tfidf, r._variant_matrix, grams)
    nearest = np.zeros(n_topics, dtype=np.float64)
    np.maximum.at(nearest, r._owners, variant_cosine)
    bonus = np.zeros(n_topics, dtype=np.float64)
    for t_index, keywords in enumerate(r._keywords):
        hits = sum(1 for k in keywords if k in query)
        if hits:
            bonus[t_index] = r.KEYWORD_BONUS * min(hits, 2)
    promising = np.argsort(-(topic_cosine + bonus), kind="stable")[: r.FUZZY_TOPICS]
    for t_index in promising.tolist():
        start, end = r._spans[t_index]
        if start == end:
            continue
        ratios = process.cdist(
            [query], r._variants[start:end], scorer=fuzz.ratio, dtype=np.float32, workers=1
        )
        blended = variant_cosine[start:end] + (1.0 - r.LEXICAL_WEIGHT) * (
            np.asarray(ratios[0], dtype=np.float64) / 100.0
        )
        nearest[t_index] = float(blended.max())
    scores = r.TOPIC_WEIGHT * topic_cosine + (1.0 - r.TOPIC_WEIGHT) * nearest + bonus
    return [float(s) for s in scores]


def test_fast_scores_are_the_reference_scores_to_the_bit() -> None:
    """The per-message fast path (lists, one fuzzy call, keywords looked up by their first
    character) gives exactly the scores of the vectorised formulation, including for a
    topic without any variant and a keyword listed twice."""
    odd = [
        *TOPICS,
        FAQTopic(id="faq.empty", title="", keywords=("低保", "低保", "补助")),
        FAQTopic(id="faq.same", title="低保怎么申请", keywords=("申请",)),
    ]
    queries = [q for q, _topic in PARAPHRASES] + [
        "低保怎么申请",
        "低保低保补助申请",
        "今天晚上吃火锅还是烧烤",
        "！！！",
        "a",
        "丧葬补助殡葬去世",
    ]
    for topics in (TOPICS, odd, load_knowledge_base()):
        retriever = FAQRetriever(topics)
        for query in queries:
            assert retriever.topic_score_list(query) == _reference_scores(retriever, query)
            assert retriever.topic_scores(query).tolist() == _reference_scores(retriever, query)


def test_scores_reaching_a_floor_are_the_scores_or_none_only_below_it() -> None:
    """``topic_scores_reaching`` may stop early (upper bounds) only when every score is
    below the floor; otherwise it returns exactly ``topic_score_list``."""
    retriever = FAQRetriever(load_knowledge_base())
    queries = [q for q, _topic in PARAPHRASES] + [
        "低保怎么申请",
        "幸福小区3号楼东门",
        "13812345678",
        "确认",
        "帮我推荐一只股票",
        "",
    ]
    stopped = 0
    for query in queries:
        scores = retriever.topic_score_list(query)
        for floor in (0.0, 0.1, 0.25, 0.35, 0.5, 0.9):
            reached = retriever.topic_scores_reaching(query, floor)
            if reached is None:
                stopped += 1
                assert max(scores) < floor
            else:
                assert reached == scores
    assert stopped  # the early exit is exercised
