{#- Custom schemas are used verbatim (staging, intermediate, marts) instead of dbt's default
    "<target schema>_<custom>", so every target gets the same, predictable schema names that the
    ingestion code, the API and the Great Expectations suites can hard-code. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
