"""Realistic demo eQMS extracts, one file per record type, with known signals injected.

The files look like what a site's eQMS, LIMS and LMS export: two or more years of deviations,
CAPAs, change controls, environmental monitoring, training, supplier corrective actions, lots,
complaints, distribution, OOS results and suggestions. Three findings a quality head should spot
are planted on purpose (see ``INJECTED_SIGNALS``) so the KPIs, the control charts and the report
can be shown to find them. Everything is vectorised with numpy and deterministic for a seed; EM
samples are written room by room so ten million rows stay within a small memory budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from qmm.demo.workspace import DEMO_SITES

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[str], None]

EPOCH: Final = date(1970, 1, 1)
RECORD_FILES: Final = (
    "site",
    "capa",
    "deviation",
    "change_control",
    "em_sample",
    "training",
    "supplier_car",
    "lot",
    "complaint",
    "distribution",
    "oos",
    "suggestion",
)

#: The last day of the demo's data: its extracts are taken on this day (ImportBatch.extracted_on).
DEMO_END: Final = date(2026, 10, 31)

# --- The injected signals -------------------------------------------------------------------

# (1) SITE-B: CAPAs keep failing their effectiveness check and deviations recur in the same
# root-cause categories.
VOE_FAILURE_SITE: Final = "SITE-B"
VOE_NOT_EFFECTIVE_SHARE: Final = 0.45
VOE_NOT_EFFECTIVE_SHARE_ELSEWHERE: Final = 0.10
RECURRING_ROOT_CAUSES: Final = (
    "Equipment malfunction",
    "Cleaning / sanitisation",
    "Procedure not followed",
)
RECURRING_SHARE: Final = 0.55  # share of SITE-B deviations in the three recurring categories
# Deviations carry the site's failure-mode code (equipment + failure mode) as recurrence_key.
# A share repeats an earlier deviation's key within a year, and a share of the CAPAs raised on
# deviations see their key come back within RECURRENCE_WINDOW_DAYS of closing: more at SITE-B.
REPEAT_SHARE: Final = {VOE_FAILURE_SITE: 0.22}
REPEAT_SHARE_ELSEWHERE: Final = 0.13
RECURRENCE_SHARE: Final = {VOE_FAILURE_SITE: 0.12}
RECURRENCE_SHARE_ELSEWHERE: Final = 0.06
RECURRENCE_WINDOW_DAYS: Final = 180
FAILURE_MODES: Final = (
    "seal-leak",
    "sensor-drift",
    "jam",
    "alarm-bypassed",
    "wrong-setting",
    "label-mismatch",
    "residue",
    "pressure-loss",
    "temperature-excursion",
    "step-skipped",
    "missing-record",
    "contamination",
)

# (2) SITE-A: one Grade B filling room drifts: its excursion rate rises every month over the
# last nine months (Nelson rule 3, usually rule 2 too), and excursions there are answered slowly.
EM_DRIFT_SITE: Final = "SITE-A"
EM_DRIFT_ROOM: Final = "B-FILL-02"
EM_DRIFT_GRADE: Final = "B"
EM_DRIFT_MONTHS: Final = 9
EM_DRIFT_START_RATE: Final = 0.015
EM_DRIFT_END_RATE: Final = 0.08
EM_DRIFT_RESPONSE_HOURS: Final = 72.0  # median excursion-to-response time during the drift
EM_DRIFT_OPEN_SHARE: Final = 0.15  # excursions in the drift with no documented response

# (3) SITE-C: a high-risk change-control backlog: changes opened in the last 21 months take
# CHANGE_BACKLOG_FACTOR times their usual cycle time, so those closed in the last 12 months
# take 2-3x their target.
CHANGE_BACKLOG_SITE: Final = "SITE-C"
CHANGE_BACKLOG_TIER: Final = "high"
CHANGE_BACKLOG_FACTOR: Final = 2.8
CHANGE_BACKLOG_MONTHS: Final = 12
CHANGE_TARGET_DEFAULTS: Final = {"high": 90, "medium": 60, "low": 30}


@dataclass(frozen=True)
class InjectedSignal:
    """A finding planted in the demo data, so tests and the UI can point at it."""

    key: str
    site: str
    record_type: str
    what: str
    how_to_see: str


INJECTED_SIGNALS: Final[tuple[InjectedSignal, ...]] = (
    InjectedSignal(
        "capa_not_effective",
        VOE_FAILURE_SITE,
        "capa",
        f"About {VOE_NOT_EFFECTIVE_SHARE:.0%} of CAPA effectiveness checks fail (about "
        f"{VOE_NOT_EFFECTIVE_SHARE_ELSEWHERE:.0%} elsewhere), and {RECURRING_SHARE:.0%} of "
        f"deviations fall in three recurring root causes: {', '.join(RECURRING_ROOT_CAUSES)}; "
        "failure modes repeat and come back after their CAPAs about twice as often as elsewhere.",
        "capa_effectiveness, capa_recurrence_rate, deviation_repeat_rate; deviations by "
        "root_cause_category",
    ),
    InjectedSignal(
        "em_drift",
        EM_DRIFT_SITE,
        "em_sample",
        f"Room {EM_DRIFT_ROOM} (Grade {EM_DRIFT_GRADE}): the excursion rate rises every month "
        f"over the last {EM_DRIFT_MONTHS} months from about {EM_DRIFT_START_RATE:.1%} to "
        f"{EM_DRIFT_END_RATE:.0%}, and responses slow to a median of "
        f"{EM_DRIFT_RESPONSE_HOURS:.0f} hours.",
        "em_trend p-chart for the room (Nelson rule 3); em_response_hours, em_open_excursions",
    ),
    InjectedSignal(
        "change_backlog",
        CHANGE_BACKLOG_SITE,
        "change_control",
        f"High-risk change controls closed in the last {CHANGE_BACKLOG_MONTHS} months took "
        "2-3x their target; many are still open.",
        "change_cycle_time_days (group high), change_within_target",
    ),
)

# --- Reference lists ------------------------------------------------------------------------

ROOT_CAUSES: Final = (
    "Procedure not followed",
    "Inadequate procedure / instructions",
    "Training / qualification gap",
    "Equipment malfunction",
    "Calibration / preventive maintenance",
    "Facility / HVAC / utilities",
    "Raw material / supplier quality",
    "Analytical method / laboratory error",
    "Documentation / data integrity",
    "Cleaning / sanitisation",
    "Process design / robustness",
    "Labelling / packaging material",
    "Human error - attention / workload",
    "Change control not followed",
    "Aseptic technique / gowning",
)
_ROOT_CAUSE_WEIGHTS = np.array([9, 7, 6, 9, 6, 6, 7, 6, 8, 7, 5, 5, 8, 4, 7], dtype=np.float64)
ASEPTIC_ROOT_CAUSE: Final = "Aseptic technique / gowning"

GRADES: Final = ("A", "B", "C", "D")
METHODS: Final = ("active_air", "settle_plate", "contact_plate", "glove")
# Share of samples per method, by grade (rows A-D, columns as METHODS).
_METHOD_MIX = np.array(
    [
        [0.20, 0.35, 0.25, 0.20],
        [0.25, 0.30, 0.30, 0.15],
        [0.35, 0.30, 0.35, 0.00],
        [0.40, 0.20, 0.40, 0.00],
    ]
)
# EU GMP Annex 1 (2022) action limits, cfu per m3 / per 4 h plate / per plate / per glove, with
# alert limits about half. Grade A: any growth is investigated, so the alert limit is 0.
_ALERT = np.array([[0, 0, 0, 0], [5, 3, 3, 3], [50, 25, 13, 13], [100, 50, 25, 25]])
_ACTION = np.array([[1, 1, 1, 1], [10, 5, 5, 5], [100, 50, 25, 25], [200, 100, 50, 50]])
_EXCURSION_RATE = np.array([0.004, 0.015, 0.010, 0.012])  # cfu > alert, by grade
_RECOVERY_BELOW_ALERT = np.array([0.0, 0.08, 0.25, 0.40])  # cfu > 0 among the rest, by grade

COURSES: Final = (
    "SOP-QA-001 Deviation management",
    "SOP-QA-014 CAPA process",
    "SOP-QA-020 Change control",
    "SOP-QA-031 Good documentation practice",
    "SOP-QA-040 Data integrity (ALCOA+)",
    "SOP-QA-052 Complaint handling",
    "SOP-PR-101 Line clearance",
    "SOP-PR-110 Batch record execution",
    "SOP-EN-201 Cleaning and sanitisation",
    "SOP-EN-215 Preventive maintenance",
    "SOP-EN-230 Calibration",
    "SOP-QC-301 Sample handling",
    "SOP-QC-330 OOS investigation",
    "SOP-WH-501 Material receipt and sampling",
    "SOP-HS-401 Chemical safety",
    "GMP-ANNUAL GMP annual refresher",
)
ROLES: Final = (
    "Operator",
    "Senior operator",
    "Supervisor",
    "QA specialist",
    "QC analyst",
    "Engineer",
    "Warehouse associate",
)
_ROLE_WEIGHTS = np.array([0.42, 0.12, 0.07, 0.10, 0.12, 0.10, 0.07])


@dataclass(frozen=True)
class _Kind:
    """What a kind of site makes and monitors, and its yearly volumes at reference size."""

    reference_headcount: int
    rooms: tuple[tuple[str, str, int], ...]  # room, grade, samples per production day
    products: tuple[tuple[str, float, float], ...]  # product, lots per year, units per lot
    process_areas: tuple[str, ...]
    suppliers: tuple[str, ...]
    courses: tuple[str, ...]
    deviations: float
    changes: float
    scars: float
    oos: float
    training_per_staff: float
    complaints_per_million: float
    lot_cycle_days: float
    aseptic: bool


_STERILE_SUPPLIERS = (
    "Aldon Glass Tubing GmbH",
    "Brightseal Elastomers Inc.",
    "Corvane Aluminium Caps Ltd",
    "Delmar Filter Technologies",
    "Everpure WFI Systems",
    "Fennick Single-Use Bags",
    "Granford API Sourcing",
    "Helix Sterilisation Services",
    "Irongate Disinfectants",
    "Juniper Label & Print",
)
_ORAL_SUPPLIERS = (
    "Kestrel Excipients BV",
    "Lanmoor Gelatin Capsules",
    "Meridian Coating Systems",
    "Northpoint Foil & Film",
    "Oakridge HDPE Bottles",
    "Pemberton Lactose Ltd",
    "Quarry Hill Starches",
    "Redwell API Trading",
    "Silverline Cartons",
    "Tamsin Desiccants",
)
_API_SUPPLIERS = (
    "Umbra Fine Chemicals",
    "Vantor Solvents Inc.",
    "Westmark Reagents",
    "Xylem Catalyst Works",
    "Yarrow Drum & Liner",
    "Zephyr Nitrogen Supply",
    "Ashcombe Intermediates",
    "Birchwood Filter Cloths",
)

_KINDS: Final[dict[str, _Kind]] = {
    "sterile": _Kind(
        640,
        (
            ("A-FILL-01", "A", 60),
            ("A-FILL-02", "A", 60),
            ("B-FILL-01", "B", 30),
            ("B-FILL-02", "B", 30),
            ("B-GOWN-01", "B", 10),
            ("C-PREP-01", "C", 8),
            ("C-COMP-01", "C", 8),
            ("C-CORR-01", "C", 6),
            ("D-GOWN-01", "D", 4),
            ("D-CORR-01", "D", 4),
            ("D-WASH-01", "D", 4),
        ),
        (
            ("Cefazolin 1 g vial", 300, 25_000),
            ("Ondansetron 2 mg/mL 2 mL vial", 200, 40_000),
            ("Heparin 5,000 IU/mL 1 mL vial", 180, 30_000),
            ("Enoxaparin 40 mg prefilled syringe", 150, 50_000),
        ),
        (
            "Aseptic filling",
            "Compounding",
            "Component preparation",
            "Lyophilisation",
            "Visual inspection",
            "Packaging",
            "QC microbiology",
            "Warehouse",
            "Utilities",
        ),
        _STERILE_SUPPLIERS,
        (
            "SOP-AS-601 Aseptic gowning qualification",
            "SOP-AS-610 Aseptic interventions",
            "SOP-AS-620 Environmental monitoring",
            "SOP-AS-630 Media fill participation",
        ),
        deviations=230,
        changes=190,
        scars=25,
        oos=25,
        training_per_staff=22,
        complaints_per_million=4.0,
        lot_cycle_days=28,
        aseptic=True,
    ),
    "oral": _Kind(
        410,
        (
            ("D-DISP-01", "D", 4),
            ("D-GRAN-01", "D", 4),
            ("D-COMP-01", "D", 4),
            ("D-COMP-02", "D", 4),
            ("D-COAT-01", "D", 4),
            ("D-PACK-01", "D", 3),
            ("D-PACK-02", "D", 3),
        ),
        (
            ("Metformin 500 mg tablet", 800, 600_000),
            ("Amlodipine 5 mg tablet", 500, 800_000),
            ("Atorvastatin 20 mg tablet", 450, 500_000),
            ("Levothyroxine 50 mcg tablet", 300, 1_000_000),
            ("Omeprazole 20 mg capsule", 250, 400_000),
            ("Lisinopril 10 mg tablet", 150, 500_000),
        ),
        (
            "Dispensing",
            "Granulation",
            "Compression",
            "Coating",
            "Encapsulation",
            "Packaging",
            "QC laboratory",
            "Warehouse",
        ),
        _ORAL_SUPPLIERS,
        ("SOP-PR-120 Tablet compression set-up", "SOP-PR-130 Granulation end-point"),
        deviations=260,
        changes=160,
        scars=25,
        oos=30,
        training_per_staff=18,
        complaints_per_million=0.4,
        lot_cycle_days=12,
        aseptic=False,
    ),
    "api": _Kind(
        220,
        (
            ("D-REAC-01", "D", 3),
            ("D-ISOL-01", "D", 4),
            ("D-DRY-01", "D", 4),
            ("D-MILL-01", "D", 4),
            ("D-PACK-01", "D", 3),
        ),
        (
            ("Metformin HCl API", 250, 2_000),
            ("Amlodipine besylate API", 150, 150),
            ("Atorvastatin calcium API", 120, 200),
        ),
        (
            "Reaction",
            "Isolation / filtration",
            "Drying / milling",
            "Solvent recovery",
            "QC laboratory",
            "Warehouse",
            "Utilities",
        ),
        _API_SUPPLIERS,
        ("SOP-PR-140 Reactor charging", "SOP-PR-150 Solvent handling"),
        deviations=180,
        changes=130,
        scars=20,
        oos=22,
        training_per_staff=24,
        complaints_per_million=40.0,  # units are kilograms
        lot_cycle_days=20,
        aseptic=False,
    ),
    "biologics": _Kind(
        500,
        (
            ("A-FILL-01", "A", 30),
            ("B-FILL-01", "B", 20),
            ("B-GOWN-01", "B", 8),
            ("C-PURI-01", "C", 8),
            ("C-CELL-01", "C", 10),
            ("D-CORR-01", "D", 4),
            ("D-MEDIA-01", "D", 4),
        ),
        (
            ("Adalimumab 40 mg prefilled syringe", 200, 20_000),
            ("Trastuzumab 150 mg vial", 150, 8_000),
            ("Filgrastim 300 mcg prefilled syringe", 200, 30_000),
        ),
        (
            "Cell culture",
            "Purification",
            "Aseptic filling",
            "Visual inspection",
            "QC microbiology",
            "Warehouse",
            "Utilities",
        ),
        _STERILE_SUPPLIERS,
        (
            "SOP-AS-601 Aseptic gowning qualification",
            "SOP-AS-620 Environmental monitoring",
            "SOP-BIO-701 Cell bank handling",
        ),
        deviations=200,
        changes=180,
        scars=22,
        oos=25,
        training_per_staff=22,
        complaints_per_million=6.0,
        lot_cycle_days=35,
        aseptic=True,
    ),
    "packager": _Kind(
        150,
        (
            ("D-PACK-01", "D", 3),
            ("D-PACK-02", "D", 3),
            ("D-PACK-03", "D", 3),
            ("D-WARE-01", "D", 2),
        ),
        (
            ("Metformin 500 mg blister pack", 900, 50_000),
            ("Amlodipine 5 mg bottle of 30", 600, 30_000),
        ),
        ("Packaging", "Labelling", "Serialisation", "Warehouse", "QA release"),
        _ORAL_SUPPLIERS,
        ("SOP-PK-801 Serialisation", "SOP-PK-810 Label reconciliation"),
        deviations=150,
        changes=100,
        scars=15,
        oos=10,
        training_per_staff=16,
        complaints_per_million=0.5,
        lot_cycle_days=6,
        aseptic=False,
    ),
}


@dataclass(frozen=True)
class ExtractSite:
    """One site of the demo extracts: identity, kind, maturity and local UTC offset."""

    code: str
    name: str
    fei: str
    duns: str
    site_type: str
    headcount: int
    kind: str
    quality: float  # 0 weakest .. 1 strongest: drives on-time rates, pass rates, EM control
    utc_offset_minutes: int
    dst: bool  # +60 minutes from April to October (approximate, northern hemisphere)


_DEMO_KIND = {"SITE-A": "sterile", "SITE-B": "oral", "SITE-C": "api"}
_DEMO_QUALITY = {"SITE-A": 0.9, "SITE-B": 0.7, "SITE-C": 0.45}
_DEMO_OFFSET = {"SITE-A": (-300, True), "SITE-B": (60, True), "SITE-C": (330, False)}
# Further sites for load tests and larger demos: (name, site_type, kind, headcount, quality)
_MORE_SITES: Final = (
    ("Eastgate Biologics", "biologics", "biologics", 520, 0.75),
    ("Westbrook Packaging", "packager", "packager", 150, 0.6),
    ("Harbor Point Sterile Fill", "fdf", "sterile", 480, 0.7),
    ("Summit Oral Solids", "fdf", "oral", 350, 0.65),
    ("Pinecrest Fine Chemicals", "api", "api", 260, 0.55),
    ("Meadowvale Biologics", "biologics", "biologics", 430, 0.7),
    ("Stonebridge Solid Dose", "fdf", "oral", 390, 0.6),
)
_MORE_OFFSETS: Final = ((-360, True), (0, True), (60, True), (-300, True), (480, False))


def _site_letters(index: int) -> str:
    """A, B, ..., Z, AA, AB, ...: site codes that sort and never collide."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def extract_sites(count: int) -> tuple[ExtractSite, ...]:
    """The first ``count`` demo sites: the demo workspace's three, then SITE-D onwards."""
    if count < 1:
        raise ValueError("sites must be at least 1")
    sites: list[ExtractSite] = []
    for i in range(count):
        code = f"SITE-{_site_letters(i)}"
        duns = f"{80_000_000 + 1_234_567 * (i + 1) % 9_999_999:09d}"
        if i < len(DEMO_SITES):
            demo = DEMO_SITES[i]
            offset, dst = _DEMO_OFFSET.get(demo.code, (0, False))
            sites.append(
                ExtractSite(
                    demo.code,
                    demo.name,
                    demo.fei,
                    duns,
                    demo.site_type,
                    demo.headcount,
                    _DEMO_KIND.get(demo.code, "oral" if demo.site_type == "fdf" else "api"),
                    _DEMO_QUALITY.get(demo.code, 0.7),
                    offset,
                    dst,
                )
            )
            continue
        j = i - len(DEMO_SITES)
        name, site_type, kind, headcount, quality = _MORE_SITES[j % len(_MORE_SITES)]
        if j >= len(_MORE_SITES):
            name = f"{name} {j // len(_MORE_SITES) + 1}"
        offset, dst = _MORE_OFFSETS[j % len(_MORE_OFFSETS)]
        fei = f"{3_009_000_000 + 7_919 * (i + 1)}"
        sites.append(
            ExtractSite(code, name, fei, duns, site_type, headcount, kind, quality, offset, dst)
        )
    return tuple(sites)


