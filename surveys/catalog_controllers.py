"""Admin JSON API for departments, journeys, steps and surveys (guards applied by the shell).

HTTP only: each handler parses, makes one catalog call and answers. Objects are addressed by key;
DELETE deactivates (answers keep what they refer to) and answers the deactivated object.
"""

from __future__ import annotations

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from surveys import catalog
from surveys.audit import actor_of
from surveys.clock import Clock
from surveys.parameters import RowId
from surveys.schemas import (
    Department,
    DepartmentCreate,
    DepartmentUpdate,
    Journey,
    JourneyCreate,
    JourneyUpdate,
    Organisation,
    OrganisationUpdate,
    Step,
    StepCreate,
    StepUpdate,
    Survey,
    SurveyCreate,
    SurveyUpdate,
)


class DepartmentController(Controller):
    """Departments, by key."""

    path = "/departments"
    tags = ["catalog"]

    @get("/")
    async def list_departments(self) -> list[Department]:
        """Every department, active or not."""
        return await catalog.list_departments()

    @get("/{key:str}")
    async def get_department(self, key: FromPath[str]) -> Department:
        """One department."""
        return await catalog.get_department(key)

    @post("/")
    async def create_department(
        self, request: Request, data: JSONBody[DepartmentCreate]
    ) -> Department:
        """Add a department (409 when the key is taken)."""
        return await catalog.create_department(data, actor=actor_of(request.user))

    @patch("/{key:str}")
    async def update_department(
        self, request: Request, key: FromPath[str], data: JSONBody[DepartmentUpdate]
    ) -> Department:
        """Change the fields given."""
        return await catalog.update_department(key, data, actor=actor_of(request.user))

    @delete("/{key:str}", status_code=HTTP_200_OK)
    async def deactivate_department(self, request: Request, key: FromPath[str]) -> Department:
        """Deactivate a department (nothing is deleted)."""
        return await catalog.deactivate_department(key, actor=actor_of(request.user))


class JourneyController(Controller):
    """Journeys, by key, in order."""

    path = "/journeys"
    tags = ["catalog"]

    @get("/")
    async def list_journeys(self) -> list[Journey]:
        """Every journey, by position."""
        return await catalog.list_journeys()

    @get("/{key:str}")
    async def get_journey(self, key: FromPath[str]) -> Journey:
        """One journey."""
        return await catalog.get_journey(key)

    @post("/")
    async def create_journey(self, request: Request, data: JSONBody[JourneyCreate]) -> Journey:
        """Add a journey (last unless a position is given)."""
        return await catalog.create_journey(data, actor=actor_of(request.user))

    @patch("/{key:str}")
    async def update_journey(
        self, request: Request, key: FromPath[str], data: JSONBody[JourneyUpdate]
    ) -> Journey:
        """Change the fields given."""
        return await catalog.update_journey(key, data, actor=actor_of(request.user))

    @delete("/{key:str}", status_code=HTTP_200_OK)
    async def deactivate_journey(self, request: Request, key: FromPath[str]) -> Journey:
        """Deactivate a journey (nothing is deleted)."""
        return await catalog.deactivate_journey(key, actor=actor_of(request.user))


class StepController(Controller):
    """Steps, by key; journey and department are named by key."""

    path = "/steps"
    tags = ["catalog"]

    @get("/")
    async def list_steps(self) -> list[Step]:
        """Every step, by journey and then position."""
        return await catalog.list_steps()

    @get("/{key:str}")
    async def get_step(self, key: FromPath[str]) -> Step:
        """One step."""
        return await catalog.get_step(key)

    @post("/")
    async def create_step(self, request: Request, data: JSONBody[StepCreate]) -> Step:
        """Add a step (last in its journey unless a position is given)."""
        return await catalog.create_step(data, actor=actor_of(request.user))

    @patch("/{key:str}")
    async def update_step(
        self, request: Request, key: FromPath[str], data: JSONBody[StepUpdate]
    ) -> Step:
        """Change the fields given."""
        return await catalog.update_step(key, data, actor=actor_of(request.user))

    @delete("/{key:str}", status_code=HTTP_200_OK)
    async def deactivate_step(self, request: Request, key: FromPath[str]) -> Step:
        """Deactivate a step (nothing is deleted)."""
        return await catalog.deactivate_step(key, actor=actor_of(request.user))


class SurveyController(Controller):
    """Step surveys, by step key; questions change by the journey file's versioning rule."""

    path = "/surveys"
    tags = ["catalog"]

    @get("/")
    async def list_surveys(self) -> list[Survey]:
        """The active survey of every step, with its questions."""
        return await catalog.list_surveys()

    @get("/{step_key:str}")
    async def get_survey(self, step_key: FromPath[str]) -> Survey:
        """A step's active survey (its latest version when it was deactivated)."""
        return await catalog.get_survey(step_key)

    @get("/{step_key:str}/versions")
    async def list_survey_versions(self, step_key: FromPath[str]) -> list[Survey]:
        """Every version of a step's survey, oldest first."""
        return await catalog.list_survey_versions(step_key)

    @get("/{step_key:str}/versions/{version:int}")
    async def get_survey_version(self, step_key: FromPath[str], version: RowId) -> Survey:
        """One version of a step's survey."""
        return await catalog.get_survey(step_key, version)

    @post("/")
    async def create_survey(
        self, request: Request, data: JSONBody[SurveyCreate], clock: NamedDependency[Clock]
    ) -> Survey:
        """Give a step a survey (409 when it has an active one)."""
        return await catalog.create_survey(data, clock=clock, actor=actor_of(request.user))

    @patch("/{step_key:str}")
    async def update_survey(
        self,
        request: Request,
        step_key: FromPath[str],
        data: JSONBody[SurveyUpdate],
        clock: NamedDependency[Clock],
    ) -> Survey:
        """Rename or change questions; on an answered survey a change makes a new version."""
        return await catalog.update_survey(
            step_key, data, clock=clock, actor=actor_of(request.user)
        )

    @delete("/{step_key:str}", status_code=HTTP_200_OK)
    async def deactivate_survey(self, request: Request, step_key: FromPath[str]) -> Survey:
        """Take a step's survey out of use (nothing is deleted)."""
        return await catalog.deactivate_survey(step_key, actor=actor_of(request.user))


class OrganisationController(Controller):
    """The organisation customers see: name, logo, time zone, default language, wording."""

    path = "/organisation"
    tags = ["catalog"]

    @get("/")
    async def get_organisation(self) -> Organisation:
        """The organisation, with its version (defaults while none is loaded)."""
        return await catalog.get_organisation()

    @patch("/")
    async def update_organisation(
        self, request: Request, data: JSONBody[OrganisationUpdate], clock: NamedDependency[Clock]
    ) -> Organisation:
        """Change the fields given; each change is a new version."""
        return await catalog.update_organisation(data, actor=actor_of(request.user), clock=clock)


CATALOG_CONTROLLERS: list[type[Controller]] = [
    OrganisationController,
    DepartmentController,
    JourneyController,
    StepController,
    SurveyController,
]
