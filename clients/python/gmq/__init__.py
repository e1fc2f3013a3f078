"""gmq's Python client: generated stubs (gmq.v1, made by generate.sh) and a
small helper (gmq.client) re-exported here."""

from gmq.client import BatchItem, Client, Code, Consumer, GmqError, Subscription

__all__ = ["BatchItem", "Client", "Code", "Consumer", "GmqError", "Subscription"]
