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

# Its parts: options.py (the command line, the presets), plan.py (the Trainer's settings, resuming, the printed
# plan), windows.py (what the Trainer is fed), card.py (the model card, the push to the Hub).

from __future__ import annotations

import logging
import sys
from pathlib import Path

if not __package__:  # run as `python train/finetune.py`: import from the repository root, as `-m train.finetune`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch
from datasets import concatenate_datasets
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, Trainer, set_seed

from genre_classifier import GENRES
from genre_classifier.core.extractor import window_seconds_for
from genre_classifier.core.loading import local_only
from genre_classifier.core.model import TransformerClassifier
from genre_classifier.core.settings import Settings
from train.card import push, write_model_card
from train.cli import ArgumentParser, cannot_load, check_precision
from train.data import DataError, load_gtzan, make_split
from train.evaluate import evaluate_classifier, report, write_results, write_split
from train.options import PRESETS, Arguments
from train.plan import plan, precision_name, resume_point, training_arguments
from train.recorded import Augment, check_codec
from train.visitors import Corrections, load_corrections
from train.windows import Collator, clip_metrics, explode_windows, random_crops, set_ast_normalisation, window_slices


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


def visitors_metrics(classifier: TransformerClassifier, visitors: Corrections, source: str) -> dict:
    """Accuracy on the held-out corrections: what visitors really send. Their clips are recordings already, so no
    recorded-like twin is made of them."""
    scored = evaluate_classifier(classifier, visitors.held_out) if len(visitors.held_out) else None
    return {
        "data": source,
        "accuracy": scored["accuracy"] if scored else None,
        "clips": len(visitors.held_out),
        "train_clips": len(visitors.train),
        "not_music_for_the_gate": visitors.not_music,
        "other_music_unused": visitors.other_music,
        "withdrawn_unused": visitors.withdrawn,
        "left_out_as_gtzan_test_clips": visitors.gtzan_test,
    }


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
    opus_for = {
        what: flag
        for what, flag, wanted in (
            ("the recorded-like augmentation (--augment recorded)", "--augment none", args.augment == "recorded"),
            ("the recorded-like test score (--recorded-score)", "--recorded-score false", args.recorded_score),
        )
        if wanted
    }
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
    metrics |= {
        "model": base,
        "data": args.data,
        "split": args.split,
        "split_description": chosen.description,
        "part": "test",
        "seed": args.seed,
        "selected_on_validation": select,
    }
    if select:
        best, accuracy = Path(trainer.state.best_model_checkpoint).name, trainer.state.best_metric
        validation = {"clips": len(splits["validation"]), "accuracy": accuracy, "checkpoint": best}
        metrics |= {
            "selection": f"{best}, the checkpoint with the best clip accuracy ({accuracy:.4f}) on the "
            f"{validation['clips']} validation clips",
            "validation": validation,
        }
        trainer.save_metrics("eval", {"eval_accuracy": accuracy, "eval_clips": validation["clips"]})
    else:
        metrics["selection"] = "none, the weights after the last step (the course split has no validation part)"
    if visitors is not None:
        metrics["visitors"] = visitors_metrics(classifier, visitors, args.extra_data)
    print(report(metrics))
    if visitors is not None:
        print(
            f"visitors: clip accuracy {metrics['visitors']['accuracy']} on {len(visitors.held_out)} held-out "
            "corrections"
        )
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
