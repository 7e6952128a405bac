"""The decision-support dashboard (``/dashboard``), served by the FastAPI app; see docs/dashboard.md."""

from serving.dashboard.router import router, static_router

__all__ = ["router", "static_router"]
