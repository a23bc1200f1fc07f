"""Simple PyMS: WAMP microservices that heartbeat, and a Monitor for them."""

__version__ = "0.1.0"
