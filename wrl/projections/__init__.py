"""How each method brings the flow's moved actions back to its policy class.

- :mod:`wrl.projections.fisher`: the Fisher (KL) projection of WPO (any density with a log-prob);
- :mod:`wrl.projections.kl`: WPO's decoupled KL trust region towards a target policy;
- :mod:`wrl.projections.preconditioners`: parameter-space Fisher solves for general distributions;
- :mod:`wrl.projections.w2_regression`: the least-squares W2 projection of WPPG (sample-only policies);
- :mod:`wrl.projections.amortised`: back-propagation of particle velocities through a sampler (WGF direct).
"""
