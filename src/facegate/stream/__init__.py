"""Real-time access control: the ``/v1/stream`` wire format, server loop, device tokens and client."""
