"""One text rule for every service: a NUL character is named by field, in lists too."""

from __future__ import annotations

from qmm.text_rules import has_nul, nul_message, nul_problems


def test_a_nul_character_is_found_anywhere_in_a_text() -> None:
    assert has_nul("a\x00")
    assert has_nul("\x00")
    assert not has_nul("a0")


def test_the_message_names_the_field() -> None:
    assert nul_message("the reason") == "the reason contains a NUL character; remove it"


def test_problems_are_named_by_field_for_texts_and_lists_alike() -> None:
    assert nul_problems(
        {"held_on": "2026\x00", "codes": ["a", "b\x00"], "hours": 3, "clean": "ok", "none": None}
    ) == {
        "held_on": "held on contains a NUL character; remove it",
        "codes": "codes contains a NUL character; remove it",
    }
