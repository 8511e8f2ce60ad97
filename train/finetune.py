"""Fine-tune a pretrained audio transformer on GTZAN, choose it without looking at the test clips, score it as
the app classifies, and optionally push it to the Hub.

    python -m train.finetune --model distilhubert --output-dir distilhubert-gtzan
    python -m train.finetune --model ast --split fault-filtered --output-dir ast-gtzan-ff

`--split course` (the default) is the Hugging Face audio course's random 90/10 split (seed 42), which every
GTZAN model card on the Hub reports; the final weights are scored once on its test part. `--split
fault-filtered` uses the artist-filtered lists in train/splits/ (443/197/290): the checkpoint with the best
validation accuracy is kept, then the test list is scored once. Evaluation classifies every window of every
clip and averages them per clip, with the app's own code. OUT ends as a folder the app loads with
`MODEL_ID=OUT`. Needs a GPU for real runs and the Hub (or its cache) for pretrained weights and data; see
train/README.md. (`python train/finetune.py ...` works the same.)
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

if not __package__:  # run as `python train/finetune.py`: import from the repository root, as `-m train.finetune`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch
from datasets import concatenate_datasets
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from genre_classifier import GENRES
from genre_classifier.core.audio import window_starts
from genre_classifier.core.loading import local_only
from genre_classifier.core.model import Prediction, TransformerClassifier, featurize, window_seconds_for
from genre_classifier.core.settings import Settings, native_bf16
from train.cli import ArgumentParser, cannot_load, check_precision
from train.data import (
    COURSE,
    DATA_HELP,
    FAULT_FILTERED,
    HUB_DATASET,
    SPLITS,
    DataError,
    Split,
    decode,
    load_gtzan,
    make_split,
)
from train.evaluate import evaluate_classifier, report, write_results, write_split
from train.recorded import Augment, check_codec
from train.visitors import HELD_OUT, Corrections, load_corrections

LATEST = "latest"  # --resume-from-checkpoint with no path


@dataclass(frozen=True)
class Preset:
    checkpoint: str
    learning_rate: float
    batch_size: int
    epochs: float
    warmup: float


PRESETS = {
    # The Hugging Face audio course recipe (83 % on the 90/10 split).
    "distilhubert": Preset("ntu-spml/distilhubert", learning_rate=5e-5, batch_size=8, epochs=10, warmup=0.1),
    # AudioSet-trained AST with a new 10-way head; a lower rate suits its larger, already-tuned encoder.
    "ast": Preset("MIT/ast-finetuned-audioset-10-10-0.4593", learning_rate=3e-5, batch_size=8, epochs=10, warmup=0.1),
    # Whisper's encoder with a classification head (WhisperForAudioClassification, Apache-2.0): public GTZAN cards
    # report about 0.90-0.92 on the course split. Its pretrained encoder takes a low rate; small is 4x base's size.
    "whisper-small": Preset("openai/whisper-small", learning_rate=1e-5, batch_size=8, epochs=8, warmup=0.1),
    "whisper-base": Preset("openai/whisper-base", learning_rate=2e-5, batch_size=16, epochs=10, warmup=0.1),
}
AUGMENTS = ("recorded", "none")


def _preset_help(what: str, attribute: str) -> str:
    values = ", ".join(f"{name} {getattr(preset, attribute):g}" for name, preset in PRESETS.items())
    return f"{what}; unset: the preset's ({values}; other models: distilhubert's)"


@dataclass
class Arguments:
    """Command-line options; unset hyperparameters come from the model's preset."""

    model: str = field(default="distilhubert", metadata={"help": f"preset ({', '.join(PRESETS)}), Hub id or folder"})
    output_dir: str = field(default="genre-classifier", metadata={"help": "where checkpoints and the result go"})
    data: str = field(default=HUB_DATASET, metadata={"help": DATA_HELP})
    split: str = field(
        default=COURSE,
        metadata={
            "choices": SPLITS,
            "help": "course: the audio course's random 90/10 split (--test-size, --seed), scored once with the final "
            "weights; fault-filtered: the artist-filtered lists in train/splits/, the best epoch on validation kept",
        },
    )
    audio_column: str = field(default="audio", metadata={"help": "audio column of a datasets dataset"})
    label_column: str | None = field(
        default=None, metadata={"help": "genre column of a datasets dataset; unset: 'genre', else 'label'"}
    )
    test_size: float = field(default=0.1, metadata={"help": "course split: held-out fraction (the course's 0.1)"})
    seed: int = field(default=42, metadata={"help": "split, initialisation and training seed (the course's 42)"})
    max_train_samples: int | None = field(default=None, metadata={"help": "train on the first N training clips"})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "evaluate on the first N validation and test clips"}
    )
    learning_rate: float | None = field(
        default=None, metadata={"help": _preset_help("peak learning rate", "learning_rate")}
    )
    batch_size: int | None = field(
        default=None, metadata={"help": _preset_help("clips per device and step", "batch_size")}
    )
    epochs: float | None = field(default=None, metadata={"help": _preset_help("training epochs", "epochs")})
    warmup: float | None = field(
        default=None, metadata={"help": _preset_help("warm-up, as a fraction of all steps", "warmup")}
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "batches per optimiser step"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory (small GPUs)"})
    freeze_feature_encoder: bool = field(
        default=False,
        metadata={"help": "wav2vec2/HuBERT-style models: keep the convolutional feature encoder fixed (faster "
                  "epochs, less memory; off in the course recipe)"},
    )  # fmt: skip
    augment: str = field(
        default="recorded",
        metadata={"choices": AUGMENTS, "help": "recorded: each training crop becomes, half the time, a random "
                  "recorded-like copy (room, microphone band, noise, level and clipping, Opus in half of those: "
                  "train/recorded.py), and every crop a random gain; none: the crops as they are"},
    )  # fmt: skip
    recorded_score: bool = field(
        default=True,
        metadata={"help": "score the test clips a second time as recorded-like copies (train/recorded.py), into "
                  "metrics.json and the model card; false: the clean score alone (no FFmpeg needed then, with "
                  "--augment none)"},
    )  # fmt: skip
    extra_data: str | None = field(
        default=None,
        metadata={"help": "visitors' corrections (a FEEDBACK_DIR folder, or a Hub dataset repo holding one): their "
                  f"genre rows join the training part, {HELD_OUT * 100:.0f} %% of them held out and scored as "
                  "visitors.accuracy; never GTZAN's test part; not-music rows are the music gate's "
                  "(train/music_gate.py)"},
    )  # fmt: skip
    max_steps: int = field(default=-1, metadata={"help": "stop after N optimiser steps (short runs)"})
    num_workers: int | None = field(default=None, metadata={"help": "data loader workers (default 4 on GPU)"})
    normalisation_clips: int = field(default=200, metadata={"help": "AST: training clips used for its input stats"})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "nargs": "?", "const": LATEST,
            "help": "continue an interrupted run: from PATH, or with no value from the latest checkpoint-* in "
            "--output-dir (optimizer, scheduler, RNG and data order restored)",
        },
    )  # fmt: skip
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "start over in a non-empty --output-dir (its checkpoint-* are deleted)"}
    )
    push_to_hub: bool = field(
        default=False,
        metadata={"help": "upload the finished folder (model, feature extractor, card, metrics) to the Hub; "
                  "token from `hf auth login` or HF_TOKEN"},
    )  # fmt: skip
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub repo for --push-to-hub, e.g. you/distilhubert-gtzan; unset: OUT's name"}
    )


