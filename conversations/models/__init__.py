from conversations.models.accounts import Invitation, Profile, Quota
from conversations.models.chats import Conversation, Message
from conversations.models.governance import AuditEntry, SiteSettings
from conversations.models.personas import Persona, PersonaVersion
from conversations.models.providers import ModelConfig, Provider
from conversations.models.sso import SsoIdentity
from conversations.models.usage import UsageDaily

__all__ = [
    "AuditEntry",
    "Conversation",
    "Invitation",
    "Message",
    "ModelConfig",
    "Persona",
    "PersonaVersion",
    "Profile",
    "Provider",
    "Quota",
    "SiteSettings",
    "SsoIdentity",
    "UsageDaily",
]
