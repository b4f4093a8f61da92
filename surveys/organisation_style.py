"""`GET /organisation.css`: the organisation's accent colour as a CSS custom property.

Every page links it after the site's stylesheet, so `--accent` (links, buttons, the chosen
score, focus rings) takes the organisation's colour. A stylesheet of its own, not a `<style>`
element or a style attribute: the pages' Content-Security-Policy allows styles from this site
only (`style-src 'self'`), and keeps doing so.
"""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import CacheControlHeader

from surveys.organisation import Organisation, current_organisation

PATH = "/organisation.css"
# A changed colour reaches browsers within a minute (the process cache holds it 10 s).
CACHE = CacheControlHeader(public=True, max_age=60)


def stylesheet(organisation: Organisation) -> str:
    """The stylesheet for `organisation`: its accent colour, or nothing to override."""
    if not organisation.accent_colour:
        return "/* The organisation has no colour of its own: the site's colours apply. */\n"
    # Checked on the way in as #rrggbb, so it cannot close the rule or start another.
    return f":root {{ --accent: {organisation.accent_colour}; }}\n"


@get(PATH, include_in_schema=False, cache_control=CACHE, opt={"exclude_from_csrf": True})
async def organisation_css() -> Response[str]:
    """The organisation's colours for every page."""
    return Response(stylesheet(await current_organisation()), media_type="text/css")
