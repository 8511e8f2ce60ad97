"""The finished folder's model card, and its upload to the Hub."""

from __future__ import annotations

from pathlib import Path

from train.data import COURSE, FAULT_FILTERED, HUB_DATASET
from train.options import Arguments

COMPARISON = {
    COURSE: "A random split: the same artists, and some of the same recordings, are in training and test, so "
    "this figure is higher than an artist-filtered one. It compares with the course's 83 % and with other GTZAN "
    "cards on the Hub, which report this split.",
    FAULT_FILTERED: "Artist-filtered, without GTZAN's known faults: compare it with papers (MARBLE, MERT, MusicFM, "
    "MuQ), not with the random-split figures most GTZAN cards on the Hub report.",
}


def visitors_line(metrics: dict) -> str:
    """The card's line on visitors' corrections, when the run had some."""
    visitors = metrics.get("visitors")
    if not visitors:
        return ""
    score = f"**{visitors['accuracy']:.4f}**" if visitors["accuracy"] is not None else "not measured (too few)"
    return (
        f"- clip accuracy on {visitors['clips']} held-out corrections from the app's visitors (what visitors "
        f"really send; `visitors.accuracy`): {score}; {visitors['train_clips']} other corrections were trained "
        "on, none of them a GTZAN test clip\n"
    )


def write_model_card(out: Path, args: Arguments, base: str, metrics: dict, hyper: dict) -> None:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    name = args.hub_model_id or out.name
    split_name = f"{metrics['split']} test, {metrics['clips']} clips"
    data = ModelCardData(
        model_name=name,
        base_model=base if not Path(base).is_dir() else None,
        datasets=[HUB_DATASET],
        metrics=["accuracy"],
        library_name="transformers",
        pipeline_tag="audio-classification",
        tags=["audio-classification", "music", "genre", "gtzan"],
        eval_results=[
            EvalResult(
                task_type="audio-classification",
                dataset_type=HUB_DATASET,
                dataset_name="GTZAN",
                dataset_config="all",
                dataset_split=split_name,
                metric_type="accuracy",
                metric_value=round(metrics["accuracy"], 4),
            )
        ],
    )
    rows = "\n".join(f"| {k} | {v} |" for k, v in hyper.items())
    genres = "\n".join(
        f"| {g} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        for g, s in metrics["per_genre"].items()
    )
    recorded = "- not scored on recorded-like copies (`--recorded-score false`)\n"
    if "recorded" in metrics:
        scored = metrics["recorded"]
        recorded = (
            f"- clip accuracy on recorded-like copies of the same clips (a room, a microphone's band, noise, "
            f"level and the\n  browser's Opus codec, as a song played near a laptop sounds): "
            f"{scored['accuracy']:.4f}; the top genre\n  is unchanged for {scored['agreement']:.0%} of the "
            "clips\n"
        )
    body = f"""
# {name}

`{base}` fine-tuned on GTZAN (`{args.data}`) for the ten-genre music classifier Space. Trained on
random crops of the model's window; evaluated like the app answers: every window of every test clip is
classified and the window probabilities are averaged per clip.

## Results on the {metrics["split"]} split's test part

{metrics["clips"]} test clips of the {metrics["split"]} split: {metrics["split_description"]}.
{COMPARISON[metrics["split"]]}

Model selection: {metrics["selection"]}. The test clips were scored once, after training; the clip
names of every part are in `split.json`.

- clip accuracy: **{metrics["accuracy"]:.4f}**
- window accuracy: {metrics["window_accuracy"]:.4f} ({metrics["windows"]} windows)
- macro F1: {metrics["macro_f1"]:.4f}
{recorded}
{visitors_line(metrics)}
| genre | precision | recall | F1 | clips |
| --- | --- | --- | --- | --- |
{genres}

![confusion matrix](confusion_matrix.png)

## Training hyperparameters

| setting | value |
| --- | --- |
{rows}

## How to use it

In the genre classifier app: `MODEL_ID={name} python app.py`. With `transformers`:

```python
from transformers import pipeline

classify = pipeline("audio-classification", model="{name}")
classify("song.wav", top_k=10)  # one window; the app averages every window of a long clip
```
"""
    ModelCard(f"---\n{data.to_yaml()}\n---\n{body}").save(out / "README.md")


PUSH_IGNORE = ["checkpoint-*", "*.lock"]  # the finished folder only: no intermediate Trainer checkpoints


def push(out: Path, repo: str) -> None:
    """Upload the finished folder with the real Hub client (token from `hf auth login` or HF_TOKEN)."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo, exist_ok=True)
    api.upload_folder(repo_id=url.repo_id, folder_path=out, ignore_patterns=PUSH_IGNORE, commit_message="Upload")
    print(f"pushed to {url}; serve it with MODEL_ID={url.repo_id} python app.py")
