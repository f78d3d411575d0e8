"""The reason staff give before reading someone else's conversation.

Asked for before any text is shown (the transcript, an export of other
people's conversations) and stored in the audit entry of that reading.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

REASON_LENGTH_MAX = 300


class ReadingReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for reading"),
        max_length=REASON_LENGTH_MAX,
        strip=True,
        help_text=_(
            "A short reason, e.g. the report or ticket you are following up. It is stored "
            "in the audit log with this reading and may be shown to the owner."
        ),
        error_messages={
            "required": _("Give a reason for reading someone else's conversation."),
            "max_length": _("Keep the reason short: at most %(limit_value)d characters."),
        },
        widget=forms.TextInput(attrs={"size": 60, "autocomplete": "off"}),
    )


class ExportReasonForm(ReadingReasonForm):
    """The same reason, asked before an export that holds other people's conversations."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = _("Reason for exporting")
