from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .connectors import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .scorers import *  # noqa: F401,F403
