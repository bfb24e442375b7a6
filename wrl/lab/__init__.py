"""The lab: the command line, benchmarks, suites, sweeps, peers, the flow commands and toys, and plots.

It imports the library (every other package of ``wrl``), which never imports it (an import contract, checked
in CI): ``wrl.lab.cli`` (``wrl train | eval | doctor | plot | flow | bench``), ``wrl.lab.commands`` (train and
eval around the library's trainer), ``wrl.lab.bench`` (benchmarks, suites, sweeps, results), ``wrl.lab.flows``
(the exact and toy flows of ``wrl flow``) and ``wrl.lab.plots``.
"""
