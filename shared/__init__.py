"""What the gateway and the workers share: settings, data, rules and the workflow.

Nothing in here imports `gateway` or `workers`, so each side can deploy on its own.
"""
