"""Fine-tune a pretrained audio transformer on GTZAN; evaluate it as the app runs it; optionally push it.

    python train/finetune.py --model distilhubert --output-dir distilhubert-gtzan
    python train/finetune.py --model ast --output-dir ast-gtzan --push-to-hub --hub-model-id you/ast-gtzan
    torchrun --nproc_per_node 4 train/finetune.py --model ast ...      # several GPUs

`--model` is a preset (`distilhubert`, `ast`), a Hub id or a local folder (a folder holding only a
`config.json` is randomly initialised, for tests). Training sees random crops of the model's window;
evaluation classifies every window of every test clip and averages them per clip, with the app's own
code. OUT ends as a folder the app loads with `MODEL_ID=OUT`: model, feature extractor, model card
(README.md), metrics.json, confusion_matrix.png and TensorBoard logs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    EvalPrediction,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genre_classifier import GENRES  # noqa: E402
from genre_classifier.audio import window_starts  # noqa: E402
from genre_classifier.model import Prediction, TransformerClassifier, featurize, window_seconds_for  # noqa: E402
from train.data import HUB_DATASET, decode, load_gtzan, split  # noqa: E402
from train.evaluate import evaluate_classifier, report, write_results  # noqa: E402


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
}


@dataclass
class Arguments:
    """Command-line options; unset hyperparameters come from the model's preset."""

    model: str = field(default="distilhubert", metadata={"help": f"preset ({', '.join(PRESETS)}), Hub id or folder"})
    output_dir: str = field(default="genre-classifier", metadata={"help": "where the finished checkpoint goes"})
    data: str = field(default=HUB_DATASET, metadata={"help": "'marsyas/gtzan' or a folder D/<genre>/*.wav"})
    test_size: float = field(default=0.1, metadata={"help": "held-out fraction (the course's 0.1)"})
    seed: int = field(default=42, metadata={"help": "split and training seed (the course's 42)"})
    learning_rate: float | None = None
    batch_size: int | None = field(default=None, metadata={"help": "per device"})
    epochs: float | None = None
    warmup: float | None = field(default=None, metadata={"help": "warm-up, as a fraction of all steps"})
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    max_steps: int = field(default=-1, metadata={"help": "stop after N optimiser steps (short runs)"})
    num_workers: int | None = field(default=None, metadata={"help": "data loader workers (default 4 on GPU)"})
    normalisation_clips: int = field(default=200, metadata={"help": "AST: training clips used for its input stats"})
    push_to_hub: bool = False
    hub_model_id: str | None = None


def load_model(name: str):
    """Model with a fresh ten-genre head, and its feature extractor (a config-only folder: random weights)."""
    labels = {
        "num_labels": len(GENRES),
        "id2label": dict(enumerate(GENRES)),
        "label2id": {genre: i for i, genre in enumerate(GENRES)},
    }
    folder = Path(name)
    if folder.is_dir() and not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        config = AutoConfig.from_pretrained(folder, **labels)
        model = AutoModelForAudioClassification.from_config(config)
        if (folder / "preprocessor_config.json").is_file():
            return model, AutoFeatureExtractor.from_pretrained(folder)
        return model, default_feature_extractor(config)
    model = AutoModelForAudioClassification.from_pretrained(name, ignore_mismatched_sizes=True, **labels)
    return model, AutoFeatureExtractor.from_pretrained(name)


def default_feature_extractor(config):
    from transformers import ASTFeatureExtractor, Wav2Vec2FeatureExtractor

    if config.model_type == "audio-spectrogram-transformer":
        return ASTFeatureExtractor(max_length=config.max_length, num_mel_bins=config.num_mel_bins)
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


def random_crops(window: int, sampling_rate: int):
    """Training transform: decode each clip and keep a random window of it (augmentation)."""

    def transform(batch: dict) -> dict:
        crops = []
        for audio in batch["audio"]:
            samples = decode(audio, sampling_rate)
            start = int(torch.randint(0, max(1, len(samples) - window + 1), ()))  # torch RNG: seeded per worker
            crops.append(samples[start : start + window])
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
        return {"accuracy": float(np.mean(correct)), "window_accuracy": float((probs.argmax(-1) == labels).mean())}

    return compute


def training_arguments(args: Arguments, preset: Preset) -> TrainingArguments:
    on_gpu = torch.cuda.is_available()
    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    # With --max-steps, evaluate and save at the end of the run instead of at epoch ends.
    if args.max_steps > 0:
        strategy = {"eval_strategy": "steps", "save_strategy": "steps", "eval_steps": args.max_steps}
        strategy["save_steps"] = args.max_steps
    else:
        strategy = {"eval_strategy": "epoch", "save_strategy": "epoch"}
    return TrainingArguments(
        output_dir=args.output_dir,
        learning_rate=args.learning_rate or preset.learning_rate,
        per_device_train_batch_size=args.batch_size or preset.batch_size,
        per_device_eval_batch_size=args.batch_size or preset.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        gradient_checkpointing=args.gradient_checkpointing,
        num_train_epochs=args.epochs or preset.epochs,
        max_steps=args.max_steps,
        warmup_steps=args.warmup if args.warmup is not None else preset.warmup,
        bf16=bf16,
        fp16=on_gpu and not bf16,
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        save_total_limit=2,
        logging_steps=10,
        report_to=["tensorboard"],
        dataloader_num_workers=args.num_workers if args.num_workers is not None else (4 if on_gpu else 0),
        remove_unused_columns=False,  # the transforms need the raw `audio` column
        use_cpu=not on_gpu,  # also what makes torchrun on CPUs a real (gloo) distributed run
        seed=args.seed,
        **strategy,
    )


