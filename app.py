"""Embedding Explorer: the entry point. Sets up the page, asks the sharing policy
(core/sharing.py) whether this visitor may go on, then the sidebar (store,
collection, providers) and the navigation; each page is a file in views/ (not pages/, which Streamlit would discover and serve before app.py runs)."""
import streamlit as st

import ui
from core.errors import ConfigError

st.set_page_config(page_title="Embedding Explorer", layout="wide")

try:
    policy = ui.policy()
    stop_page = ui.sign_in_page(policy)
except ConfigError as exc:  # a half-applied configuration could open more than intended
    stop_page = ui.configuration_error_page(exc)
if stop_page is not None:
    # Still through st.navigation, so that the stop page is the only page this run knows.
    st.navigation([st.Page(stop_page, title="Embedding Explorer", default=True)], position="hidden").run()
    st.stop()

navigation = st.navigation({
    "Explore": [
        st.Page("views/library.py", title="Library & chunking", icon=":material/library_books:", default=True),
        st.Page("views/similarity.py", title="Similarity", icon=":material/compare_arrows:"),
        st.Page("views/search.py", title="Hybrid search", icon=":material/search:"),
        st.Page("views/map.py", title="Embedding map", icon=":material/scatter_plot:"),
        st.Page("views/chat.py", title="Ask (RAG chat)", icon=":material/chat:"),
    ],
    "Analyse": [
        st.Page("views/sweep.py", title="Chunking sweep", icon=":material/tune:"),
        st.Page("views/duplicates.py", title="Near-duplicates", icon=":material/content_copy:"),
        st.Page("views/compare.py", title="Compare embedders", icon=":material/balance:"),
        st.Page("views/labels.py", title="Labels & clusters", icon=":material/label:"),
    ],
})
ui.sidebar(policy)
navigation.run()
