"""Music genre classification shared by the Gradio app and the training scripts."""

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
