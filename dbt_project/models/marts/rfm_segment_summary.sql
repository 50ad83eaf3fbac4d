with

rfm as (

    select * from {{ ref('customer_rfm') }}

),

per_segment as (

    select
        tenant_id,
        segment,
        count(*) as customer_count,
        sum(monetary) as total_monetary,
        sum({{ to_cents('rfm_score') }}) as rfm_score_hundredths
    from rfm
    group by tenant_id, segment

),

final as (

    select
        tenant_id,
        segment,
        customer_count,
        cast(total_monetary as decimal(18, 2)) as total_monetary,
        cast({{ div_round(to_cents('total_monetary'), 'customer_count * 100', 2) }} as decimal(18, 2))
            as avg_monetary,
        cast({{ div_round('rfm_score_hundredths', 'customer_count * 100', 2) }} as decimal(4, 2))
            as avg_rfm_score,
        cast({{ div_round('customer_count', 'sum(customer_count) over (partition by tenant_id)', 4) }}
            as decimal(6, 4)) as share_of_customers
    from per_segment

)

select * from final
