"""The program's field checks refuse what no database stores, whichever face sent it."""

from __future__ import annotations

from qmm.program.common import Problems


class TestTextRules:
    def test_a_nul_character_in_a_text_is_named_by_its_label(self) -> None:
        problems = Problems()
        assert problems.text("owner", "Site\x00Director", label="owner") is None
        assert problems == {"owner": "owner contains a NUL character; remove it"}

    def test_a_nul_character_in_a_list_of_texts_refuses_the_list(self) -> None:
        problems = Problems()
        assert problems.texts("attendees", ["QA head", "Ops\x00"], label="attendees") == []
        assert problems == {"attendees": "attendees contains a NUL character; remove it"}

    def test_clean_text_is_trimmed_and_kept(self) -> None:
        problems = Problems()
        assert problems.text("owner", "  QA head ", label="owner") == "QA head"
        assert problems.texts("attendees", ["a", " a ", "b"], label="attendees") == ["a", "b"]
        assert problems == {}
