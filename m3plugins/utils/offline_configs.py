"""Config helpers for building models without downloading weights."""


def without_pretrained_weights(node):
    """Copy of a config node with every pretrained-weight source removed.

    Used by the tools that measure a model's size or speed and by the tests,
    none of which may download: every ``pretrained=<tag or path>`` becomes
    None and every ``init_cfg=dict(type='Pretrained', ...)`` is dropped. The
    input is not modified.

    Args:
        node: A config node (dict / ConfigDict, list, tuple or leaf value).

    Returns:
        The same structure with plain dicts in place of config dicts.
    """
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained':
            return None
        return {
            key: None if key == 'pretrained' else
            without_pretrained_weights(value)
            for key, value in node.items()
        }
    if isinstance(node, (list, tuple)):
        return type(node)(without_pretrained_weights(v) for v in node)
    return node