def load_model(name: str):
    """Model with a fresh ten-genre head, and its feature extractor (a config-only folder: random weights).

    A model that cannot be loaded raises `DataError` with the app's one-sentence diagnosis.
    """
    labels = {
        "num_labels": len(GENRES),
        "id2label": dict(enumerate(GENRES)),
        "label2id": {genre: i for i, genre in enumerate(GENRES)},
    }
    folder = Path(name)
    try:
        if folder.is_dir() and not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
            config = AutoConfig.from_pretrained(folder, **labels)
            model = AutoModelForAudioClassification.from_config(config)
            if (folder / "preprocessor_config.json").is_file():
                return model, AutoFeatureExtractor.from_pretrained(folder)
            return model, default_feature_extractor(config)
        local = local_only(name)
        model = AutoModelForAudioClassification.from_pretrained(
            name, ignore_mismatched_sizes=True, local_files_only=local, **labels
        )
        return model, AutoFeatureExtractor.from_pretrained(name, local_files_only=local)
    except Exception as err:  # offline, unknown or private id, not an audio model, unreadable files...
        raise cannot_load(name, err) from None


def default_feature_extractor(config):
    from transformers import ASTFeatureExtractor, Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    if config.model_type == "audio-spectrogram-transformer":
        return ASTFeatureExtractor(max_length=config.max_length, num_mel_bins=config.num_mel_bins)
    if config.model_type == "whisper":
        return WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    uses_mask = getattr(config, "feat_extract_norm", "group") == "layer"  # group-norm models must not get a mask
    return Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=uses_mask)


