"""Critics shared by every agent: architectures x value heads x target schemes, the TD target and the critic step.

See :mod:`wrl.critics.critic` for the component (:class:`Critic`, chosen by :class:`CriticConfig`),
:mod:`wrl.critics.architectures` and :mod:`wrl.critics.batch_renorm` for the networks,
:mod:`wrl.critics.heads` for the value heads (mse, HL-Gauss, quantile) and :mod:`wrl.critics.targets` for
target networks.
"""

from wrl.critics.critic import Critic, CriticConfig, make_critic, reduce_samples, td_target, trainable
from wrl.critics.targets import polyak, target_update

__all__ = ["Critic", "CriticConfig", "make_critic", "polyak", "reduce_samples", "target_update", "td_target",
           "trainable"]
