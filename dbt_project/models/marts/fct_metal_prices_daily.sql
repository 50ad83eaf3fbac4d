with

prices as (

    select * from {{ ref('stg_raw__metal_prices') }}

),

ranked as (

    select
        prices.*,
        -- several feeds can quote the same day; the most recently loaded quote wins
        row_number() over (
            partition by price_date, metal, purity
            order by _ingested_at desc, _source_file desc, _row_number desc
        ) as load_rank,
        count(*) over (partition by price_date, metal, purity) as n_quotes
    from prices

),

final as (

    select
        price_date,
        metal,
        purity,
        price_per_gram,
        currency,
        source,
        n_quotes
    from ranked
    where load_rank = 1

)

select * from final
