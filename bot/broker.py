"""Celery's Redis transport, with one publishing client per channel instead of one per message.

kombu's Redis channel builds a new `redis.Redis` for every publish (its response-callback table alone is
hundreds of dict writes), which was a tenth of the web process's CPU per webhook. A `redis.Redis` is safe
to share: every command takes a connection from the channel's pool, which is what kombu already shares.
Consuming (the asynchronous client the worker polls with) is left exactly as kombu does it.
"""
from __future__ import annotations

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self.__dict__.get("_publish_client")
        if client is None:
            client = self.__dict__["_publish_client"] = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
