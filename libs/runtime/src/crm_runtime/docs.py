"""`/docs` and `/openapi.json`, when the `api_docs` setting asks for them (not in production by default).

Swagger UI comes from the image, not from a CDN: its script, stylesheet and icon are the files
the pinned `fastapi-offline` package ships (Swagger UI 5, which reads OpenAPI 3.1), served under
`/docs/assets`. Off, both paths answer the usual 404 problem; the app still builds its schema
internally (the edge middleware and the start-up check read `app.openapi()`).
"""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
OPENAPI = "/openapi.json"
ASSETS = "/docs/assets"
SWAGGER_UI_FILES = Path(fastapi_offline.__file__).parent / "static"
SWAGGER_JS, SWAGGER_CSS, FAVICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"


def install_api_docs(app: FastAPI) -> None:
    """Serve the OpenAPI document and Swagger UI (build the app with `docs_url`, `redoc_url`
    and `openapi_url` None, so FastAPI serves none of its own)."""
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI_FILES), name="swagger-ui-assets")

    @app.get(OPENAPI, include_in_schema=False)
    async def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI,
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{ASSETS}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS}/{FAVICON}",
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the public validator
        )