# --- Small helpers --------------------------------------------------------------------------


def _day(d: date) -> int:
    return (d - EPOCH).days


def _years_of(days: IntArray) -> IntArray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _months_of(days: IntArray) -> IntArray:
    """Months since 1970-01, so month arithmetic is integer arithmetic."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _month_start(month: int) -> int:
    return int(np.datetime64(month, "M").astype("datetime64[D]").astype(np.int64))


def _month_label(month: int) -> str:
    return f"{1970 + month // 12:04d}-{month % 12 + 1:02d}"


def _rng(seed: int, site: int, stream: int) -> np.random.Generator:
    """One independent stream per site and table, so adding sites never changes earlier ones."""
    return np.random.default_rng([seed, site, stream])


def _count(rng: np.random.Generator, per_year: float, days: int) -> int:
    return int(rng.poisson(per_year * days / 365.25))


def _uniform_days(rng: np.random.Generator, n: int, first: int, last: int) -> IntArray:
    return np.sort(rng.integers(first, last + 1, n)).astype(np.int64)


def _lognormal(rng: np.random.Generator, n: int, median: float, spread: float) -> FloatArray:
    return median * np.exp(spread * rng.standard_normal(n))


def _whole_days(values: FloatArray) -> IntArray:
    return np.maximum(1, np.rint(values)).astype(np.int64)


def _dates(days: IntArray, valid: BoolArray | None = None) -> Any:
    arr = days.astype("datetime64[D]")
    return pa.array(arr, type=pa.date32(), mask=None if valid is None else ~valid)


def _pad(values: IntArray, width: int) -> Any:
    text = pc.cast(pa.array(values.astype(np.int64)), pa.string())
    return pc.utf8_lpad(text, width=width, padding="0")


def _seq_ids(prefix: str, days: IntArray, width: int) -> Any:
    """IDs numbered per year in date order, as an eQMS does: DEV-A25-0042 (days sorted)."""
    years = _years_of(days)
    seq = np.arange(len(days)) - np.searchsorted(years, years, side="left") + 1
    return pc.binary_join_element_wise(prefix, _pad(years % 100, 2), "-", _pad(seq, width), "")


def _pick(options: Sequence[str], codes: IntArray) -> Any:
    """Codes to their names through a dictionary array, which is fast for millions of rows."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), list(options)).cast(
        pa.string()
    )


