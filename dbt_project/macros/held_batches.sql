{#- Raw rows of a batch the raw checks held back (raw._held_batches, written by
    smartmarket.held_batches) stay out of staging until the hold is released, so one tenant's bad batch
    does not stop the others. `alias` is the raw source's alias in the model; `tenant_column` is null for
    kinds without tenants, which are held whole (tenant_id '*'). The table appears once the raw checks
    first ran: until then (and at parse time) there is nothing to leave out. -#}

{% macro without_held_batches(kind, alias, tenant_column='tenant_id') -%}
    {%- set held = adapter.get_relation(database=target.database, schema='raw', identifier='_held_batches')
        if execute else none -%}
    {%- if held is not none %}
    where not exists (
        select 1
        from {{ held }} as held
        where held.kind = '{{ kind }}'
            and held.released_at is null
            and held.batch_ingested_at = {{ alias }}._ingested_at
            {%- if tenant_column %}
            and held.tenant_id = {{ alias }}.{{ tenant_column }}
            {%- else %}
            and held.tenant_id = '*'
            {%- endif %}
    )
    {%- endif %}
{%- endmacro %}
