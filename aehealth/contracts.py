"""The two contracts of aehealth, written down: what the rules read (a run's metrics, as health.json holds them) and
what a front-end supplies (a probe of one model on one sample). numpy only.

The metrics are plain dicts, so that health.json is the same structure the rules read; their shape is declared
here, every field once. A front-end (aehealth.keras, aehealth.torch, or one of your own: docs/extending.md) turns a
framework's model into `LayerRecord`s and `Chunk`s; the core (aehealth.network, aehealth.monitor) decides everything
else.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, List, Mapping, Optional, Protocol, Sequence, TypedDict

import numpy as np

# ---------------------------------------------------------------- the metrics the rules read (health.json)


class LayerDescription(TypedDict):
    """One measured layer, as the rules and reports name it."""
    key: str                   # unique within the network ('dense_1', 'fc1+relu', 'encoder.2#2')
    label: str                 # how reports name it
    activation: Optional[str]  # 'relu', 'sigmoid', 'linear', ...; the output's: 'logits', or None when not known
    units: Optional[int]       # values per input row
    softmax_over: int          # a softmax layer's only: how many values it makes sum to 1 (the size of its axis)


class Network(TypedDict):
    """A network as the rules see it (aehealth.rules.network makes one)."""
    layers: list               # [LayerDescription], in the order the model runs them
    output: Optional[str]      # the key of the layer whose values are the reconstruction
    code: Optional[str]        # the key of the code layer (the narrowest hidden one, a VAE's posterior mean); None: not judged
    loss: Optional[str]        # the loss's name ('mse', 'binary_crossentropy', 'MSELoss', ...)
    kernels: dict              # {kernel key: label} of the weight matrices, first to last


class LayerNumbers(TypedDict, total=False):
    """One layer's numbers at one check (aehealth.stats.layer_health)."""
    mean: float                # mean of its values
    std: float                 # standard deviation of its values
    p10: float                 # 10th percentile of its values
    p90: float                 # 90th percentile
    saturated: float           # sigmoid, tanh: share of units within SATURATION_MARGIN of a limit for UNIT_SHARE of rows
    dead: float                # relu: share of units (a map's channels) zero for UNIT_SHARE of the rows
    derivative: float          # mean derivative of its nonlinearity
    spread: float              # each value's standard deviation across inputs, averaged
    rms: float                 # root mean square: the layer's scale


class Posterior(TypedDict):
    """A VAE's posterior on the sample (aehealth.stats.posterior)."""
    dims: int                  # latent dimensions
    active: int                # dimensions whose posterior mean varies across inputs by over ACTIVE_VARIANCE
    mean_variance: list        # per dimension: the posterior mean's variance across inputs
    kl: list                   # per dimension: KL divergence from the prior, averaged over the sample, in nats


class Snapshot(TypedDict, total=False):
    """Every number of one check (one element of metrics['health'])."""
    epoch: Optional[int]       # epochs trained when measured (None: a post-mortem, history unknown)
    layers: dict               # {layer key: LayerNumbers}
    grad_norm: dict            # {kernel key: norm of the loss's gradient on the sample}
    update: dict               # {kernel key: change since the previous check / size then (None at the first)}
    output_diversity: Optional[float]  # outputs' spread around their mean / the targets' (None: targets all alike)
    loss: float                # the loss on the sample (the reconstruction's, without extra losses)
    total_loss: float          # with extra losses (regularisers, add_loss, a VAE's KL), when they differ
    dead_outputs: Optional[float]      # a ReLU output: share of units zero for UNIT_SHARE of rows, where wanted
    output_pinned: dict        # a sigmoid or tanh output: {'low': share, 'high': share} pinned at a limit
    output_clipped: Optional[float]  # a probability loss on another output: share of its excess in values it clips
    posterior: Posterior       # a VAE's
    weight_scale: dict         # first check: {kernel key: [std, fan-in, fan-out]}
    step_update: dict          # {kernel key: change made by one training step / size before it}


class Baselines(TypedDict, total=False):
    """The loss of two fixed answers, in the model's own loss, on the sample."""
    mean_input: float          # predicting the mean target for every row
    floor: float               # the targets against themselves: the loss's minimum on these targets
    name: str                  # what the mean target is called in findings (default 'the mean input')
    around: 'LossAround'       # the loss near the targets, for what kind of error it is (rules.error_kind)
    scaled: List[float]        # the loss at outputs rules.SCALES times the targets (first chunk), for loss_unbounded
    rounded: List[float]       # the loss at the targets and at them rounded to 0 and 1 (first chunk), for loss_lower_rounded
    kl: 'KLWeight'             # a VAE's KL term against its squared error, for kl_outweighs


