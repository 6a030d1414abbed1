"""The matcher: who meets whom, round after round. A pure library: no web, no database.

model.py (the data), scoring.py (common ground), fairness.py (shares of the best
possible, meetings with nothing in common), solve.py (one round, repair), plan.py (several
rounds), planfile.py (the planner file). Import from those modules: this package
loads nothing by itself, so reading a planner file or `commonground --help` does not pay
for scipy and rustworkx.
"""
