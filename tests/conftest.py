"""Project-wide pytest settings: markers only (shared fixtures live in tests/runtime_support.py)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "e2e: end to end through real processes (gunicorn web, Celery worker, Redis, the stand-in Zendesk); "
        "deselect with -m 'not e2e'")
