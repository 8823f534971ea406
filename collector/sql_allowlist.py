"""What a ``/sql`` query may name: the allowlist read by :mod:`collector.sql_guard`.

Every name here was reviewed against DuckDB 1.5.5's catalog
(``SELECT function_name FROM duckdb_functions()``): scalar, aggregate, window
and macro functions that compute a value from their arguments and nothing else.
Left out on purpose, so refused: anything that reads files or other databases
(``read_*``, ``parquet_*``, ``glob``), runs SQL text (``query``,
``query_table``, ``json_execute_serialized_sql``), changes or reveals state
(``nextval``, ``setseed``, ``current_setting``, ``getvariable``,
``enable_logging``, ``checkpoint``, ``write_log``), sleeps (``sleep_ms``,
``pg_sleep``), or describes the catalog and the process (``duckdb_*``,
``pragma_*``, ``pg_*``, ``current_database``, ``version``): ``REFUSED`` names each
of them with the reason the refusal gives. A function DuckDB adds in a later
version is refused until it is added here: that is the point of an allowlist.
"""

from __future__ import annotations

__all__ = [
    "DOCUMENTED_TABLES",
    "DOCUMENTED_VIEWS",
    "FUNCTIONS",
    "QUERYABLE",
    "REFUSED",
    "TABLE_FUNCTIONS",
    "refusal_class",
]

# The tables a query may read; the query worker holds only these.
DOCUMENTED_TABLES = frozenset(
    {"agent_runs", "agent_steps", "spans", "cancel_requests", "annotations", "model_prices"}
)
# Views the worker defines over its copy (collector.schema_costs.COST_VIEWS_DDL).
DOCUMENTED_VIEWS = frozenset({"step_costs", "run_costs"})
QUERYABLE = DOCUMENTED_TABLES | DOCUMENTED_VIEWS

# Row sources that generate values and read nothing stored.
TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "test_all_types",
        "pg_timezone_names",
        "icu_calendar_names",
    }
)

_OPERATORS = frozenset(
    {
        "!__postfix",
        "!~~",
        "!~~*",
        "%",
        "&",
        "&&",
        "*",
        "**",
        "+",
        "-",
        "->>",
        "/",
        "//",
        "<->",
        "<<",
        "<=>",
        "<@",
        ">>",
        "@",
        "@>",
        "^",
        "^@",
        "formatreadabledecimalsize",
        "formatreadablesize",
        "|",
        "||",
        "~",
        "~~",
        "~~*",
        "~~~",
    }
)

