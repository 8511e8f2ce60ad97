"""What the training scripts share on the command line: help that reads like the README, failures in one sentence."""

from __future__ import annotations

import argparse

from transformers import HfArgumentParser

from genre_classifier.core.loading import why_not_loaded
from genre_classifier.core.settings import Settings
from train.data import DataError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written (its example commands keep their lines), and each option's default when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        has_default = action.default not in (None, False, argparse.SUPPRESS)
        if action.option_strings and has_default and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class ArgumentParser(HfArgumentParser):
    """`HfArgumentParser` listing each option once, with dashes as the README writes it (`--output-dir`).

    HfArgumentParser registers `--output_dir` and `--output-dir`; the underscore spelling still parses, unlisted.
    """

    def __init__(self, dataclass_types, **kwargs) -> None:
        super().__init__(dataclass_types, formatter_class=HelpFormatter, usage="%(prog)s [options]", **kwargs)
        for action in self._actions:  # parsing goes through _option_string_actions, which keeps both spellings
            dashed = [option for option in action.option_strings if "_" not in option]
            if dashed:
                action.option_strings = dashed
            if action.const is True:  # a flag: `--push-to-hub`, or `--push-to-hub false`
                action.metavar = "true|false"


def cannot_load(model: str, err: Exception, cause: str | None = None) -> DataError:
    """The app's diagnosis of a model that did not load (`cause`, when already made), as one sentence for a command
    line."""
    return DataError(f"The model {model} could not be loaded: {cause or why_not_loaded(model, err)}.")


def check_precision() -> None:
    """A mistyped PRECISION stops the run at its start, not after training."""
    try:
        Settings.from_environment()
    except ValueError as err:
        raise DataError(f"{err}.") from None
