"""Network faults shared by every backend: toxics on the node's own Toxiproxy proxy.

A backend mixes this in and provides `tp` (the adapter) and `_proxy(node)` (the proxy name of
a node, raising UnknownTarget for a bad one); how the proxies come to exist differs, the faults
do not.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.backends.base import ToxicHandle
from harness.toxiproxy import Toxiproxy

PARTITION_TOXICS = ("partition_up", "partition_down")


class ProxiedNetwork:
    tp: Toxiproxy | None

    def _proxy(self, node: str) -> str:
        raise NotImplementedError

    def add_toxic(self, node: str, *, type: str, stream: str, attributes: Mapping[str, int],
                  toxicity: float = 1.0, name: str | None = None) -> ToxicHandle:
        assert self.tp is not None
        proxy = self._proxy(node)
        toxic = self.tp.add_toxic(proxy, type=type, stream=stream, toxicity=toxicity,
                                  attributes=dict(attributes), name=name)
        return ToxicHandle(proxy=proxy, name=toxic.name)

    def remove_toxic(self, handle: ToxicHandle) -> None:
        assert self.tp is not None
        self.tp.remove_toxic(handle.proxy, handle.name)

    def partition(self, node: str) -> None:
        """A black hole both ways: connections stay open and data stops, as in a real partition."""
        for name, stream in zip(PARTITION_TOXICS, ("upstream", "downstream"), strict=True):
            self.add_toxic(node, type="timeout", stream=stream, attributes={"timeout": 0}, name=name)

    def heal(self, node: str) -> None:
        assert self.tp is not None
        proxy = self._proxy(node)
        for toxic in self.tp.toxics(proxy):
            self.tp.remove_toxic(proxy, toxic)
        self.tp.set_enabled(proxy, True)
