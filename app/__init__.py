"""The composition root: the ``chatops`` command line, and the one place that names every
surface (:mod:`app.surfaces`) and wires them to the core (:mod:`app.assembly`).

Nothing below ``bot/``, ``playbooks/``, ``handlers/`` or ``scheduler/`` imports from here.
"""
