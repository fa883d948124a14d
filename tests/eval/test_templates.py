"""Prompt template sets: by name, list or JSON file."""

from __future__ import annotations

import json

import pytest

from ssclip.eval.templates import TEMPLATE_SETS, fill_template, get_templates


def test_get_templates_by_name_list_and_json(tmp_path) -> None:
    assert get_templates("aerial") == ["an aerial photograph of {}."]
    assert get_templates("photo") == ["a photo of a {}."]
    assert len(get_templates("satellite-ensemble")) >= 3
    assert all("{}" in t for t in TEMPLATE_SETS["satellite-ensemble"])
    assert get_templates(["x {} y"]) == ["x {} y"]

    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(["a {c} seen from above.", "a map of {}."]))
    assert get_templates(str(plain)) == ["a {c} seen from above.", "a map of {}."]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"templates": ["top view of {}."]}))
    assert get_templates(wrapped) == ["top view of {}."]


def test_get_templates_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(KeyError, match="known: aerial"):
        get_templates("aeriel")
    with pytest.raises(ValueError, match=r"template \[1\].*placeholder"):
        get_templates(["a {}", "no placeholder"])
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  "a {}",\n  oops\n]')
    with pytest.raises(ValueError, match=r"broken.json: line 3"):
        get_templates(str(broken))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        get_templates(str(tmp_path / "missing.json"))


def test_fill_template_is_literal() -> None:
    assert fill_template("a {c} {x}.", "tennis court") == "a tennis court {x}."
    assert fill_template("an aerial photograph of {}.", "river") == "an aerial photograph of river."
