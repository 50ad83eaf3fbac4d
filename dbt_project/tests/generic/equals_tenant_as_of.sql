{#- Fails for every row whose value (an as_of_date column) differs from its tenant's as-of date in
    `as_of_model`, or whose tenant has none there: one "today" per tenant, the same in every mart. -#}
{% test equals_tenant_as_of(model, column_name, as_of_model) %}
    select checked.tenant_id, checked.{{ column_name }}, as_of.as_of_date as tenant_as_of_date
    from {{ model }} as checked
    left join {{ as_of_model }} as as_of
        on as_of.tenant_id = checked.tenant_id
    where as_of.as_of_date is null
        or checked.{{ column_name }} is null
        or checked.{{ column_name }} <> as_of.as_of_date
{% endtest %}
