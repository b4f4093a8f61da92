"""PICCOLO_CONF: the engine chosen by LISTENING_DATABASE_URL, and the Piccolo apps."""

from piccolo.conf.apps import AppRegistry

from listening.db import make_engine
from listening.settings import get_settings

DB = make_engine(get_settings().database)

APP_REGISTRY = AppRegistry(apps=["surveys.piccolo_app", "listening.piccolo_app"])
