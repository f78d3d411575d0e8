"""The sign-up form and the settings page's form."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.text import capfirst
from django.utils.translation import gettext
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
        self.fields["default_model"].queryset = usable = ModelConfig.objects.usable_by(user)
        # What an empty choice means, in words, instead of Django's "---------".
        self.fields["default_persona"].empty_label = _("None (a plain chat)")
        self.fields["default_model"].empty_label = site_default_label(usable)
        self.fields["theme"].choices = [
            (value, capfirst(label)) for value, label in Profile.Theme.choices
        ]


def site_default_label(usable) -> str:
    default = usable.filter(is_default=True).first()
    if default is None:
        return gettext("The site's default model")
    return gettext("The site's default model (%(name)s)") % {"name": default}
