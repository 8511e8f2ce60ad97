"""Fine-tuning, evaluation and the embedded model's trainer; run as `python -m train.<script>` (see README)."""
