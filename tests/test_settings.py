"""The settings are read from the environment once, into one frozen object; a value that means nothing is refused
with a sentence before anything loads."""

from __future__ import annotations

import dataclasses

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
    settings = Settings.from_environment({
        "MODEL_ID": " me/model ", "DEVICE": "cuda:1", "PRECISION": "BF16", "RUNTIME": "torch", "MAX_DURATION_S": "90",
        "UPLOAD_BUDGET": "200MB", "UPLOAD_TTL": "30", "MAX_FILE_SIZE": "50mb", "QUEUE_SIZE": "8",
        "SPACE_ID": "me/space", "GRADIO_MCP_SERVER": "False", "FEEDBACK_DIR": " /data/feedback ",
    })  # fmt: skip
    assert settings == Settings("me/model", "cuda:1", "bf16", "torch", 90.0, "200mb", 30.0, "50mb", 8, True, None,
                                "/data/feedback")  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model_id = "another"  # read once: nothing changes it afterwards


@pytest.mark.parametrize("name, value, sentence", [
    ("PRECISION", "fp8", "PRECISION must be one of auto, fp32, bf16, fp16, not 'fp8'"),
    ("RUNTIME", "onnx", "RUNTIME must be one of openvino, torch, not 'onnx'"),
    ("MAX_DURATION_S", "ten minutes", "MAX_DURATION_S must be a number above 0, not 'ten minutes'"),
    ("UPLOAD_TTL", "0", "UPLOAD_TTL must be a number above 0, not '0'"),
    ("QUEUE_SIZE", "-3", "QUEUE_SIZE must be a number above 0, not '-3'"),
])  # fmt: skip
def test_a_value_that_means_nothing_is_refused_with_a_sentence(name, value, sentence):
    with pytest.raises(ValueError, match=sentence):
        Settings.from_environment({name: value})