def _text_bool(values: BoolArray, valid: BoolArray | None, words: tuple[str, str]) -> Any:
    """Booleans spelled the way some exports do (yes/no, 1/0), which the contract accepts."""
    codes = np.where(values, 0, 1).astype(np.int32)
    arr = pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=None if valid is None else ~valid), list(words)
    )
    return arr.cast(pa.string())


def _choose_exact(
    rng: np.random.Generator, n: int, share: float, weights: FloatArray | None = None
) -> BoolArray:
    """Exactly round(share * n) picks, so a planted rate holds for any seed, not on average."""
    chosen = np.zeros(n, dtype=bool)
    k = min(n, round(share * n))
    if k:
        p = None if weights is None else weights / weights.sum()
        chosen[rng.choice(n, size=k, replace=False, p=p)] = True
    return chosen


def _root_cause_weights(site: ExtractSite, kind: _Kind) -> FloatArray:
    w = _ROOT_CAUSE_WEIGHTS.copy()
    if not kind.aseptic:
        w[ROOT_CAUSES.index(ASEPTIC_ROOT_CAUSE)] = 0
    w /= w.sum()
    if site.code == VOE_FAILURE_SITE:
        recurring = np.array([c in RECURRING_ROOT_CAUSES for c in ROOT_CAUSES])
        w[recurring] = RECURRING_SHARE / recurring.sum()
        w[~recurring] *= (1 - RECURRING_SHARE) / w[~recurring].sum()
    return w


