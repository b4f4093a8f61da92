"""Delivery channels of the outbox: email over SMTP and signed webhooks."""
