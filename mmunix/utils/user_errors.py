"""Tell the errors mmunix raises on purpose from unexpected ones, and end a
command-line tool on the first kind with one line instead of a traceback."""
import contextlib
import linecache
import os.path as osp
from typing import Optional

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__))) + osp.sep


class UserError(Exception):
    """A known mistake in a command line: a wrong path, or a file that is not
    what the argument wants.

    Its message names the argument and the fix, so :func:`one_line_errors`
    prints it without a traceback.
    """


def deliberate_error(error: BaseException) -> Optional[BaseException]:
    """The error that mmunix raised on purpose behind ``error``, if any.

    That is the outermost exception in ``error``'s chain (``raise ... from``
    causes, or the exceptions being handled) that a ``raise`` statement in
    mmunix's package raised: a refused config value, checkpoint, dataset or
    path, whose message already names the key and the fix. MMEngine's
    builders re-raise errors with their own prefix; this finds mmunix's
    original beneath. A Python error that merely surfaced in mmunix's code
    (a ``KeyError`` of a dict lookup, say) is no deliberate error. A
    :class:`UserError` always is, wherever it was raised.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, UserError) or _raised_by_mmunix(error):
            return error
        error = error.__cause__ or (None if error.__suppress_context__ else
                                    error.__context__)
    return None


def _raised_by_mmunix(error: BaseException) -> bool:
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    filename = traceback.tb_frame.f_code.co_filename
    line = linecache.getline(filename, traceback.tb_lineno).strip()
    return osp.abspath(filename).startswith(PACKAGE_DIR) and line.startswith(
        'raise')


def add_debug_arg(parser) -> None:
    """Add ``--debug``, which :func:`one_line_errors` reads, to an ``argparse``
    parser."""
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the traceback of every error, also of refused configs, '
        'checkpoints, data and paths')


@contextlib.contextmanager
def one_line_errors(tool: str, debug: bool = False):
    """End ``tool`` on an error mmunix raised on purpose (a refused config
    value, checkpoint, dataset or path) with that message, in one line, instead
    of a traceback that would only point into mmunix. Unexpected errors, and
    every error with ``debug``, keep their traceback.

    Raises:
        SystemExit: ``'<tool>: error: <message> (--debug shows the
            traceback)'``, which Python prints to stderr with exit code 1.
    """
    try:
        yield
    except Exception as error:
        deliberate = deliberate_error(error)
        if debug or deliberate is None:
            raise
        message = str(deliberate)
        if isinstance(deliberate, KeyError) and deliberate.args:
            message = str(deliberate.args[0])  # not repr() of the key
        message = one_line(message)
        raise SystemExit(f'{tool}: error: {message} (--debug shows the '
                         'traceback)') from None


def one_line(message: str) -> str:
    """``message`` with its lines joined as sentences or list items, for a
    terminal line; ``'a:\n  x\n  y\nFix it'`` -> ``'a: x; y.

    Fix it'``.
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    joined = lines[0] if lines else ''
    for line in lines[1:]:
        if joined.endswith((':', ';', ',')):
            joined += ' '
        elif line[0].isupper():
            joined += ' ' if joined.endswith(('.', '!', '?')) else '. '
        else:
            joined += '; '
        joined += line
    return joined
