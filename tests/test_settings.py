"""The settings are read from the environment once, into one frozen object; a value that means nothing is refused
with a sentence before anything loads."""

from __future__ import annotations

import dataclasses
import re

import pytest

from genre_classifier.core.settings import DEFAULT_MODEL_ID, Settings


def test_an_empty_environment_gives_the_documented_defaults():
    settings = Settings.from_environment({})
    assert settings == Settings()
    assert (settings.model_id, settings.precision, settings.runtime) == (DEFAULT_MODEL_ID, "auto", "openvino")
    assert (settings.max_seconds, settings.upload_budget, settings.upload_ttl) == (600.0, "5gb", 300.0)
    assert not settings.behind_proxy and settings.mcp_server is True
    assert settings.feedback_dir == ""  # corrections off


def test_each_variable_reaches_its_field():
    settings = Settings.from_environment(
        {
            "MODEL_ID": " me/model ",
            "DEVICE": "cuda:1",
            "PRECISION": "BF16",
            "RUNTIME": "torch",
            "MAX_DURATION_S": "90",
            "UPLOAD_BUDGET": "200MB",
            "UPLOAD_TTL": "30",
            "MAX_FILE_SIZE": "50mb",
            "QUEUE_SIZE": "8",
            "SPACE_ID": "me/space",
            "GRADIO_MCP_SERVER": "False",
            "FEEDBACK_DIR": " /data/feedback ",
        }
    )
    assert settings == Settings(
        "me/model", "cuda:1", "bf16", "torch", 90.0, "200mb", 30.0, "50mb", 8, True, None, "/data/feedback"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model_id = "another"  # read once: nothing changes it afterwards


@pytest.mark.parametrize(
    "name, value, sentence",
    [
        ("PRECISION", "fp8", "PRECISION must be one of auto, fp32, bf16, fp16, int8, not 'fp8'"),
        ("RUNTIME", "onnx", "RUNTIME must be one of openvino, torch, not 'onnx'"),
        ("MAX_DURATION_S", "ten min", "MAX_DURATION_S must be a number from 0.5 up (finite seconds), not 'ten min'"),
        ("UPLOAD_TTL", "0", "UPLOAD_TTL must be a number above 0 (finite seconds), not '0'"),
        ("QUEUE_SIZE", "-3", "QUEUE_SIZE must be a whole number above 0, not '-3'"),
    ],
)
def test_a_value_that_means_nothing_is_refused_with_a_sentence(name, value, sentence):
    with pytest.raises(ValueError, match=re.escape(sentence)):
        Settings.from_environment({name: value})


@pytest.mark.parametrize(
    "name, value, sentence",
    [
        ("MAX_DURATION_S", "inf", "MAX_DURATION_S must be a number from 0.5 up (finite seconds), not 'inf'"),
        ("MAX_DURATION_S", "nan", "MAX_DURATION_S must be a number from 0.5 up (finite seconds), not 'nan'"),
        ("MAX_DURATION_S", "-600", "MAX_DURATION_S must be a number from 0.5 up (finite seconds), not '-600'"),
        ("MAX_DURATION_S", "0.1", "MAX_DURATION_S must be a number from 0.5 up (finite seconds), not '0.1'"),
        ("UPLOAD_TTL", "nan", "UPLOAD_TTL must be a number above 0 (finite seconds), not 'nan'"),
        ("UPLOAD_TTL", "infinity", "UPLOAD_TTL must be a number above 0 (finite seconds), not 'infinity'"),
        ("QUEUE_SIZE", "2.5", "QUEUE_SIZE must be a whole number above 0, not '2.5'"),
        ("DEVICE", "cdua", "DEVICE must be a torch device such as cpu, cuda or cuda:1, not 'cdua'"),
    ],
)
def test_a_value_that_is_not_finite_or_not_a_device_is_refused(name, value, sentence):
    with pytest.raises(ValueError, match=re.escape(sentence)):
        Settings.from_environment({name: value})


@pytest.mark.parametrize(
    "name, value, sentence",
    [
        ("MAX_DURATION_S", "inf", "MAX_DURATION_S must be a number from 0.5 up (finite seconds), not 'inf'"),
        ("UPLOAD_BUDGET", "0mb", "UPLOAD_BUDGET must be a size such as 200mb or 5gb (above 0), not '0mb'"),
        ("MAX_FILE_SIZE", "lots", "MAX_FILE_SIZE must be a size such as 50mb or 1gb (above 0), not 'lots'"),
        ("MAX_FILE_SIZE", "0kb", "MAX_FILE_SIZE must be a size such as 50mb or 1gb (above 0), not '0kb'"),
    ],
)
def test_a_bad_setting_stops_the_app_with_one_sentence_before_anything_loads(monkeypatch, name, value, sentence):
    from genre_classifier.web import server

    monkeypatch.setenv(name, value)
    monkeypatch.setattr(server, "load_classifier", lambda **kwargs: pytest.fail("loaded a model"))
    with pytest.raises(SystemExit) as stopped:
        server.build()
    assert stopped.value.code == f"Cannot start: {sentence}"
