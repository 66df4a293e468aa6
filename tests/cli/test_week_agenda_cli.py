"""`qmm week agenda` and `qmm week card`: plan sessions, flag and fix a double booking, print
the agenda and a card, write an attendee's invitation; bad input named, nothing stored."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def _week() -> tuple[str, str, str]:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    made = json.loads(
        qmm(
            "week",
            "plan",
            "--site",
            "SITE-A",
            "--title",
            "FDA QMM assessment 2027",
            "--starts-on",
            "2027-03-08",
            "--ends-on",
            "2027-03-12",
            "--time-zone",
            "Europe/Dublin",
            "--owner",
            "Dana Whitfield",
            "--format",
            "json",
        )
    )
    person = json.loads(
        qmm(
            "week",
            "person-add",
            "--site",
            "SITE-A",
            "--name",
            "Priya Raman",
            "--job-title",
            "QC lead",
            "--department",
            "Quality Control",
            "--email",
            "priya@example.com",
            "--format",
            "json",
        )
    )
    qmm(
        "week",
        "agenda",
        "speaks-for",
        "--site",
        "SITE-A",
        "--person",
        str(person["id"]),
        "--area",
        "technical_excellence",
    )
    return str(made["id"]), str(person["id"]), "SITE-A"


def _add(number: str, *args: str, code: int = 0) -> str:
    return qmm("week", "agenda", "add", number, *args, "--format", "json", code=code)


def test_build_an_agenda_fix_a_double_booking_and_write_the_documents(
    cli_database: str, tmp_path: Path
) -> None:
    number, person, _ = _week()
    _add(
        number,
        "--day",
        "2027-03-08",
        "--starts-at",
        "09:00",
        "--ends-at",
        "10:30",
        "--area",
        "technical_excellence",
        "--room",
        "Board room",
    )
    agenda = json.loads(
        _add(
            number,
            "--day",
            "2027-03-08",
            "--starts-at",
            "10:00",
            "--ends-at",
            "11:00",
            "--area",
            "advanced_pqs",
            "--room",
            "Lab",
        )
    )
    first, second = (str(s["id"]) for s in agenda["sessions"])
    qmm("week", "agenda", "attend", number, first, "--person", person)
    booked = json.loads(
        qmm("week", "agenda", "attend", number, second, "--person", person, "--format", "json")
    )
    assert [c["kind"] for c in booked["conflicts"]].count("double_booking") == 1
    assert "double_booking: Priya Raman is in session 1" in qmm("week", "agenda", "show", number)
    fixed = json.loads(
        qmm("week", "agenda", "leave", number, second, "--person", person, "--format", "json")
    )
    assert "double_booking" not in [c["kind"] for c in fixed["conflicts"]]
    assert fixed["revision"] == 5

    ics = tmp_path / "priya.ics"
    qmm("week", "agenda", "ics", number, "--person", person, "--out", str(ics))
    events = list(icalendar.Calendar.from_ical(ics.read_bytes()).walk("VEVENT"))
    assert [e.decoded("DTSTART") for e in events] == [
        datetime(2027, 3, 8, 9, 0, tzinfo=ZoneInfo("Europe/Dublin"))
    ]
    assert events[0]["SEQUENCE"] == 5

    pdf = tmp_path / "agenda.pdf"
    qmm("week", "agenda", "pdf", number, "--out", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    card = json.loads(qmm("week", "card", "show", number, "--person", person, "--format", "json"))
    assert [a["code"] for a in card["areas"]] == ["technical_excellence"]
    assert card["areas"][0]["questions"]
    card_pdf = tmp_path / "card.pdf"
    qmm("week", "card", "pdf", number, "--person", person, "--out", str(card_pdf))
    assert card_pdf.read_bytes().startswith(b"%PDF")


def test_bad_sessions_and_people_are_named_and_nothing_is_stored(cli_database: str) -> None:
    number, person, _ = _week()
    out = _add(
        number,
        "--day",
        "2027-03-13",
        "--starts-at",
        "09:00",
        "--ends-at",
        "10:00",
        "--area",
        "advanced_pqs",
        "--room",
        "Lab",
        code=2,
    )
    assert "outside the assessment week" in out
    out = _add(
        number,
        "--day",
        "2027-03-08",
        "--starts-at",
        "11:00",
        "--ends-at",
        "10:00",
        "--area",
        "advanced_pqs",
        "--room",
        "Lab",
        code=2,
    )
    assert "not after it starts at 11:00" in out
    out = _add(
        number,
        "--day",
        "2027-03-08",
        "--starts-at",
        "nine",
        "--ends-at",
        "10:00",
        "--area",
        "advanced_pqs",
        "--room",
        "Lab",
        code=2,
    )
    assert "HH:MM" in out
    assert json.loads(qmm("week", "agenda", "show", number, "--format", "json"))["sessions"] == []
    _add(
        number,
        "--day",
        "2027-03-08",
        "--starts-at",
        "09:00",
        "--ends-at",
        "10:00",
        "--area",
        "advanced_pqs",
        "--room",
        "Lab",
    )
    out = qmm("week", "agenda", "attend", number, "1", "--person", "999", code=2)
    assert "has no person 999" in out
    out = qmm("week", "agenda", "attend", number, "999", "--person", person, code=2)
    assert "has no session 999" in out
    out = qmm("week", "agenda", "change", number, "1", code=2)
    assert "give at least one of" in out
