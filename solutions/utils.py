"""The course notebooks say ``from utils import *``: same helpers as cllm_utils."""
from cllm_utils import *  # noqa: F401,F403
from cllm_utils import __doc__ as _doc  # noqa: F401
