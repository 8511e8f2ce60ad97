"""`train.finetune`'s command-line options, and the presets that fill in what they leave unset."""

from __future__ import annotations

from dataclasses import dataclass, field

from train.data import COURSE, DATA_HELP, HUB_DATASET, SPLITS
from train.visitors import HELD_OUT

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
        metadata={
            "help": "wav2vec2/HuBERT-style models: keep the convolutional feature encoder fixed (faster "
            "epochs, less memory; off in the course recipe)"
        },
    )
    augment: str = field(
        default="recorded",
        metadata={
            "choices": AUGMENTS,
            "help": "recorded: each training crop becomes, half the time, a random "
            "recorded-like copy (room, microphone band, noise, level and clipping, Opus in half of those: "
            "train/recorded.py), and every crop a random gain; none: the crops as they are",
        },
    )
    recorded_score: bool = field(
        default=True,
        metadata={
            "help": "score the test clips a second time as recorded-like copies (train/recorded.py), into "
            "metrics.json and the model card; false: the clean score alone (no FFmpeg needed then, with "
            "--augment none)"
        },
    )
    extra_data: str | None = field(
        default=None,
        metadata={
            "help": "visitors' corrections (a FEEDBACK_DIR folder, or a Hub dataset repo holding one): their "
            f"genre rows join the training part, {HELD_OUT * 100:.0f} %% of them held out and scored as "
            "visitors.accuracy; never GTZAN's test part; not-music rows are the music gate's "
            "(train/music_gate.py)"
        },
    )
    max_steps: int = field(default=-1, metadata={"help": "stop after N optimiser steps (short runs)"})
    num_workers: int | None = field(default=None, metadata={"help": "data loader workers (default 4 on GPU)"})
    normalisation_clips: int = field(default=200, metadata={"help": "AST: training clips used for its input stats"})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "nargs": "?",
            "const": LATEST,
            "help": "continue an interrupted run: from PATH, or with no value from the latest checkpoint-* in "
            "--output-dir (optimizer, scheduler, RNG and data order restored)",
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "start over in a non-empty --output-dir (its checkpoint-* are deleted)"}
    )
    push_to_hub: bool = field(
        default=False,
        metadata={
            "help": "upload the finished folder (model, feature extractor, card, metrics) to the Hub; "
            "token from `hf auth login` or HF_TOKEN"
        },
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub repo for --push-to-hub, e.g. you/distilhubert-gtzan; unset: OUT's name"}
    )
