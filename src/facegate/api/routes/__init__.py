"""One router per concern; ``facegate.api.app`` includes them."""