# --- Per-site tables ------------------------------------------------------------------------


@dataclass
class _Window:
    first: int  # first day (days since epoch)
    last: int  # last day, the as-of date

    @property
    def days(self) -> int:
        return self.last - self.first + 1


@dataclass
class _Lots:
    product: IntArray
    started: IntArray
    decided: IntArray
    released: BoolArray
    ids: Any


class _SiteBuilder:
    """Builds one site's tables in dependency order (lots before complaints, and so on)."""

    def __init__(self, site: ExtractSite, index: int, seed: int, window: _Window) -> None:
        self.site = site
        self.index = index
        self.seed = seed
        self.w = window
        self.kind = _KINDS[site.kind]
        self.letter = site.code.split("-", 1)[-1]
        self.scale = min(1.5, max(0.6, site.headcount / self.kind.reference_headcount))
        self.q = site.quality
        self.tables: dict[str, Any] = {}
        self.em_links: list[tuple[int, int, str]] = []  # (room index, sample day, deviation id)
        self.oos_days: IntArray = np.zeros(0, dtype=np.int64)
        self.oos_ids: Any = None
        self.scar_days: IntArray = np.zeros(0, dtype=np.int64)
        self.scar_ids: Any = None
        self.dev_table_parts: dict[str, Any] = {}
        self.dev_opened: IntArray = np.zeros(0, dtype=np.int64)
        self.dev_keys: list[str] = []
        self.dev_area: IntArray = np.zeros(0, dtype=np.int64)

    def rng(self, stream: int) -> np.random.Generator:
        return _rng(self.seed, self.index, stream)

    def build(self) -> dict[str, Any]:
        self.tables["site"] = pa.table(
            {
                "site": [self.site.code],
                "name": [self.site.name],
                "fei": [self.site.fei],
                "duns": [self.site.duns],
                "site_type": [self.site.site_type],
                "headcount": pa.array([self.site.headcount], type=pa.int64()),
            }
        )
        lots = self._lots()
        self._distribution_and_complaints(lots)
        self._oos(lots)
        self._scars()
        dev_days, dev_ids, dev_cause, dev_sev = self._deviations()
        self._capas(dev_days, dev_ids, dev_cause, dev_sev)
        self._changes()
        self._training()
        self._suggestions()
        return self.tables

    def _site_col(self, n: int) -> Any:
        return pa.repeat(self.site.code, n)

    # lots, distribution, complaints, OOS, SCARs -------------------------------------------

    def _lots(self) -> _Lots:
        rng = self.rng(1)
        products: list[IntArray] = []
        started: list[IntArray] = []
        for p, (_, per_year, _) in enumerate(self.kind.products):
            n = _count(rng, per_year * self.scale, self.w.days)
            products.append(np.full(n, p, dtype=np.int64))
            started.append(rng.integers(self.w.first, self.w.last + 1, n).astype(np.int64))
        product = np.concatenate(products)
        start = np.concatenate(started)
        order = np.argsort(start, kind="stable")
        product, start = product[order], start[order]
        n = len(start)
        decided = start + _whole_days(_lognormal(rng, n, self.kind.lot_cycle_days, 0.25))
        done = decided <= self.w.last
        rejected = rng.random(n) < 0.003 + 0.02 * (1 - self.q)
        released = done & ~rejected
        disposition = np.where(~done, 2, np.where(rejected, 1, 0))
        ids = _seq_ids(f"LOT-{self.letter}", start, 5)
        self.tables["lot"] = pa.table(
            {
                "lot_id": ids,
                "site": self._site_col(n),
                "product": _pick([p[0] for p in self.kind.products], product),
                "started_on": _dates(start),
                "dispositioned_on": _dates(decided, done),
                "disposition": _pick(["released", "rejected", "pending"], disposition),
            }
        )
        return _Lots(product, start, decided, released, ids)

    def _distribution_and_complaints(self, lots: _Lots) -> None:
        rng = self.rng(2)
        months = np.arange(
            _months_of(np.array([self.w.first]))[0], _months_of(np.array([self.w.last]))[0] + 1
        )
        labels = [_month_label(int(m)) for m in months]
        rows_product: list[str] = []
        rows_month: list[str] = []
        rows_units: list[int] = []
        c_product: list[IntArray] = []
        c_day: list[IntArray] = []
        c_quality: list[BoolArray] = []
        rate = self.kind.complaints_per_million * (1.4 - 0.6 * self.q)
        for p, (name, per_year, per_lot) in enumerate(self.kind.products):
            mean = per_year * self.scale * per_lot / 12
            units = np.rint(mean * np.exp(0.15 * rng.standard_normal(len(months)))).astype(np.int64)
            rows_product += [name] * len(months)
            rows_month += labels
            rows_units += units.tolist()
            quality = rng.poisson(rate * units / 1e6)
            other = rng.poisson(0.35 * rate * units / 1e6)
            for m, q_n, o_n in zip(months.tolist(), quality.tolist(), other.tolist(), strict=True):
                first = max(self.w.first, _month_start(m))
                last = min(self.w.last, _month_start(m + 1) - 1)
                k = q_n + o_n
                c_product.append(np.full(k, p, dtype=np.int64))
                c_day.append(rng.integers(first, last + 1, k).astype(np.int64))
                c_quality.append(np.arange(k) < q_n)
        self.tables["distribution"] = pa.table(
            {
                "site": self._site_col(len(rows_units)),
                "product": rows_product,
                "month": rows_month,
                "units": pa.array(rows_units, type=pa.int64()),
            }
        )
        product = np.concatenate(c_product)
        day = np.concatenate(c_day)
        quality_related = np.concatenate(c_quality)
        order = np.argsort(day, kind="stable")
        product, day, quality_related = product[order], day[order], quality_related[order]
        n = len(day)
        # Link most complaints to a lot of the product released before the complaint.
        lot_index = np.full(n, -1, dtype=np.int64)
        for p in range(len(self.kind.products)):
            mine = np.flatnonzero(lots.released & (lots.product == p))
            if not len(mine):
                continue
            by_day = mine[np.argsort(lots.decided[mine], kind="stable")]
            rows = np.flatnonzero(product == p)
            available = np.searchsorted(lots.decided[by_day], day[rows], side="right")
            pick = np.floor(rng.random(len(rows)) * available).astype(np.int64)
            ok = available > 0
            lot_index[rows[ok]] = by_day[pick[ok]]
        linked = (lot_index >= 0) & (rng.random(n) < 0.85)
        lot_ids = (
            pc.take(lots.ids, pa.array(np.where(linked, lot_index, 0)))
            if n
            else pa.array([], pa.string())
        )
        self.tables["complaint"] = pa.table(
            {
                "complaint_id": _seq_ids(f"CMP-{self.letter}", day, 5),
                "site": self._site_col(n),
                "product": _pick([p[0] for p in self.kind.products], product),
                "received_on": _dates(day),
                "quality_related": pa.array(quality_related, type=pa.bool_()),
                "lot_id": pc.if_else(pa.array(linked), lot_ids, pa.scalar(None, pa.string())),
            }
        )

    def _oos(self, lots: _Lots) -> None:
        rng = self.rng(3)
        n = _count(rng, self.kind.oos * self.scale, self.w.days)
        day = _uniform_days(rng, n, self.w.first, self.w.last)
        stability = rng.random(n) < 0.35
        invalid_share = 0.45 - 0.3 * self.q
        invalidated = _choose_exact(rng, n, invalid_share)
        available = np.searchsorted(lots.started, day, side="right")
        lo = np.where(stability, 0, np.maximum(0, available - 150))
        pick = lo + np.floor(rng.random(n) * (available - lo)).astype(np.int64)
        linked = available > 0
        lot_ids = (
            pc.take(lots.ids, pa.array(np.where(linked, pick, 0)))
            if n
            else pa.array([], pa.string())
        )
        self.oos_days = day
        self.oos_ids = _seq_ids(f"OOS-{self.letter}", day, 3)
        self.tables["oos"] = pa.table(
            {
                "oos_id": self.oos_ids,
                "site": self._site_col(n),
                "test_type": _pick(["release", "stability"], stability.astype(np.int64)),
                "reported_on": _dates(day),
                "invalidated": _text_bool(invalidated, None, ("1", "0")),
                "lot_id": pc.if_else(pa.array(linked), lot_ids, pa.scalar(None, pa.string())),
            }
        )

    def _scars(self) -> None:
        rng = self.rng(4)
        n = _count(rng, self.kind.scars * self.scale, self.w.days)
        issued = _uniform_days(rng, n, self.w.first, self.w.last)
        allowed = rng.choice(np.array([30, 60, 90]), n, p=[0.3, 0.5, 0.2]).astype(np.int64)
        took = _whole_days(_lognormal(rng, n, 1.0, 0.45) * allowed * (0.7 + 0.6 * (1 - self.q)))
        closed = issued + took
        is_closed = closed <= self.w.last
        effective = rng.random(n) < 0.7 + 0.25 * self.q
        supplier = rng.integers(0, len(self.kind.suppliers), n).astype(np.int64)
        self.scar_days = issued
        self.scar_ids = _seq_ids(f"SCAR-{self.letter}", issued, 3)
        self.tables["supplier_car"] = pa.table(
            {
                "scar_id": self.scar_ids,
                "site": self._site_col(n),
                "supplier": _pick(self.kind.suppliers, supplier),
                "issued_on": _dates(issued),
                "due_on": _dates(issued + allowed),
                "closed_on": _dates(closed, is_closed),
                "effective": _text_bool(effective, is_closed, ("yes", "no")),
            }
        )

    # deviations and CAPAs ----------------------------------------------------------------

    def _deviations(self) -> tuple[IntArray, Any, IntArray, IntArray]:
        rng = self.rng(5)
        weights = _root_cause_weights(self.site, self.kind)
        n = _count(rng, self.kind.deviations * self.scale, self.w.days)
        opened = rng.integers(self.w.first, self.w.last + 1, n).astype(np.int64)
        cause = rng.choice(len(ROOT_CAUSES), n, p=weights).astype(np.int64)
        critical = 0.02 + 0.03 * (1 - self.q)
        severity = rng.choice(3, n, p=[critical, 0.27, 0.73 - critical]).astype(np.int64)
        area = rng.integers(0, len(self.kind.process_areas), n).astype(np.int64)
        em_room = np.full(n, -1, dtype=np.int64)
        em_day = np.full(n, -1, dtype=np.int64)
        if self.kind.aseptic:
            rooms = self.kind.rooms
            clean = [i for i, r in enumerate(rooms) if r[1] in ("A", "B")]
            sample_days: list[IntArray] = [
                rng.integers(self.w.first, self.w.last - 8, _count(rng, 8, self.w.days))
            ]
            sample_rooms: list[IntArray] = [rng.choice(clean, len(sample_days[0]))]
            if self.site.code == EM_DRIFT_SITE and EM_DRIFT_ROOM in [r[0] for r in rooms]:
                drift = [r[0] for r in rooms].index(EM_DRIFT_ROOM)
                start = max(self.w.first, _drift_start(self.w.last))
                if start < self.w.last - 8:
                    k = _count(rng, 24, self.w.last - start)
                    sample_days.append(rng.integers(start, self.w.last - 8, k))
                    sample_rooms.append(np.full(k, drift))
            s_day = np.concatenate(sample_days).astype(np.int64)
            s_room = np.concatenate(sample_rooms).astype(np.int64)
            k = len(s_day)
            filling = np.array(["FILL" in rooms[r][0] for r in s_room], dtype=bool)
            aseptic = ROOT_CAUSES.index(ASEPTIC_ROOT_CAUSE)
            em_cause = rng.choice(
                np.array(
                    [
                        aseptic,
                        ROOT_CAUSES.index("Facility / HVAC / utilities"),
                        ROOT_CAUSES.index("Cleaning / sanitisation"),
                    ]
                ),
                k,
                p=[0.6, 0.25, 0.15],
            )
            grade_a = np.array([rooms[r][1] == "A" for r in s_room], dtype=bool)
            em_sev = np.where(grade_a & (rng.random(k) < 0.3), 0, 1)
            area_names = list(self.kind.process_areas)
            em_area = np.where(filling, area_names.index("Aseptic filling"), len(area_names))
            opened = np.concatenate([opened, s_day + 5 + rng.integers(0, 3, k)])
            cause = np.concatenate([cause, em_cause.astype(np.int64)])
            severity = np.concatenate([severity, em_sev.astype(np.int64)])
            area = np.concatenate([area, em_area.astype(np.int64)])
            em_room = np.concatenate([em_room, s_room])
            em_day = np.concatenate([em_day, s_day])
        order = np.argsort(opened, kind="stable")
        opened, cause, severity, area = opened[order], cause[order], severity[order], area[order]
        em_room, em_day = em_room[order], em_day[order]
        n = len(opened)
        ids = _seq_ids(f"DEV-{self.letter}", opened, 4)
        id_list = ids.to_pylist()
        for i in np.flatnonzero(em_room >= 0).tolist():
            self.em_links.append((int(em_room[i]), int(em_day[i]), id_list[i]))
        took = _whole_days(_lognormal(rng, n, 18 + 30 * (1 - self.q), 0.6))
        closed = opened + took
        stuck = rng.random(n) < 0.02
        is_closed = (closed <= self.w.last) & ~stuck
        area, cause = self._recurrence_keys(opened, area, cause)
        self.dev_opened = opened
        self.dev_table_parts = {
            "deviation_id": ids,
            "site": self._site_col(n),
            "opened_on": _dates(opened),
            "root_cause_category": _pick(ROOT_CAUSES, cause),
            "due_on": _dates(opened + 30),
            "closed_on": _dates(closed, is_closed),
            "severity": _pick(["critical", "major", "minor"], severity),
            "process_area": _pick([*self.kind.process_areas, "Environmental monitoring"], area),
        }
        return opened, ids, cause, severity

    def _recurrence_keys(
        self, opened: IntArray, area: IntArray, cause: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Each deviation's failure-mode code: mostly new, a share repeating an earlier one of
        the past year (with its process area and root cause); the area and cause come back."""
        rng = self.rng(11)
        area, cause = area.copy(), cause.copy()
        n = len(opened)
        share = REPEAT_SHARE.get(self.site.code, REPEAT_SHARE_ELSEWHERE)
        recurring = np.isin(cause, [ROOT_CAUSES.index(c) for c in RECURRING_ROOT_CAUSES])
        keys: list[str] = []
        for i in range(n):
            first = int(np.searchsorted(opened, opened[i] - 300, side="left"))
            earlier = np.arange(first, i)
            earlier = earlier[opened[earlier] < opened[i]]
            if len(earlier) and rng.random() < share:
                if self.site.code == VOE_FAILURE_SITE and recurring[earlier].any():
                    earlier = earlier[recurring[earlier]]
                j = int(rng.choice(earlier))
                keys.append(keys[j])
                area[i], cause[i] = area[j], cause[j]
                continue
            letters = "".join(w[0] for w in self._area_name(int(area[i])).split()[:3]).upper()
            mode = FAILURE_MODES[int(rng.integers(0, len(FAILURE_MODES)))]
            keys.append(f"{self.letter}-{letters}-{int(rng.integers(1, 400)):03d}:{mode}")
        self.dev_keys = keys
        self.dev_area = area
        return area, cause

    def _area_name(self, index: int) -> str:
        names = [*self.kind.process_areas, "Environmental monitoring"]
        return names[index]

    def _plant_recurrences(
        self, dev_cause: IntArray, capa_of_dev: IntArray, capa_closed: IntArray, closed: BoolArray
    ) -> IntArray:
        """Let a share of the deviations' CAPAs see their failure mode come back, on a later
        deviation without a CAPA of its own opened 1 to RECURRENCE_WINDOW_DAYS after closing."""
        rng = self.rng(12)
        opened = self.dev_opened
        cause = dev_cause.copy()
        share = RECURRENCE_SHARE.get(self.site.code, RECURRENCE_SHARE_ELSEWHERE)
        free = capa_of_dev < 0
        for d in np.flatnonzero(capa_of_dev >= 0).tolist():
            c = int(capa_of_dev[d])
            if not closed[c] or rng.random() >= share:
                continue
            lo = int(np.searchsorted(opened, capa_closed[c] + 1, side="left"))
            hi = int(np.searchsorted(opened, capa_closed[c] + RECURRENCE_WINDOW_DAYS, side="right"))
            later = np.arange(lo, hi)
            later = later[free[later]]
            if not len(later):
                continue
            j = int(rng.choice(later))
            free[j] = False
            self.dev_keys[j] = self.dev_keys[d]
            self.dev_area[j], cause[j] = self.dev_area[d], cause[d]
        return cause

    def _capas(
        self,
        dev_days: IntArray,
        dev_ids: Any,
        dev_cause: IntArray,
        dev_sev: IntArray,
    ) -> None:
        rng = self.rng(6)
        n_dev = len(dev_days)
        needs = rng.random(n_dev) < np.array([1.0, 0.75, 0.25])[dev_sev]
        from_dev = np.flatnonzero(needs)
        opened_dev = dev_days[from_dev] + rng.integers(1, 15, len(from_dev))
        keep = opened_dev <= self.w.last
        from_dev, opened_dev = from_dev[keep], opened_dev[keep]
        weights = _root_cause_weights(self.site, self.kind)
        n_other = _count(rng, 25 * self.scale, self.w.days)
        opened_other = rng.integers(self.w.first, self.w.last + 1, n_other).astype(np.int64)
        kinds = ["deviation", "complaint", "audit", "em_excursion", "oos", "supplier", "other"]
        mix = np.array([0, 0.25, 0.30, 0.10 if self.kind.aseptic else 0, 0.15, 0.15, 0.05])
        source_other = rng.choice(len(kinds), n_other, p=mix / mix.sum()).astype(np.int64)
        opened = np.concatenate([opened_dev, opened_other])
        source = np.concatenate([np.zeros(len(from_dev), dtype=np.int64), source_other])
        dev_row = np.concatenate([from_dev, np.full(n_other, -1, dtype=np.int64)])
        cause = np.concatenate(
            [dev_cause[from_dev], rng.choice(len(ROOT_CAUSES), n_other, p=weights)]
        ).astype(np.int64)
        severity = np.concatenate(
            [dev_sev[from_dev], rng.choice(3, n_other, p=[0.05, 0.45, 0.5])]
        ).astype(np.int64)
        order = np.argsort(opened, kind="stable")
        opened, source, dev_row = opened[order], source[order], dev_row[order]
        cause, severity = cause[order], severity[order]
        n = len(opened)
        ids = _seq_ids(f"CAPA-{self.letter}", opened, 4)

        # source_id: the record the CAPA came from, where that record type is in the extracts.
        source_id: list[str | None] = [None] * n
        dev_list = dev_ids.to_pylist()
        pools: dict[int, tuple[IntArray, list[str]]] = {
            1: (
                _days_of(self.tables["complaint"]["received_on"]),
                self.tables["complaint"]["complaint_id"].to_pylist(),
            ),
            4: (self.oos_days, self.oos_ids.to_pylist()),
            5: (self.scar_days, self.scar_ids.to_pylist()),
        }
        em_devs = sorted((day, dev) for _, day, dev in self.em_links)
        pools[3] = (np.array([d for d, _ in em_devs], dtype=np.int64), [v for _, v in em_devs])
        picks = rng.random(n)
        for i in range(n):
            s = int(source[i])
            if s == 0:
                source_id[i] = dev_list[int(dev_row[i])]
            elif s == 2:
                source_id[i] = f"AUD-{_years_of(opened[i : i + 1])[0] % 100:02d}-{i % 12 + 1:02d}"
            elif s in pools:
                days, names = pools[s]
                available = int(np.searchsorted(days, opened[i], side="right"))
                if available:
                    source_id[i] = names[int(picks[i] * available)]
        due_days = np.array([45, 90, 120])[severity]
        took = _whole_days(_lognormal(rng, n, (0.55 + 0.6 * (1 - self.q)) * 1.0, 0.45) * due_days)
        closed = opened + took
        is_closed = closed <= self.w.last
        wants_voe = is_closed & ((severity < 2) | (rng.random(n) < 0.5))
        voe_due = closed + 90
        voe_done = voe_due + np.rint(rng.normal(-7 + 20 * (1 - self.q), 12, n)).astype(np.int64)
        voe_done = np.maximum(voe_done, closed + 30)
        done = wants_voe & (voe_done <= self.w.last) & (rng.random(n) > 0.05)
        share = (
            VOE_NOT_EFFECTIVE_SHARE
            if self.site.code == VOE_FAILURE_SITE
            else VOE_NOT_EFFECTIVE_SHARE_ELSEWHERE
        )
        done_rows = np.flatnonzero(done)
        bias = np.ones(len(done_rows))
        if self.site.code == VOE_FAILURE_SITE:
            recurring = [ROOT_CAUSES.index(c) for c in RECURRING_ROOT_CAUSES]
            bias[np.isin(cause[done_rows], recurring)] = 3.0
        failed = np.zeros(n, dtype=bool)
        failed[done_rows] = _choose_exact(rng, len(done_rows), share, bias)
        self.tables["capa"] = pa.table(
            {
                "capa_id": ids,
                "site": self._site_col(n),
                "opened_on": _dates(opened),
                "due_on": _dates(opened + due_days),
                "root_cause_category": _pick(ROOT_CAUSES, cause),
                "closed_on": _dates(closed, is_closed),
                "source_type": _pick(kinds, source),
                "source_id": pa.array(source_id, type=pa.string()),
                "severity": _pick(["critical", "major", "minor"], severity),
                "voe_due_on": _dates(voe_due, wants_voe),
                "voe_done_on": _dates(voe_done, done),
                "voe_result": _text_bool(~failed, done, ("effective", "not_effective")),
            }
        )
        capa_of_dev = np.full(n_dev, -1, dtype=np.int64)
        capa_of_dev[dev_row[dev_row >= 0]] = np.flatnonzero(dev_row >= 0)
        has = capa_of_dev >= 0
        capa_ids = pc.take(ids, pa.array(np.where(has, capa_of_dev, 0))) if n else None
        parts = self.dev_table_parts
        planted = self._plant_recurrences(dev_cause, capa_of_dev, closed, is_closed)
        parts["root_cause_category"] = _pick(ROOT_CAUSES, planted)
        parts["process_area"] = _pick(
            [*self.kind.process_areas, "Environmental monitoring"], self.dev_area
        )
        parts["recurrence_key"] = pa.array(self.dev_keys, type=pa.string())
        parts["capa_id"] = (
            pc.if_else(pa.array(has), capa_ids, pa.scalar(None, pa.string()))
            if capa_ids is not None
            else pa.nulls(n_dev, pa.string())
        )
        self.tables["deviation"] = pa.table(parts)

    # change control, training, suggestions -------------------------------------------------

    def _changes(self) -> None:
        rng = self.rng(7)
        n = _count(rng, self.kind.changes * self.scale, self.w.days)
        opened = _uniform_days(rng, n, self.w.first, self.w.last)
        tier = rng.choice(3, n, p=[0.15, 0.40, 0.45]).astype(np.int64)
        defaults = np.array([CHANGE_TARGET_DEFAULTS[t] for t in ("high", "medium", "low")])
        own = np.select(
            [tier == 0, tier == 1],
            [rng.choice(np.array([90, 120]), n, p=[0.7, 0.3]), np.full(n, 60)],
            rng.choice(np.array([30, 45]), n, p=[0.6, 0.4]),
        ).astype(np.int64)
        has_target = rng.random(n) < 0.75
        target = np.where(has_target, own, defaults[tier])
        factor = np.full(n, 0.65 + 0.45 * (1 - self.q))
        if self.site.code == CHANGE_BACKLOG_SITE:
            since = _month_start(
                int(_months_of(np.array([self.w.last]))[0]) - CHANGE_BACKLOG_MONTHS - 8
            )
            factor[(tier == 0) & (opened >= since)] *= CHANGE_BACKLOG_FACTOR
        closed = opened + _whole_days(_lognormal(rng, n, 1.0, 0.35) * factor * target)
        is_closed = closed <= self.w.last
        assessed = rng.random(n) < np.where(tier < 2, 0.97, 0.85) - 0.05 * (1 - self.q)
        self.tables["change_control"] = pa.table(
            {
                "change_id": _seq_ids(f"CC-{self.letter}", opened, 4),
                "site": self._site_col(n),
                "opened_on": _dates(opened),
                "risk_tier": _pick(["high", "medium", "low"], tier),
                "closed_on": _dates(closed, is_closed),
                "target_days": pa.array(own, type=pa.int64(), mask=~has_target),
                "risk_assessment_done": pa.array(assessed, type=pa.bool_()),
            }
        )

    def _training(self) -> None:
        rng = self.rng(8)
        staff = self.site.headcount
        role = rng.choice(len(ROLES), staff, p=_ROLE_WEIGHTS).astype(np.int64)
        courses = (*COURSES, *self.kind.courses)
        critical = np.array([c.startswith(("SOP-AS", "SOP-QA-040", "SOP-QC-330")) for c in courses])
        n = _count(rng, staff * self.kind.training_per_staff, self.w.days)
        done = _uniform_days(rng, n, self.w.first, self.w.last)
        who = rng.integers(0, staff, n).astype(np.int64)
        course = rng.integers(0, len(courses), n).astype(np.int64)
        checked = done + rng.integers(14, 61, n)
        has_check = (rng.random(n) < np.where(critical[course], 0.4, 0.1)) & (
            checked <= self.w.last
        )
        passed = rng.random(n) < 0.8 + 0.15 * self.q
        employee = pc.binary_join_element_wise(f"EMP-{self.letter}", _pad(who + 1, 4), "")
        self.tables["training"] = pa.table(
            {
                "record_id": pc.binary_join_element_wise(
                    f"TRN-{self.letter}-", _pad(np.arange(1, n + 1), 7), ""
                ),
                "site": self._site_col(n),
                "employee_id": employee,
                "course": _pick(courses, course),
                "completed_on": _dates(done),
                "role": _pick(ROLES, role[who]),
                "effectiveness_checked_on": _dates(checked, has_check),
                "effectiveness_passed": pa.array(passed, type=pa.bool_(), mask=~has_check),
            }
        )

    def _suggestions(self) -> None:
        rng = self.rng(9)
        per_year = self.site.headcount * (0.15 + 0.25 * self.q)
        n = _count(rng, per_year, self.w.days)
        submitted = _uniform_days(rng, n, self.w.first, self.w.last)
        decided = submitted + _whole_days(_lognormal(rng, n, 10 + 40 * (1 - self.q), 0.7))
        is_decided = (decided <= self.w.last) & (rng.random(n) > 0.04)
        accepted = rng.random(n) < 0.5 + 0.2 * self.q
        implemented = decided + _whole_days(_lognormal(rng, n, 45, 0.6))
        is_done = is_decided & accepted & (rng.random(n) < 0.75) & (implemented <= self.w.last)
        self.tables["suggestion"] = pa.table(
            {
                "suggestion_id": _seq_ids(f"SUG-{self.letter}", submitted, 4),
                "site": self._site_col(n),
                "submitted_on": _dates(submitted),
                "decided_on": _dates(decided, is_decided),
                "decision": _text_bool(accepted, is_decided, ("accepted", "rejected")),
                "implemented_on": _dates(implemented, is_done),
            }
        )


def _days_of(column: Any) -> IntArray:
    values = column.to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def _drift_start(last_day: int) -> int:
    """First day of the EM drift: the start of the month EM_DRIFT_MONTHS-1 before the last."""
    return _month_start(int(_months_of(np.array([last_day]))[0]) - (EM_DRIFT_MONTHS - 1))


# --- Environmental monitoring ---------------------------------------------------------------

EM_SCHEMA: Final = pa.schema(
    [
        ("sample_id", pa.string()),
        ("site", pa.string()),
        ("room", pa.string()),
        ("grade", pa.string()),
        ("method", pa.string()),
        ("sampled_at", pa.string()),
        ("cfu", pa.int64()),
        ("alert_limit", pa.int64()),
        ("action_limit", pa.int64()),
        ("result_at", pa.string()),
        ("response_at", pa.string()),
        ("deviation_id", pa.string()),
    ]
)


def _iso(utc_seconds: IntArray, offset_minutes: IntArray, zulu: BoolArray, valid: BoolArray) -> Any:
    """ISO 8601 text with the row's offset (or Z), so importers must normalise to UTC."""
    offset = np.where(zulu, 0, offset_minutes)
    local = pa.array(utc_seconds + offset * 60, type=pa.timestamp("s"), mask=~valid)
    text = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S")
    key = np.where(zulu, 10_000, offset)
    uniq, codes = np.unique(key, return_inverse=True)
    names = [
        "Z"
        if k == 10_000
        else f"{'+' if k >= 0 else '-'}{abs(int(k)) // 60:02d}:{abs(int(k)) % 60:02d}"
        for k in uniq.tolist()
    ]
    suffix = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), names)
    return pc.binary_join_element_wise(text, suffix.cast(pa.string()), "")


