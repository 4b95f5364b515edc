"""Worker nodes: pull-based competing consumers with leases, fencing and leader-run duties."""

from system.worker.node import WorkerNode

__all__ = ["WorkerNode"]
