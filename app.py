"""Serve the askknee chat: `python app.py` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""

from askknee.web import launch

if __name__ == "__main__":
    launch()
