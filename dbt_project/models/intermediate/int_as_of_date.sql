{{ config(materialized='table') }}

{#- The single place that decides "today" for every mart. An explicit var wins (backfills, tests);
    otherwise the last transaction date in the data, across all tenants -- never the wall clock, so
    rebuilding the same data gives the same marts. -#}
{%- set as_of = var('as_of_date', none) -%}
{%- if as_of is not none and as_of | string | trim != '' -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', as_of | string | trim) -%}
        {{ exceptions.raise_compiler_error("var as_of_date must be 'YYYY-MM-DD', got '" ~ as_of ~ "'") }}
    {%- endif -%}
{%- endif %}

with

transactions as (

    select * from {{ ref('stg_raw__transactions') }}

),

final as (

    {% if as_of is not none and as_of | string | trim != '' -%}
    select cast('{{ as_of | string | trim }}' as date) as as_of_date
    {%- else -%}
    select max(transaction_date) as as_of_date from transactions
    {%- endif %}

)

select * from final
