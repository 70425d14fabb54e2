"""The console's web server: `streamlit run console/server.py`.

It serves the Streamlit app (console/app.py) and adds the security headers Streamlit's
own settings cannot: no other site may frame the console (clickjacking), and browsers
must not guess content types.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

# SAMEORIGIN, not DENY: Streamlit renders components (the sign-in cookie manager among them) in
# iframes of the console's own origin; DENY blocks those too, and no sign-in cookie is ever set.
SECURITY_HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response


app = st.App(str(Path(__file__).with_name("app.py")), middleware=[Middleware(SecurityHeaders)])
