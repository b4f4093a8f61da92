"""`GET /organisation.css`: the organisation's accent colour as a CSS custom property.

Every page links it after the site's stylesheet, so `--accent` (links, buttons, the chosen
score, focus rings) takes the organisation's colour. A stylesheet of its own, not a `<style>`
element or a style attribute: the pages' Content-Security-Policy allows styles from this site
only (`style-src 'self'`), and keeps doing so.
"""

from __future__ import annotations

import hashlib

from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader

from surveys.organisation import Organisation, current_organisation

PATH = "/organisation.css"
# Browsers ask again on every page (a 304 while unchanged), so a colour the admin just saved
# shows on the next page they open, not a cache lifetime later.
CACHE = CacheControlHeader(no_cache=True, public=True)


def stylesheet(organisation: Organisation) -> str:
    """The stylesheet for `organisation`: its accent colour, or nothing to override."""
    if not organisation.accent_colour:
        return "/* The organisation has no colour of its own: the site's colours apply. */\n"
    # Checked on the way in as #rrggbb, so it cannot close the rule or start another.
    return f":root {{ --accent: {organisation.accent_colour}; }}\n"


@get(PATH, include_in_schema=False, cache_control=CACHE, opt={"exclude_from_csrf": True})
async def organisation_css(request: Request) -> Response[str]:
    """The organisation's colours for every page (304 when the browser's copy is current)."""
    text = stylesheet(await current_organisation())
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'
    headers = {"etag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response("", status_code=304, headers=headers, media_type="text/css")
    return Response(text, headers=headers, media_type="text/css")