def set_ast_normalisation(feature_extractor, dataset, clips: int, window: int, seed: int) -> None:
    """Mean and std of AST's filterbank inputs over training crops, as the AST authors recommend."""
    rng = np.random.default_rng(seed)
    feature_extractor.do_normalize = False
    frames = []
    for i in rng.permutation(len(dataset))[:clips]:
        samples = decode(dataset[int(i)]["audio"], feature_extractor.sampling_rate)
        start = rng.integers(0, max(1, len(samples) - window + 1))
        fbank = feature_extractor(samples[start : start + window], sampling_rate=feature_extractor.sampling_rate)
        # frames of 25 ms every 10 ms (400 and 160 samples at 16 kHz) that hold audio, not padding
        n_frames = min(feature_extractor.max_length, (min(window, len(samples)) - 400) // 160 + 1)
        frames.append(np.asarray(fbank["input_values"][0])[:n_frames])  # padding frames left out
    values = np.concatenate(frames)
    feature_extractor.mean, feature_extractor.std = float(values.mean()), float(values.std())
    feature_extractor.do_normalize = True


def random_crops(window: int, sampling_rate: int, augment: Augment | None = None):
    """Training transform: decode each clip and keep a random window of it (a time shift), then `augment` it."""

    def transform(batch: dict) -> dict:
        crops = []
        for audio in batch["audio"]:
            samples = decode(audio, sampling_rate)
            start = int(torch.randint(0, max(1, len(samples) - window + 1), ()))  # torch RNG: seeded per worker
            crop = samples[start : start + window]
            if augment is not None:  # numpy's draws seeded from torch's, so a run's augmentation is reproducible
                crop = augment(crop, sampling_rate, np.random.default_rng(int(torch.randint(0, 2**31, ()))))
            crops.append(crop)
        return {"window": crops, "labels": batch["genre"]}

    return transform


def explode_windows(dataset, window: int, sampling_rate: int):
    """One row per evaluation window (the app's windowing), remembering its clip."""

    def explode(batch: dict, indices: list[int]) -> dict:
        out = {"audio": [], "genre": [], "clip": [], "start": []}
        for audio, genre, clip in zip(batch["audio"], batch["genre"], indices, strict=True):
            for start in window_starts(len(decode(audio, sampling_rate)), window):
                out["audio"].append(audio), out["genre"].append(genre), out["clip"].append(clip)
                out["start"].append(start)
        return out

    return dataset.map(explode, batched=True, with_indices=True, remove_columns=dataset.column_names)


def window_slices(window: int, sampling_rate: int):
    def transform(batch: dict) -> dict:
        crops = [decode(a, sampling_rate)[s : s + window] for a, s in zip(batch["audio"], batch["start"], strict=True)]
        return {"window": crops, "labels": batch["genre"]}

    return transform


@dataclass
class Collator:
    """Batches windows through the app's feature-extractor call."""

    feature_extractor: object

    def __call__(self, examples: list[dict]) -> dict:
        batch = featurize(self.feature_extractor, [e["window"] for e in examples], self.feature_extractor.sampling_rate)
        batch["labels"] = torch.tensor([e["labels"] for e in examples])
        return batch


def clip_metrics(clip_of_row: np.ndarray):
    """compute_metrics: window accuracy, and clip accuracy with the app's averaging of window probabilities."""

    def compute(prediction: EvalPrediction) -> dict:
        probs = torch.tensor(prediction.predictions).softmax(dim=-1).numpy()
        labels = np.asarray(prediction.label_ids)
        correct = []
        for clip in np.unique(clip_of_row):
            rows = clip_of_row == clip
            clip_probs = Prediction(GENRES, probs[rows], []).probs
            correct.append(clip_probs.argmax() == labels[rows][0])
        window_accuracy = float((probs.argmax(-1) == labels).mean())
        return {"accuracy": float(np.mean(correct)), "window_accuracy": window_accuracy, "clips": len(correct)}

    return compute


def training_arguments(args: Arguments, preset: Preset, select: bool) -> TrainingArguments:
    """The Trainer's settings; with `select`, evaluation on the validation part at every save, best one kept."""
    on_gpu = torch.cuda.is_available()
    bf16 = on_gpu and native_bf16("cuda")
    # A checkpoint every epoch, or with --max-steps once at the end; with `select`, a validation score at each.
    # Without it (the course split has no validation part) the test clips are not looked at until the end.
    every = "steps" if args.max_steps > 0 else "epoch"
    steps = args.max_steps if args.max_steps > 0 else None
    strategy = {"save_strategy": every, "eval_strategy": every if select else "no", "eval_steps": steps}
    if steps:
        strategy["save_steps"] = steps
    return TrainingArguments(
        output_dir=args.output_dir,
        learning_rate=args.learning_rate or preset.learning_rate,
        per_device_train_batch_size=args.batch_size or preset.batch_size,
        per_device_eval_batch_size=args.batch_size or preset.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        activation_checkpointing=args.gradient_checkpointing,
        num_train_epochs=args.epochs or preset.epochs,
        max_steps=args.max_steps,
        warmup_steps=args.warmup if args.warmup is not None else preset.warmup,
        bf16=bf16,
        fp16=on_gpu and not bf16,
        load_best_model_at_end=select,
        metric_for_best_model="accuracy" if select else None,
        save_total_limit=2,
        logging_steps=10,
        report_to=["tensorboard"],
        dataloader_num_workers=args.num_workers if args.num_workers is not None else (4 if on_gpu else 0),
        remove_unused_columns=False,  # the transforms need the raw `audio` column
        use_cpu=not on_gpu,  # also what makes torchrun on CPUs a real (gloo) distributed run
        seed=args.seed,
        **strategy,
    )


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
    return (f"- clip accuracy on {visitors['clips']} held-out corrections from the app's visitors (what visitors "
            f"really send; `visitors.accuracy`): {score}; {visitors['train_clips']} other corrections were trained "
            "on, none of them a GTZAN test clip\n")


def write_model_card(out: Path, args: Arguments, base: str, metrics: dict, hyper: dict) -> None:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    name = args.hub_model_id or out.name
    split_name = f"{metrics['split']} test, {metrics['clips']} clips"
    data = ModelCardData(
        model_name=name, base_model=base if not Path(base).is_dir() else None, datasets=[HUB_DATASET],
        metrics=["accuracy"], library_name="transformers", pipeline_tag="audio-classification",
        tags=["audio-classification", "music", "genre", "gtzan"],
        eval_results=[EvalResult(
            task_type="audio-classification", dataset_type=HUB_DATASET, dataset_name="GTZAN", dataset_config="all",
            dataset_split=split_name, metric_type="accuracy", metric_value=round(metrics["accuracy"], 4),
        )],
    )  # fmt: skip
    rows = "\n".join(f"| {k} | {v} |" for k, v in hyper.items())
    genres = "\n".join(
        f"| {g} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        for g, s in metrics["per_genre"].items()
    )
    recorded = "- not scored on recorded-like copies (`--recorded-score false`)\n"
    if "recorded" in metrics:
        scored = metrics["recorded"]
        recorded = (f"- clip accuracy on recorded-like copies of the same clips (a room, a microphone's band, noise, "
                    f"level and the\n  browser's Opus codec, as a song played near a laptop sounds): "
                    f"{scored['accuracy']:.4f}; the top genre\n  is unchanged for {scored['agreement']:.0%} of the "
                    "clips\n")  # fmt: skip
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


def visitors_metrics(classifier: TransformerClassifier, visitors: Corrections, source: str) -> dict:
    """Accuracy on the held-out corrections: what visitors really send. Their clips are recordings already, so no
    recorded-like twin is made of them."""
    scored = evaluate_classifier(classifier, visitors.held_out) if len(visitors.held_out) else None
    return {
        "data": source, "accuracy": scored["accuracy"] if scored else None, "clips": len(visitors.held_out),
        "train_clips": len(visitors.train), "not_music_for_the_gate": visitors.not_music,
        "other_music_unused": visitors.other_music, "withdrawn_unused": visitors.withdrawn,
        "left_out_as_gtzan_test_clips": visitors.gtzan_test,
    }  # fmt: skip


def resume_point(args: Arguments) -> str | None:
    """The checkpoint to resume from, after refusing to silently train over an earlier run's output."""
    out = Path(args.output_dir)
    if args.resume_from_checkpoint == LATEST:
        latest = get_last_checkpoint(out) if out.is_dir() else None
        if latest is None:
            raise DataError(f"--resume-from-checkpoint: {out} holds no checkpoint-* folder to resume from.")
        return latest
    if args.resume_from_checkpoint:
        if not (Path(args.resume_from_checkpoint) / "trainer_state.json").is_file():
            raise DataError(f"--resume-from-checkpoint: {args.resume_from_checkpoint} is not a Trainer checkpoint.")
        return args.resume_from_checkpoint
    if out.is_dir() and any(out.iterdir()):
        if not args.overwrite_output_dir:
            raise DataError(
                f"{out} is not empty: it holds an earlier run. Continue it with --resume-from-checkpoint, "
                "start over with --overwrite-output-dir, or choose another --output-dir."
            )
        if int(os.environ.get("RANK", 0)) == 0:  # stale checkpoints would confuse a later resume
            for stale in [*out.glob("checkpoint-*"), out / "runs"]:
                shutil.rmtree(stale, ignore_errors=True)
    return None


def plan(args, training_args, base, chosen: Split, window_s, rate, resume_from, augment: Augment | None,
         visitors: Corrections | None = None) -> str:
    """What the run will do, printed before it starts."""
    splits = chosen.parts
    effective = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    effective *= training_args.world_size
    batches = math.ceil(len(splits["train"]) / (training_args.per_device_train_batch_size * training_args.world_size))
    steps = max(math.ceil(batches / training_args.gradient_accumulation_steps), 1)
    by_steps = training_args.max_steps > 0
    length = f"{training_args.max_steps} steps" if by_steps else f"{training_args.num_train_epochs:g} epochs"
    every = f"{training_args.save_steps} steps" if by_steps else "epoch"
    out = Path(args.output_dir)
    lines = [
        f"model:       {base}" + (" (feature encoder frozen)" if args.freeze_feature_encoder else ""),
        f"data:        {args.data}",
        f"clips:       {chosen.counts()} ({chosen.name}: {chosen.description})",
        *chosen.left_out(f"{out}/split.json"),
        *([f"visitors:    {args.extra_data}: {visitors.describe()}"] if visitors else []),
        f"selection:   {selection_plan(splits)}",
        f"window:      {window_s:g} s at {rate} Hz (random crops for training, every window for evaluation)",
        f"augment:     {augment.describe() if augment else 'none (--augment none): the crops as they are'}",
        f"precision:   {precision_name(training_args)}",
        f"batch:       {effective} clips per optimiser step ({training_args.per_device_train_batch_size} per device "
        f"x {training_args.gradient_accumulation_steps} accumulation x {training_args.world_size} process(es))",
        f"schedule:    {steps} steps per epoch, {length}, learning rate {training_args.learning_rate:g}",
        f"checkpoints: {out}/checkpoint-* (every {every}; resume with --resume-from-checkpoint)",
        f"logs:        {out}/runs (tensorboard --logdir {out}/runs)",
        f"result:      {out}/ (model, feature extractor, README.md model card, metrics.json, confusion_matrix.png, "
        "split.json)",
    ]
    if resume_from:
        step = json.loads((Path(resume_from) / "trainer_state.json").read_text())["global_step"]
        lines.append(f"resuming:    from {resume_from} (step {step})")
    if args.push_to_hub:
        lines.append(f"push:        https://huggingface.co/{args.hub_model_id or out.name}")
    return "\n".join(lines)


def selection_plan(splits) -> str:
    test = f"the {len(splits['test'])} test clips are scored once, at the end"
    if "validation" in splits:
        return f"the checkpoint with the best clip accuracy on the {len(splits['validation'])} validation clips; {test}"
    return f"none (no validation part): the final weights; {test}"


def precision_name(training_args: TrainingArguments) -> str:
    return "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32"


PUSH_IGNORE = ["checkpoint-*", "*.lock"]  # the finished folder only: no intermediate Trainer checkpoints


def push(out: Path, repo: str) -> None:
    """Upload the finished folder with the real Hub client (token from `hf auth login` or HF_TOKEN)."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo, exist_ok=True)
    api.upload_folder(repo_id=url.repo_id, folder_path=out, ignore_patterns=PUSH_IGNORE, commit_message="Upload")
    print(f"pushed to {url}; serve it with MODEL_ID={url.repo_id} python app.py")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    parser = ArgumentParser(Arguments, prog="python -m train.finetune", description=__doc__)
    (args,) = parser.parse_args_into_dataclasses()
    try:
        train(args)
    except DataError as err:
        sys.exit(f"error: {err}")
    finally:
        leave_process_group(wait_for_the_others=False)  # also on an error: no rank may exit still in its group


def leave_process_group(wait_for_the_others: bool) -> None:
    """End this rank's part of a torchrun process group (Trainer's, through accelerate), if any. A rank that exits
    with its gloo group still alive can abort as the interpreter tears it down ("terminate called without an active
    exception"), and torchrun then reports a failed run after the model was saved. `wait_for_the_others`: a barrier
    first, so that no rank tears down while another still takes part in a collective."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    try:
        if wait_for_the_others:
            torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def train(args: Arguments) -> None:
    check_precision()
    # Both make Opus copies through FFmpeg: said now, not in a loader worker or after hours of training
    opus_for = {what: flag for what, flag, wanted in (
        ("the recorded-like augmentation (--augment recorded)", "--augment none", args.augment == "recorded"),
        ("the recorded-like test score (--recorded-score)", "--recorded-score false", args.recorded_score),
    ) if wanted}  # fmt: skip
    check_codec(list(opus_for), f"skip {'them' if len(opus_for) > 1 else 'it'} with {' '.join(opus_for.values())}")
    preset = PRESETS.get(args.model, PRESETS["distilhubert"])
    base = preset.checkpoint if args.model in PRESETS else args.model
    resume_from = resume_point(args)
    set_seed(args.seed)  # the new head's initialisation is part of the run
    model, feature_extractor = load_model(base)  # before the data: a model that cannot load is told at once
    if args.freeze_feature_encoder:
        if not hasattr(model, "freeze_feature_encoder"):
            raise DataError(f"--freeze-feature-encoder: {model.config.model_type} models have no feature encoder.")
        model.freeze_feature_encoder()
    rate = feature_extractor.sampling_rate
    window_s = window_seconds_for(feature_extractor)
    window = int(round(window_s * rate))

    dataset = load_gtzan(args.data, args.audio_column, args.label_column)
    chosen = make_split(dataset, args.split, rate, args.test_size, args.seed)
    chosen.limit(args.max_train_samples, args.max_eval_samples)
    visitors = None
    if args.extra_data:  # the test part is GTZAN's alone; corrections join the training part only
        visitors = load_corrections(args.extra_data, chosen.parts["test"], args.seed)
        chosen.parts["train"] = concatenate_datasets([chosen.parts["train"], visitors.train])
    splits = chosen.parts
    select = "validation" in splits  # the model is chosen on validation clips, never on the test clips
    if model.config.model_type == "audio-spectrogram-transformer":
        set_ast_normalisation(feature_extractor, splits["train"], args.normalisation_clips, window, args.seed)
    eval_rows = explode_windows(splits["validation"], window, rate) if select else None
    training_args = training_arguments(args, preset, select)
    augment = Augment() if args.augment == "recorded" else None
    if training_args.process_index == 0:
        print(plan(args, training_args, base, chosen, window_s, rate, resume_from, augment, visitors), flush=True)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"].with_transform(random_crops(window, rate, augment)),
        eval_dataset=eval_rows.with_transform(window_slices(window, rate)) if select else None,
        data_collator=Collator(feature_extractor),
        compute_metrics=clip_metrics(np.array(eval_rows["clip"])) if select else None,
        processing_class=feature_extractor,
    )
    result = trainer.train(resume_from_checkpoint=resume_from)
    print(f"trained on {training_args.world_size} process(es) to step {trainer.state.global_step}")
    # Every rank leaves the group together now: what follows is rank 0's alone (saving, scoring the test clips) and
    # needs no collective, and a barrier at the very end would make the others wait through it (past the group's
    # timeout on a long test set).
    leave_process_group(wait_for_the_others=True)
    if not trainer.is_world_process_zero():
        return

    out = Path(args.output_dir)
    trainer.save_model(out)  # the chosen weights, with the feature extractor (processing_class)
    trainer.save_state()
    device = str(training_args.device)  # evaluated as the app would answer on this device
    precision = Settings.from_environment().precision_on(device)
    classifier = TransformerClassifier(trainer.model, feature_extractor, str(out), device, precision)
    # The one look at the test clips: as they are, and as recorded-like copies (train/recorded.py).
    metrics = evaluate_classifier(classifier, splits["test"], recorded=args.recorded_score)
    metrics |= {"model": base, "data": args.data, "split": args.split, "split_description": chosen.description,
                "part": "test", "seed": args.seed, "selected_on_validation": select}  # fmt: skip
    if select:
        best, accuracy = Path(trainer.state.best_model_checkpoint).name, trainer.state.best_metric
        validation = {"clips": len(splits["validation"]), "accuracy": accuracy, "checkpoint": best}
        metrics |= {"selection": f"{best}, the checkpoint with the best clip accuracy ({accuracy:.4f}) on the "
                    f"{validation['clips']} validation clips", "validation": validation}  # fmt: skip
        trainer.save_metrics("eval", {"eval_accuracy": accuracy, "eval_clips": validation["clips"]})
    else:
        metrics["selection"] = "none, the weights after the last step (the course split has no validation part)"
    if visitors is not None:
        metrics["visitors"] = visitors_metrics(classifier, visitors, args.extra_data)
    print(report(metrics))
    if visitors is not None:
        print(f"visitors: clip accuracy {metrics['visitors']['accuracy']} on {len(visitors.held_out)} held-out "
              "corrections")
    write_results(metrics, out, f"{out.name} on the {args.split} test clips")
    write_split(chosen, out)
    trainer.save_metrics("train", result.metrics)
    trainer.save_metrics("test", {f"test_{k}": metrics[k] for k in ("accuracy", "window_accuracy", "macro_f1")})
    hyper = {
        "base model": base,
        "learning rate": training_args.learning_rate,
        "batch size per device": training_args.per_device_train_batch_size,
        "gradient accumulation": training_args.gradient_accumulation_steps,
        "processes": training_args.world_size,
        "epochs": training_args.num_train_epochs,
        "max steps": args.max_steps,
        "warm-up fraction": training_args.warmup_steps,
        "feature encoder": "frozen" if args.freeze_feature_encoder else "trained",
        "window": f"{window_s:g} s at {rate} Hz",
        "augmentation": augment.describe() if augment else "none",
        "precision": precision_name(training_args),
        "split": args.split,
        "clips": chosen.counts(),
        "seed": args.seed,
    }
    write_model_card(out, args, base, metrics, hyper)
    print(f"saved the checkpoint, metrics.json, split.json, confusion_matrix.png and the model card to {out}")
    if args.push_to_hub:
        repo = args.hub_model_id or out.name
        try:
            push(out, repo)
        except Exception as err:  # offline, no token, no rights: the local result stays usable
            sys.exit(
                f"error: could not push to the Hub ({err.__class__.__name__}: {str(err).splitlines()[0][:200]}). "
                f"The checkpoint is complete in {out}; push it later with `hf upload {repo} {out}` "
                "after `hf auth login`."
            )


if __name__ == "__main__":
    main()
