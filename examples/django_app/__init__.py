"""The example site as a Django project: see ``settings`` for how to run it."""