class KLWeight(TypedDict):
    """How a VAE's loss weighs its KL term, on the rows LossAround is measured on (the first check's weights)."""
    weight: float        # the loss's KL term over the KL divergence from the prior, in nats summed over the rows
    rows: int            # how many rows
    values: int          # values per target
    top_variance: float  # the largest eigenvalue of the targets' covariance over the sample


class LossAround(TypedDict):
    """The loss on one chunk of the sample at the targets, at the targets moved by `step` and by twice it, and at the
    mean target; with the targets' mean squared and mean absolute distance from that mean."""
    step: float
    at: float
    plus: float
    plus2: float
    mean: float
    spread_squared: float
    spread_absolute: float


class DataStats(TypedDict, total=False):
    """The data as the data rules see it (aehealth.stats.data_stats)."""
    input_rms: Optional[float]         # root mean square of what the first weight layer receives (None: indices)
    input_seen_by: str                 # the name of that layer
    target_min: float
    target_max: float
    target_outside: float              # share of target values the output activation cannot produce
    output_range: list                 # [low, high] the output activation can produce
    output_activation: Optional[str]
    target_rows_sum_to_1: bool         # along the last axis (a softmax output's)
    output_shape: list                 # per row
    target_shape: list                 # per row


class Finding(TypedDict):
    """What a rule found."""
    rule: str                  # the rule's name ('plateau')
    level: str                 # 'failure' or 'warning'
    evidence: str              # what was measured, in words
    fix: Optional[str]         # what to do, in the framework's words


class Metrics(TypedDict, total=False):
    """A run's metrics: what the rules judge, and what health.json holds."""
    version: int               # of this structure (health.json)
    network: Network
    health: list               # [Snapshot], one per check, in order
    epochs_done: Optional[int]  # 0: the untrained model; None: a trained model whose history is not known
    end_measured: bool         # False: training ran but no check after it measured the model (outcomes not judged)
    final_loss: Optional[float]  # the last check's loss
    baselines: Optional[Baselines]
    plateau_exit_epoch: Optional[int]  # the first checked epoch whose loss left the plateau
    nonfinite: Optional[str]   # what was NaN or infinite, in words
    data: Optional[DataStats]
    not_measured: dict         # {what: why} of every check that raised
    notes: list                # what the monitor could not judge, in words
    loop: 'Loop'               # what the training loop did, where the front-end could see it
    findings: list             # [Finding]


class Loop(TypedDict, total=False):
    """What a front-end saw of the training loop itself (each field only where the framework lets it see)."""
    compared: list             # each watched step's applied gradient against its own backward's ('cleared') and
    #                            against that plus the step before's ('carried'), as distances over its norm, with
    #                            'step' and the step before's 'share' of it (rules.gradients_carried judges)
    optimizer: dict            # {'held': trainable weights the optimizer holds, 'trainable': the model's, 'missing': [names]}
    no_gradient: list          # names of every trainable weight that a step found with no gradient (all of them fired)
    still: list                # kernels a step left exactly where they were although their gradient was not 0
    learning_rate: dict        # {'start': rate when training started, 'now': at the last check, 'by': what set it}
    frozen: list               # names of the weight layers whose weights cannot train
    cut: str                   # the first weight layer, able to train, whose output the reconstruction's gradient
    #                            does not reach (values go on, the gradient stops: .detach(), torch.no_grad())
    train_mode_loss: float     # the loss on the sample with the model in training mode (BatchNorm, Dropout)


METRICS_VERSION = 3  # health.json's structure: 2 added this field and `loop`; 3 `loop.compared` for `carried`

# ---------------------------------------------------------------- what a front-end supplies


@dataclass
class LayerRecord:
    """One tensor a front-end could measure, as the model made it: a neutral fact, never a judgement.

    The core (aehealth.network.describe) decides from these which are measured, which is the output and which the
    code, and what is measured after an activation."""
    key: str                        # unique ('dense_1', 'fc1+relu'): the layer's name, '#2' on a second call
    label: str                      # how reports name it
    activation: Optional[str]       # the nonlinearity it applies; 'linear' for a weight layer with none
    weighted: bool                  # it is a weight layer's own output (it has a kernel)
    units: int                      # values per input row
    upstream: bool = True           # the reconstruction depends on it
    takes: Optional[int] = None     # the index (in the records) of the record whose whole output it receives
    channels: Optional[int] = None  # the channels' axis of a map or sequence (None: flat)
    is_mean: bool = False           # it is a VAE's posterior mean
    is_output: bool = False         # its values are the reconstruction's (up to its shape)
    kernel: Any = None              # the weight layer's trainable kernel (the framework's variable), if any
    axis_units: Optional[int] = None  # a softmax's: how many values it makes sum to 1
    pair: Optional[tuple] = None    # the indices of the two records whose outputs it receives as its two inputs
    stochastic: bool = False        # run twice on the same inputs it gives other values (it draws random numbers)
    handle: Any = None              # the front-end's own reference (a layer, a module, a tap)


