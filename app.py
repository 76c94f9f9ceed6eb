"""Serve the askknee chat: `python app.py` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""

from askknee.settings import prepare_process

prepare_process()  # before faiss, ONNX Runtime and Gradio load

from askknee.web import launch  # noqa: E402

if __name__ == "__main__":
    launch()
