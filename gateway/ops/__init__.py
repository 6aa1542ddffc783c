"""The operators' door: /ops (queues, workers, stages, failures, dead letters) and its actions.

Thin, like every view: it reads through `shared.observability` and acts through
`shared.dead_letters`, the same functions `kamflow status`, `retry` and `requeue-dead` call.
"""

from gateway.ops.pages import ops

__all__ = ["ops"]
