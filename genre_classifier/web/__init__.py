"""The web app: the server, the page, its public limits, figures, the Live tab and the GPU wrapper."""
