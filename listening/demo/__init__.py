"""The demo organisation: `listening demo`."""
