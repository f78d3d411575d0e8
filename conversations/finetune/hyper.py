"""A job's suffix and hyperparameters, checked by the seeds' rules before any call.

One place for the rules, used by the admin form and the service alike:
suffix up to 40 characters; ``n_epochs`` and ``batch_size`` whole numbers
(an epoch count from 1 to 50, a batch of 1 to 256 examples, the seeds' cap);
``learning_rate_multiplier`` a positive number (the seeds suggest 0.02 to
0.2). The legacy ``/fine-tunes`` endpoint also takes ``prompt_loss_weight``
(0 or more), ``compute_classification_metrics`` (which needs a validation
file), ``classification_n_classes`` (2 or more) and
``classification_positive_class`` (for binary classification only).
"""

import math

from django.utils.translation import gettext as _

from conversations.llm.training import LEGACY_ONLY

MAX_SUFFIX = 40


class OptionInvalid(ValueError):
    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


def clean_options(options: dict, *, legacy: bool) -> dict:
    """The options that are set, checked; raises ``OptionInvalid`` naming the field."""
    chosen = {k: v for k, v in options.items() if v is not None and v != "" and v is not False}
    if not legacy:
        for name in LEGACY_ONLY:
            if name in chosen:
                raise OptionInvalid(name, _("Only the legacy fine-tunes endpoint takes this."))
    for name, check in CHECKS.items():
        if name in chosen:
            check(name, chosen[name])
    _check_classification(chosen)
    return chosen


def _suffix(name: str, value: object) -> None:
    if not isinstance(value, str) or len(value) > MAX_SUFFIX:
        raise OptionInvalid(name, _("At most %(count)s characters.") % {"count": MAX_SUFFIX})


def _whole(low: int, high: int):
    def check(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            message = _("A whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
            raise OptionInvalid(name, message)

    return check


def _number(minimum: float, *, strict: bool):
    def check(name: str, value: object) -> None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and (value > minimum if strict else value >= minimum)
        if not ok:
            word = _("above") if strict else _("at least")
            raise OptionInvalid(
                name, _("A number %(word)s %(min)s.") % {"word": word, "min": minimum}
            )

    return check


def _text(name: str, value: object) -> None:
    if not isinstance(value, str) or len(value) > 200:
        raise OptionInvalid(name, _("A short text."))


def _flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise OptionInvalid(name, _("Yes or no."))


CHECKS = {
    "suffix": _suffix,
    "n_epochs": _whole(1, 50),
    "batch_size": _whole(1, 256),
    "learning_rate_multiplier": _number(0, strict=True),
    "prompt_loss_weight": _number(0, strict=False),
    "compute_classification_metrics": _flag,
    "classification_n_classes": _whole(2, 10_000),
    "classification_positive_class": _text,
}


def _check_classification(chosen: dict) -> None:
    if chosen.get("compute_classification_metrics") and not chosen.get("validation_file"):
        message = _("Classification metrics are computed on a validation file: choose one.")
        raise OptionInvalid("compute_classification_metrics", message)
    classes = chosen.get("classification_n_classes")
    if "classification_positive_class" in chosen and classes not in (None, 2):
        message = _("A positive class only makes sense for two classes.")
        raise OptionInvalid("classification_positive_class", message)
