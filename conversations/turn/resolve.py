"""Which model, persona and parameters a turn uses. Lookups only: nothing here writes.

Effective parameters: request override (where the persona allows it), then the
persona's defaults, then the model's; what none sets is left to the API.
"""

from django.utils.translation import gettext as _

from conversations import access, params
from conversations.models import ModelConfig, Persona
from conversations.models.providers import default_model_for
from conversations.refusals import Refused


class NoModel(Refused):
    status = 503


# A turn may ask a chat model or an image model (conversations.turn.images).
TURN_KINDS = (ModelConfig.Kind.CHAT, ModelConfig.Kind.IMAGE)


def usable_model(user, model_pk, kinds: tuple[str, ...] = TURN_KINDS) -> ModelConfig | None:
    if model_pk is None:
        return None
    usable = ModelConfig.objects.usable_by(user, kinds).select_related("provider")
    return usable.filter(pk=model_pk).first()


def usable_persona(user, persona_id) -> Persona | None:
    if persona_id is None:
        return None
    return Persona.objects.visible_to(user).filter(pk=persona_id).first()


def model_and_persona(user, conversation, request) -> tuple[ModelConfig, Persona | None]:
    """The model and persona a request asks for, else the conversation's, else defaults."""
    persona = conversation.persona
    if request.persona_id is not None:
        persona = access.persona_usable_by(user, request.persona_id)
    elif persona is not None:
        persona = usable_persona(user, persona.pk)
    if request.model is not None:
        model = access.model_usable_by(user, request.model, TURN_KINDS)
    else:
        model = fallback_model(user, conversation, persona)
    return model, persona


def fallback_model(user, conversation, persona) -> ModelConfig:
    model = (
        usable_model(user, conversation.model_id)
        or usable_model(user, getattr(persona, "model_id", None))
        or default_model_for(user)
    )
    if model is None:
        raise NoModel(
            "no_model", _("No model is configured yet. Ask a staff member to add a provider.")
        )
    return model


def overrides(conversation, request, model, persona) -> dict:
    """The request's parameters checked against the rules, else the conversation's."""
    if request.params is None:
        return conversation.param_overrides
    cleaned = params.validate_params(request.params, model.limits)
    params.check_overridable(cleaned, persona.changeable_params if persona else None)
    return cleaned


def effective_params(model, persona, overrides) -> dict:
    """What the turn asks the model for. Defaults and the conversation's settings may
    predate a change of model: re-checked against this one, less what does not apply
    to it (a request's own parameters were refused by ``overrides`` instead)."""
    limits = model.limits
    model_defaults = _inherited(model.default_params, limits)
    persona_defaults = _inherited(persona.default_params if persona else {}, limits)
    overrides = _inherited(overrides, limits)
    return params.effective_params(
        overrides=overrides,
        persona_defaults=persona_defaults,
        model_defaults=model_defaults,
        overridable=persona.changeable_params if persona else None,
    )


def _inherited(values, limits) -> dict:
    return params.validate_params(params.applicable(values, limits), limits)
