"""WeChat callback protocol: signatures, AES envelopes, message parsing and replies."""
