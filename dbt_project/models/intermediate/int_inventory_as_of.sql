{#- "Today" for every tenant that has sales or stock. A tenant with sales keeps its int_tenant_as_of date, so
    stock and sales marts agree; a tenant that sends only inventory (no sales feed yet) is as of its last
    snapshot, unless the var pins it. -#}
with

sales_as_of as (

    select * from {{ ref('int_tenant_as_of') }}

),

inventory as (

    select * from {{ ref('stg_raw__inventory') }}

),

stock_only as (

    select
        inventory.tenant_id,
        max(inventory.snapshot_date) as last_snapshot_date
    from inventory
    left join sales_as_of
        on sales_as_of.tenant_id = inventory.tenant_id
    where sales_as_of.tenant_id is null
    group by inventory.tenant_id

),

final as (

    select
        tenant_id,
        as_of_date,
        as_of_source
    from sales_as_of

    union all

    select
        tenant_id,
        coalesce({{ as_of_override('tenant_id') }}, last_snapshot_date) as as_of_date,
        cast(case when {{ as_of_override('tenant_id') }} is not null then 'var' else 'last_snapshot' end
            as {{ dbt.type_string() }}) as as_of_source
    from stock_only

)

select * from final
