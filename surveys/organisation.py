"""The organisation customers deal with: its name, logo and accent colour on every customer
page and email, its time zone for dates, its default language, and its wording per language.

It comes from the journey file's `[organisation]` table (and the per-locale step names of the
file's steps), is stored in one `Organisation` row and is read through `current_organisation`,
which answers defaults while none has been loaded.

Example::

    organisation = await current_organisation()
    organisation.name, organisation.zone  # "Example Shop", ZoneInfo("Europe/Zurich")
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from surveys.clock import Clock, system_clock
from surveys.colours import check_colour
from surveys.errors import Invalid
from surveys.tables import Organisation as OrganisationRow

NAME_MAX = 200
LOGO_MAX = 2000
LOCALE_MAX = 35
WORDING_MAX = 2000
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Read on every customer page: kept this long in each process, and dropped at once by a write.
CACHE_SECONDS = 10.0
SETTINGS = ("name", "logo", "accent_colour", "time_zone", "default_locale", "wording")


@dataclass(frozen=True)
class Organisation:
    """The organisation as customer pages, emails and date inputs need it."""

    name: str = ""
    logo: str | None = None
    accent_colour: str | None = None
    time_zone: str = "UTC"
    default_locale: str = "en"
    wording: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    step_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    version: int = 0

    @property
    def zone(self) -> ZoneInfo:
        """The time zone of date inputs and "week of" labels."""
        return ZoneInfo(self.time_zone)

    def step_name(self, step_key: str, locale: str | None, default: str) -> str:
        """A step's name in `locale` (or its language), else `default`."""
        names = self.step_names.get(step_key) or {}
        for candidate in _candidates(locale):
            if candidate in names:
                return names[candidate]
        return default


def _candidates(locale: str | None) -> tuple[str, ...]:
    if not locale:
        return ()
    tag = locale.lower().replace("_", "-")
    return (tag, tag.split("-")[0]) if "-" in tag else (tag,)


_cache: dict[str, tuple[float, Organisation]] = {}


def _cache_key() -> str:
    return str(getattr(OrganisationRow._meta.db, "path", None) or id(OrganisationRow._meta.db))


def _json(value: Any) -> dict:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


def _from_row(row: Mapping[str, Any] | None) -> Organisation:
    if row is None:
        return Organisation()
    return Organisation(
        name=row["name"] or "",
        logo=row["logo"],
        accent_colour=row["accent_colour"],
        time_zone=row["time_zone"] or "UTC",
        default_locale=row["default_locale"] or "en",
        wording=_json(row["wording"]),
        step_names=_json(row["step_names"]),
        version=row["version"] or 0,
    )


async def _row() -> dict[str, Any] | None:
    return await OrganisationRow.select().order_by(OrganisationRow.id).first()


async def stored_organisation() -> Organisation:
    """The organisation as the database holds it now (for changes: no cache)."""
    return _from_row(await _row())


async def current_organisation() -> Organisation:
    """The loaded organisation, or defaults (no name, UTC, English) while none is loaded."""
    key = _cache_key()
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    organisation = await stored_organisation()
    _cache[key] = (now + CACHE_SECONDS, organisation)
    return organisation


def forget_cached() -> None:
    """Drop the cached organisation (after a write, so this process sees it at once)."""
    _cache.clear()


# --- the journey file's [organisation] table -------------------------------------------------


