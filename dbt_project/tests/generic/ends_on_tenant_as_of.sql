{#- Fails for every series (the `partition_by` columns, tenant_id first) of a zero-filled daily spine whose
    last day is not its tenant's as-of date in `as_of_model`: spines run to the tenant's own "today",
    never to another tenant's. -#}
{% test ends_on_tenant_as_of(model, column_name, as_of_model, partition_by=['tenant_id']) %}
    select series.*, as_of.as_of_date as tenant_as_of_date
    from (
        select {{ partition_by | join(', ') }}, max({{ column_name }}) as last_day
        from {{ model }}
        group by {{ partition_by | join(', ') }}
    ) as series
    left join {{ as_of_model }} as as_of
        on as_of.tenant_id = series.tenant_id
    where as_of.as_of_date is null
        or series.last_day <> as_of.as_of_date
{% endtest %}
