"""The app measured by bench_channel.py: the real WeChat channel (signature and timestamp
checks, dedup, per-resident lock, FSM, logging, routing) with the basic router, so the
figure is the channel's own overhead, not the NLU's."""

from __future__ import annotations

from fastapi import FastAPI

from bot.app import create_app


def create() -> FastAPI:
    return create_app()
