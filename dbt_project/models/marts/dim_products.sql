with

products as (

    select * from {{ ref('int_product_attributes') }}

),

final as (

    select
        tenant_id,
        product_id,
        product_name,
        category,
        first_sale_date,
        last_sale_date,
        units_sold,
        -- revenue-weighted price per unit actually sold (returns excluded), rounded to the cent
        cast(case
            when units_sold > 0 then {{ div_round(to_cents('gross_revenue'), 'units_sold * 100', 2) }}
        end as decimal(18, 2)) as avg_unit_price
    from products

)

select * from final
