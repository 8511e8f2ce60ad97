"""The `genre-classifier` command (also `python -m genre_classifier`): tag many files, serve the app, or delete a
visitor's correction."""

from __future__ import annotations

import argparse
import os
import sys

from .library import tag


def main(argv: list[str] | None = None, prog: str = "genre-classifier") -> int:
    """Parse the command line and run `tag` or `serve`; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description="Music genre classification of audio and video files.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tag.add_arguments(
        commands.add_parser(
            "tag",
            help="classify every audio or video file under PATH into a CSV",
            description=tag.__doc__.split("\n\n")[0],
        )
    )
    commands.add_parser(
        "serve",
        help="start the app as `python app.py` does (on http://127.0.0.1:7860)",
        description="Start the app. MODEL_ID, GRADIO_SERVER_NAME, GRADIO_SERVER_PORT and the other "
        "variables of the README's configuration apply.",
    )
    feedback = commands.add_parser("feedback", help="the owner's side of visitors' corrections (docs/feedback.md)")
    delete = feedback.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser(
        "delete", help="withdraw a correction by its receipt id, as the visitor can on the page"
    )
    delete.add_argument("receipt", help="the receipt id the visitor was given (12 characters, 0-9 and a-f)")
    delete.add_argument(
        "--dir", default=os.environ.get("FEEDBACK_DIR"), help="the corrections folder (default: FEEDBACK_DIR)"
    )
    args = parser.parse_args(argv)
    if args.command == "feedback":
        return delete_correction(args.receipt, args.dir)
    if args.command == "serve":
        from .web.server import main as serve  # imports `spaces` before torch, as ZeroGPU needs

        serve()
        return 0
    return tag.run_logged(args)


def delete_correction(receipt: str, folder: str | None) -> int:
    """`feedback delete`: the clip and its row go, and the receipt is recorded as withdrawn."""
    from .core.feedback import Feedback, FeedbackRefused

    if not folder or not os.path.isdir(os.path.join(folder, "clips")):
        print(
            f"No corrections folder {'at ' + folder if folder else 'given'}: pass --dir or set FEEDBACK_DIR.",
            file=sys.stderr,
        )
        return 2
    try:
        Feedback(folder).withdraw(receipt)
    except FeedbackRefused as err:
        print(err, file=sys.stderr)
        return 1
    print(f"Deleted correction {receipt.strip().lower()} from {folder}.")
    return 0
