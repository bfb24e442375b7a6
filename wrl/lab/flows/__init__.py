"""`wrl flow NAME`: the exact flows with known optima and the papers' toy flows, each a command with plots.

Each module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""
