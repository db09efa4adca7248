"""The subscriber-facing web app: FastAPI + Jinja2 pages, a JSON API, static css/js."""
