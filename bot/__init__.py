"""The WeChat-facing runtime: the FastAPI app and its callback, the dispatcher and its
middlewares, the conversation handlers, the staff console and the ``intake`` CLI. It wires
``nlu``, ``policies`` and ``integrations`` together and is imported by none of them."""
