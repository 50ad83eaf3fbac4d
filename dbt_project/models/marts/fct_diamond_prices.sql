with

diamonds as (

    select * from {{ ref('stg_raw__diamond_prices') }}

),

final as (

    -- the 4C grades as ordinals (1 = worst) as well, since the price models treat them as ordered
    select
        diamond_id,
        price_date,
        carat,
        cut,
        case cut
            when 'Fair' then 1 when 'Good' then 2 when 'Very Good' then 3 when 'Premium' then 4
            when 'Ideal' then 5
        end as cut_rank,
        color,
        case color
            when 'J' then 1 when 'I' then 2 when 'H' then 3 when 'G' then 4 when 'F' then 5
            when 'E' then 6 when 'D' then 7
        end as color_rank,
        clarity,
        case clarity
            when 'I1' then 1 when 'SI2' then 2 when 'SI1' then 3 when 'VS2' then 4 when 'VS1' then 5
            when 'VVS2' then 6 when 'VVS1' then 7 when 'IF' then 8
        end as clarity_rank,
        price,
        depth,
        table_pct,
        length_mm,
        width_mm,
        depth_mm
    from diamonds
    where carat > 0 and price > 0

)

select * from final