_NAMED = """
    abs acos acosh add age ago any_value approx_count_distinct approx_quantile approx_top_k
    arbitrary arg_max arg_max_null arg_max_nulls_last arg_min arg_min_null
    arg_min_nulls_last argmax argmin array_agg array_aggr array_aggregate array_append
    array_apply array_cat array_concat array_contains array_cosine_distance
    array_cosine_similarity array_cross_product array_distance array_distinct
    array_dot_product array_extract array_filter array_grade_up array_has array_has_all
    array_has_any array_indexof array_inner_product array_intersect array_length
    array_negative_dot_product array_negative_inner_product array_pop_back array_pop_front
    array_position array_prepend array_push_back array_push_front array_reduce array_resize
    array_reverse array_reverse_sort array_select array_slice array_sort array_to_json
    array_to_string array_to_string_comma_default array_transform array_unique array_value
    array_where array_zip ascii asin asinh atan atan2 atanh avg bar base64 bin bit_and
    bit_count bit_length bit_or bit_position bit_xor bitstring bitstring_agg bool_and
    bool_or cardinality cbrt ceil ceiling century char_length character_length chr concat
    concat_ws contains corr cos cosh cot count count_if count_star countif covar_pop
    covar_samp cume_dist current_date current_localtime current_localtimestamp
    damerau_levenshtein date_add date_diff date_part date_sub date_trunc datediff datepart
    datesub datetrunc day dayname dayofmonth dayofweek dayofyear days_in_month decade decode
    degrees dense_rank divide editdist3 element_at encode ends_with entropy enum_code
    enum_first enum_last enum_range enum_range_boundary epoch epoch_ms epoch_ns epoch_us era
    even exp factorial favg fdiv fill filter first first_value flatten floor fmod format
    format_bytes format_pg_type format_type from_base64 from_binary from_hex from_json
    from_json_strict fsum gamma gcd gen_random_uuid generate_series generate_subscripts
    geomean geometric_mean get_bit get_current_timestamp grade_up greatest
    greatest_common_divisor group_concat hamming hash hex histogram histogram_exact hour
    icu_sort_key ilike_escape instr is_histogram_other_bin isfinite isinf isnan isodow
    isoyear jaccard jaro_similarity jaro_winkler_similarity json json_array
    json_array_length json_contains json_exists json_extract json_extract_path
    json_extract_path_text json_extract_string json_group_array json_group_object
    json_group_structure json_keys json_merge_patch json_object json_pretty json_quote
    json_structure json_transform json_transform_strict json_type json_valid json_value
    julian kahan_sum kurtosis kurtosis_pop lag last last_day last_value lcase lcm lead least
    least_common_multiple left left_grapheme len length length_grapheme levenshtein lgamma
    like_escape list list_aggr list_aggregate list_any_value list_append list_apply
    list_approx_count_distinct list_avg list_bit_and list_bit_or list_bit_xor list_bool_and
    list_bool_or list_cat list_concat list_contains list_cosine_distance
    list_cosine_similarity list_count list_distance list_distinct list_dot_product
    list_element list_entropy list_extract list_filter list_first list_grade_up list_has
    list_has_all list_has_any list_histogram list_indexof list_inner_product list_intersect
    list_kurtosis list_kurtosis_pop list_last list_mad list_max list_median list_min
    list_mode list_negative_dot_product list_negative_inner_product list_pack list_position
    list_prepend list_product list_reduce list_resize list_reverse list_reverse_sort
    list_select list_sem list_skewness list_slice list_sort list_stddev_pop list_stddev_samp
    list_string_agg list_sum list_transform list_unique list_value list_var_pop
    list_var_samp list_where list_zip listagg ln log log10 log2 lower lpad ltrim mad
    make_date make_time make_timestamp make_timestamp_ms make_timestamp_ns make_timestamptz
    make_type map map_concat map_contains map_contains_entry map_contains_value map_entries
    map_extract map_extract_value map_from_entries map_keys map_to_pg_oid map_values max
    max_by md5 md5_number md5_number_lower md5_number_upper mean median microsecond
    millennium millisecond min min_by minute mismatches mod mode month monthname multiply
    nanosecond nextafter nfc_normalize normalized_interval not_ilike_escape not_like_escape
    now nth_value ntile nullif octet_length ord parse_formatted_bytes percent_rank pi
    position pow power prefix printf product quantile quantile_cont quantile_disc quarter
    radians random range rank rank_dense reduce regexp_escape regexp_extract
    regexp_extract_all regexp_full_match regexp_matches regexp_replace regexp_split_to_array
    regexp_split_to_table regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope
    regr_sxx regr_sxy regr_syy repeat replace replace_type reservoir_quantile reverse right
    right_grapheme round round_even roundbankers row row_number rpad rtrim second sem
    set_bit sha1 sha256 sign signbit sin sinh skewness split split_part sqrt starts_with
    stddev stddev_pop stddev_samp str_split str_split_regex strftime string_agg string_split
    string_split_regex string_to_array strip_accents strlen strpos strptime struct_concat
    struct_contains struct_extract struct_extract_at struct_has struct_indexof struct_insert
    struct_keys struct_pack struct_position struct_update struct_values substr substring
    substring_grapheme subtract suffix sum sum_no_overflow sumkahan switch tan tanh
    time_bucket timetz_byte_comparable timezone timezone_hour timezone_minute to_base
    to_base64 to_binary to_centuries to_days to_decades to_hex to_hours to_json
    to_microseconds to_millennia to_milliseconds to_minutes to_months to_quarters to_seconds
    to_timestamp to_weeks to_years today transaction_timestamp translate trim trunc
    try_strptime typeof ucase unbin unhex unicode union_extract union_tag union_value
    unpivot_list upper url_decode url_encode uuid uuid_extract_timestamp
    uuid_extract_version uuidv4 uuidv7 var_pop var_samp variance variant_bytes_to_variant
    variant_extract variant_normalize variant_to_parquet_variant variant_typeof wavg week
    weekday weekofyear weighted_avg xor year yearweek
"""

