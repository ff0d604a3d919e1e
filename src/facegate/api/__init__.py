"""HTTP layer: REST API (``/v1``), WebSocket stream and web pages. Thin: parse, call a service, answer."""
