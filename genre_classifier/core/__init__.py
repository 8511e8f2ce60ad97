"""The core: audio, features, models and their runtime, the music gate, answers and settings.

It knows neither Gradio nor Spaces."""
