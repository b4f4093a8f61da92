"""Customer pages and emails in the customer's language, with the organisation's name on them."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import httpx
import pytest
import tomli_w
from babel.messages.pofile import read_po
from conftest import app_with
from customer_language_data import DEMO_JOURNEY, english_in, load_demo
from receivers import SmtpServer
from survey_data import NOW, fixed_clock, make_invitation
from trigger_org import FakeClock, event

from listening.delivery.email import FirstQuestion, InvitationMail, invitation_message
from listening.ingest.drivers import ingest_events
from listening.settings import SmtpSettings
from listening.worker import run_once
from surveys.errors import Invalid
from surveys.journey_file import load_journey, parse_toml
from surveys.languages import LOCALE_DIR, SHIPPED, Wording, shipped_languages
from surveys.organisation import Organisation, current_organisation, organisation_table
from surveys.tables import FollowUp, Response


@pytest.fixture
async def web(settings, db):
    await load_demo()
    app = app_with(settings, fixed_clock())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver.local",
        headers={"accept": "text/html"},
    ) as c:
        yield c


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)


def visible(html: str) -> str:
    """The text a person reads (title and spoken-only text included), without markup."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S))


def lang_of(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


def assert_german(page: httpx.Response) -> None:
    assert lang_of(page.text) == "de"
    assert "Example Shop" in page.text  # the organisation's name on every page
    assert english_in(visible(page.text)) == set(), visible(page.text)


# --- pages -----------------------------------------------------------------------------------


async def test_a_de_ch_invitation_speaks_german_on_every_page(web, settings):
    token, _ = await make_invitation(
        settings.secret_key, step_key="order-delivered", locale="de-CH"
    )
    survey = await web.get(f"/s/{token}?answer=2")
    assert survey.status_code == 200
    assert_german(survey)
    assert "Ihre Bestellung kommt an" in survey.text  # the step's German name
    assert "Sie haben 2 gewählt. Ihre Antwort ist noch nicht gesendet" in survey.text
    assert "Sehr unzufrieden" in survey.text and "Sie kam zu spät" in survey.text
    assert 'value="It came late"' in survey.text  # the stored answer stays the original

    # An unanswered required question: the message in German, beside the question.
    refused = await web.post(f"/s/{token}", data={"_csrf_token": csrf_of(survey), "csat": ""})
    assert refused.status_code == 422
    assert_german(refused)
    assert "Bitte beantworten Sie diese Frage." in refused.text
    assert "Bitte prüfen Sie Ihre Antworten" in refused.text

    # A low score with a complaint opens a follow-up; the thank-you page says so.
    sent = await web.post(
        f"/s/{token}",
        data={"_csrf_token": csrf_of(refused), "csat": "1", "problem": "It came late"},
    )
    assert sent.status_code == 303
    assert await FollowUp.count() == 1
    thanks = await web.get(f"/s/{token}/thanks")
    assert_german(thanks)
    assert "Vielen Dank!" in thanks.text
    assert "kümmert sich das zuständige Team darum" in thanks.text

    again = await web.get(f"/s/{token}")
    assert again.status_code == 409
    assert_german(again)
    assert "Sie haben diese Umfrage bereits beantwortet" in again.text

    stop = await web.get(f"/s/{token}/unsubscribe")
    assert_german(stop)
    assert "Keine Umfragen mehr" in stop.text
    stopped = await web.post(f"/s/{token}/unsubscribe")
    assert stopped.status_code == 200
    assert_german(stopped)
    assert "Sie erhalten keine Umfragen mehr" in stopped.text


async def test_without_a_follow_up_the_thank_you_page_promises_none(web, settings):
    token, _ = await make_invitation(settings.secret_key, step_key="order-delivered")
    page = await web.get(f"/s/{token}")
    await web.post(f"/s/{token}", data={"_csrf_token": csrf_of(page), "csat": "5"})
    thanks = await web.get(f"/s/{token}/thanks")
    assert "Thank you!" in thanks.text and "look into it" not in thanks.text
    assert await FollowUp.count() == 0


async def test_an_expired_german_link_explains_itself_in_german(web, settings):
    token, _ = await make_invitation(
        settings.secret_key, locale="de-CH", expires_at=NOW - timedelta(hours=1)
    )
    page = await web.get(f"/s/{token}")
    assert page.status_code == 410
    assert_german(page)
    assert "Dieser Umfrage-Link ist abgelaufen." in page.text


async def test_french_and_spanish_spot_checks(web, settings):
    french, _ = await make_invitation(settings.secret_key, step_key="renewal-offer", locale="fr")
    page = await web.get(f"/s/{french}")
    assert lang_of(page.text) == "fr"
    assert "Votre offre de renouvellement" in page.text
    assert "Quelle est la probabilité que vous nous recommandiez" in page.text
    assert "Pas du tout probable" in page.text and ">Envoyer</button>" in page.text
    assert "Ne plus recevoir d’enquêtes" in page.text

    spanish, _ = await make_invitation(
        settings.secret_key, step_key="get-advice", customer="c2", locale="es-MX"
    )
    page = await web.get(f"/s/{spanish}")
    assert lang_of(page.text) == "es"
    assert "Le asesoramos antes de comprar" in page.text
    assert "(opcional)" in page.text and ">Enviar</button>" in page.text


async def test_the_invitations_locale_decides_not_the_browsers(web, settings):
    token, _ = await make_invitation(settings.secret_key, locale="de-CH")
    page = await web.get(f"/s/{token}", headers={"accept-language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert lang_of(page.text) == "de" and ">Senden</button>" in page.text


async def test_fallback_de_ch_to_de_to_the_surveys_first_language(web, settings):
    swiss, _ = await make_invitation(settings.secret_key, locale="de-CH")
    assert lang_of((await web.get(f"/s/{swiss}")).text) == "de"
    # No Portuguese anywhere: the survey's first language (English), words and all.
    brazilian, _ = await make_invitation(settings.secret_key, customer="c2", locale="pt-BR")
    page = await web.get(f"/s/{brazilian}")
    assert lang_of(page.text) == "en" and ">Send</button>" in page.text
    assert "How satisfied are you with how we resolved your request?" in page.text
    # No locale at all: the same.
    plain, _ = await make_invitation(settings.secret_key, customer="c3")
    assert lang_of((await web.get(f"/s/{plain}")).text) == "en"


async def test_a_survey_whose_first_language_is_french_falls_back_to_french(db):
    await load_journey(
        """
[organisation]
name = "Boulangerie"
default_locale = "fr"

[[departments]]
key = "d"
name = "Vente"

[[journeys]]
key = "j"
name = "Acheter"

  [[journeys.steps]]
  key = "s"
  name = "Vous achetez du pain"
  department = "d"

    [[journeys.steps.questions]]
    key = "csat"
    kind = "csat"
    customer = "Êtes-vous satisfait ?"
    employee = "Les clients sont-ils satisfaits ?"
"""
    )
    from surveys.customer_language import survey_wording
    from surveys.tables import Survey

    survey = await Survey.select(Survey.id).first()
    wording = await survey_wording(survey["id"], ("de-CH",))
    assert wording.lang == "fr" and wording.text("Send") == "Envoyer"


async def test_a_feedback_post_follows_accept_language(web):
    spanish = await web.get("/f/order-delivered", headers={"accept-language": "es-MX,es;q=0.9"})
    assert lang_of(spanish.text) == "es"
    assert "Su pedido llega" in spanish.text and "Cuéntenos cómo fue" in spanish.text
    refused = await web.post(
        "/f/order-delivered",
        data={"_csrf_token": csrf_of(spanish), "csat": "9"},
        headers={"accept-language": "es-MX,es;q=0.9"},
    )
    assert refused.status_code == 422
    assert "Elija un número del 1 al 5." in refused.text
    sent = await web.post(
        "/f/order-delivered",
        data={"_csrf_token": csrf_of(refused), "csat": "2"},
        headers={"accept-language": "es-MX,es;q=0.9"},
    )
    assert sent.status_code == 200 and "¡Gracias!" in sent.text
    assert "se ha pedido al equipo responsable que lo revise." in sent.text
    assert (await Response.select(Response.locale).first())["locale"] == "es"

    # A language the survey does not have: its first language.
    other = await web.get("/f/order-delivered", headers={"accept-language": "ja"})
    assert lang_of(other.text) == "en" and "Tell us how it went" in other.text


async def test_an_unknown_link_follows_the_browser(web):
    page = await web.get("/s/no-such-token", headers={"accept-language": "fr"})
    assert page.status_code == 404 and lang_of(page.text) == "fr"
    assert "Page introuvable" in page.text and "Example Shop" in page.text


async def test_the_logo_heads_every_page(settings, db):
    from listening.app import create_app

    await load_demo()
    await load_journey_file_with_logo()
    token, _ = await make_invitation(settings.secret_key, step_key="order-delivered")
    app = create_app(settings, clock=fixed_clock(), manage_pool=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as web:
        for path in (f"/s/{token}", f"/s/{token}/unsubscribe", "/f/order-delivered", "/s/x"):
            page = await web.get(path)
            assert '<img src="/static/surveys/logo.svg"' in page.text, path
            assert "Example Shop" in page.text


async def load_journey_file_with_logo() -> None:
    await load_journey('[organisation]\nname = "Example Shop"\nlogo = "/static/surveys/logo.svg"\n')


async def test_the_json_api_keeps_english_problems_for_programs(web, settings):
    token, _ = await make_invitation(settings.secret_key, locale="de-CH")
    sent = await web.post(f"/api/responses/{token}", json={"answers": {"csat": 9}})
    assert sent.status_code == 422
    assert {"field": "csat", "message": "Please choose a number from 1 to 5."} in sent.json()[
        "errors"
    ]


# --- email -----------------------------------------------------------------------------------

MAIL_TRIGGER = """
[[triggers]]
key = "mail"
event_type = "test.mail"
step = "order-delivered"
channel = "email"
"""


def _parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


async def test_a_german_invitation_email_with_the_organisations_name(settings, db):
    await load_demo(MAIL_TRIGGER)
    clock = FakeClock()
    await ingest_events(
        [event(1, type="test.mail", email="anna@example.ch", name="Anna", locale="de-CH")],
        secret_key=settings.secret_key,
        clock=clock,
    )
    smtp_settings = SmtpSettings(
        host="127.0.0.1",
        port=0,
        username=None,
        password=None,
        tls="none",
        sender="Example Shop <feedback@example.com>",
    )
    with SmtpServer() as smtp:
        smtp_settings = dataclasses.replace(smtp_settings, port=smtp.port)
        stats = await run_once(
            dataclasses.replace(settings, smtp=smtp_settings),
            base_url=settings.base_url,
            clock=clock,
        )
        assert stats.sent == 1
        (message,) = smtp.inbox.messages
    assert message["Subject"] == "Wie war es: Ihre Bestellung kommt an?"
    text, html = _parts(message)
    assert text.splitlines()[0] == "Example Shop" and "Example Shop" in html
    assert "Guten Tag Anna," in text and "Wie zufrieden sind Sie mit der Lieferung" in text
    assert "(1 = Sehr unzufrieden, 5 = Sehr zufrieden)" in text
    assert "gesendet wird sie erst mit „Senden“" in text
    assert f"Zur Umfrage: {settings.base_url}/s/" in text
    assert '<html lang="de">' in html and "Keine Umfrage-E-Mails mehr" in html
    assert english_in(text) == set() and english_in(visible(html)) == set()


def test_a_reminder_is_worded_in_the_customers_language():
    organisation = Organisation(name="Example Shop", logo="/static/surveys/logo.svg")
    mail = InvitationMail(
        uid="u1",
        to="luis@example.es",
        name="Luis",
        step_name="Su pedido llega",
        survey_url="https://feedback.example/s/t",
        unsubscribe_url="https://feedback.example/s/t/unsubscribe",
        question=FirstQuestion(kind="nps", text="¿Nos recomendaría?"),
        reminder=True,
        wording=Wording.of("es", organisation),
    )
    message = invitation_message(mail, sender="feedback@example.com", now=NOW)
    assert message["Subject"] == "Recordatorio: ¿Qué tal fue?: Su pedido llega"
    text, html = _parts(message)
    assert "Hola, Luis:" in text and "Un breve recordatorio" in text
    assert "(0 = Nada probable, 10 = Muy probable)" in text
    assert '<img src="https://feedback.example/static/surveys/logo.svg"' in html
    assert english_in(text, "es") == set()


# --- the journey file's [organisation] table -------------------------------------------------

ORGANISATION = """
[organisation]
name = "Beispiel AG"
logo = "https://cdn.example.ch/logo.svg"
time_zone = "Europe/Zurich"
default_locale = "de"

[organisation.wording.de]
"Send" = "Abschicken"

[organisation.wording.it]
"Send" = "Invia"

[[departments]]
key = "d"
name = "Versand"

[[journeys]]
key = "j"
name = "Kaufen"

  [[journeys.steps]]
  key = "s"
  name = { de = "Ihre Lieferung", fr = "Votre livraison" }
  department = "d"

    [[journeys.steps.questions]]
    key = "csat"
    kind = "csat"
    customer = "Wie zufrieden sind Sie?"
    employee = "Wie zufrieden sind die Kunden?"
"""


async def test_organisation_round_trip_through_the_journey_file(db):
    first = await load_journey(ORGANISATION)
    assert first.created["organisation"] == 1
    loaded = await current_organisation()
    assert (loaded.name, loaded.logo, loaded.time_zone, loaded.default_locale) == (
        "Beispiel AG",
        "https://cdn.example.ch/logo.svg",
        "Europe/Zurich",
        "de",
    )
    assert str(loaded.zone) == "Europe/Zurich" and loaded.version == 1
    assert loaded.step_name("s", "fr-CH", "?") == "Votre livraison"
    assert Wording.of("de", loaded).text("Send") == "Abschicken"  # the organisation's own word
    assert Wording.of("it", loaded).text("Send") == "Invia"  # a language of its own
    # A plain-string wording is in the default language.
    from surveys.tables import Question

    assert (await Question.select(Question.customer).first())["customer"] in (
        '{"de": "Wie zufrieden sind Sie?"}',
        {"de": "Wie zufrieden sind Sie?"},
    )

    # Exported as a table, it loads back to the same organisation: nothing changes.
    doc = parse_toml(ORGANISATION)
    doc["organisation"] = organisation_table(loaded)
    again = await load_journey(tomli_w.dumps(doc))
    assert again.unchanged["organisation"] == 1 and not again.changed
    assert (await current_organisation()).version == 1

    # A change is a new version.
    doc["organisation"]["name"] = "Beispiel GmbH"
    changed = await load_journey(tomli_w.dumps(doc))
    assert changed.updated["organisation"] == 1
    assert (await current_organisation()).version == 2


async def test_without_an_organisation_table_the_defaults_hold(db):
    organisation = await current_organisation()
    assert organisation == Organisation()
    assert organisation.name == "" and organisation.time_zone == "UTC"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('time_zone = "Mars/Olympus"', "organisation.time_zone"),
        ('default_locale = "de CH"', "organisation.default_locale"),
        ('logo = "javascript:alert(1)"', "organisation.logo"),
        ('logo = "//elsewhere.example/logo.png"', "organisation.logo"),
        ('colour = "red"', "organisation.colour"),
        (
            '[organisation.wording.de]\n"Hello %(name)s," = "Hallo 100% %(name)s,"',
            "organisation.wording.de.Hello %(name)s,",
        ),
    ],
)
async def test_a_bad_organisation_table_is_refused_naming_the_field(db, line, field):
    with pytest.raises(Invalid) as refused:
        await load_journey(f'[organisation]\nname = "X"\n{line}\n')
    assert refused.value.field == field
    assert await current_organisation() == Organisation()


# --- the catalogues --------------------------------------------------------------------------


def test_every_shipped_catalogue_translates_every_message():
    with (LOCALE_DIR / "messages.pot").open("rb") as source:
        template = {m.id for m in read_po(source) if m.id}
    assert len(template) > 50
    assert shipped_languages() == set(SHIPPED)
    for lang in SHIPPED[1:]:
        with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as source:
            catalogue = read_po(source)
        messages = {m.id: m for m in catalogue if m.id}
        assert set(messages) == template, lang
        for message in messages.values():
            assert message.string and not message.fuzzy, (lang, message.id)
            # The same placeholders, so no translation breaks the formatting.
            assert sorted(re.findall(r"%\(\w+\)s", message.id)) == sorted(
                re.findall(r"%\(\w+\)s", message.string)
            ), (lang, message.id)


def test_the_template_holds_every_message_of_the_code_and_pages():
    from babel.messages.extract import extract_from_dir

    root = LOCALE_DIR.parent.parent
    method_map = [
        ("surveys/templates/surveys/rate*.html", "ignore"),
        ("surveys/templates/surveys/*.html", "jinja2"),
        ("surveys/**.py", "python"),
        ("listening/delivery/email.py", "python"),
    ]
    found = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(root),
            method_map,
            keywords={"_": None, "N_": None},
            options_map={"surveys/templates/surveys/*.html": {}},
        )
        if isinstance(message, str)
    }
    with (LOCALE_DIR / "messages.pot").open("rb") as source:
        template = {m.id for m in read_po(source) if m.id}
    assert found == template, (found - template, template - found)


