"""Forms for personas and for models' default parameters.

The parameter fields only collect what people type; whether a value is
allowed is decided by ``params.validate_params``, the one set of rules the
socket and the API use too.
"""

from django import forms
from django.contrib.auth.models import Group
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conversations import logit_bias, media, params, tokens
from conversations.llm.text import clean_text
from conversations.models import ModelConfig, Persona
from conversations.models.personas import STARTER_PROMPT_LENGTH_MAX, STARTER_PROMPTS_MAX
from conversations.params import PARAM_NAMES, ModelLimits

NUMBER_PARAMS = ("temperature", "top_p", "n", "max_tokens", "presence_penalty", "frequency_penalty")
CHANGE_ANY_PERSONA = "conversations.change_persona"


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

    logit_bias_entries: list = ()

    def set_parameter_initial(self, values: dict, model_id: str) -> None:
        for name in NUMBER_PARAMS:
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
            n: self.cleaned_data[n] for n in NUMBER_PARAMS if self.cleaned_data.get(n) is not None
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


class PersonaForm(ParameterFields, forms.ModelForm):
    avatar_upload = forms.FileField(
        label=_("Avatar image"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
        help_text=format_lazy(
            _("PNG, JPEG, GIF or WebP up to {size} MB; shown instead of the emoji."),
            size=media.AVATAR_MAX_BYTES // 2**20,
        ),
    )
    remove_avatar_image = forms.BooleanField(label=_("Remove the image"), required=False)
    overridable_params = forms.MultipleChoiceField(
        label=_("Parameters users may change"),
        choices=[(name, name) for name in PARAM_NAMES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Unticked parameters are fixed by the persona."),
    )
    starter_prompts = TextField(
        label=_("Starter prompts"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=format_lazy(
            _("Suggestions shown when a chat starts: one per line, up to {count}."),
            count=STARTER_PROMPTS_MAX,
        ),
    )

    editor = None  # who edits; the admin binds it on a subclass

    class Meta:
        model = Persona
        fields = [
            "name", "avatar", "description", "system_prompt", "model", "visibility", "teams",
            "overridable_params", "starter_prompts",
        ]  # fmt: skip
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "system_prompt": forms.Textarea(attrs={"rows": 10}),
            "visibility": forms.RadioSelect,
            "teams": forms.CheckboxSelectMultiple,
        }
        field_classes = dict.fromkeys(["name", "avatar", "description", "system_prompt"], TextField)
        help_texts = {
            "avatar": _("An emoji, e.g. 🦜"),
            "system_prompt": _("Sent after the site-wide prompt and before the conversation."),
            "model": _("Empty: each user's default model."),
        }

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editor = user or self.editor
        # The admin leaves out the fields a viewer may not change.
        if "model" in self.fields:
            self.fields["model"].queryset = self._models()
            self.fields["model"].empty_label = _("Each user's default model")
        if "teams" in self.fields:
            self.fields["teams"].queryset = self._teams()
            self.fields["teams"].help_text = _("Who sees a persona shared with teams.")
        self.initial["starter_prompts"] = "\n".join(self.instance.starter_prompts or [])
        model_id = self.instance.model.model_id if self.instance.model_id else ""
        self.set_parameter_initial(self.instance.default_params or {}, model_id)

    def _may_change_any(self) -> bool:
        return self.editor.has_perm(CHANGE_ANY_PERSONA)

    def _models(self):
        models = ModelConfig.objects.filter(kind=ModelConfig.Kind.CHAT)
        if not self._may_change_any():
            usable = ModelConfig.objects.usable_by(self.editor).values("pk")
            models = ModelConfig.objects.filter(Q(pk__in=usable) | Q(pk=self.instance.model_id))
        return models.select_related("provider")

    def _teams(self):
        if self._may_change_any():
            return Group.objects.order_by("name")
        current = self.instance.teams.values("pk") if self.instance.pk else []
        mine = self.editor.groups.values("pk")
        return Group.objects.filter(Q(pk__in=mine) | Q(pk__in=current)).order_by("name")

    def parameter_rows(self) -> list[tuple]:
        """Each parameter's field beside its "users may change" checkbox."""
        boxes = {box.data["value"]: box for box in self["overridable_params"]}
        return [(self[name], boxes[name]) for name in PARAM_NAMES]

    def clean_starter_prompts(self) -> list[str]:
        text = self.cleaned_data.get("starter_prompts") or ""
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
        if len(prompts) > STARTER_PROMPTS_MAX or any(
            len(p) > STARTER_PROMPT_LENGTH_MAX for p in prompts
        ):
            raise forms.ValidationError(
                _("Up to %(count)s prompts of at most %(length)s characters each.")
                % {"count": STARTER_PROMPTS_MAX, "length": STARTER_PROMPT_LENGTH_MAX}
            )
        return prompts

    def clean_avatar_upload(self):
        upload = self.cleaned_data.get("avatar_upload")
        return media.clean_avatar(upload) if upload else None

    def clean(self) -> dict:
        cleaned = super().clean()
        model = cleaned.get("model")
        parameters = self.clean_parameters(model.limits if model else ModelLimits())
        # The model's own clean() checks them again; never against stale values.
        self.instance.default_params = parameters or {}
        if cleaned.get("visibility") == Persona.Visibility.TEAM and not cleaned.get("teams"):
            self.add_error("teams", _("Choose at least one team to share the persona with."))
        return cleaned

    def save(self, commit: bool = True) -> Persona:
        persona = super().save(commit=False)
        if self.cleaned_data.get("remove_avatar_image"):
            persona.replace_avatar_image(None)
        elif self.cleaned_data.get("avatar_upload"):
            persona.replace_avatar_image(self.cleaned_data["avatar_upload"])
        if persona.visibility != Persona.Visibility.TEAM:
            self.cleaned_data["teams"] = []
        if commit:
            persona.save()
            self._save_m2m()
        return persona


class ModelConfigForm(ParameterFields, forms.ModelForm):
    """The admin's model form: default parameters checked against this model's limits."""

    class Meta:
        model = ModelConfig
        fields = [
            "provider", "model_id", "display_name", "kind", "context_window",
            "max_output_tokens", "price_input_per_million", "price_output_per_million",
            "enabled", "is_default", "allowed_groups",
        ]  # fmt: skip
        field_classes = {"model_id": TextField, "display_name": TextField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_parameter_initial(self.instance.default_params or {}, self.instance.model_id)

    def clean(self) -> dict:
        cleaned = super().clean()
        limits = ModelLimits(
            cleaned.get("model_id") or "",
            cleaned.get("context_window"),
            cleaned.get("max_output_tokens"),
        )
        parameters = self.clean_parameters(limits)
        self.instance.default_params = parameters or {}
        return cleaned
