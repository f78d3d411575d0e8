"""The persona form, used by the persona pages and the admin alike."""

from django import forms
from django.contrib.auth.models import Group
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from conversations import avatars
from conversations.forms.params import ParameterFields, TextField
from conversations.models import ModelConfig, Persona
from conversations.models.personas import STARTER_PROMPT_LENGTH_MAX, STARTER_PROMPTS_MAX
from conversations.params import PARAM_NAMES, ModelLimits

CHANGE_ANY_PERSONA = "conversations.change_persona"


class PersonaForm(ParameterFields, forms.ModelForm):
    avatar_upload = forms.FileField(
        label=_("Avatar image"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
        help_text=format_lazy(
            _("PNG, JPEG, GIF or WebP up to {size} MB; shown instead of the emoji."),
            size=avatars.AVATAR_MAX_BYTES // 2**20,
        ),
    )
    remove_avatar_image = forms.BooleanField(label=_("Remove the image"), required=False)
    overridable_params = forms.MultipleChoiceField(
        label=_("Parameters users may change"),
        choices=[(name, name) for name in PARAM_NAMES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Unticked parameters are fixed by the persona. Only a parameter with a value "
            "can be fixed; every other one stays open to users."
        ),
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
            "overridable_params", "starter_prompts", "prompt_template",
        ]  # fmt: skip
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "system_prompt": forms.Textarea(attrs={"rows": 10}),
            "prompt_template": forms.Textarea(attrs={"rows": 6}),
            "visibility": forms.RadioSelect,
            "teams": forms.CheckboxSelectMultiple,
        }
        field_classes = dict.fromkeys(["name", "avatar", "description", "system_prompt"], TextField)
        help_texts = {
            "avatar": _("An emoji, e.g. 🦜"),
            "system_prompt": _("Sent after the site-wide prompt and before the conversation."),
            "model": _("Empty: each user's default model."),
            "prompt_template": _(
                "For a completion model only, instead of a system prompt: the text sent, "
                "with {{prompt}} where the user's text goes (without it, the text is added "
                "at the end)."
            ),
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
        if "prompt_template" in self.fields:  # its last line break is part of the prompt
            self.fields["prompt_template"].strip = False
        self.initial["starter_prompts"] = "\n".join(self.instance.starter_prompts or [])
        # Open unless the persona sets and locks it (older personas locked unset ones
        # too, which fixed nothing: Persona.locked_params ignores those locks).
        self.initial["overridable_params"] = self.instance.changeable_params
        model_id = self.instance.model.model_id if self.instance.model_id else ""
        self.set_parameter_initial(self.instance.default_params or {}, model_id)

    def _may_change_any(self) -> bool:
        return self.editor.has_perm(CHANGE_ANY_PERSONA)

    def _models(self):
        # A completion model takes a prompt template; an image model makes an image
        # persona, whose chats' messages become images.
        kinds = (ModelConfig.Kind.CHAT, ModelConfig.Kind.COMPLETION, ModelConfig.Kind.IMAGE)
        models = ModelConfig.objects.filter(kind__in=kinds)
        if not self._may_change_any():
            chat_or_image = (ModelConfig.Kind.CHAT, ModelConfig.Kind.IMAGE)
            usable = ModelConfig.objects.usable_by(self.editor, chat_or_image).values("pk")
            documents = ModelConfig.objects.completions_usable_by(self.editor).values("pk")
            mine = Q(pk__in=usable) | Q(pk__in=documents) | Q(pk=self.instance.model_id)
            models = ModelConfig.objects.filter(mine)
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
        return avatars.clean_avatar(upload) if upload else None

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
