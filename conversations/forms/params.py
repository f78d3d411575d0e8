"""The chat API's parameters as form fields, shared by the persona and model forms.

The fields only collect what people type; whether a value is allowed is
decided by ``params.validate_params``, the one set of rules the socket and the
API use too.
"""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conversations import logit_bias, params, tokens
from conversations.llm.text import clean_text
from conversations.params import PARAM_NAMES, REASONING_EFFORTS, ModelLimits

NUMBER_PARAMS = ("temperature", "top_p", "n", "max_tokens", "presence_penalty", "frequency_penalty")
# Set as chosen: the number fields and the reasoning effort.
CHOSEN_PARAMS = (*NUMBER_PARAMS, "reasoning_effort")


class TextField(forms.CharField):
    """Text by the one rule of ``llm.text.clean_text``: a stray control character
    or lone surrogate is cleaned away, not refused, and never reaches the database."""

    def to_python(self, value):
        return super().to_python(clean_text(value) if isinstance(value, str) else value)


def _number(label, help_text, *, whole: bool = False) -> forms.Field:
    field = forms.IntegerField if whole else forms.FloatField
    step = "1" if whole else "any"
    widget = forms.NumberInput(attrs={"step": step, "inputmode": "numeric" if whole else "decimal"})
    return field(label=label, help_text=help_text, required=False, widget=widget)


def escape_line(text: str) -> str:
    """A stop sequence written on one line: a line break as \\n, a tab as \\t."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def unescape_line(line: str) -> str:
    out, chars = [], iter(line)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(following, "\\" + following))
    return "".join(out)


class ParameterFields(forms.Form):
    """The chat API's parameters as form fields; empty means "not set"."""

    temperature = _number(_("Temperature"), _("0 to 2. Higher is more varied, lower more focused."))
    top_p = _number(
        _("Top p"), _("0 to 1. Sample only from the likeliest tokens adding up to this.")
    )
    n = _number(_("Answers (n)"), _("1 to 4 answers per message, shown as branches."), whole=True)
    max_tokens = _number(_("Max tokens"), _("The longest answer, in tokens."), whole=True)
    presence_penalty = _number(
        _("Presence penalty"), _("-2 to 2. Positive values favour new topics.")
    )
    frequency_penalty = _number(
        _("Frequency penalty"), _("-2 to 2. Positive values discourage repeating words.")
    )
    stop = TextField(
        label=_("Stop sequences"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Up to 4, one per line. Write \\n for a line break."),
    )
    logit_bias = TextField(
        label=_("Logit bias"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "data-logit-bias": ""}),
        help_text=_(
            "Words or token ids with a bias from -100 (never) to 100 (always), e.g. "
            'hello: -100, 50256: 5. Quote text with spaces, commas or colons: " hello": -100.'
        ),
    )

    reasoning_effort = forms.ChoiceField(
        label=_("Reasoning effort"),
        required=False,
        choices=[("", _("Model default")), *((v, v) for v in REASONING_EFFORTS)],
        help_text=_(
            "How long a reasoning model thinks before it answers; only for models that "
            "take it. Not every model takes every level."
        ),
    )

    logit_bias_entries: list = ()

    def set_parameter_initial(self, values: dict, model_id: str) -> None:
        for name in CHOSEN_PARAMS:
            if name in values:
                self.initial[name] = values[name]
        stop = values.get("stop")
        if stop:
            self.initial["stop"] = "\n".join(escape_line(s) for s in _as_list(stop))
        self.initial["logit_bias"] = logit_bias.as_text(values.get("logit_bias"))
        self.logit_bias_entries = logit_bias.describe(values.get("logit_bias"), model_id)

    def clean_parameters(self, limits: ModelLimits) -> dict | None:
        """The cleaned parameters, or None after adding each problem to its field."""
        raw = {
            n: self.cleaned_data[n]
            for n in CHOSEN_PARAMS
            if self.cleaned_data.get(n) not in ("", None)
        }
        raw["stop"] = self._stop_sequences()
        bias = self._logit_bias(limits.model)
        if bias is False or any(name in self.errors for name in PARAM_NAMES):
            return None
        raw["logit_bias"] = bias
        try:
            return params.validate_params(raw, limits)
        except params.ParamsInvalid as error:
            for name, message in error.errors.items():
                self.add_error(name if name in self.fields else None, _sentence(message))
            return None

    def _stop_sequences(self) -> list[str] | None:
        text = self.cleaned_data.get("stop") or ""
        lines = [unescape_line(line.rstrip("\r")) for line in text.split("\n")]
        return [line for line in lines if line] or None

    def _logit_bias(self, model_id: str) -> dict | bool | None:
        """The parameter (None when empty); False after adding an error."""
        try:
            entries = logit_bias.resolve(
                logit_bias.parse(self.cleaned_data.get("logit_bias", "")), model_id
            )
            self.logit_bias_entries = entries
            return logit_bias.to_param(entries) or None
        except logit_bias.BiasSyntaxError as error:
            self.add_error("logit_bias", str(error))
        except tokens.EncodingUnavailable:
            self.add_error("logit_bias", no_tokenizer_message(model_id))
        return False


def no_tokenizer_message(model_id: str) -> str:
    if not model_id:
        return gettext("Choose a model to enter words; without one, enter token ids.")
    return gettext(
        "The tokenizer of %(model)s is not available on this server, so words cannot be "
        "turned into token ids. Enter token ids instead."
    ) % {"model": model_id}


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]
