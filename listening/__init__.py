"""Listening Post: the running system (app, settings, CLI, ingestion, delivery)."""

import os

# Piccolo finds its engine through this module; set before any table is queried.
os.environ.setdefault("PICCOLO_CONF", "listening.piccolo_conf")
