"""The top floor: the ``lwb`` command line and the orchestration built on every other floor
(demo, experiments, zoo export, the results page). Nothing below imports from here."""
