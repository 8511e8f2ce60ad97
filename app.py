"""Music genre classifier: the Gradio app (a Hugging Face Space, or `python app.py` locally)."""

# First: on a ZeroGPU Space `spaces` must patch torch before anything touches CUDA (it refuses to start after).
import spaces  # noqa: F401, I001

from genre_classifier.web.server import build, launch

demo, limits, classifier = build()

if __name__ == "__main__":
    launch(demo, limits, classifier)
