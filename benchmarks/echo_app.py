"""A bare echo ChatInterface: Gradio's own round trip, the floor for askknee's API latency."""

import gradio as gr

demo = gr.ChatInterface(lambda message, history: message, api_name="chat")

if __name__ == "__main__":
    demo.queue().launch()  # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
