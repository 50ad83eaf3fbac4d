{#- The single place that decides "today" for each tenant with sales. An explicit var wins (backfills,
    tests; see macros/as_of.sql for its forms); otherwise the tenant's own last transaction date -- never
    the wall clock, so rebuilding the same data gives the same marts, and never another tenant's date,
    so a shop whose uploads stop early is not seen as inactive. -#}
with

transactions as (

    select * from {{ ref('stg_raw__transactions') }}

),

per_tenant as (

    select
        tenant_id,
        min(transaction_date) as first_transaction_date,
        max(transaction_date) as last_transaction_date
    from transactions
    group by tenant_id

),

with_override as (

    select
        per_tenant.*,
        {{ as_of_override('per_tenant.tenant_id') }} as override_date
    from per_tenant

),

final as (

    select
        tenant_id,
        coalesce(override_date, last_transaction_date) as as_of_date,
        cast(case when override_date is not null then 'var' else 'last_transaction' end
            as {{ dbt.type_string() }}) as as_of_source,
        first_transaction_date,
        last_transaction_date
    from with_override

)

select * from final
