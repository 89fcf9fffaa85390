"""The server-rendered web UI."""

from fastapi import APIRouter, FastAPI


def routers(app: FastAPI) -> list[APIRouter]:
    return []
