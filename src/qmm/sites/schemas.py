"""A site's one JSON shape, read and created alike by the API and `qmm site --format json`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from qmm.models import Site


class SiteIn(BaseModel):
    """A site to register; the service checks the code, FEI and type and says what is wrong."""

    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    fei: str | None = None
    duns: str | None = None
    site_type: str | None = None
    headcount: int | None = None


class SiteOut(BaseModel):
    """A site's public fields."""

    code: str
    name: str
    fei: str | None
    duns: str | None
    site_type: str | None
    headcount: int | None
    two_person_rule: bool

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        return cls(
            code=site.code,
            name=site.name,
            fei=site.fei,
            duns=site.duns,
            site_type=site.site_type,
            headcount=site.headcount,
            two_person_rule=site.two_person_rule,
        )


class SiteSettingsIn(BaseModel):
    """A site's settings an administrator changes (each optional: only what is given changes)."""

    model_config = ConfigDict(extra="forbid")

    two_person_rule: bool | None = None
