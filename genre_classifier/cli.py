"""The `genre-classifier` command (also `python -m genre_classifier`): tag many files, or serve the app."""

from __future__ import annotations

import argparse

from .library import tag


def main(argv: list[str] | None = None, prog: str = "genre-classifier") -> int:
    """Parse the command line and run `tag` or `serve`; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description="Music genre classification of audio and video files.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tag.add_arguments(commands.add_parser("tag", help="classify every audio or video file under PATH into a CSV",
                                          description=tag.__doc__.split("\n\n")[0]))  # fmt: skip
    commands.add_parser("serve", help="start the app as `python app.py` does (on http://127.0.0.1:7860)",
                        description="Start the app. MODEL_ID, GRADIO_SERVER_NAME, GRADIO_SERVER_PORT and the other "
                        "variables of the README's configuration apply.")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .web.server import main as serve  # imports `spaces` before torch, as ZeroGPU needs

        serve()
        return 0
    return tag.run_logged(args)
