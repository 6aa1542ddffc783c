"""The `kamflow` command: administration, operations, and the local stack of `make run`."""