# unnest and generate_series also work in a SELECT list.
FUNCTIONS = frozenset(_NAMED.split()) | _OPERATORS | {"unnest", "range", "generate_series"}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Every other function of DuckDB 1.5.5's catalog, by why it is refused; the reason
# completes "name() ..." in the refusal. tests/security/test_sql_catalogue.py fails
# when the catalog holds a function in none of these lists nor on the allowlist, so a
# DuckDB upgrade cannot add one unseen.
REFUSED: dict[str, tuple[str, frozenset[str]]] = {
    "files": (
        "reads files, other databases or the process's objects; queries here read only "
        "the documented tables",
        _words(
            """
                read_blob read_csv read_csv_auto read_duckdb read_json read_json_auto
                read_json_objects read_json_objects_auto read_ndjson read_ndjson_auto
                read_ndjson_objects read_parquet read_text parquet_bloom_probe
                parquet_file_metadata parquet_full_metadata parquet_kv_metadata parquet_metadata
                parquet_scan parquet_schema glob sniff_csv arrow_scan arrow_scan_dumb pandas_scan
                python_map_function
            """
        ),
    ),
    "dynamic": (
        "runs SQL text, or reads a table named in a string, which the check cannot see; "
        "write the query itself",
        _words(
            """
                query query_table json_execute_serialized_sql json_deserialize_sql
                json_serialize_sql json_serialize_plan histogram histogram_values summary
                seq_scan duckdb_table_sample
            """
        ),
    ),
    "state": (
        "changes or reveals settings, variables, sequences, logs or the random seed; "
        "queries here cannot",
        _words(
            """
                current_setting getvariable setseed nextval currval checkpoint force_checkpoint
                enable_logging disable_logging enable_profiling disable_profiling
                truncate_duckdb_logs write_log duckdb_settings duckdb_variables
                duckdb_profiling_settings duckdb_logs duckdb_logs_parsed duckdb_log_contexts
                parse_duckdb_log_message
            """
        ),
    ),
    "secrets": (
        "reveals secrets or where they apply; queries here cannot",
        _words("duckdb_secrets duckdb_secret_types which_secret"),
    ),
    "catalog": (
        "describes the database, the session or the process; queries here see only "
        "the documented tables (SHOW TABLES, DESCRIBE name)",
        _words(
            """
                duckdb_approx_database_count duckdb_columns duckdb_connection_count
                duckdb_constraints duckdb_coordinate_systems duckdb_databases duckdb_dependencies
                duckdb_extensions duckdb_external_file_cache duckdb_functions duckdb_indexes
                duckdb_keywords duckdb_memory duckdb_optimizers duckdb_prepared_statements
                duckdb_schemas duckdb_sequences duckdb_tables duckdb_temporary_files duckdb_types
                duckdb_views pragma_collations pragma_database_size pragma_metadata_info
                pragma_platform pragma_show pragma_storage_info pragma_table_info
                pragma_user_agent pragma_version current_catalog current_connection_id
                current_database current_query current_query_id current_role current_schema
                current_schemas current_transaction_id current_user session_user user version
                in_search_path inet_client_addr inet_client_port inet_server_addr
                inet_server_port txid_current get_block_size stats vector_type col_description
                obj_description shobj_description pg_collation_is_visible pg_conf_load_time
                pg_conversion_is_visible pg_function_is_visible pg_get_constraintdef pg_get_expr
                pg_get_viewdef pg_has_role pg_is_other_temp_schema pg_my_temp_schema
                pg_opclass_is_visible pg_operator_is_visible pg_opfamily_is_visible
                pg_postmaster_start_time pg_table_is_visible pg_ts_config_is_visible
                pg_ts_dict_is_visible pg_ts_parser_is_visible pg_ts_template_is_visible
                pg_type_is_visible has_any_column_privilege has_column_privilege
                has_database_privilege has_foreign_data_wrapper_privilege has_function_privilege
                has_language_privilege has_schema_privilege has_sequence_privilege
                has_server_privilege has_table_privilege has_tablespace_privilege
            """
        ),
    ),
    "sleep": (
        "waits without computing anything; queries here cannot",
        frozenset({"sleep_ms", "pg_sleep"}),
    ),
    "unlisted": (
        "is not on the list of functions queries here can call (internal, collation, "
        "geometry and type helpers no query here needs)",
        _words(
            """
                aggregate alias apply can_cast_implicitly cast_to_type combine constant_or_null
                create_sort_key equi_width_bins error finalize get_current_time get_type
                parse_dirname parse_dirpath parse_filename parse_path pg_size_pretty pg_typeof
                remap_struct row_to_json test_vector_types st_asbinary st_astext st_aswkb
                st_aswkt st_crs st_geomfromwkb st_intersects_extent st_setcrs
            """
        ),
    ),
}
# Families of internal helpers, refused as "unlisted" by their prefix.
_UNLISTED_PREFIXES = ("__internal_compress_", "__internal_decompress_", "icu_collate_")


def refusal_class(name: str) -> str | None:
    """The class of ``REFUSED`` that ``name`` (lower case) belongs to, if any."""
    for kind, (_, names) in REFUSED.items():
        if name in names:
            return kind
    return "unlisted" if name.startswith(_UNLISTED_PREFIXES) else None
