"""Batch Renormalization (Ioffe, 2017), the normalisation layer of CrossQ (Bhatt et al., ICLR 2024)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class BatchRenorm(nn.Module):
    """Batch Renormalization (Ioffe, "Batch Renormalization: Towards Reducing Minibatch Dependence in
    Batch-Normalized Models", NeurIPS 2017), as CrossQ uses it (Bhatt et al., "CrossQ: Batch Normalization in
    Deep Reinforcement Learning for Greater Sample Efficiency and Simplicity", ICLR 2024).

    Every feature (the ``axis`` of ``x``) is normalised over all the other axes. With the running statistics
    ``mean`` (mu) and ``var`` of the collection ``"batch_stats"``, sigma = sqrt(var + eps), and the batch
    statistics mu_B = mean(x), sigma_B^2 = mean((x - mu_B)^2) (the biased variance),

    training (``use_running_average=False``):

        r = stop_gradient(clip(sigma_B / sigma, 1 / r_max, r_max)),
        d = stop_gradient(clip((mu_B - mu) / sigma, -d_max, d_max)),
        (r, d) = (1, 0) while steps < warmup_steps (plain batch normalisation),
        x_hat = (x - mu_B) / sigma_B * r + d,          sigma_B = sqrt(sigma_B^2 + eps),
        mean <- momentum * mean + (1 - momentum) * mu_B,
        var  <- momentum * var  + (1 - momentum) * sigma_B^2,
        steps <- steps + 1;

    evaluation (``use_running_average=True``):

        x_hat = (x - mean) / sqrt(var + eps);

    then y = scale * x_hat + bias. Gradients flow through mu_B and sigma_B (as in batch normalisation) but not
    through r and d. The running statistics and the step counter change only in training mode, never while
    the module is initialised, and only where ``"batch_stats"`` is mutable (``apply(..., mutable=["batch_stats"])``
    returns them; without it a training-mode pass normalises with the batch and leaves the statistics as they
    are). The condition steps < warmup_steps reads the counter before this call's increment. Past the warm-up,
    while r and d are not clipped, x_hat = (x - mu) / sigma: the training output equals the evaluation output
    with the running statistics, which is the point of the method.
    """

    use_running_average: bool | None = None
    axis: int = -1
    momentum: float = 0.99
    epsilon: float = 0.001
    warmup_steps: int = 100_000
    r_max: float = 3.0
    d_max: float = 5.0
    use_bias: bool = True
    use_scale: bool = True
    param_dtype: jnp.dtype = jnp.float32  # of scale, bias and the running statistics

    @nn.compact
    def __call__(self, x: jax.Array, use_running_average: bool | None = None) -> jax.Array:
        use_running_average = nn.merge_param("use_running_average", self.use_running_average, use_running_average)
        feature_axis = self.axis % x.ndim
        features = x.shape[feature_axis]
        reduce_axes = tuple(i for i in range(x.ndim) if i != feature_axis)
        shape = [1] * x.ndim
        shape[feature_axis] = features  # broadcasts a (features,) vector against x

        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((features,), self.param_dtype))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((features,), self.param_dtype))
        steps = self.variable("batch_stats", "steps", lambda: jnp.zeros((), jnp.int32))

        mean, var = ra_mean.value.astype(x.dtype), ra_var.value.astype(x.dtype)
        if use_running_average:
            x_hat = (x - mean.reshape(shape)) * jax.lax.rsqrt(var.reshape(shape) + self.epsilon)
        else:
            batch_mean = jnp.mean(x, axis=reduce_axes)
            batch_var = jnp.mean(jnp.square(x - batch_mean.reshape(shape)), axis=reduce_axes)
            batch_std = jnp.sqrt(batch_var + self.epsilon)
            running_std = jnp.sqrt(var + self.epsilon)
            r = jnp.clip(batch_std / running_std, 1.0 / self.r_max, self.r_max)
            d = jnp.clip((batch_mean - mean) / running_std, -self.d_max, self.d_max)
            warm = steps.value >= self.warmup_steps
            r = jax.lax.stop_gradient(jnp.where(warm, r, jnp.ones_like(r)))
            d = jax.lax.stop_gradient(jnp.where(warm, d, jnp.zeros_like(d)))
            x_hat = (x - batch_mean.reshape(shape)) / batch_std.reshape(shape) * r.reshape(shape) + d.reshape(shape)
            if not self.is_initializing() and self.is_mutable_collection("batch_stats"):
                m = self.momentum
                for stat, batch in ((ra_mean, batch_mean), (ra_var, batch_var)):
                    batch = jax.lax.stop_gradient(batch).astype(stat.value.dtype)
                    stat.value = m * stat.value + (1.0 - m) * batch
                steps.value = steps.value + 1

        if self.use_scale:
            x_hat = x_hat * self.param("scale", nn.initializers.ones, (features,), self.param_dtype).reshape(shape)
        if self.use_bias:
            x_hat = x_hat + self.param("bias", nn.initializers.zeros, (features,), self.param_dtype).reshape(shape)
        return x_hat
