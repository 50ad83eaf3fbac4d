"""Every endpoint over real HTTP, values checked against the marts and models the pipeline produced."""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from tests.api.conftest import TENANTS, ApiServer, Keys, Pipeline

pytestmark = pytest.mark.slow
JW = "jeweller_01"


def tenant_as_of(p: Pipeline) -> dict[str, str]:
    """Each tenant's as-of date as the dbt mart decided it."""
    rows = p.query("select tenant_id, as_of_date from marts.dim_tenants")
    return {r["tenant_id"]: iso(r["as_of_date"]) for r in rows}


def close(a: Any, b: Any, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).date().isoformat()


@pytest.fixture(scope="module")
def champions(api_pipeline: Pipeline) -> dict[str, tuple[str, Any]]:
    """(version, native model) of every champion, loaded in the test process straight from the registry."""
    from ml.registry import MODEL_NAMES, configure_tracking, load_champion

    client = configure_tracking(f"sqlite:///{api_pipeline.mlflow_db}")
    out = {}
    for name in MODEL_NAMES:
        loaded = load_champion(name, client)
        assert loaded is not None, f"{name} has no champion after the pipeline run"
        model, mv = loaded
        out[name] = (str(mv.version), model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model)
    return out


def some_customers(p: Pipeline, tenant: str, n: int = 3) -> list[str]:
    rows = p.query("select customer_id from marts.customer_rfm where tenant_id = ? order by monetary desc, "
                   "customer_id", (tenant,))
    ids = [r["customer_id"] for r in rows]
    return [ids[0], ids[len(ids) // 2], ids[-1]][:n]


# ---------------------------------------------------------------------------------------------------- open routes


def test_health_ready_docs_and_schema_need_no_key(api: ApiServer, api_pipeline: Pipeline, snapshot_id: str,
                                                  champions) -> None:
    with api.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        ready = c.get("/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["reasons"] == []
        assert body["snapshot"]["snapshot_id"] == snapshot_id
        # each tenant on its own as-of date (jeweller_01's data end weeks before the others')
        assert body["snapshot"]["tenants"] == tenant_as_of(api_pipeline)
        assert body["registry"]["reachable"] is True
        serving = {m["name"]: m["serving_version"] for m in body["models"]}
        assert serving == {name: v for name, (v, _) in champions.items()}
        assert "text/html" in c.get("/docs").headers["content-type"]
        schema = c.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["ApiKey"][
            "description"]}
    # Limits are part of the contract a client reads.
    params = {p["name"]: p for p in schema["paths"]["/v1/customers"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 500
    body_schema = schema["components"]["schemas"]["PropensityRequest"]["properties"]["customer_ids"]
    assert body_schema["maxItems"] == 500 and body_schema["minItems"] == 1
    days = {p["name"]: p for p in schema["paths"]["/v1/products/{product_id}/forecast"]["get"]["parameters"]}["days"]
    assert (days["schema"]["minimum"], days["schema"]["maximum"]) == (1, 90)


def v1_calls(p: Pipeline) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One valid call per /v1 operation (method, path with query, JSON body)."""
    customer = some_customers(p, JW, 1)[0]
    product = p.query("select product_id from ml.demand_forecasts where tenant_id = ? limit 1", (JW,))[0]["product_id"]
    return [
        ("GET", "/v1/models", None), ("GET", "/v1/tenants", None),
        ("GET", f"/v1/customers?tenant_id={JW}", None), ("GET", f"/v1/customers/{customer}?tenant_id={JW}", None),
        ("GET", f"/v1/segments?tenant_id={JW}", None), ("GET", f"/v1/export/customers.csv?tenant_id={JW}", None),
        ("GET", f"/v1/forecasts?tenant_id={JW}", None),
        ("GET", f"/v1/products/{product}/forecast?tenant_id={JW}&days=7", None),
        ("POST", f"/v1/predict/purchase-propensity?tenant_id={JW}", {"customer_ids": [customer]}),
        ("POST", "/v1/predict/gold-price", {"date": "2026-01-05", "purity": 916, "weight_grams": 5}),
        ("GET", "/v1/prices/gold?days=7", None),
        ("POST", "/v1/predict/diamond-price", {"carat": 0.7, "cut": "Ideal", "color": "F", "clarity": "VS2"}),
    ]


def test_every_v1_route_answers_401_without_a_valid_key(api: ApiServer, api_pipeline: Pipeline, keys: Keys) -> None:
    calls = v1_calls(api_pipeline)
    with api.client() as c:
        schema_ops = {(m.upper(), path) for path, ops in c.get("/openapi.json").json()["paths"].items()
                      for m in ops if path.startswith("/v1")}
    patterns = {(m, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")) for m, path in schema_ops}
    covered = {(m, pat.pattern) for m, pat in patterns for method, path, _ in calls
               if method == m and pat.match(path.split("?")[0])}
    assert len(covered) == len(schema_ops) == len(calls), "v1_calls must call every /v1 operation once"
    for key in (None, "sm_not-a-key", keys.all + "x"):
        with api.client(key) as c:
            for method, path, body in calls:
                r = c.request(method, path, json=body)
                assert r.status_code == 401, (key, path, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.json()["error"]["code"] == "unauthorized", r.text
    with api.client() as c:  # a key in another scheme is no key
        r = c.get("/v1/models", headers={"Authorization": f"Basic {keys.all}"})
        assert r.status_code == 401
    with api.client(keys.all) as c:
        for method, path, body in calls:
            r = c.request(method, path, json=body)
            assert r.status_code == 200, (path, r.text)


def test_another_tenants_ids_answer_404_exactly_like_missing_ids(api: ApiServer, api_pipeline: Pipeline,
                                                                 keys: Keys) -> None:
    p = api_pipeline
    grocer_customer = some_customers(p, "grocer_01", 1)[0]
    grocer_product = p.query("select product_id from ml.demand_forecasts where tenant_id = 'grocer_01' limit 1")[0][
        "product_id"]
    with api.client(keys.by_tenant[JW]) as c:
        def pair(method: str, other: str, missing: str, template: str, body: Any = None) -> None:
            a = c.request(method, template.format(other), json=None if body is None else body(other))
            b = c.request(method, template.format(missing), json=None if body is None else body(missing))
            assert a.status_code == b.status_code == 404, (template, a.text, b.text)
            ea, eb = a.json()["error"], b.json()["error"]
            assert ea["code"] == eb["code"] == "not_found"
            assert ea["message"].replace(other, "<id>") == eb["message"].replace(missing, "<id>")
            assert {k: v for k, v in ea["details"].items() if k not in ("id", "missing_ids")} == \
                   {k: v for k, v in eb["details"].items() if k not in ("id", "missing_ids")}

        pair("GET", grocer_customer, "NO-SUCH-CUSTOMER", "/v1/customers/{}")
        pair("GET", grocer_product, "NO-SUCH-PRODUCT", "/v1/products/{}/forecast")
        pair("POST", grocer_customer, "NO-SUCH-CUSTOMER", "/v1/predict/purchase-propensity",
             body=lambda i: {"customer_ids": [i]})
        # Naming another tenant is the same as naming a tenant that does not exist, on every tenant route.
        for route in ("/v1/customers", "/v1/segments", "/v1/forecasts", "/v1/export/customers.csv",
                      f"/v1/customers/{grocer_customer}", f"/v1/products/{grocer_product}/forecast"):
            pair("GET", "grocer_01", "no_such_tenant", route + "?tenant_id={}")
        pair("POST", "grocer_01", "no_such_tenant", "/v1/predict/purchase-propensity?tenant_id={}",
             body=lambda _: {"customer_ids": [grocer_customer]})
        # Lists never show another tenant's rows, and a product filter on another tenant's id finds nothing.
        ids = {i["customer_id"] for i in c.get("/v1/customers?limit=500").json()["items"]}
        mart = {r["customer_id"] for r in p.query("select customer_id from marts.customer_rfm where tenant_id = ?",
                                                  (JW,))}
        assert ids == mart
        other = c.get(f"/v1/forecasts?product_id={grocer_product}").json()
        assert other["total"] == 0 and other["items"] == []
        assert [t["tenant_id"] for t in c.get("/v1/tenants").json()["items"]] == [JW]
        csv_ids = {row["customer_id"] for row in csv.DictReader(io.StringIO(c.get("/v1/export/customers.csv").text))}
        assert csv_ids == mart
    with api.client(keys.all) as c:  # an all-tenants key must say which tenant
        r = c.get("/v1/customers")
        assert r.status_code == 422 and "tenant_id is required" in r.json()["error"]["message"]
        assert c.get(f"/v1/customers/{grocer_customer}?tenant_id=grocer_01").status_code == 200


# ---------------------------------------------------------------------------------------------------- customers


def test_customer_list_filters_sorts_and_pages_like_the_mart(api: ApiServer, api_pipeline: Pipeline,
                                                             keys: Keys, snapshot_id: str) -> None:
    p = api_pipeline
    mart = pd.DataFrame(p.query("select r.*, s.propensity_30d from marts.customer_rfm r left join "
                                "ml.customer_propensity_scores s using (tenant_id, customer_id) where r.tenant_id = ?",
                                (JW,)))
    with api.client(keys.by_tenant[JW]) as c:
        body = c.get("/v1/customers", params={"sort": "monetary", "limit": 500}).json()
        assert body["snapshot_id"] == snapshot_id and body["tenant_id"] == JW
        assert body["as_of_date"] == tenant_as_of(p)[JW]
        assert body["total"] == len(mart)
        expected = mart.assign(m=mart["monetary"].astype(float)).sort_values(["m", "customer_id"],
                                                                             ascending=[False, True])
        assert [i["customer_id"] for i in body["items"]] == list(expected["customer_id"])
        first = body["items"][0]
        row = expected.iloc[0]
        assert close(first["monetary"], row["monetary"]) and first["segment"] == row["segment"]
        assert close(first["propensity_30d"], row["propensity_30d"])
        assert first["recency_days"] == row["recency_days"] and close(first["rfm_score"], row["rfm_score"])
        # paging walks the same order without gaps or repeats
        pages = [c.get("/v1/customers", params={"sort": "monetary", "limit": 7, "offset": o}).json()["items"]
                 for o in range(0, len(mart), 7)]
        assert [i["customer_id"] for page in pages for i in page] == list(expected["customer_id"])
        # recency sorts ascending by default, propensity descending
        rec = c.get("/v1/customers", params={"sort": "recency", "limit": 500}).json()["items"]
        assert [i["recency_days"] for i in rec] == sorted(mart["recency_days"])
        prop = c.get("/v1/customers", params={"sort": "propensity", "limit": 500}).json()["items"]
        assert [i["propensity_30d"] for i in prop] == sorted(mart["propensity_30d"], reverse=True)
        for segment in mart["segment"].unique():
            for level in ("low", "medium", "high"):
                r = c.get("/v1/customers", params={"segment": segment, "churn_risk_level": level,
                                                   "limit": 500}).json()
                want = mart[(mart["segment"] == segment) & (mart["churn_risk_level"] == level)]
                assert r["total"] == len(want)
                assert sorted(i["customer_id"] for i in r["items"]) == sorted(want["customer_id"])
        for bad, field in (({"limit": 501}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
                           ({"segment": "Gold"}, "segment"), ({"sort": "name"}, "sort")):
            r = c.get("/v1/customers", params=bad)
            assert r.status_code == 422, bad
            assert f"query.{field}" in r.json()["error"]["message"]


def test_customer_detail_has_exact_mart_values(api: ApiServer, api_pipeline: Pipeline, keys: Keys,
                                               snapshot_id: str) -> None:
    p = api_pipeline
    with api.client(keys.by_tenant[JW]) as c:
        for cid in some_customers(p, JW):
            r = c.get(f"/v1/customers/{cid}")
            assert r.status_code == 200, r.text
            got = r.json()
            row = p.query("select * from marts.customer_rfm where tenant_id = ? and customer_id = ?", (JW, cid))[0]
            score = p.query("select * from ml.customer_propensity_scores where tenant_id = ? and customer_id = ?",
                            (JW, cid))[0]
            assert got["snapshot_id"] == snapshot_id and got["customer_id"] == cid
            for field in ("recency_days", "frequency", "frequency_last_90d", "r_score", "f_score", "m_score",
                          "segment"):
                assert got[field] == row[field], field
            for field in ("monetary", "rfm_score"):
                assert close(got[field], row[field]), field
            for field in ("as_of_date", "first_purchase_date", "last_purchase_date"):
                assert got[field] == iso(row[field]), field
            assert close(got["churn"]["score"], row["churn_risk_score"])
            assert got["churn"]["level"] == row["churn_risk_level"] and got["churn"]["reason"] == row["risk_reason"]
            assert close(got["propensity"]["probability_30d"], score["propensity_30d"])
            assert got["propensity"]["model"] == {"name": "purchase_propensity", "version": score["model_version"]}
            invoices = p.query("select invoice_id, invoice_date, net_amount from intermediate.int_customer_invoices "
                               "where tenant_id = ? and customer_id = ? and is_purchase "
                               "order by invoice_date desc, invoice_id desc limit 10", (JW, cid))
            assert [(x["invoice_id"], x["invoice_date"]) for x in got["last_purchases"]] == \
                   [(i["invoice_id"], iso(i["invoice_date"])) for i in invoices]
            assert all(close(a["net_amount"], b["net_amount"]) for a, b in zip(got["last_purchases"], invoices,
                                                                                strict=True))


def test_segments_match_the_mart(api: ApiServer, api_pipeline: Pipeline, keys: Keys) -> None:
    for tenant in TENANTS:
        with api.client(keys.by_tenant[tenant]) as c:
            got = c.get("/v1/segments").json()
        mart = {r["segment"]: r for r in api_pipeline.query("select * from marts.rfm_segment_summary where "
                                                            "tenant_id = ?", (tenant,))}
        assert got["as_of_date"] == tenant_as_of(api_pipeline)[tenant]
        order = ["Champion", "Loyal", "Potential", "At-Risk", "Dormant"]
        assert [i["segment"] for i in got["items"]] == [s for s in order if s in mart]
        for item in got["items"]:
            m = mart[item["segment"]]
            assert item["customer_count"] == m["customer_count"]
            for f in ("total_monetary", "avg_monetary", "avg_rfm_score", "share_of_customers"):
                assert close(item[f], m[f]), f


def test_csv_export_streams_the_filtered_customers(api: ApiServer, api_pipeline: Pipeline, keys: Keys,
                                                   snapshot_id: str) -> None:
    with api.client(keys.by_tenant[JW]) as c:
        r = c.get("/v1/export/customers.csv", params={"segment": "Dormant"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-snapshot-id"] == snapshot_id
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    mart = {m["customer_id"]: m for m in api_pipeline.query(
        "select * from marts.customer_rfm where tenant_id = ? and segment = 'Dormant'", (JW,))}
    assert sorted(x["customer_id"] for x in rows) == sorted(mart)
    for x in rows:
        m = mart[x["customer_id"]]
        assert close(x["monetary"], m["monetary"]) and x["risk_reason"] == m["risk_reason"]
        assert x["last_purchase_date"] == iso(m["last_purchase_date"])


# ---------------------------------------------------------------------------------------------------- demand


def test_forecast_list_matches_the_scoring_table(api: ApiServer, api_pipeline: Pipeline, keys: Keys) -> None:
    p = api_pipeline
    table = pd.DataFrame(p.query("select * from ml.demand_forecasts where tenant_id = ?", (JW,)))
    with api.client(keys.by_tenant[JW]) as c:
        body = c.get("/v1/forecasts", params={"limit": 500}).json()
        assert body["models"] == [{"name": "demand_forecaster", "version": v} for v in
                                  sorted(table["model_version"].unique())]
        assert body["total"] == table["product_id"].nunique()
        probs = [i["stockout_probability"] for i in body["items"]]
        assert probs == sorted(probs, reverse=True)
        for item in body["items"]:
            rows = table[table["product_id"] == item["product_id"]]
            assert item["horizon_days"] == len(rows) == 30
            assert close(item["expected_units"], rows["yhat"].sum(), 1e-9)
            assert close(item["expected_units_7d"], rows.loc[rows["horizon_day"] <= 7, "yhat"].sum(), 1e-9)
            first = rows.iloc[0]
            assert close(item["stockout_probability"], first["stockout_probability"])
            assert item["days_until_stockout"] == (None if pd.isna(first["days_until_stockout"])
                                                   else int(first["days_until_stockout"]))
            assert item["stockout_date"] == iso(first["stockout_date"])
            assert item["stockout_warning"] == bool(first["stockout_probability"] >= 0.5)
            assert item["product_name"] is not None
        warned = c.get("/v1/forecasts", params={"stockout_warning_only": "true", "limit": 500}).json()
        assert {i["product_id"] for i in warned["items"]} == {i["product_id"] for i in body["items"]
                                                              if i["stockout_warning"]}
        one = body["items"][0]["product_id"]
        only = c.get("/v1/forecasts", params={"product_id": one}).json()
        assert [i["product_id"] for i in only["items"]] == [one]


def test_product_forecast_runs_the_champion_and_matches_the_table(api: ApiServer, api_pipeline: Pipeline,
                                                                  keys: Keys, champions) -> None:
    p = api_pipeline
    version, _ = champions["demand_forecaster"]
    for tenant in TENANTS:
        table = pd.DataFrame(p.query("select * from ml.demand_forecasts where tenant_id = ? order by product_id, "
                                     "forecast_date", (tenant,)))
        product = table["product_id"].iloc[0]
        rows = table[table["product_id"] == product]
        with api.client(keys.by_tenant[tenant]) as c:
            got = c.get(f"/v1/products/{product}/forecast", params={"days": 30}).json()
            assert got["model"] == {"name": "demand_forecaster", "version": version}
            assert rows["model_version"].iloc[0] == version
            assert got["series_model"] == rows["model"].iloc[0]
            assert got["forecast_origin"] == iso(rows["forecast_origin"].iloc[0])
            assert [d["date"] for d in got["daily"]] == [iso(d) for d in rows["forecast_date"]]
            for d, (_, r) in zip(got["daily"], rows.iterrows(), strict=True):
                for f in ("yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"):
                    assert close(d[f], r[f], 1e-9), (tenant, product, d["date"], f)
            s, first = got["stockout"], rows.iloc[0]
            assert close(s["probability"], first["stockout_probability"], 1e-9)
            assert s["on_hand"] == first["on_hand"] and s["lead_time_days"] == first["lead_time_days"]
            assert s["stockout_date"] == iso(first["stockout_date"])
            assert s["reorder_by_date"] == iso(first["reorder_by_date"])
            long = c.get(f"/v1/products/{product}/forecast", params={"days": 90}).json()
            assert len(long["daily"]) == 90 and long["daily"][-1]["horizon_day"] == 90
            for bad in (0, 91, "x"):
                r = c.get(f"/v1/products/{product}/forecast", params={"days": bad})
                assert r.status_code == 422 and "query.days" in r.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------------- predictions


def test_propensity_prediction_runs_the_champion_on_snapshot_features(api: ApiServer, api_pipeline: Pipeline,
                                                                      keys: Keys, champions) -> None:
    version, model = champions["purchase_propensity"]
    scores = {r["customer_id"]: r for r in api_pipeline.query(
        "select * from ml.customer_propensity_scores where tenant_id = ?", (JW,))}
    ids = sorted(scores)[:25]
    with api.client(keys.by_tenant[JW]) as c:
        got = c.post("/v1/predict/purchase-propensity", json={"customer_ids": ids}).json()
        assert got["model"] == {"name": "purchase_propensity", "version": version}
        assert close(got["threshold"], model.threshold) and got["horizon_days"] == 30
        assert [x["customer_id"] for x in got["predictions"]] == ids
        for x in got["predictions"]:
            # the same champion on the same point-in-time features as the scoring asset: the same number
            assert close(x["probability"], scores[x["customer_id"]]["propensity_30d"], 1e-9)
            assert x["label"] == (x["probability"] >= model.threshold)
        too_many = c.post("/v1/predict/purchase-propensity", json={"customer_ids": ["a"] * 501})
        assert too_many.status_code == 422 and "body.customer_ids" in too_many.json()["error"]["message"]
        assert c.post("/v1/predict/purchase-propensity", json={"customer_ids": []}).status_code == 422
        missing = c.post("/v1/predict/purchase-propensity", json={"customer_ids": [ids[0], "NOPE-1", "NOPE-2"]})
        assert missing.status_code == 404
        assert missing.json()["error"]["details"]["missing_ids"] == ["NOPE-1", "NOPE-2"]


def test_gold_price_observed_and_forecast(api: ApiServer, api_pipeline: Pipeline, keys: Keys, champions) -> None:
    version, model = champions["gold_price_forecaster"]
    last = date.fromisoformat(model.params["916"]["last_date"][:10])
    quote = api_pipeline.query("select * from marts.fct_metal_prices_daily where metal = 'gold' and purity = 916 "
                               "and price_date = ?", (date(2025, 6, 10),))[0]
    with api.client(keys.by_tenant["grocer_01"]) as c:  # market data: any tenant's key may ask
        obs = c.post("/v1/predict/gold-price", json={"date": "2025-06-10", "purity": 916, "weight_grams": 12.5}).json()
        assert obs["basis"] == "observed" and obs["observed_price_date"] == "2025-06-10"
        assert close(obs["price_per_gram"], quote["price_per_gram"])
        assert close(obs["total_price"], quote["price_per_gram"] * 12.5) and obs["currency"] == quote["currency"]
        target = last + timedelta(days=10)
        fc = c.post("/v1/predict/gold-price", json={"date": target.isoformat(), "purity": 916,
                                                    "weight_grams": 12.5}).json()
        want = model.predict(None, pd.DataFrame({"purity": ["916"], "horizon_days": [10]})).iloc[-1]
        assert fc["basis"] == "forecast" and fc["horizon_days"] == 10
        assert fc["model"] == {"name": "gold_price_forecaster", "version": version}
        assert close(fc["price_per_gram"], want["yhat"]) and close(fc["total_price"], want["yhat"] * 12.5)
        i80, i95 = fc["intervals"]
        assert close(i80["price_per_gram_lower"], want["yhat_lower_80"])
        assert close(i95["total_upper"], want["yhat_upper_95"] * 12.5)
        assert i95["price_per_gram_lower"] < i80["price_per_gram_lower"] < fc["price_per_gram"]
        far = c.post("/v1/predict/gold-price", json={"date": (last + timedelta(days=31)).isoformat(), "purity": 916,
                                                     "weight_grams": 1})
        assert far.status_code == 422
        assert str(last + timedelta(days=30)) in far.json()["error"]["message"]
        purity = c.post("/v1/predict/gold-price", json={"date": target.isoformat(), "purity": 123, "weight_grams": 1})
        assert purity.status_code == 422 and "999, 916, 750, 585" in purity.json()["error"]["message"]
        for bad in ({"weight_grams": 0}, {"weight_grams": -1}, {"purity": 0}, {"date": "yesterday"},
                    {"karat": 22}):
            r = c.post("/v1/predict/gold-price", json={"date": "2025-06-10", "purity": 916, "weight_grams": 1, **bad})
            assert r.status_code == 422, bad


def test_gold_history_with_moving_averages(api: ApiServer, api_pipeline: Pipeline, keys: Keys) -> None:
    mart = pd.DataFrame(api_pipeline.query("select price_date, purity, price_per_gram from "
                                           "marts.fct_metal_prices_daily where metal = 'gold'"))
    mart["price_date"] = pd.to_datetime(mart["price_date"])
    with api.client(keys.all) as c:
        got = c.get("/v1/prices/gold", params={"days": 45}).json()
        assert got["end_date"] == "2025-12-31" and got["start_date"] == "2025-11-17"
        assert sorted(s["purity"] for s in got["series"]) == sorted(mart["purity"].unique())
        for s in got["series"]:
            m = mart[mart["purity"] == s["purity"]].set_index("price_date").sort_index()["price_per_gram"]
            ma7, ma30 = m.rolling("7D").mean(), m.rolling("30D").mean()
            assert len(s["points"]) == 45
            for pt in s["points"]:
                day = pd.Timestamp(pt["date"])
                assert close(pt["price_per_gram"], m[day]) and close(pt["ma_7d"], ma7[day], 1e-9)
                assert close(pt["ma_30d"], ma30[day], 1e-9)
        one = c.get("/v1/prices/gold", params={"days": 3, "purity": 750}).json()
        assert [s["purity"] for s in one["series"]] == [750] and len(one["series"][0]["points"]) == 3
        assert c.get("/v1/prices/gold", params={"days": 0}).status_code == 422
        assert c.get("/v1/prices/gold", params={"purity": 123}).status_code == 404


def test_diamond_price_from_four_cs_or_with_dimensions(api: ApiServer, keys: Keys, champions) -> None:
    version, model = champions["diamond_price_regressor"]
    stone = {"carat": 1.01, "cut": "Very Good", "color": "G", "clarity": "VS2"}
    dims = {"depth": 61.8, "table": 57.0, "x": 6.4, "y": 6.43, "z": 3.96}
    with api.client(keys.by_tenant["fashion_01"]) as c:
        four = c.post("/v1/predict/diamond-price", json=stone).json()
        full = c.post("/v1/predict/diamond-price", json={**stone, **dims}).json()
        for got, frame in ((four, pd.DataFrame([stone])), (full, pd.DataFrame([{**stone, **dims}]))):
            want = model.predict(frame).iloc[0]  # the batch path of the same champion gives the same numbers
            assert got["model"] == {"name": "diamond_price_regressor", "version": version}
            assert close(got["price"], want["price"]) and close(got["interval"]["lower"], want["lower"])
            assert close(got["interval"]["upper"], want["upper"]) and got["interval"]["coverage"] == 0.9
        assert four["basis"] == "four_cs" and four["dimensions_used"] == []
        assert full["basis"] == "four_cs_and_dimensions" and full["dimensions_used"] == list(dims)

        def width(r: dict) -> float:
            return r["interval"]["upper"] / r["interval"]["lower"]

        assert width(four) >= width(full) - 1e-12  # less information never reads as more certainty
        bad = c.post("/v1/predict/diamond-price", json={**stone, "cut": "Perfect"})
        assert bad.status_code == 422
        message = bad.json()["error"]["message"]
        assert "body.cut" in message and "'Very Good'" in message and "'Ideal'" in message
        for carat in (0, -0.5):
            r = c.post("/v1/predict/diamond-price", json={**stone, "carat": carat})
            assert r.status_code == 422 and "body.carat" in r.json()["error"]["message"]
        assert c.post("/v1/predict/diamond-price", json={**stone, "colour": "G"}).status_code == 422
        assert c.post("/v1/predict/diamond-price", json={**stone, "x": 0}).status_code == 422


def test_models_report_champions_metrics_and_training_data(api: ApiServer, api_pipeline: Pipeline, keys: Keys,
                                                           champions, snapshot_id: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{api_pipeline.mlflow_db}")
    with api.client(keys.by_tenant[JW]) as c:
        got = c.get("/v1/models").json()
    assert got["snapshot_id"] == snapshot_id
    assert [m["name"] for m in got["models"]] == list(champions)
    for m in got["models"]:
        mv = client.get_model_version_by_alias(m["name"], "champion")
        run = client.get_run(mv.run_id)
        assert m["available"] and m["status"] == "serving"
        assert m["champion_version"] == m["serving_version"] == str(mv.version)
        assert m["data_snapshot_id"] == mv.tags["data_snapshot_id"]
        assert m["validation_status"] == mv.tags["validation_status"]
        assert m["headline_metrics"] and all(close(v, run.data.metrics[k]) for k, v in m["headline_metrics"].items())
        assert m["trained_at"].startswith(pd.Timestamp(run.info.start_time, unit="ms").strftime("%Y-%m-%dT%H:%M"))


def test_errors_share_one_envelope(api: ApiServer, keys: Keys) -> None:
    with api.client(keys.all) as c:
        cases = [
            c.get("/v1/nothing-here"),
            c.post("/v1/predict/diamond-price", content=b"{not json", headers={"content-type": "application/json"}),
            c.post("/v1/predict/diamond-price", json=[1, 2]),
            c.delete("/v1/models"),
            c.get("/v1/customers/%00?tenant_id=jeweller_01"),
            c.post("/v1/predict/diamond-price", content=b"\xff\xfe\x00", headers={"content-type": "application/json"}),
            c.get("/v1/customers?tenant_id=jeweller_01&segmnt=Loyal"),
        ]
    assert [r.status_code for r in cases] == [404, 422, 422, 405, 404, 422, 422]
    assert "'segmnt'" in cases[-1].json()["error"]["message"] and "segment" in cases[-1].json()["error"]["message"]
    assert "JSON" in cases[-2].json()["error"]["message"]
    for r in cases:
        body = r.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["message"]
