"""Serve the askknee chat: `python app.py` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""

from askknee.settings import prepare_process

prepare_process()  # before faiss, ONNX Runtime and Gradio load

import sys  # noqa: E402

from askknee.errors import AskKneeError  # noqa: E402
from askknee.web import launch  # noqa: E402

if __name__ == "__main__":
    try:
        launch()
    except AskKneeError as e:
        print(f"askknee: error: {e}", file=sys.stderr)
        sys.exit(2)
