"""Names shared by the floor actors and the bench that reads what they report."""

STEPS = 4
FIRSTS_KEY = "bench:floor:noop:firsts"  # a time per worker process: when it started its first chain
LASTS_KEY = "bench:floor:noop:lasts"  # a time per finished chain
