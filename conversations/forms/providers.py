"""The admin's model form."""

from django import forms

from conversations.forms.params import ParameterFields, TextField
from conversations.models import ModelConfig
from conversations.params import ModelLimits


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
