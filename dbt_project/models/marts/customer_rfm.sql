with

base as (

    select * from {{ ref('int_customer_rfm_base') }}

),

ranked as (

    select
        base.*,
        rank() over (partition by tenant_id order by frequency) as frequency_rank,
        -- ranked on net spend floored at zero: a customer who returned more than they bought here (goods
        -- bought before the data starts) has given the shop nothing, like a zero spender, however large
        -- the refund, so all of them share the lowest rank instead of spreading over the low quintiles
        rank() over (partition by tenant_id order by greatest(monetary, 0)) as monetary_rank,
        count(*) over (partition by tenant_id) as tenant_customers
    from base

),

scored as (

    select
        ranked.*,
        case
            when recency_days < 8 then 5
            when recency_days <= 30 then 4
            when recency_days <= 60 then 3
            when recency_days <= 120 then 2
            else 1
        end as r_score,
        -- quintile by rank within the tenant: ties share a rank and so a score; the double division of
        -- small integers is exact on every engine, so floor() lands on the same side everywhere
        case
            when tenant_customers = 1 then 1
            else cast(least(5, 1 + floor(
                5 * cast(frequency_rank - 1 as double precision)
                / cast(tenant_customers - 1 as double precision)
            )) as integer)
        end as f_score,
        case
            when tenant_customers = 1 then 1
            else cast(least(5, 1 + floor(
                5 * cast(monetary_rank - 1 as double precision)
                / cast(tenant_customers - 1 as double precision)
            )) as integer)
        end as m_score,
        -- declining when fewer purchases in the last 90 days than the earlier pace predicts; compared
        -- on integers (freq * days < earlier * 90) so no rounding decides the flag
        purchases_before_window > 0
            and frequency_last_90d * days_before_window < purchases_before_window * 90 as is_declining,
        case
            when purchases_before_window > 0
                then {{ div_round('purchases_before_window * 90', 'days_before_window', 4) }}
        end as earlier_rate_per_90d
    from ranked

),

with_score as (

    select
        scored.*,
        cast({{ div_round('r_score + f_score + m_score', 3, 2) }} as decimal(4, 2)) as rfm_score,
        least(
            cast(1 as decimal(28, 4)),
            {{ div_round('recency_days', 365, 4) }}
                + case when is_declining then cast(0.3 as decimal(28, 4)) else cast(0 as decimal(28, 4)) end
        ) as churn_risk_score
    from scored

),

final as (

    select
        tenant_id,
        customer_id,
        as_of_date,
        first_purchase_date,
        last_purchase_date,
        recency_days,
        frequency,
        monetary,
        monetary < 0 as has_net_returns,
        r_score,
        f_score,
        m_score,
        rfm_score,
        case
            when rfm_score >= 4.7 then 'Champion'
            when rfm_score >= 3.7 then 'Loyal'
            when rfm_score >= 2.7 then 'Potential'
            when rfm_score >= 1.7 then 'At-Risk'
            else 'Dormant'
        end as segment,
        frequency_last_90d,
        -- re-cast: Postgres drops a decimal's precision and scale through CASE
        cast(earlier_rate_per_90d as decimal(18, 4)) as earlier_rate_per_90d,
        cast(churn_risk_score as decimal(6, 4)) as churn_risk_score,
        case
            when churn_risk_score < 0.3 then 'low'
            when churn_risk_score <= 0.6 then 'medium'
            else 'high'
        end as churn_risk_level,
        case
            when recency_days > 30 and is_declining then
                'no purchase for ' || cast(recency_days as {{ dbt.type_string() }}) || ' days; '
                || {{ _purchases_vs_expected() }}
            when recency_days > 30 then
                'no purchase for ' || cast(recency_days as {{ dbt.type_string() }}) || ' days'
            when is_declining then {{ _purchases_vs_expected() }}
            when purchases_before_window = 0 then 'recent buyer with no earlier history'
            else 'recent and regular buyer'
        end as risk_reason
    from with_score

)

select * from final