def _room_counts(kind: _Kind, per_room_day: int | None) -> list[int]:
    defaults = [r[2] for r in kind.rooms]
    if per_room_day is None:
        return defaults
    scale = per_room_day / (sum(defaults) / len(defaults))
    return [max(1, round(d * scale)) for d in defaults]


def _em_room(
    site: ExtractSite,
    site_index: int,
    room_index: int,
    count: int,
    first_id: int,
    seed: int,
    window: _Window,
    links: list[tuple[int, str]],
) -> Any:
    """One room's samples over the whole window, as one Arrow table."""
    kind = _KINDS[site.kind]
    room, grade_name, _ = kind.rooms[room_index]
    grade = GRADES.index(grade_name)
    rng = _rng(seed, site_index, 100 + room_index)
    days = np.arange(window.first, window.last + 1, dtype=np.int64)
    weekend = (days + 3) % 7 >= 5
    per_day = np.where(weekend, max(1, round(0.3 * count)), count)
    day = np.repeat(days, per_day)
    n = len(day)
    key = np.sort(day * 86_400 + rng.integers(6 * 3600, 22 * 3600, n))
    day = key // 86_400
    month = _months_of(day)
    summer = (month % 12 >= 3) & (month % 12 <= 9)
    offset = np.full(n, site.utc_offset_minutes, dtype=np.int64) + np.where(
        summer & site.dst, 60, 0
    )
    sampled = key - offset * 60
    # Keep the window in UTC, as the contract takes periods in UTC: no stray month at either end.
    inside = (sampled >= window.first * 86_400) & (sampled < (window.last + 1) * 86_400)
    day, month, offset, sampled = day[inside], month[inside], offset[inside], sampled[inside]
    n = len(day)
    method = np.minimum(
        np.searchsorted(np.cumsum(_METHOD_MIX[grade]), rng.random(n), side="right"), 3
    ).astype(np.int64)
    alert = _ALERT[grade][method]
    action = _ACTION[grade][method]
    room_factor = rng.uniform(0.7, 1.3)
    site_factor = 0.7 + 1.0 * (1 - site.quality)
    drift = site.code == EM_DRIFT_SITE and room == EM_DRIFT_ROOM
    rate = EM_DRIFT_START_RATE if drift else _EXCURSION_RATE[grade] * site_factor * room_factor
    exceed = rng.random(n) < rate
    linked = np.full(n, -1, dtype=np.int64)  # index into links, -1 for none
    for j, (sample_day, _) in enumerate(links):
        lo, hi = (int(v) for v in np.searchsorted(day, [sample_day, sample_day + 1]))
        free = [i for i in range(lo, hi) if linked[i] < 0]
        if free:
            linked[free[int(rng.integers(0, len(free)))]] = j
    link_rows = np.flatnonzero(linked >= 0)
    exceed[link_rows] = True
    drift_rows = np.zeros(n, dtype=bool)
    if drift:
        start = _drift_start(window.last)
        first_month = int(_months_of(np.array([max(start, window.first)]))[0])
        previous = 0
        for m in range(first_month, int(month[-1]) + 1):
            rows = np.flatnonzero(month == m)
            step = m - int(_months_of(np.array([start]))[0]) + 1
            target = EM_DRIFT_START_RATE + (EM_DRIFT_END_RATE - EM_DRIFT_START_RATE) * (
                step / EM_DRIFT_MONTHS
            )
            k = min(len(rows), max(round(target * len(rows)), previous + 1))
            previous = k
            forced = rows[linked[rows] >= 0][:k]
            others = np.setdiff1d(rows, forced)
            exceed[rows] = False
            exceed[forced] = True
            if k > len(forced):
                exceed[rng.choice(others, k - len(forced), replace=False)] = True
            drift_rows[rows] = True
    recovered = rng.random(n) < _RECOVERY_BELOW_ALERT[grade]
    below = np.where(
        recovered & (alert >= 1), 1 + np.floor(rng.random(n) * np.maximum(alert, 1)), 0
    ).astype(np.int64)
    above = alert + rng.geometric(0.45, n)
    # An action-level result opens a deviation (the links); other excursions stay at the alert
    # level, except in the drift, where the weak EM discipline planted leaves some uninvestigated.
    uninvestigated = drift_rows & (np.arange(n) % 4 == 0)
    above = np.where(uninvestigated, above, np.minimum(above, action))
    cfu = np.where(exceed, above, below)
    cfu[link_rows] = np.maximum(
        cfu[link_rows], action[link_rows] + rng.geometric(0.5, len(link_rows))
    )
    result = sampled + rng.integers(72, 121, n) * 3600 + rng.integers(0, 3600, n)
    has_result = rng.random(n) > 0.03
    hours = _lognormal(rng, n, 4 + 30 * (1 - site.quality), 0.8)
    open_share = np.full(n, 0.03)
    if drift:
        hours = np.where(drift_rows, _lognormal(rng, n, EM_DRIFT_RESPONSE_HOURS, 0.5), hours)
        open_share = np.where(drift_rows, EM_DRIFT_OPEN_SHARE, open_share)
    response = result + np.rint(hours * 3600).astype(np.int64)
    as_of = (window.last + 7) * 86_400
    responded = exceed & (rng.random(n) >= open_share) & (response <= as_of)
    responded[link_rows] = True
    sample_ids = pc.binary_join_element_wise(
        f"EM{site.code.split('-', 1)[-1]}-", _pad(np.arange(first_id, first_id + n), 8), ""
    )
    dev_col = (
        pa.DictionaryArray.from_arrays(
            pa.array(np.maximum(linked, 0).astype(np.int32), mask=linked < 0),
            [dev for _, dev in links],
        ).cast(pa.string())
        if links
        else pa.nulls(n, pa.string())
    )
    zulu_sampled = rng.random(n) < 0.25
    return pa.table(
        {
            "sample_id": sample_ids,
            "site": pa.repeat(site.code, n),
            "room": pa.repeat(room, n),
            "grade": pa.repeat(grade_name, n),
            "method": _pick(METHODS, method),
            "sampled_at": _iso(sampled, offset, zulu_sampled, np.ones(n, dtype=bool)),
            "cfu": pa.array(cfu, type=pa.int64()),
            "alert_limit": pa.array(alert.astype(np.int64), type=pa.int64()),
            "action_limit": pa.array(action.astype(np.int64), type=pa.int64()),
            "result_at": _iso(result, offset, np.ones(n, dtype=bool), has_result),
            "response_at": _iso(response, offset, np.zeros(n, dtype=bool), responded),
            "deviation_id": dev_col,
        },
        schema=EM_SCHEMA,
    )


