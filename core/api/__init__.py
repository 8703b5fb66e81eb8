"""API helpers shared by every app: the error shape, pagination, URL patterns."""

# Public ids are UUIDs; anything else in an id position is a 404 from the URL resolver.
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
