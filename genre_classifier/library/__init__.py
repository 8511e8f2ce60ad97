"""The music library part, shared by `tag` and the beets plugin: scanning, batching, rows, tags."""