def test_the_demo_ships_german_french_and_spanish_wording():
    doc = parse_toml(DEMO_JOURNEY)
    for journey in doc["journeys"]:
        for step in journey["steps"]:
            assert {"de", "fr", "es"} <= set(step["name"]), step["key"]
            for question in step.get("questions", []):
                assert {"de", "fr", "es"} <= set(question["customer"]), question["key"]
                for option in question.get("options", []):
                    for lang in ("de", "fr", "es"):
                        assert option in doc["organisation"]["wording"][lang], (lang, option)


async def test_admins_read_and_change_the_organisation_over_the_api(admin_client):
    await load_journey(ORGANISATION)
    read = await admin_client.get("/api/organisation")
    assert read.status_code == 200
    assert read.json()["name"] == "Beispiel AG" and read.json()["version"] == 1
    assert read.json()["step_names"] == {"s": {"de": "Ihre Lieferung", "fr": "Votre livraison"}}
    changed = await admin_client.patch("/api/organisation", json={"time_zone": "Europe/Berlin"})
    assert changed.status_code == 200
    assert changed.json()["time_zone"] == "Europe/Berlin" and changed.json()["version"] == 2
    assert changed.json()["name"] == "Beispiel AG"  # the rest stays
    assert (await current_organisation()).time_zone == "Europe/Berlin"
    from surveys.tables import AuditEntry

    (logged,) = await AuditEntry.select().where(AuditEntry.kind == "organisation")
    assert logged["action"] == "update" and logged["actor"]
    named = await admin_client.patch(
        "/api/organisation", json={"step_names": {"s": {"es": "Su entrega"}}}
    )
    assert named.json()["step_names"] == {"s": {"es": "Su entrega"}}
    unknown = await admin_client.patch(
        "/api/organisation", json={"step_names": {"nope": {"es": "x"}}}
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "step_names"
    refused = await admin_client.patch("/api/organisation", json={"time_zone": "Nowhere/Else"})
    assert refused.status_code == 422 and "time_zone" in refused.json()["field"]
    assert (await current_organisation()).version == 3


async def test_the_organisation_api_needs_an_admin(client, db):
    assert (await client.get("/api/organisation")).status_code == 401


async def test_the_json_survey_is_in_the_customers_language(web, settings):
    token, _ = await make_invitation(settings.secret_key, step_key="order-delivered", locale="fr")
    survey = (await web.get(f"/api/responses/{token}")).json()
    assert survey["locale"] == "fr" and survey["step_name"] == "Votre commande arrive"
    csat, problem = survey["questions"]
    assert (csat["low_label"], csat["high_label"]) == ("Très insatisfait", "Très satisfait")
    assert "It came late" in problem["options"]  # the values an answer sends back
