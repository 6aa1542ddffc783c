"""`make bench`: throughput, latency and memory of kamflow on real parts, printed as figures.

Not a test: nothing here passes or fails on speed (DESIGN.md, Testing). `python -m bench.run`
starts its own redis-server, mail catcher, database, gunicorn gateway and `dramatiq` workers on
loopback, pushes a bounded number of accounts through the CRM API, prints a table and ratios
and writes them to var/bench/latest.json.
"""