def write_model_card(out: Path, args: Arguments, base: str, metrics: dict, hyper: dict) -> None:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    name = args.hub_model_id or out.name
    data = ModelCardData(
        model_name=name, base_model=base if not Path(base).is_dir() else None, datasets=[HUB_DATASET],
        metrics=["accuracy"], library_name="transformers", pipeline_tag="audio-classification",
        tags=["audio-classification", "music", "genre", "gtzan"],
        eval_results=[EvalResult(
            task_type="audio-classification", dataset_type=HUB_DATASET, dataset_name="GTZAN", dataset_config="all",
            dataset_split=f"test ({args.test_size:.0%} split, seed {args.seed})", metric_type="accuracy",
            metric_value=round(metrics["accuracy"], 4),
        )],
    )  # fmt: skip
    rows = "\n".join(f"| {k} | {v} |" for k, v in hyper.items())
    genres = "\n".join(
        f"| {g} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        for g, s in metrics["per_genre"].items()
    )
    body = f"""
# {name}

`{base}` fine-tuned on GTZAN (`{args.data}`) for the ten-genre music classifier Space. Trained on
random crops of the model's window; evaluated like the app answers: every window of every test clip is
classified and the window probabilities are averaged per clip.

## Results on the held-out split

{metrics["clips"]} clips: `train_test_split(test_size={args.test_size}, seed={args.seed}, shuffle=True)`.

- clip accuracy: **{metrics["accuracy"]:.4f}**
- window accuracy: {metrics["window_accuracy"]:.4f} ({metrics["windows"]} windows)
- macro F1: {metrics["macro_f1"]:.4f}

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


def main() -> None:
    (args,) = HfArgumentParser(Arguments).parse_args_into_dataclasses()
    preset = PRESETS.get(args.model, PRESETS["distilhubert"])
    base = preset.checkpoint if args.model in PRESETS else args.model
    model, feature_extractor = load_model(base)
    rate = feature_extractor.sampling_rate
    window = int(round(window_seconds_for(feature_extractor) * rate))

    splits = split(load_gtzan(args.data, rate), args.test_size, args.seed)
    if model.config.model_type == "audio-spectrogram-transformer":
        set_ast_normalisation(feature_extractor, splits["train"], args.normalisation_clips, window, args.seed)
    eval_rows = explode_windows(splits["test"], window, rate)
    training_args = training_arguments(args, preset)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"].with_transform(random_crops(window, rate)),
        eval_dataset=eval_rows.with_transform(window_slices(window, rate)),
        data_collator=Collator(feature_extractor),
        compute_metrics=clip_metrics(np.array(eval_rows["clip"])),
        processing_class=feature_extractor,
    )
    trainer.train()
    print(f"trained on {training_args.world_size} process(es)")
    if not trainer.is_world_process_zero():
        return

    out = Path(args.output_dir)
    trainer.save_model(out)  # the best epoch's weights, with the feature extractor (processing_class)
    classifier = TransformerClassifier(trainer.model, feature_extractor, str(out), str(training_args.device))
    metrics = evaluate_classifier(classifier, splits["test"])
    metrics |= {"model": base, "data": args.data, "split": "test", "seed": args.seed}
    print(report(metrics))
    write_results(metrics, out, f"{out.name} on GTZAN test split")
    precision = "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32"
    hyper = {
        "base model": base,
        "learning rate": training_args.learning_rate,
        "batch size per device": training_args.per_device_train_batch_size,
        "gradient accumulation": training_args.gradient_accumulation_steps,
        "processes": training_args.world_size,
        "epochs": training_args.num_train_epochs,
        "max steps": args.max_steps,
        "warm-up fraction": training_args.warmup_steps,
        "window": f"{window / rate:g} s at {rate} Hz",
        "precision": precision,
        "train / test clips": f"{len(splits['train'])} / {len(splits['test'])}",
        "seed": args.seed,
    }
    write_model_card(out, args, base, metrics, hyper)
    print(f"saved the checkpoint, metrics.json, confusion_matrix.png and the model card to {out}")
    if args.push_to_hub:
        from huggingface_hub import HfApi

        repo = args.hub_model_id or out.name
        api = HfApi()  # token from `hf auth login` or HF_TOKEN
        api.create_repo(repo, exist_ok=True)
        api.upload_folder(repo_id=repo, folder_path=out, ignore_patterns=["checkpoint-*"], commit_message="Upload")
        print(f"pushed to https://huggingface.co/{repo}")


if __name__ == "__main__":
    main()
