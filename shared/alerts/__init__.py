"""Alerts: which events a published report produces and the channels that carry them."""
