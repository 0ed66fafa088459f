"""Contract checks for plugin authors: does a component give the trainer what it relies on?

Call these from your plugin's tests::

    from ganbench.testing import check_loss
    from ganbench_mine import MyLoss

    def test_my_loss_keeps_the_contract():
        check_loss(MyLoss())

Each check builds what the trainer would build (tiny networks, a tiny batch, the device you
name), calls the component the way the trainer calls it, and raises :class:`ContractError` (an
``AssertionError``, so pytest reports it as a test failure) naming the broken rule and the
section of ``docs/writing-plugins.md`` that states it. A check returns the component it
checked (built, if you gave a factory), so a test can go on using it.

Every check takes ``device`` (default ``"cpu"``); :func:`available_devices` lists the devices
of this machine (``cpu``, and ``cuda`` when available) for parametrising a test over them.
Checks fix their own random seeds and leave the global random state as they found it.

Each rule has an id (``RULES``) that the guide lists under the component's kind.

:func:`check_bundle_form` (``kind``, registered ``name``) is the oracle of a bundle form: a few
tiny runs trained solo and as one bundle must agree to float32 rounding (its rules are in the
guide's section on bundles).
"""

from ganbench.testing.augmentations import check_augmentation
from ganbench.testing.bundles import check_bundle_form
from ganbench.testing.conditional import check_conditional_generator
from ganbench.testing.conditional_d import check_conditional_discriminator
from ganbench.testing.data import HISTORY_COLUMNS as HISTORY_COLUMNS
from ganbench.testing.data import check_dataset, check_diagnostic, check_metric
from ganbench.testing.networks import check_discriminator, check_generator
from ganbench.testing.objectives import check_loss, check_regularizer
from ganbench.testing.rules import ANCHORS, DOC, RULES, ContractError
from ganbench.testing.toys import (
    TinyDiscriminator,
    TinyGenerator,
    ToyDataset,
    available_devices,
    image_spec,
    points_spec,
    tiny_discriminator,
    tiny_generator,
    toy_dataset,
)

__all__ = [
    "ANCHORS",
    "ContractError",
    "DOC",
    "RULES",
    "TinyDiscriminator",
    "TinyGenerator",
    "ToyDataset",
    "available_devices",
    "check_augmentation",
    "check_bundle_form",
    "check_conditional_discriminator",
    "check_conditional_generator",
    "check_dataset",
    "check_diagnostic",
    "check_discriminator",
    "check_generator",
    "check_loss",
    "check_metric",
    "check_regularizer",
    "points_spec",
    "image_spec",
    "tiny_discriminator",
    "tiny_generator",
    "toy_dataset",
]