# --- Writing ---------------------------------------------------------------------------------


def _csv_options() -> Any:
    return pacsv.WriteOptions(quoting_style="needed")


def write_demo_extracts(
    out: Path,
    *,
    sites: int = 3,
    years: int = 2,
    seed: int = 2026,
    end: date = DEMO_END,
    fmt: Literal["csv", "parquet"] = "csv",
    em_samples_per_room_day: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Write one extract file per record type into ``out`` and return their paths by type.

    Every file is CSV except ``em_sample``, which is CSV or Parquet as ``fmt`` says (it is the
    only large one). ``em_samples_per_room_day`` rescales the EM volume (average samples per
    room per production day, keeping the grade mix); None keeps realistic per-room defaults.
    """
    if years < 1:
        raise ValueError("years must be at least 1")
    if fmt not in ("csv", "parquet"):
        raise ValueError("fmt must be 'csv' or 'parquet'")
    if em_samples_per_room_day is not None and em_samples_per_room_day < 1:
        raise ValueError("em_samples_per_room_day must be at least 1")
    say: Progress = progress or (lambda _message: None)
    out.mkdir(parents=True, exist_ok=True)
    try:
        first = end.replace(year=end.year - years)
    except ValueError:  # 29 February
        first = end.replace(year=end.year - years, day=28)
    window = _Window(_day(first + timedelta(days=1)), _day(end))
    specs = extract_sites(sites)
    parts: dict[str, list[Any]] = {name: [] for name in RECORD_FILES if name != "em_sample"}
    em_path = out / f"em_sample.{fmt}"
    writer: Any = (
        pq.ParquetWriter(em_path, EM_SCHEMA, compression="zstd")
        if fmt == "parquet"
        else pacsv.CSVWriter(em_path, EM_SCHEMA, write_options=_csv_options())
    )
    try:
        for index, spec in enumerate(specs):
            builder = _SiteBuilder(spec, index, seed, window)
            for name, table in builder.build().items():
                parts[name].append(table)
            say(f"{spec.code}: quality events built")
            kind = _KINDS[spec.kind]
            counts = _room_counts(kind, em_samples_per_room_day)
            next_id = 1
            total = 0
            for r, count in enumerate(counts):
                links = sorted((day, dev) for room, day, dev in builder.em_links if room == r)
                table = _em_room(spec, index, r, count, next_id, seed, window, links)
                writer.write_table(table)
                next_id += table.num_rows
                total += table.num_rows
            say(f"{spec.code}: {total:,} EM samples written")
    finally:
        writer.close()
    paths: dict[str, Path] = {}
    for name in RECORD_FILES:
        if name == "em_sample":
            paths[name] = em_path
            continue
        path = out / f"{name}.csv"
        pacsv.write_csv(pa.concat_tables(parts[name]), path, write_options=_csv_options())
        paths[name] = path
    say(f"wrote {len(paths)} files to {out}")
    return paths


def em_total_samples(*, sites: int, years: int, em_samples_per_room_day: int | None = None) -> int:
    """About how many EM samples a run writes, so callers can tune the per-room-day rate."""
    total = 0.0
    for spec in extract_sites(sites):
        counts = _room_counts(_KINDS[spec.kind], em_samples_per_room_day)
        total += sum(c * 5 / 7 + max(1, round(0.3 * c)) * 2 / 7 for c in counts)
    return round(total * 365.25 * years)
