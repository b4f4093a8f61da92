"""Survey pages rendered once per survey version, language and preselected answer.

Every customer of a survey sees the same page but for two things: their link's token and their
form token. A page is rendered once with markers in their place and then served by replacing
the markers, so a page view costs a dictionary look-up and two string replacements instead of
a template render. The key holds everything else the page shows (the step's name and the
questions as asked, which change with every new wording or translation), so a changed survey is
rendered afresh. Pages with errors or a notice are never cached: they hold what a person typed.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from markupsafe import escape

from listening.form_tokens import hidden_input

# Private-use characters: templates never write them and escaping leaves them alone.
TOKEN_MARK = "\ue000link\ue000"  # noqa: S105
FORM_TOKEN_MARK = "\ue000form\ue000"  # noqa: S105
MAX_PAGES = 2000


class PageCache:
    """Rendered pages with markers for the link token and the form token."""

    TOKEN_MARK = TOKEN_MARK  # where a page's context puts the link token

    def __init__(self, limit: int = MAX_PAGES) -> None:
        self._pages: dict[Hashable, str] = {}
        self._limit = limit

    def page(
        self,
        environment: Any,
        template: str,
        key: Hashable,
        context: dict[str, Any],
        *,
        token: str,
        form_token: str,
    ) -> str:
        """The page of `template` for `key`; `context` may use TOKEN_MARK where the link goes.

        `context` is only read when the page is not cached yet; `csrf_input` is supplied here.
        """
        full_key = (template, key)
        html = self._pages.get(full_key)
        if html is None:
            html = environment.get_template(template).render(
                {**context, "csrf_input": hidden_input(FORM_TOKEN_MARK)}
            )
            if len(self._pages) >= self._limit:
                self._pages.clear()
            self._pages[full_key] = html
        # Form tokens are hex; a link token is URL-safe base64 already matched in the
        # database, escaped all the same.
        return html.replace(TOKEN_MARK, str(escape(token))).replace(
            FORM_TOKEN_MARK, str(escape(form_token))
        )

    def clear(self) -> None:
        """Forget every page (tests that change templates)."""
        self._pages.clear()
