{#- "1 purchase in the last 90 days vs 3.2 expected from earlier behaviour", for customer_rfm.risk_reason.
    The expected count is rounded exactly (div_round) so the text is identical on every engine. -#}
{% macro _purchases_vs_expected() -%}
    cast(frequency_last_90d as {{ dbt.type_string() }})
    || case when frequency_last_90d = 1 then ' purchase' else ' purchases' end
    || ' in the last 90 days vs '
    || cast(cast({{ div_round('purchases_before_window * 90', 'days_before_window', 1) }} as decimal(10, 1))
        as {{ dbt.type_string() }})
    || ' expected from earlier behaviour'
{%- endmacro %}
