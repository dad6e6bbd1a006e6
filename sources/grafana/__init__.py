"""Grafana: the client of its legacy /api and /apis dashboard API, and how its payloads become items."""
