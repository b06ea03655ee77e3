"""What every widget of every page can reach on the server, by widget key: the registry the deny-by-default test
(tests/test_gates.py) holds the pages to. It renders every page of a shared app under AppTest, walks every widget
drawn, and fails on a widget without a key, a key declared nowhere here, or a gate that does not hold (a path
input on a shared app, an uploader with uploads off, a write action on a read-only collection, a paid embedder
not configured, a number over its limit, free text without the length limit). So a new widget starts closed:
it fails the test until it is declared here, and its gate is checked from then on.

Declaring a widget HARMLESS is a claim: it only picks among what is already shown or computed, or its own
bounds make it cheap. Anything that reaches a resource names its gate instead."""
from __future__ import annotations

HARMLESS = "harmless"  # picks among what is shown, or bounded by the widget itself
PATH = "path"  # a file, folder, server or URL on this machine: never offered on a shared app
MANAGE = "manage"  # creates, imports or deletes collections: never on a shared app or someone else's store
WRITE = "write"  # writes into the current collection: only where the policy says it is writable
UPLOAD = "upload"  # a file uploader: hidden with uploads off, every file charged to the session's limits
EMBEDDER = "embedder"  # picks an embedding model: only what SharingPolicy.embedders offers
LLM = "llm"  # picks a language model: only the configured endpoints
PAID = "paid"  # sends text to a paid service: a button saying what it sends
QUERY = "query"  # free text that is embedded or searched: cut at Limits.query_chars by the server


def limit(name: str) -> str:
    """A value bounded by Limits.<name> (the widget's maximum, or a check before the work)."""
    return f"limit:{name}"


