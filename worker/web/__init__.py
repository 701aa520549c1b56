"""The HTTP side of the worker: operations endpoints, the JSON API and the officers' app."""
