__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Split ``'0.1.0rc1'`` into ``(0, 1, 0, 'rc1')``-style tuples."""
    info = []
    for part in version_str.split('.'):
        if part.isdigit():
            info.append(int(part))
        else:
            info.append(part)
    return tuple(info)


version_info = parse_version_info(__version__)
