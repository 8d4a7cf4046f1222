"""The live web view of `edge run --web`: an aiohttp server on its own thread (server.py) and
the page it serves (static/: index.html, app.js, style.css, uPlot vendored under its MIT licence)."""

from edge.web.server import WebConfig, WebView, clean_marker, parse_address

__all__ = ["WebConfig", "WebView", "clean_marker", "parse_address"]
