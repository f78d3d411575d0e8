from conversations.models.accounts import Invitation, Profile, Quota
from conversations.models.budgets import Reservation
from conversations.models.chats import Conversation, Message
from conversations.models.finetune import FineTuneJob, TrainingFile
from conversations.models.governance import AuditEntry, SiteSettings
from conversations.models.personas import Persona, PersonaVersion
from conversations.models.providers import ModelConfig, Provider
from conversations.models.sso import SsoIdentity
from conversations.models.teams import Team, TeamRole
from conversations.models.usage import UsageDaily

__all__ = [
    "AuditEntry",
    "Conversation",
    "FineTuneJob",
    "Invitation",
    "Message",
    "ModelConfig",
    "Persona",
    "PersonaVersion",
    "Profile",
    "Provider",
    "Quota",
    "Reservation",
    "SiteSettings",
    "SsoIdentity",
    "Team",
    "TeamRole",
    "TrainingFile",
    "UsageDaily",
]

from conversations.models.sharing import Share

__all__ += ["Share"]

from conversations.models.images import GeneratedImage  # noqa: E402

__all__ += ["GeneratedImage"]
