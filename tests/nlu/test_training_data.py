"""Rasa YAML loading and writing: annotations stripped to text and kept as entities."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.training_data import (
    DEFAULT_DATA_DIR,
    EntityAnnotation,
    Example,
    TrainingData,
    TrainingDataError,
    annotate,
    dump_rasa_yaml,
    load_training_data,
    load_training_data_from_string,
    parse_annotated,
)

RASA_YAML = """\
version: "3.1"
nlu:
- intent: report.streetlight
  examples: |
    - [幸福路](location)的路灯不亮了，电话[13812345678](phone)
    - 路灯坏了
    - 【紧急】[3号楼]{"entity": "building", "value": "3栋", "role": "home"}门口灯不亮
- intent: faq.medical.e_voucher
  examples: |
    - [医保码](benefit:医保电子凭证)怎么激活
    - 电子凭证[在哪]领
- intent: greet
  examples:
    - text: 你好
      metadata: {sentiment: neutral}
    - 在吗
- synonym: 医保电子凭证
  examples: |
    - 医保码
    - 电子医保卡
- regex: phone
  examples: |
    - 1[3-9]\\d{9}
- lookup: district
  examples: |
    - 朝阳区
    - 海淀区
"""


def test_parse_annotated_strips_markup_and_keeps_offsets() -> None:
    text, ents = parse_annotated("[幸福路](location)的路灯不亮了，电话[13812345678](phone)")
    assert text == "幸福路的路灯不亮了，电话13812345678"
    assert [e.as_dict() for e in ents] == [
        {"entity": "location", "value": "幸福路", "start": 0, "end": 3},
        {"entity": "phone", "value": "13812345678", "start": 12, "end": 23},
    ]
    for ent in ents:
        assert text[ent.start : ent.end] == ent.value


def test_parse_annotated_synonym_and_json_forms() -> None:
    text, ents = parse_annotated(
        '[医保码](benefit:医保电子凭证)和[3号楼]{"entity": "b", "value": "3栋", "role": "home"}'
    )
    assert text == "医保码和3号楼"
    assert ents[0] == EntityAnnotation("benefit", "医保电子凭证", 0, 3)
    assert ents[1] == EntityAnnotation("b", "3栋", 4, 7, role="home")


def test_brackets_without_annotation_are_text() -> None:
    assert parse_annotated("【紧急】电子凭证[在哪]领") == ("【紧急】电子凭证[在哪]领", [])


def test_bad_json_annotation_is_an_error() -> None:
    with pytest.raises(TrainingDataError):
        parse_annotated('[x]{"entity": }')
    with pytest.raises(TrainingDataError):
        parse_annotated('[x]{"value": "y"}')


def test_load_examples_synonyms_regexes_lookups() -> None:
    data = load_training_data_from_string(RASA_YAML)
    assert data.intents == ["faq.medical.e_voucher", "greet", "report.streetlight"]
    texts = [(e.intent, e.text) for e in data.examples]
    assert ("report.streetlight", "幸福路的路灯不亮了，电话13812345678") in texts
    assert [text for intent, text in texts if intent == "greet"] == ["你好", "在吗"]
    first = data.examples[0]
    assert [e.entity for e in first.entities] == ["location", "phone"]
    assert data.synonyms == {"医保电子凭证": ["医保码", "电子医保卡"]}
    assert data.regexes == {"phone": [r"1[3-9]\d{9}"]}
    assert data.lookups == {"district": ["朝阳区", "海淀区"]}
    # Synonym map: synonym items plus the value of [医保码](benefit:医保电子凭证).
    assert data.synonym_map()["医保码"] == "医保电子凭证"
    assert data.synonym_map()["3号楼"] == "3栋"
    assert data.examples[5].metadata == {"sentiment": "neutral"}


def test_round_trip_dump_and_load(tmp_path: Path) -> None:
    data = load_training_data_from_string(RASA_YAML)
    written = tmp_path / "nlu.yml"
    written.write_text(dump_rasa_yaml(data), encoding="utf-8")
    again = load_training_data(written)
    assert again.examples == data.examples
    assert again.synonyms == data.synonyms
    assert again.regexes == data.regexes
    assert again.lookups == data.lookups
    assert again.fingerprint() == data.fingerprint()
    # A second dump is byte-identical (stable writer).
    assert dump_rasa_yaml(again) == written.read_text(encoding="utf-8")


def test_annotate_is_inverse_of_parse() -> None:
    raw = '[幸福路](location)路灯，[3号楼]{"entity": "b", "value": "3栋"}'
    text, ents = parse_annotated(raw)
    example = Example(text, "x", tuple(ents))
    assert parse_annotated(annotate(example)) == (text, ents)


def test_directory_loading_is_sorted_and_recursive(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(
        "nlu:\n- intent: b\n  examples: |\n    - 乙\n", encoding="utf-8"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text(
        "nlu:\n- intent: c\n  examples: |\n    - 丙\n", encoding="utf-8"
    )
    (tmp_path / "a.yml").write_text(
        "nlu:\n- intent: a\n  examples: |\n    - 甲\n", encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    data = load_training_data(tmp_path)
    assert [e.text for e in data.examples] == ["甲", "乙", "丙"]


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_training_data(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("nlu:\n- intent: x\n  examples: |\n    no dash here\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"bad\.yml"):
        load_training_data(bad)
    bad.write_text("nlu: [unclosed\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="invalid YAML"):
        load_training_data(bad)


def test_merge_and_filter() -> None:
    a = load_training_data_from_string(RASA_YAML)
    b = TrainingData(
        examples=[Example("再见", "goodbye")], synonyms={"医保电子凭证": ["医保码", "电子码"]}
    )
    merged = a.merge(b)
    assert merged.examples[-1].intent == "goodbye"
    assert merged.synonyms["医保电子凭证"] == ["医保码", "电子医保卡", "电子码"]
    assert a.synonyms["医保电子凭证"] == ["医保码", "电子医保卡"]  # inputs untouched
    assert [e.text for e in merged.filter([0, len(merged.examples) - 1]).examples] == [
        a.examples[0].text,
        "再见",
    ]


def test_project_training_data_loads() -> None:
    if not DEFAULT_DATA_DIR.is_dir() or not any(DEFAULT_DATA_DIR.glob("*.yml")):
        pytest.skip("no project training data yet")
    data = load_training_data()
    assert len(data.intents) >= 2
    assert all(ex.text and "](" not in ex.text for ex in data.examples)
