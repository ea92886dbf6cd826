"""AuditLens dashboard entry: page config, the sign-in gate and navigation, nothing else.

Pages are the files in app_pages/, each declaring its title, icon and order (dashboard/navigation.py): adding a
page is adding its file.
"""

import streamlit as st

from dashboard.auth import gate
from dashboard.navigation import discover_pages

st.set_page_config(page_title="AuditLens", page_icon=":mag:", layout="wide")
gate()  # fail closed for every page, also one added later without its own require_identity()

page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in discover_pages()])
if page.url_path != "review":  # an answer the Dataset page opens sits above the queue for that visit only
    st.session_state.pop("queue_focus", None)
page.run()
