"""Benchmarks, suites, sweeps and results: ``wrl bench NAME`` (the registry is ``wrl.lab.cli.BENCHES``).

Each module has ``add_arguments(parser)`` and ``run(args) -> int``.
"""
