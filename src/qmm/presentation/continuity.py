"""Business continuity as people read it: scenarios, inventory triggers with breaches first,
drills against their recovery-time target, and supplier agreements with what needs attention;
shared by the continuity page and anything else that shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy.orm import Session

from qmm.events.store import EventStore
from qmm.models import (
    ContinuityScenario,
    Drill,
    DrillAction,
    InventoryTrigger,
    Site,
    SupplierAgreement,
)
from qmm.program.continuity import (
    action_overdue,
    drill_state,
    list_drills,
    list_scenarios,
    list_triggers,
    trigger_state,
)
from qmm.program.suppliers import SupplierStatus, list_agreements, supplier_status

TRIGGER_LABELS: Final = {
    "breached": ("BREACH: below the minimum", "⚠", "bad"),
    "ok": ("At or above the minimum", "✔", "ok"),
    "no_level": ("No level recorded", "○", "muted"),
}
DRILL_LABELS: Final = {
    "planned": ("Planned", "○", "muted"),
    "overdue": ("Overdue: not run", "⚠", "bad"),
    "met": ("Target met", "✔", "ok"),
    "missed": ("Target MISSED", "✖", "bad"),
}


@dataclass(frozen=True)
class Mark:
    """A state in words, with an icon and a tone so colour is never the only cue."""

    label: str
    icon: str
    tone: str


@dataclass(frozen=True)
class TriggerRow:
    trigger: InventoryTrigger
    state: str
    mark: Mark


@dataclass(frozen=True)
class ActionRow:
    action: DrillAction
    overdue: bool


@dataclass(frozen=True)
class DrillRow:
    drill: Drill
    state: str
    mark: Mark
    target_hours: float
    actions: list[ActionRow]


@dataclass(frozen=True)
class AgreementRow:
    agreement: SupplierAgreement
    status: SupplierStatus
    flags: list[Mark]


@dataclass(frozen=True)
class ContinuityView:
    """Everything the continuity page and API show for a site on a day, computed once."""

    today: date
    scenarios: list[ContinuityScenario]
    triggers: list[TriggerRow]
    drills: list[DrillRow]
    agreements: list[AgreementRow]

    @property
    def breached(self) -> list[TriggerRow]:
        return [t for t in self.triggers if t.state == "breached"]

    @property
    def missed(self) -> list[DrillRow]:
        return [d for d in self.drills if d.state == "missed"]

    @property
    def not_run(self) -> list[DrillRow]:
        return [d for d in self.drills if d.state == "overdue"]

    @property
    def overdue_actions(self) -> list[ActionRow]:
        return [a for d in self.drills for a in d.actions if a.overdue]

    @property
    def overdue_agreements(self) -> list[AgreementRow]:
        return [a for a in self.agreements if a.status.overdue]


def agreement_flags(status: SupplierStatus) -> list[Mark]:
    """What needs attention on an agreement, in words; "Up to date" when nothing does."""
    flags = [
        Mark(label, icon, "bad")
        for wanted, label, icon in (
            (status.review_overdue, "Maturity review overdue", "⚠"),
            (status.drill_overdue, "Joint drill overdue", "⚠"),
            (status.expired, "Expired", "✖"),
            (status.expiring_soon, "Expiring soon", "⚠"),
            (status.supplier_scar_below_target, "SCARs closed late (below target)", "✖"),
        )
        if wanted
    ]
    return flags or [Mark("Up to date", "✔", "ok")]


def continuity_view(db: Session, site: Site, today: date, store: EventStore) -> ContinuityView:
    """Everything the page shows, computed once."""
    triggers = []
    for trigger in list_triggers(db, site=site):
        state = trigger_state(trigger)
        triggers.append(TriggerRow(trigger, state, Mark(*TRIGGER_LABELS[state])))
    drills = []
    for drill in list_drills(db, site=site):
        state = drill_state(drill, today=today)
        drills.append(
            DrillRow(
                drill,
                state,
                Mark(*DRILL_LABELS[state]),
                (
                    drill.target_hours
                    if drill.target_hours is not None
                    else drill.scenario.recovery_target_hours
                ),
                [ActionRow(a, action_overdue(a, today=today)) for a in drill.actions],
            )
        )
    agreements = []
    for agreement in list_agreements(db, site=site):
        status = supplier_status(db, agreement=agreement, today=today, store=store)
        agreements.append(AgreementRow(agreement, status, agreement_flags(status)))
    return ContinuityView(  # what needs attention first; otherwise the services' order
        today=today,
        scenarios=list_scenarios(db, site=site),
        triggers=sorted(triggers, key=lambda t: t.state != "breached"),
        drills=drills,
        agreements=sorted(agreements, key=lambda a: not a.status.overdue),
    )


def amount(value: float | None) -> str:
    """A level or a number of hours as people write it: 95,000 or 1.5."""
    if value is None:
        return "none"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:g}"