WIDGETS: dict[str, str] = {
    # the sidebar (ui.py)
    "shared_store": HARMLESS, "sidebar_collection": HARMLESS, "sign_out": HARMLESS, "sign_in": HARMLESS,
    "query_model_*": EMBEDDER, "chat_endpoint": LLM, "chat_user_key_*": HARMLESS,
    "store_kind": PATH, "store_folder": PATH, "chroma_address": PATH, "pg_source": PATH, "pg_url": PATH,
    "pg_contents": PATH, "pg_index": PATH, "pg_table": PATH, "pg_vector:*": PATH, "pg_text:*": PATH,
    "pg_id:*": PATH, "pg_category:*": PATH, "pg_metadata:*": PATH, "pg_model:*": PATH,
    # Library & chunking
    "library_tab": HARMLESS, "source_kind": HARMLESS, "sample_title": HARMLESS, "paths": PATH, "uploads": UPLOAD,
    "upload_folder": HARMLESS, "category": HARMLESS, "text_field": HARMLESS, "category_field": HARMLESS,
    "metadata_fields": HARMLESS,
    "method": HARMLESS, "unit": HARMLESS, "size": HARMLESS, "overlap": HARMLESS, "preview_file": HARMLESS,
    "ingest_into": WRITE, "ingest_new_name": MANAGE, "ingest_new_embedder": MANAGE, "ingest": WRITE,
    "doomed_document": WRITE, "delete_document": WRITE, "confirm_delete_document": WRITE,
    "new_collection": MANAGE, "new_embedder": MANAGE, "create_collection": MANAGE, "doomed_collection": MANAGE,
    "confirm_delete": MANAGE, "delete_collection": MANAGE, "import_*": MANAGE,
    # Similarity
    "similarity_texts": limit("similarity_texts"), "nearest_of": HARMLESS, "nearest_k": HARMLESS,
    # Hybrid search
    "query": QUERY, "k": limit("k"), "mode": HARMLESS, "categories": HARMLESS, "sources": HARMLESS,
    "search_rows": HARMLESS, "fusion_method": HARMLESS, "rrf_k": HARMLESS, "depth": HARMLESS, "weight": HARMLESS,
    "sweep_varied*": HARMLESS, "search_example_*": HARMLESS,
    # Embedding map
    "map_method": HARMLESS, "map_dims": HARMLESS, "map_metric": HARMLESS, "map_seed": HARMLESS,
    "map_cap": limit("map_points"), "map_perplexity": HARMLESS, "map_n_neighbors": HARMLESS,
    "map_min_dist": HARMLESS, "map_colour": HARMLESS, "map_query": QUERY, "map_query_k": limit("k"),
    "map_query_mode": HARMLESS, "map_phrase": HARMLESS, "map_clusters_on": HARMLESS,
    "map_cluster_method": HARMLESS, "map_n_clusters": HARMLESS, "map_min_cluster_size": HARMLESS,
    "map_query_set": limit("queries"), "map_query_set_k": limit("k"), "map_query_set_mode": HARMLESS,
    "map_bundle_download": HARMLESS, "map_bundle_upload_*": UPLOAD, "map_close_bundle": HARMLESS,
    "map_colour_imported": HARMLESS, "map_chart_*": HARMLESS, "map_neighbours_k": HARMLESS,
    "map_selection": HARMLESS, "map_selection_csv": HARMLESS, "map_within_query": QUERY,
    "map_within_mode": HARMLESS, "map_within_results": HARMLESS, "map_csv": HARMLESS, "map_html": HARMLESS,
    "export_*": HARMLESS, "map_filter_categories": HARMLESS, "map_filter_sources": HARMLESS,
    "map_filter_field": HARMLESS, "map_filter_values": HARMLESS,
    "map_scatter": HARMLESS,  # the WebGL map: only the user's pick comes back
    "map_label_rings": HARMLESS,  # the labels check on the points already mapped, as the Labels page runs it
    # Ask (RAG chat)
    "chat_provider": LLM, "chat_model_*": LLM, "chat_base_url": PATH, "chat_k": limit("k"), "chat_mode": HARMLESS,
    "chat_categories": HARMLESS, "chat_clear": HARMLESS, "chat_example_*": HARMLESS, "chat_question": QUERY,
    # Chunking sweep
    "sweep_source": HARMLESS, "sweep_beir": PATH, "sweep_split": PATH, "sweep_max_queries": PATH,
    "sweep_max_docs": PATH, "sweep_uploads": UPLOAD, "sweep_chars": limit("sweep_chars"),
    "sweep_questions_csv": UPLOAD, "sweep_table": limit("queries"), "sweep_methods": limit("sweep_settings"),
    "sweep_unit": HARMLESS, "sweep_sizes": limit("sweep_settings"), "sweep_overlaps": limit("sweep_settings"),
    "sweep_whole": limit("sweep_settings"), "sweep_model": EMBEDDER, "sweep_mode": HARMLESS, "sweep_k": limit("k"),
    "sweep_run": PAID,
    # Near-duplicates
    "dup_threshold": HARMLESS, "dup_k": limit("k"), "dup_categories": HARMLESS, "dup_pair": HARMLESS,
    # Compare embedders
    "compare_model": EMBEDDER, "compare_k": limit("k"), "compare_max": limit("compare_chunks"),
    "compare_paid_run": PAID, "compare_colour": HARMLESS,
    # Labels & clusters (edits go into this tool's own overlay: a disk write, so only where the policy says)
    "labels_field": HARMLESS, "labels_k": limit("k"), "labels_threshold": HARMLESS, "labels_confusion": HARMLESS,
    "labels_suspects": HARMLESS, "labels_suspects_csv": HARMLESS, "labels_map": HARMLESS,
    "labels_selection": HARMLESS, "labels_outliers": HARMLESS, "labels_edits": HARMLESS,
    "labels_edits_csv": HARMLESS, "labels_edits_parquet": HARMLESS,
    "labels_new_label": WRITE, "labels_set": WRITE, "labels_tag": WRITE, "labels_set_tag": WRITE,
}


def gate_of(key: str) -> str | None:
    """The gate declared for a widget key (exact, else the longest matching `prefix*`); None: undeclared."""
    if key in WIDGETS:
        return WIDGETS[key]
    prefixes = [k for k in WIDGETS if k.endswith("*") and key.startswith(k[:-1])]
    return WIDGETS[max(prefixes, key=len)] if prefixes else None