def check_locale(value: Any, where: str) -> str:
    """A language tag such as en or de-CH (`_` read as `-`); Invalid naming `where` otherwise."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > LOCALE_MAX
        or not all(part.isalnum() and part.isascii() for part in value.replace("_", "-").split("-"))
    ):
        raise Invalid(f"{where} must be a language tag such as en or de-CH", field=where)
    return value.replace("_", "-")


def _string(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{where} must be a non-empty string", field=where)
    if len(value) > limit or "\x00" in value:
        raise Invalid(f"{where} is longer than {limit} characters", field=where)
    return value


def _logo(value: Any) -> str | None:
    if value is None:
        return None
    logo = _string(value, "organisation.logo", LOGO_MAX)
    # https only: a page served over https would not show an http image.
    if not (logo.startswith("https://") or (logo.startswith("/") and not logo.startswith("//"))):
        raise Invalid(
            "organisation.logo must be an https:// address or a path on this site (/static/…)",
            field="organisation.logo",
        )
    return logo


def _time_zone(value: Any) -> str:
    where = "organisation.time_zone"
    if value is None:
        return "UTC"
    if not isinstance(value, str) or not value or len(value) > 64:
        raise Invalid(f"{where} must be a time zone name such as Europe/Zurich", field=where)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(
            f"{where}: unknown time zone {value!r} (use a name such as Europe/Zurich)", field=where
        ) from None
    return value


def _wording(value: Any) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(
            "organisation.wording must hold one table per locale ([organisation.wording.de])",
            field="organisation.wording",
        )
    wording: dict[str, dict[str, str]] = {}
    for locale, texts in value.items():
        where = f"organisation.wording.{locale}"
        tag = check_locale(locale, where).lower()
        if not isinstance(texts, dict):
            raise Invalid(f"{where} must be a table of original text = translation", field=where)
        wording[tag] = {
            _string(k, where, WORDING_MAX): _placeholders_kept(
                k, _string(v, f"{where}.{k}", WORDING_MAX), f"{where}.{k}"
            )
            for k, v in texts.items()
        }
    return wording


def _placeholders_kept(original: str, text: str, where: str) -> str:
    """A rewording of a message with `%(name)s` placeholders must keep them and format."""
    names = set(PLACEHOLDER.findall(original))
    if not names:
        return text
    try:
        text % dict.fromkeys(names, "")
    except (KeyError, ValueError, TypeError):
        raise Invalid(
            f"{where} must keep the placeholders {', '.join(sorted(names))} as %(name)s, "
            "and write a percent sign as %%",
            field=where,
        ) from None
    if set(PLACEHOLDER.findall(text)) != names:
        raise Invalid(f"{where} must keep the placeholders of the original", field=where)
    return text


def check_organisation(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checked `[organisation]` table, or None when the document has none."""
    table = doc.get("organisation")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise Invalid("organisation must be a table ([organisation])", field="organisation")
    unknown = set(table) - set(SETTINGS)
    if unknown:
        unknown_field = f"organisation.{sorted(unknown)[0]}"
        raise Invalid(
            f"{unknown_field} is not a setting of the organisation ({', '.join(SETTINGS)})",
            field=unknown_field,
        )
    return {
        "name": _string(table.get("name"), "organisation.name", NAME_MAX),
        "logo": _logo(table.get("logo")),
        "accent_colour": None
        if table.get("accent_colour") is None
        else check_colour(table["accent_colour"], "organisation.accent_colour"),
        "time_zone": _time_zone(table.get("time_zone")),
        "default_locale": check_locale(
            table.get("default_locale", "en"), "organisation.default_locale"
        ),
        "wording": _wording(table.get("wording")),
    }


def default_locale_of(doc: Mapping[str, Any]) -> str:
    """The language of the document's plain strings: `[organisation] default_locale`, else en."""
    table = doc.get("organisation")
    if isinstance(table, dict) and table.get("default_locale") is not None:
        return check_locale(table["default_locale"], "organisation.default_locale")
    return "en"


def _same_json(stored: Any, value: dict) -> bool:
    return _json(stored) == value


async def apply_organisation(
    spec: dict[str, Any] | None,
    step_names: Mapping[str, Mapping[str, str]],
    *,
    clock: Clock = system_clock,
) -> str:
    """Write the organisation and the steps' names per locale; call inside a transaction.

    Without an `[organisation]` table the stored one stays as it is. The steps named in the
    file replace their names; other steps keep theirs. Returns "created", "updated" or
    "unchanged"; every change counts one version.
    """
    row = await _row()
    names = _json(row["step_names"]) if row else {}
    names.update({k: dict(v) for k, v in step_names.items()})
    names = {k: v for k, v in names.items() if v}
    values: dict[str, Any] = dict(spec) if spec is not None else {}
    outcome = "updated"
    if row is None:
        if spec is None and not names:
            return "unchanged"
        # A row of defaults, brought in line below as its first version.
        await OrganisationRow.insert(OrganisationRow(version=0))
        row, outcome = await _row(), "created"
        assert row is not None
    changes: dict[Any, Any] = {}
    for column in ("name", "logo", "accent_colour", "time_zone", "default_locale"):
        if column in values and row[column] != values[column]:
            changes[getattr(OrganisationRow, column)] = values[column]
    if "wording" in values and not _same_json(row["wording"], values["wording"]):
        changes[OrganisationRow.wording] = json.dumps(values["wording"], ensure_ascii=False)
    if not _same_json(row["step_names"], names):
        changes[OrganisationRow.step_names] = json.dumps(names, ensure_ascii=False)
    if not changes and outcome != "created":
        return "unchanged"
    changes[OrganisationRow.version] = (row["version"] or 0) + 1
    changes[OrganisationRow.updated_at] = clock()
    await OrganisationRow.update(changes).where(OrganisationRow.id == row["id"])
    forget_cached()
    return outcome


def organisation_table(organisation: Organisation) -> dict[str, Any]:
    """The `[organisation]` table of a journey file that loads back to `organisation`."""
    table: dict[str, Any] = {"name": organisation.name}
    if organisation.logo:
        table["logo"] = organisation.logo
    if organisation.accent_colour:
        table["accent_colour"] = organisation.accent_colour
    table["time_zone"] = organisation.time_zone
    table["default_locale"] = organisation.default_locale
    if organisation.wording:
        table["wording"] = {k: dict(v) for k, v in organisation.wording.items()}
    return table
