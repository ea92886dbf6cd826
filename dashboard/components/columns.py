"""Table columns with a meaning in the colour language (explainers.colours)."""

from __future__ import annotations

import streamlit as st

# Red means "unsupported" on every page, and a progress column takes the theme's primary colour (Streamlit's red)
# unless told otherwise: a 94 % supported sentence drew a red bar under "red: unsupported". Support bars are grey;
# the label beside them says what the number means.
SUPPORT_BAR_COLOUR = "gray"


def support_column(label: str = "support", **kwargs) -> object:
    """A support probability (0-1) as a neutral grey bar."""
    return st.column_config.ProgressColumn(label, min_value=0.0, max_value=1.0, color=SUPPORT_BAR_COLOUR, **kwargs)