@dataclass
class LossKind:
    """What the loss compares, judged once (aehealth.network.loss_kind) from what the framework says of it."""
    name: str                       # as reports name it ('binary_crossentropy', 'BCEWithLogitsLoss')
    from_logits: bool               # it takes the output as logits, not as values in the targets' range
    sparse: bool                    # it takes class ids where the output has a score per class
    class_axis: int                 # the output's axis of class scores, batch first: 1 in PyTorch, -1 in Keras
    to_output: Optional[Callable]   # target values -> what the model outputs (logits), for the baselines


@dataclass
class Chunk:
    """One chunk of the sample, measured: what a front-end's `measure` returns."""
    values: Mapping[str, np.ndarray]      # {measured key: values, batch first}
    output: np.ndarray                    # the reconstruction
    loss: float                           # the reconstruction's loss, mean over the chunk's rows
    total: float                          # the loss the model trains on (extra losses, a KL term), mean over rows
    grads: Mapping[str, Optional[np.ndarray]]  # {kernel key: gradient of `total`} (None: unused; {}: not asked)
    rows: int
    mean: Optional[np.ndarray] = None     # a VAE's posterior mean
    log_variance: Optional[np.ndarray] = None
    received: Optional[np.ndarray] = None  # what the first weight layer received (asked for at the first check)


@dataclass
class Description:
    """A network described by the core from a front-end's records."""
    net: Network
    measured: list = field(default_factory=list)  # [LayerRecord] to measure, in order
    channels: dict = field(default_factory=dict)  # {key: channels' axis}
    kernels: dict = field(default_factory=dict)   # {kernel key: the framework's variable}, first to last
    notes: list = field(default_factory=list)     # what could not be judged, in words
    frozen: list = field(default_factory=list)    # keys of the weight layers on the way whose kernels cannot train
    cut: Optional[str] = None  # the first weight layer's key when it can train but the reconstruction's gradient
    #                            does not reach it, while a later weight layer's does (Loop.cut)
    posterior: Optional[tuple] = None  # (mean key, log-variance key): measured records a sampling layer draws from


class UsageError(ValueError):
    """Something passed to the monitor that it cannot use; the message says what, and how to fix it, in one line."""


class Probe(Protocol):
    """What a front-end supplies for one model on one sample (aehealth.keras.Probe and aehealth.torch.Probe are two).

    Made once per model; `measure` runs once per chunk of the sample at each check."""
    net: Network                    # from aehealth.network.describe
    channels: Mapping[str, int]     # {layer key: channels' axis} of maps and sequences
    kernels: Mapping[str, Any]      # {kernel key: the framework's weight}, first to last
    output_shape: tuple             # the reconstruction's shape per row
    loss_kind: LossKind             # from aehealth.network.loss_kind
    received_by: Optional[str]      # the first weight layer's name (None: an embedding, or none)
    notes: list                     # what it could not judge, in words
    frozen: list                    # the weight layers whose weights cannot train
    cut: Optional[str]              # Description.cut
    posterior: Optional[tuple]      # (mean key, log-variance key) of measured layers that are a VAE's posterior
    framework: str                  # the fix texts' key: 'keras', 'torch'

    def measure(self, x: np.ndarray, targets: np.ndarray, received: bool, gradients: bool) -> Chunk:
        """The model on a chunk of the sample: measured values, output, losses, gradients (when `gradients`) and what
        the first weight layer received (when `received`)."""

    def weights(self) -> dict:
        """{kernel key: its values now, as a numpy array}."""

    def fans(self, key: str) -> tuple:
        """(fan-in, fan-out) of a kernel as the framework's initialisers count them."""

    def loss_of(self, targets: np.ndarray) -> Callable[[slice, np.ndarray], float]:
        """loss(rows, predictions) on these targets: the reconstruction's loss, mean over rows, nothing extra."""

    def nonfinite(self, loss: Optional[float]) -> Optional[str]:
        """Words for what is NaN or infinite now (the loss, or which weights), or None."""


Evidence = Optional[object]  # what a rule's check returns: None (silent), a string, or a list of strings
Shapes = Sequence[tuple]
