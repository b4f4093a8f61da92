"""PICCOLO_CONF: the engine chosen by LISTENING_DATABASE_URL, and the Piccolo apps."""

from piccolo.conf.apps import AppRegistry

from listening.db import make_engine
from listening.settings import get_settings
from listening.sqlite_batch import batch_for
from surveys.response_store import use_store

DB = make_engine(get_settings().database)
# Survey links on SQLite read and write through the shell's kept-open batching store, in every
# process that uses the database (server, worker, command line).
use_store(batch_for)

APP_REGISTRY = AppRegistry(apps=["surveys.piccolo_app", "listening.piccolo_app"])
