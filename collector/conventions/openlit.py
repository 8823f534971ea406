"""OpenLIT's own grouping spans (``@openlit.trace``, ``openlit.start_trace``): their scope.

Its instrumentations of model clients and frameworks write the GenAI conventions under
scopes of their own (``openlit.instrumentation.openai``, ...); only these two helpers use the
package's own scope. Such a span is named after the function (or the name given), records
the return value (``set_result``) as raw text in ``gen_ai.output.messages`` and the call's
arguments as Python reprs (an object argument shows as ``<... object at 0x...>``, so the
whole is often no literal).
"""

from __future__ import annotations

__all__ = ["SCOPE", "FUNCTION_ARGS", "FUNCTION_KWARGS"]

SCOPE = "openlit"
# repr() of the positional arguments tuple and of the keyword arguments dict.
FUNCTION_ARGS = "function.args"
FUNCTION_KWARGS = "function.kwargs"
