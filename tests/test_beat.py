"""The beat schedule is data; its interval parser and overrides are specified here."""

import pytest

from workers import beat


@pytest.mark.parametrize(("text", "seconds"), [("300", 300), ("30s", 30), ("5m", 300),
                                               ("2h", 7200), ("1d", 86400), (" 1.5m ", 90)])
def test_it_parses_intervals(text, seconds):
    assert beat.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5 minutes", "-5m", "0", "5w"])
def test_it_rejects_what_is_not_an_interval(text):
    with pytest.raises(ValueError, match="not an interval"):
        beat.parse_interval(text)


def test_it_lets_the_environment_override_a_cadence_and_keeps_expiry_under_the_period():
    table = beat.schedule({"BEAT_DISPATCH_DUE": "2m"})
    assert table["dispatch-due"]["schedule"] == 120
    assert table["dispatch-due"]["options"]["expires"] < 120
    assert table["harvest"]["schedule"] == 30 * 60  # untouched entries keep their default


def test_it_routes_every_entry_to_a_known_queue_and_task():
    from workers.celery_app import app

    for entry in beat.schedule({}).values():
        assert entry["options"]["queue"] in {"harvest", "compose", "deliver"}
        assert entry["task"] in app.tasks or entry["task"].startswith("workers.tasks.")


def test_it_configures_at_least_once_delivery():
    from workers.celery_app import app

    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == "json"
    assert app.conf.broker_transport_options["visibility_timeout"] >= 3600


def test_it_takes_the_tick_period_from_tick_minutes_unless_overridden(monkeypatch):
    from newsletter.core import config

    monkeypatch.setenv("TICK_MINUTES", "3")
    config.get_settings.cache_clear()
    assert beat.schedule({})["dispatch-due"]["schedule"] == 180
    assert beat.schedule({"BEAT_DISPATCH_DUE": "1m"})["dispatch-due"]["schedule"] == 60
