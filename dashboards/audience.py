"""Who reads a dashboard, and so how its words name the employees who rate the steps.

An employee reads their own department's results: the raters are "your team". Executives
and admins read every department's: the raters are not their team, so they are "employees".
Every page, chart, report and Where-to-act sentence (`/api/focus` included) takes its words
from the one `TeamWords` the request's viewer chooses (`team_words`).

Example::

    words = team_words(own_department=None)  # an executive
    f"{words.title} {words.rate} these steps"  # "Employees rate these steps"
    team_words("shop").possessive  # "your team's"
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TeamWords:
    """The raters' name as one audience reads it, with its possessive and verb."""

    name: str  # mid-sentence: "your team" or "employees"
    possessive: str  # "your team's" or "employees'"
    rate: str  # the verb that agrees with it: "rates" or "rate"

    @property
    def title(self) -> str:
        """The name opening a sentence or heading a column: "Your team", "Employees"."""
        return self.name[:1].upper() + self.name[1:]

    @property
    def possessive_title(self) -> str:
        """The possessive opening a heading: "Your team's", "Employees'"."""
        return self.possessive[:1].upper() + self.possessive[1:]


EMPLOYEES = TeamWords(name="employees", possessive="employees'", rate="rate")
OWN_TEAM = TeamWords(name="your team", possessive="your team's", rate="rates")


def team_words(own_department: str | None) -> TeamWords:
    """The words for a reader: "your team" in their own department, else "employees"."""
    return EMPLOYEES if own_department is None else OWN_TEAM
