"""Remembering what a server's refusal taught (``llm.Learnt``), so the next request
is right the first time: the answer-length parameter a model takes, whether its
provider takes ``stream_options``."""

import logging

from conversations.llm import Learnt
from conversations.models import ModelConfig, Provider

logger = logging.getLogger(__name__)


def remember(learnt: Learnt, *, model_config_id: int) -> None:
    """Store ``learnt`` on the model config and its provider."""
    if learnt.token_limit_param:
        ModelConfig.objects.filter(pk=model_config_id).update(
            token_limit_param=learnt.token_limit_param
        )
        logger.info(
            "Model config %s takes %s: learnt from its server's refusal",
            model_config_id,
            learnt.token_limit_param,
        )
    if learnt.stream_usage is False:
        Provider.objects.filter(models__pk=model_config_id).update(send_stream_usage=False)
        logger.warning(
            "The provider of model config %s refuses stream_options: usage of streamed "
            "answers is now estimated (turned off its 'ask for usage in streams')",
            model_config_id,
        )
