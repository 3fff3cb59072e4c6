"""Runnable example apps for cfcookie-middleware (Flask, Starlette, FastAPI, plain WSGI)."""
