"""The sign-up form and the settings page's form."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from conversations.models import ModelConfig, Persona, Profile


class SignUpForm(UserCreationForm):
    email = forms.EmailField(label=_("Email"), required=False)

    class Meta(UserCreationForm.Meta):
        fields = ["username", "email"]


class SettingsForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["theme", "default_persona", "default_model"]
        labels = {
            "theme": _("Theme"),
            "default_persona": _("Persona for new chats"),
            "default_model": _("Model for new chats"),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only what this user may use: the one access rule for personas and models.
        self.fields["default_persona"].queryset = Persona.objects.visible_to(user)
        self.fields["default_model"].queryset = ModelConfig.objects.usable_by(user)
