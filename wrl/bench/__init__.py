"""Benchmarks: ``wrl bench NAME``. Each module has ``add_arguments(parser)`` and ``run(args) -> int``."""

BENCHES: dict[str, tuple[str, str]] = {
    "throughput": ("wrl.bench.throughput", "steps/s of wrl agents vs SB3/SBX SAC and the update-only ceiling"),
    "solve": ("wrl.bench.solve", "wall-clock until Pendulum-v1 is solved, wrl SAC vs SBX SAC"),
    "learning": ("wrl.bench.learning", "learning curves over seeds, written to docs/"),
    "sweep": ("wrl.bench.sweep", "hyperparameter search with Ray Tune; the best settings as a wrl train file"),
    "seeds": ("wrl.bench.seeds", "seeds side by side: update FLOP rate vs the cores' bound, wall-clock vs SBX"),
    "suite": ("wrl.bench.suite", "algorithms x tasks x seeds, resumable, with aggregate statistics (rliable)"),
    "check-results": ("wrl.bench.results", "the committed results match their manifest's hashes and their suite files"),
    "pack-results": ("wrl.bench.pack_results", "a suite's finished groups as a deterministic archive in results/"),
    "random-returns": ("wrl.bench.random_returns", "returns of the uniform random policy (normalised-score anchors)"),
    "box-edge": ("wrl.bench.box_edge", "WPO's policy std on a bandit whose optimum lies on the edge of the action box"),
    "indirect-speed": ("wrl.bench.indirect_speed", "the indirect particle method: M particles vs one agent alone"),
    "faults": ("wrl.bench.faults", "random faults (signals, kills, cut files, full disks) against runs: what is lost"),
    "lqr-average": ("wrl.bench.lqr_average", "average-reward agents on ergodic LQR vs the Riccati optimum"),
}
