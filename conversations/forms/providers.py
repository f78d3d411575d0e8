"""The admin's model form."""

from dataclasses import replace

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.forms.params import ParameterFields, TextField
from conversations.models import ModelConfig

LIMIT_FIELDS = (
    "context_window", "max_output_tokens", "token_limit_param", "takes_reasoning_effort",
    "supports_n",
)  # fmt: skip


class ModelConfigForm(ParameterFields, forms.ModelForm):
    """The admin's model form: default parameters checked against this model's limits."""

    class Meta:
        model = ModelConfig
        fields = [
            "provider", "model_id", "display_name", "kind", "context_window",
            "max_output_tokens", "price_input_per_million", "price_output_per_million",
            "price_training_per_million", "enabled", "is_default", "allowed_groups",
            "price_per_image", "image_sizes",
        ]  # fmt: skip
        field_classes = {"model_id": TextField, "display_name": TextField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_parameter_initial(self.instance.default_params or {}, self.instance.model_id)
        if "price_training_per_million" in self.fields:
            self.fields["price_training_per_million"].required = False  # empty: no training price
        for name in ("price_per_image", "image_sizes"):  # only image models need them
            if name in self.fields:
                self.fields[name].required = False
        if "provider" in self.fields:
            # The model field has no translatable name; and say what to do, not "---------".
            self.fields["provider"].label = _("Provider")
            self.fields["provider"].empty_label = _("Choose a provider")

    def clean_price_training_per_million(self):
        return self.cleaned_data.get("price_training_per_million") or 0

    def clean_price_per_image(self):
        return self.cleaned_data.get("price_per_image") or 0

    def clean_image_sizes(self):
        return self.cleaned_data.get("image_sizes") or []

    def clean(self) -> dict:
        cleaned = super().clean()
        # What the model takes (reasoning effort, sampling, n) as the form sets it, else as stored.
        instance = self.instance
        limits = replace(
            ModelConfig(**{n: cleaned.get(n, getattr(instance, n)) for n in LIMIT_FIELDS}).limits,
            model=cleaned.get("model_id") or "",
        )
        parameters = self.clean_parameters(limits)
        self.instance.default_params = parameters or {}
        return cleaned
