{#- A set-returning select-list expression producing one timestamp per day from start_expr to end_expr
    (both inclusive), evaluated per row of the query it sits in. Wrap it in a subquery and cast the
    result to date. Used to build zero-filled daily marts (forecasting needs the zero days). -#}
{% macro date_series(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('date_series', 'smartmarket')(start_expr, end_expr)) }}
{%- endmacro %}

{% macro duckdb__date_series(start_expr, end_expr) -%}
    unnest(generate_series(cast({{ start_expr }} as timestamp), cast({{ end_expr }} as timestamp), interval 1 day))
{%- endmacro %}

{% macro default__date_series(start_expr, end_expr) -%}
    {#- Postgres (and Redshift-like engines): generate_series is a set-returning function in the select list. -#}
    generate_series(cast({{ start_expr }} as timestamp), cast({{ end_expr }} as timestamp), interval '1 day')
{%- endmacro %}


{#- date + n days as a date on every engine (dbt.dateadd returns a timestamp on Postgres). -#}
{% macro add_days(date_expr, n) -%}
    cast({{ dbt.dateadd('day', n, date_expr) }} as date)
{%- endmacro %}
