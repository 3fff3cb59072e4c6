"""The example site as a plain WSGI app: ``python -m examples.wsgi_app``.

It is the app ``cfcookie demo`` runs, so it ships in the package: read it in
``cfcookie_middleware/demo/app.py`` (``gunicorn 'cfcookie_middleware.demo.app:create_app()'``
serves it too). This file only lets it start the way the other examples do, with the same
``create_app``.
"""

from cfcookie_middleware.demo.app import create_app, main

__all__ = ["create_app"]

if __name__ == "__main__":
    main()
