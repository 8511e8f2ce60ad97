"""A run's plan: the Trainer's settings, where it resumes from, and the lines printed before it starts."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import torch
from transformers import TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from genre_classifier.core.settings import native_bf16
from train.data import DataError, Split
from train.options import LATEST, Arguments, Preset
from train.recorded import Augment
from train.visitors import Corrections


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


def plan(
    args,
    training_args,
    base,
    chosen: Split,
    window_s,
    rate,
    resume_from,
    augment: Augment | None,
    visitors: Corrections | None = None,
) -> str:
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
